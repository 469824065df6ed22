# azurite: the Azure Storage emulator's Blob service, for the azure
# provider's tests.
#
# Sourced by scripts/services. `azurite_start` installs the npm package
# azurite into the prefix TENANCY_NPM_PREFIX when it is missing (and Node.js
# from Debian when `node` is missing), starts `azurite-blob` bound to
# loopback with telemetry off, and records its process id in the state
# directory. Containers persist under $STATE_DIR/azurite between runs.
#
# The emulator accepts the public development account `devstoreaccount1`
# with its published key; the tests use it by default.
#
# Environment:
#   TENANCY_AZURITE_PORT     port of the Blob service (default 10000)
#   TENANCY_AZURITE_VERSION  npm version of azurite (default 3.35.0, the last
#                            release that runs on Node.js 20; 3.36 needs 21)
#   TENANCY_NPM_PREFIX       npm prefix for Node.js tools
#                            (default /var/tmp/tenancy-npm)

SERVICES+=(azurite)
AZURITE_PORT=${TENANCY_AZURITE_PORT:-10000}
AZURITE_VERSION=${TENANCY_AZURITE_VERSION:-3.35.0}
TENANCY_NPM_PREFIX=${TENANCY_NPM_PREFIX:-/var/tmp/tenancy-npm}

azurite_endpoint() {
    echo "$HOST:$AZURITE_PORT"
}

# Azurite names itself in the `Server` header even when it rejects the
# unsigned request, which distinguishes it from any other HTTP server.
azurite_answers() {
    command -v curl >/dev/null || {
        port_open "$AZURITE_PORT"
        return
    }
    curl -sS --max-time 2 -o /dev/null -D - \
        "http://$HOST:$AZURITE_PORT/devstoreaccount1?comp=list" 2>/dev/null |
        grep -qi '^server: *azurite-blob'
}

azurite_binary() {
    echo "$TENANCY_NPM_PREFIX/node_modules/.bin/azurite-blob"
}

azurite_install() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    log "installing azurite@$AZURITE_VERSION into $TENANCY_NPM_PREFIX"
    mkdir -p "$TENANCY_NPM_PREFIX"
    npm install --prefix "$TENANCY_NPM_PREFIX" --no-audit --no-fund --loglevel error \
        "azurite@$AZURITE_VERSION" >&2
}

azurite_start() {
    if [ ! -x "$(azurite_binary)" ]; then
        azurite_install
        [ -x "$(azurite_binary)" ] || die "npm installed no azurite-blob under $TENANCY_NPM_PREFIX"
    fi
    mkdir -p "$STATE_DIR/azurite"
    log "starting azurite-blob on $(azurite_endpoint); log in $STATE_DIR/azurite.log"
    # --disableTelemetry keeps the emulator from sending usage data anywhere.
    # --skipApiVersionCheck lets the SDK's newer x-ms-version through, and
    # --disableProductStyleUrl takes the account from the path, never the
    # host name.
    nohup "$(azurite_binary)" --blobHost "$HOST" --blobPort "$AZURITE_PORT" \
        --location "$STATE_DIR/azurite" --disableTelemetry --skipApiVersionCheck \
        --disableProductStyleUrl --silent \
        >"$STATE_DIR/azurite.log" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/azurite.pid"
    wait_until_answers azurite
    cp "$STATE_DIR/azurite.pid" "$STATE_DIR/azurite.started"
}

azurite_stop() {
    local pid
    pid=$(cat "$STATE_DIR/azurite.started")
    log "stopping azurite-blob (pid $pid)"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
    fi
}
