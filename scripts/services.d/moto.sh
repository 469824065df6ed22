# moto: an AWS emulator (EC2 among others) for the aws provider's tests.
#
# Sourced by scripts/services. `moto_start` installs moto's server from PyPI
# into a virtual environment when it is missing, starts it bound to loopback
# and records its process id in the state directory.
#
# Environment:
#   TENANCY_MOTO_PORT  port of the moto server (default 5000)
#   TENANCY_VENV       virtual environment for Python tools
#                      (default /var/tmp/tenancy-venv)

SERVICES+=(moto)
MOTO_PORT=${TENANCY_MOTO_PORT:-5000}
TENANCY_VENV=${TENANCY_VENV:-/var/tmp/tenancy-venv}

moto_endpoint() {
    echo "$HOST:$MOTO_PORT"
}

# moto serves its dashboard under /moto-api/, so a page there that names
# Moto distinguishes moto from any other HTTP server on the port. The
# dashboard responds in milliseconds, while /moto-api/data.json builds every
# model and took about 3 seconds on a 2-core machine.
moto_answers() {
    command -v curl >/dev/null || {
        port_open "$MOTO_PORT"
        return
    }
    curl -fsS --max-time 5 "http://$HOST:$MOTO_PORT/moto-api/" 2>/dev/null | grep -q Moto
}

moto_install() {
    if [ ! -x "$TENANCY_VENV/bin/python" ]; then
        log "creating the Python virtual environment $TENANCY_VENV"
        python3 -m venv "$TENANCY_VENV" >&2
    fi
    log "installing moto's server into $TENANCY_VENV"
    "$TENANCY_VENV/bin/pip" install -q 'moto[server]' >&2
}

moto_start() {
    [ -x "$TENANCY_VENV/bin/moto_server" ] || moto_install
    mkdir -p "$STATE_DIR"
    log "starting moto on $(moto_endpoint); log in $STATE_DIR/moto.log"
    nohup "$TENANCY_VENV/bin/moto_server" -H "$HOST" -p "$MOTO_PORT" \
        >"$STATE_DIR/moto.log" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/moto.pid"
    wait_until_answers moto
    cp "$STATE_DIR/moto.pid" "$STATE_DIR/moto.started"
}

moto_stop() {
    local pid
    pid=$(cat "$STATE_DIR/moto.started")
    log "stopping moto (pid $pid)"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
    fi
}
