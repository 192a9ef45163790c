#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes (the targets in fuzz/fuzz_targets), one target at a
# time, at the lowest CPU priority: `scripts/fuzz.sh [seconds per target] [target...]`
# (default 600 s, all targets). Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags it needs.
#
# Each run starts from the saved corpus in fuzz/corpus/<target> and collects new inputs in
# fuzz/target/corpus/<target> (not committed; `cargo fuzz cmin` before saving any back).
# A crash leaves its input in fuzz/artifacts/<target>/: turn it into a regression test.
# Prints per target: seconds, executions, crashes. Exits non-zero when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
shift || true
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/oidc-layer-fuzz-target}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build
mkdir -p target/logs
crashed=0
summary=()
for target in "${targets[@]}"; do
    mkdir -p "target/corpus/$target" "corpus/$target" "artifacts/$target"
    log="target/logs/$target.log"
    before=$(find "artifacts/$target" -type f | wc -l)
    # -max_len: the largest input any layer parser accepts is 64 KiB (an ID token).
    nice -n 19 cargo fuzz run "$target" "target/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1 || true
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    crashes=$(( $(find "artifacts/$target" -type f | wc -l) - before ))
    [ "$crashes" -eq 0 ] || crashed=1
    summary+=("$(printf '%-16s %6ss %12s execs %3s crashes' "$target" "${took:-?}" "${execs:-?}" "$crashes")")
    echo "${summary[-1]}   (log: fuzz/$log)"
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$crashed"
