#!/usr/bin/env bash
# Runs every cargo-fuzz target (tests/fuzz/) for a fixed time each, seeded
# from the fixtures and ../shared/data, and prints executions and crashes.
#
#   scripts/fuzz.sh               # 60 s per target
#   SECONDS_PER_TARGET=600 scripts/fuzz.sh asim_csv zeek_tsv
#
# cargo-fuzz needs nightly compiler flags; on a stable toolchain they are
# unlocked with RUSTC_BOOTSTRAP=1. Crashes are saved under
# tests/fuzz/artifacts/<target>/ (reproduce: cargo fuzz run --fuzz-dir
# tests/fuzz <target> <file>).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/scanlake-fuzz-target}"
seconds="${SECONDS_PER_TARGET:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(asim_csv asim_json zeek_tsv zeek_json vpc_flow windows_json windows_xml evtx ocsf_json ocsf_parquet)
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

# Seeds: the fixtures, decompressed samples of ../shared/data, the sample export.
seeds="$CARGO_TARGET_DIR/seeds"
rm -rf "$seeds" && mkdir -p "$seeds"
for f in tests/fixtures/sources/*; do [ "${f##*.}" = py ] || head -c 65536 "$f" > "$seeds/$(basename "$f")"; done
# (head closes the pipe early: a SIGPIPE there is expected)
{ gzip -dc data/sample.csv.gz | head -c 65536 > "$seeds/sample.csv"; } || true
if [ -d ../shared/data ]; then
    find ../shared/data -type f ! -name '*.md' ! -name 'README*' | while read -r f; do
        name="shared-$(basename "$f" .gz)"
        case "$f" in
            *.gz) { gzip -dc "$f" | head -c 65536 > "$seeds/$name"; } || true ;;
            *) head -c 65536 "$f" > "$seeds/$name" ;;
        esac
    done
fi

cargo fuzz build --fuzz-dir tests/fuzz --sanitizer none --dev
summary=()
for target in "${targets[@]}"; do
    corpus="$CARGO_TARGET_DIR/corpus/$target"
    mkdir -p "$corpus"
    log="$CARGO_TARGET_DIR/$target.log"
    status=0
    cargo fuzz run --fuzz-dir tests/fuzz --sanitizer none --dev "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 > "$log" 2>&1 || status=$?
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo "?")
    crashes=$(find "tests/fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
    summary+=("$target: $runs executions in ${seconds} s, exit $status, $crashes crash files")
done
printf '%s\n' "${summary[@]}"
