#!/bin/sh
# Runs one step of the demo: `imitation-demo-step ARGS...`.
#
# With DEMO_BIN set, the binary in that directory runs as it is (CI sets it
# to a debug build). Otherwise cargo runs it from this workspace, building it
# first if it is missing or stale, in whatever target directory cargo uses
# here (CARGO_TARGET_DIR included): nothing has to be built by hand.
if [ -n "${DEMO_BIN:-}" ]; then
    exec "$DEMO_BIN/imitation-demo-step" "$@"
fi
exec cargo run --quiet --release --package imitation-demo --bin imitation-demo-step -- "$@"
