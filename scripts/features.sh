#!/usr/bin/env bash
# Each library crate builds with no features (`--no-default-features`) and with each of its
# features alone: catches a `#[cfg(feature = "x")]` item that uses something only another
# feature (or a default one) brings, which `--all-features` builds never see. A warning fails
# the check too (e.g. an import only used under a feature that is off).
#
# The features are read from each crate's `[features]` table, so a new feature is checked
# without touching this script. `bash scripts/features.sh [CRATE...]` (default: the published
# crates, those without `publish = false`); FEATURES_SKIP="a b" skips features (default:
# `testkit`, which is leaving the library for a crate of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/oidc-layer-target}"
export CARGO_TERM_COLOR=never

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
    # The published crates, as in .ci/run: the members that do not say `publish = false`.
    mapfile -t crates < <(grep -L '^publish = false' ./*/Cargo.toml | xargs -n1 dirname | xargs -n1 basename)
fi
skip=" ${FEATURES_SKIP-testkit} "
log=$(mktemp)
trap 'rm -f "$log"' EXIT

check() {
    local crate=$1 feature=$2
    echo "== $crate: ${feature:-no features}"
    # `--message-format short`: one line per diagnostic; cargo replays the warnings of
    # crates it does not rebuild, so a warm run still sees them.
    if ! cargo check --quiet --message-format short -p "$crate" --no-default-features \
        ${feature:+--features "$feature"} >"$log" 2>&1; then
        cat "$log"
        exit 1
    fi
    if grep -q '^\(warning\|error\)' "$log" || grep -q ': \(warning\|error\)\b' "$log"; then
        cat "$log"
        echo "$crate with ${feature:-no features}: warnings (see above)" >&2
        exit 1
    fi
}

for crate in "${crates[@]}"; do
    manifest="$crate/Cargo.toml"
    [ -f "$manifest" ] || { echo "no crate $crate (no $manifest)" >&2; exit 1; }
    # The keys of the `[features]` table (up to the next table), but `default`.
    features=$(awk '/^\[/ { in_features = ($0 == "[features]"); next }
        in_features && /^[A-Za-z0-9_-]+[ ]*=/ { sub(/[ ]*=.*/, ""); if ($0 != "default") print }' \
        "$manifest")
    check "$crate" ""
    for feature in $features; do
        case "$skip" in *" $feature "*) echo "== $crate: $feature (skipped)"; continue ;; esac
        check "$crate" "$feature"
    done
done
