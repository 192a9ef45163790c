#!/usr/bin/env bash
# Each library crate builds with no features (`--no-default-features`) and with each of its
# features alone: catches a `#[cfg(feature = "x")]` item that uses something only another
# feature (or a default one) brings, which `--all-features` builds never see. A warning fails
# the check too (e.g. an import only used under a feature that is off).
#
# The features are read from each crate's `[features]` table, so a new feature is checked
# without touching this script. `bash scripts/features.sh [CRATE...]` (default: the published
# crates, those without `publish = false`, then the examples below); FEATURES_SKIP="a b"
# skips features (default: none).
#
# A build that has the test provider (`oidc-testkit`, a dev-dependency of the library and a
# dependency of the demos) gets axum with hyper's server and tokio's net features through it,
# and could hide a feature an app without it needs. The library is checked here without its
# dev-dependencies (`cargo check` of the library only), and the examples that stand for a
# reader's own app (EXAMPLES) are checked without their default features, which is without the
# embedded test provider: their dependency lines are the README's
# (oidc-layer/tests/readme_config.rs holds them equal).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/oidc-layer-target}"
export CARGO_TERM_COLOR=never

crates=("$@")
examples=()
if [ ${#crates[@]} -eq 0 ]; then
    examples=(hyper-demo)
    # The published crates, as in .ci/run: the members that do not say `publish = false`.
    mapfile -t crates < <(grep -L '^publish = false' ./*/Cargo.toml | xargs -n1 dirname | xargs -n1 basename)
fi
skip=" ${FEATURES_SKIP-} "
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
for example in "${examples[@]}"; do
    # Without the default features: without the embedded provider, as an app of the reader's.
    check "$example" ""
done
