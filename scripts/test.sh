#!/usr/bin/env bash
# Runs every test of the workspace, installing first what the tests need:
#   - Node.js/npm (Debian packages) and the pinned npm oidc-provider (npm ci, from the lockfile)
#   - Python 3.10+ with venv (Debian packages `python3`, `python3-venv`) and the second test
#     provider, django-oidc-provider, in tests/django-op/.venv (pip, exact versions and hashes
#     from tests/django-op/requirements.txt)
#   - Chromium and chromedriver (Debian packages `chromium`, `chromium-driver`) for the
#     real-browser suite (tests/tests/browser)
#   - redis-server and redis-cli (Debian packages `redis-server`, `redis-tools`): the Redis
#     store's tests and the multi-instance suite start their own servers, and a cluster
#     (`redis-cli --cluster create`), on free loopback ports (never the shared 6379)
#   - PostgreSQL's programs (Debian package `postgresql`): the PostgreSQL store's tests make
#     their own server with initdb/pg_ctl on free loopback ports (never the shared 5432)
# Extra arguments go to `cargo test` (e.g. `bash scripts/test.sh -p oidc-layer`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/oidc-layer-target}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -x /usr/bin/redis-server ] || command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/redis-cli ] || command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || [ -n "${PG_BIN:-}" ] || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The real OpenID provider the end-to-end suite runs against, pinned by tests/provider/package-lock.json.
if [ ! -f tests/provider/node_modules/.package-lock.json ] \
  || [ tests/provider/package-lock.json -nt tests/provider/node_modules/.package-lock.json ]; then
  npm ci --prefix tests/provider --no-audit --no-fund --loglevel=error
fi

# The second, independent provider (tests/tests/second_provider): django-oidc-provider from
# PyPI, pinned with hashes. Reinstalled when requirements.txt changes.
django_op=tests/django-op
if [ ! -f "$django_op/.venv/installed" ] || [ "$django_op/requirements.txt" -nt "$django_op/.venv/installed" ]; then
  rm -rf "$django_op/.venv"
  python3 -m venv "$django_op/.venv"
  "$django_op/.venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$django_op/requirements.txt"
  touch "$django_op/.venv/installed"
fi

cargo test --workspace --all-features "$@"
