#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60), then
# prints one line of figures per target. Installs the nightly toolchain and
# cargo-fuzz if they are missing. A crash fails the script; libFuzzer leaves
# the input in fuzz/artifacts/<target>/ and prints how to reproduce it.
#
#   fuzz/run.sh 20                  # CI's short run
#   fuzz/run.sh 600                 # a longer one
#   FUZZ_SANITIZER=address fuzz/run.sh 60
#
# The sanitizer defaults to none: the code under test has no `unsafe`, and
# without AddressSanitizer the targets run about six times faster. New
# corpus entries go to fuzz/corpus/<target>/ (not committed); the committed
# seeds are in fuzz/seeds/<target>/.
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: fuzz/run.sh [SECONDS]" >&2
    exit 2
    ;;
esac
sanitizer="${FUZZ_SANITIZER:-none}"
cd "$(dirname "$0")"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz has no --locked: check the lock file first.
cargo +nightly fetch --locked --quiet
build_start=$SECONDS
cargo +nightly fuzz build --sanitizer "$sanitizer"
echo "fuzz targets built in $((SECONDS - build_start)) s"

# The readers under test take paths: each target writes its input to a
# scratch directory of its own, removed afterwards.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"

summary=()
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    log="$scratch/$target.log"
    echo "==> $target for $seconds s"
    status=0
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=16384 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log"
        echo "$target: libFuzzer failed (status $status); see fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    corpus=$(find "corpus/$target" -type f | wc -l)
    summary+=("$target: $runs runs in $seconds s ($speed/s), corpus $corpus, no crash")
done
printf '%s\n' "${summary[@]}"
