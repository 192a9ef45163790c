#!/usr/bin/env bash
# The soak: hours of real use squeezed into minutes, with faults. Not part of CI.
#
#   bash scripts/soak.sh [minutes]      # default 10
#
# Two demo instances (release build) on Redis behind the in-process tier and a load balancer,
# the npm oidc-provider issuing 10-second access tokens, 24 simulated users signing in,
# browsing, calling JSON endpoints, signing out (through the app, and at the provider:
# back-channel logout) and abandoning logins; the provider restarted twice, Redis once, one
# instance killed and restarted. One line a minute, then the totals; exit status 1 when a
# session was lost, a back-channel logout missed, or a 5xx came outside an announced outage.
# Knobs: SOAK_USERS (24), SOAK_TOKEN_TTL (10). Loopback only; the driver is
# tests/src/bin/soak/ (crate oidc-e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/oidc-layer-target}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
minutes="${1:-10}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v redis-server >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
[ -d tests/provider/node_modules/oidc-provider ] || npm ci --prefix tests/provider --no-audit --no-fund

echo "== building the demo and the driver (release)"
cargo build --release --quiet -p axum-demo -p oidc-e2e --bin axum-demo --bin soak
export SOAK_DEMO="$CARGO_TARGET_DIR/release/axum-demo"
exec "$CARGO_TARGET_DIR/release/soak" "$minutes"
