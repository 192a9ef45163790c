#!/usr/bin/env bash
# Every performance figure of the README ("Performance"), in one run: ~2 minutes once built.
#
#   bash scripts/loadtest.sh
#
# 1. HTTP load test (wrk, loopback only): the same axum hello handler bare, behind OidcLayer
#    (memory store), behind OidcLayer with the two-tier Redis store (when session-store has
#    it), and behind axum-oidc + tower-sessions; each with a session from a real login against
#    the in-process test provider. Servers run on one core (a current-thread runtime, pinned),
#    wrk on the other. Rounds interleave the variants; figures are medians over the rounds.
# 2. The same variants called in process (no sockets): the middleware's own cost per request;
#    and instructions per request under callgrind (bare and layer), which no noise moves.
# 3. Allocations of one authenticated request (tests/hot_path_allocations.rs).
# 4. 1k / 100k / 1M sessions in the memory store: memory per session, hot-path latency; 4b.
#    the same with the heap in transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1).
# 5. The callback: ID-token verification, the whole callback; 5b. login capacity (the layer's
#    CPU per login start and per callback, the provider's work excluded: benches/login_capacity.rs).
# 6. RS256 verification backends: rsa (openidconnect's) versus ring.
#
# The last line is `ratio: layer/bare = 0.NN`: the throughput of the server through the layer
# relative to bare, per core (the server's CPU time per request, bare / layer, median of the
# rounds); the wall-clock req/s ratio is printed just before it.
# Knobs: LOADTEST_ROUNDS (4), LOADTEST_SECONDS (per wrk run, 3), LOADTEST_CONNECTIONS (32),
# LOADTEST_PORT (first of 4 ports, 38180). Nothing here runs in scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/oidc-layer-target}"
PERF_TARGET_DIR="${PERF_TARGET_DIR:-$HOME/.cache/oidc-layer-perf-target}"
SECONDS_PER_RUN="${LOADTEST_SECONDS:-3}"
ROUNDS="${LOADTEST_ROUNDS:-4}"
CONNECTIONS="${LOADTEST_CONNECTIONS:-32}"
PORT="${LOADTEST_PORT:-38180}"
REDIS_PORT=$((PORT + 10))
WORK="$(mktemp -d)"
PIDS=()

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

apt_install() {
  echo "installing $* (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v valgrind >/dev/null 2>&1 || apt_install valgrind

# The Redis row needs session-store's two-tier store and a redis-server to run it against.
redis_note=""
perf_features=()
if grep -q '^redis = ' session-store/Cargo.toml && grep -q 'TwoTierStore' session-store/src/lib.rs; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  perf_features=(--features redis)
else
  redis_note="skipped: session-store has no TwoTierStore/RedisStore (feature \`redis\`) in this tree"
fi

echo "== building (release)"
(cd perf && CARGO_TARGET_DIR="$PERF_TARGET_DIR" cargo build --release --quiet "${perf_features[@]}")
cargo bench -p oidc-layer --features bench --bench sessions --bench callback --bench login_capacity --no-run --quiet 2>/dev/null \
  || cargo bench -p oidc-layer --features bench --bench sessions --bench callback --bench login_capacity --no-run
cargo test -p oidc-layer --test hot_path_allocations --no-run --quiet 2>/dev/null \
  || cargo test -p oidc-layer --test hot_path_allocations --no-run
BIN="$PERF_TARGET_DIR/release"

# One core for the servers, the other for wrk (and everything else of this script).
if [ "$(nproc)" -ge 2 ]; then SERVER_CPU=(taskset -c 1); CLIENT_CPU=(taskset -c 0); else SERVER_CPU=(); CLIENT_CPU=(); fi

modes=(bare layer)
if [ ${#perf_features[@]} -gt 0 ]; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  modes+=(redis)
fi
modes+=(axum-oidc)

declare -A port pid
n=0
for mode in "${modes[@]}"; do
  port[$mode]=$((PORT + n)); n=$((n + 1))
  "${SERVER_CPU[@]}" "$BIN/perf-server" "$mode" "${port[$mode]}" "$WORK/cookie.$mode" 2>"$WORK/server.$mode.log" &
  PIDS+=($!); pid[$mode]=$!
done
for mode in "${modes[@]}"; do
  for _ in $(seq 300); do [ -s "$WORK/cookie.$mode" ] && break; sleep 0.1; done
  if [ ! -s "$WORK/cookie.$mode" ]; then
    echo "the $mode server did not log in:"; cat "$WORK/server.$mode.log"; exit 1
  fi
done

# wrk MODE SECONDS: prints "RPS P50_US P99_US NON2XX".
to_us() { awk '{ v=$1; if (v ~ /us$/) { sub(/us/,"",v); print v } else if (v ~ /ms$/) { sub(/ms/,"",v); print v*1000 } else if (v ~ /s$/) { sub(/s/,"",v); print v*1000000 } else print v }'; }
# CPU time (user + system, in clock ticks) the process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# Every measured response must be a 200: wrk's own count of errors lets redirects (a lost
# session answered with a 302 to the provider) pass, so this script counts other statuses.
cat >"$WORK/status.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not200 = 0 end
function response(status, headers, body) if status ~= 200 then not200 = not200 + 1 end end
function done(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(threads) do n = n + thread:get("not200") end
  io.write("Not 200: " .. n .. "\n")
end
LUA
# run_wrk MODE SECONDS: prints "RPS P50_US P99_US NOT200 CPU_US_PER_REQUEST", the last one the
# server's own CPU time per request (what its throughput on a core of its own would be).
run_wrk() {
  local mode=$1 seconds=$2 out before after
  before=$(cpu_ticks "${pid[$mode]}")
  out=$("${CLIENT_CPU[@]}" wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency -s "$WORK/status.lua" \
    -H "Cookie: $(cat "$WORK/cookie.$mode")" -H "Accept: text/html" \
    "http://127.0.0.1:${port[$mode]}/hello")
  after=$(cpu_ticks "${pid[$mode]}")
  local rps p50 p99 bad requests
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out" | to_us)
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_us)
  bad=$(awk '/^Not 200:/ {print $3}' <<<"$out")
  [ -n "$bad" ] || { echo "wrk did not report the statuses:" >&2; echo "$out" >&2; exit 1; }
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $p50 $p99 ${bad:-0} $(awk -v t=$((after - before)) -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.3f", t * 1e6 / hz / n }')"
}

echo "== 1. HTTP load test: $ROUNDS rounds of wrk -t1 -c$CONNECTIONS -d${SECONDS_PER_RUN}s per variant, GET /hello with the session cookie"
# Rounds interleave the variants (their order alternates), so that a change in the machine's
# load hits all of them alike; each figure is the median over the rounds, and a ratio to bare
# is the median of the per-round ratios (each variant against the bare run of its round).
# Besides req/s (wall clock, at the mercy of whatever else runs on the machine), each run
# records the server's own CPU time per request ("us" below): a single-threaded server's
# throughput on a core of its own is its inverse, and other processes barely move it.
declare -A runs ratios cpu_ratios
for round in $(seq "$ROUNDS"); do
  order=("${modes[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=(); for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[$i]}"); done
  fi
  declare -A this cpu
  for mode in "${order[@]}"; do
    run_wrk "$mode" 1 >/dev/null # warm-up
    measured=$(run_wrk "$mode" "$SECONDS_PER_RUN") # a failure here ends the script (set -e)
    read -r r a b bad c <<<"$measured"
    if [ "$bad" != 0 ]; then echo "$mode: $bad responses were not 200"; exit 1; fi
    this[$mode]=$r; cpu[$mode]=$c
    runs[$mode]+="$r $a $b $c;"
  done
  line="   round $round:"
  for mode in "${modes[@]}"; do
    ratios[$mode]+="$(awk -v a="${this[$mode]}" -v b="${this[bare]}" 'BEGIN { print a / b }') "
    cpu_ratios[$mode]+="$(awk -v a="${cpu[$mode]}" -v b="${cpu[bare]}" 'BEGIN { print b / a }') "
    line+=$(printf ' %s %.0f req/s %.2f us;' "$mode" "${this[$mode]}" "${cpu[$mode]}")
  done
  echo "$line"
  unset this cpu
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A rps p50 p99 ratio cpu_us cpu_ratio
for mode in "${modes[@]}"; do
  cpu_us[$mode]=$(tr ';' '\n' <<<"${runs[$mode]}" | awk 'NF { print $4 }' | tr '\n' ' ' | median)
  cpu_ratio[$mode]=$(median <<<"${cpu_ratios[$mode]}")
  rps[$mode]=$(tr ';' '\n' <<<"${runs[$mode]}" | awk 'NF { print $1 }' | tr '\n' ' ' | median)
  p50[$mode]=$(tr ';' '\n' <<<"${runs[$mode]}" | awk 'NF { print $2 }' | tr '\n' ' ' | median)
  p99[$mode]=$(tr ';' '\n' <<<"${runs[$mode]}" | awk 'NF { print $3 }' | tr '\n' ' ' | median)
  ratio[$mode]=$(median <<<"${ratios[$mode]}")
done

echo "== 2. in process (no sockets): ns per authenticated request, median of 15 batches"
"${SERVER_CPU[@]}" "$BIN/perf-inprocess" "${modes[@]}" | tee "$WORK/inprocess"
declare -A ns
while read -r _ mode value; do ns[$mode]=$value; done <"$WORK/inprocess"

echo "== 2b. instructions per request (callgrind; noise-free): bare, layer (a real login's session), layer-local (break-glass session)"
icount() { # MODE N -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN/perf-icount" "$1" "$2" 2>&1 \
    | awk '/Collected :/ { print $4 }'
}
declare -A ir
for mode in bare layer layer-local; do
  a=$(icount "$mode" 1000); b=$(icount "$mode" 3000)
  ir[$mode]=$(((b - a) / 2000))
  echo "icount $mode ${ir[$mode]}"
done

echo "== 3. allocations of one authenticated request (in process)"
cargo test -q -p oidc-layer --test hot_path_allocations -- --nocapture 2>&1 \
  | grep -E '^allocations' | tee "$WORK/alloc"

echo "== 4. sessions in the memory store"
"${SERVER_CPU[@]}" cargo bench -q -p oidc-layer --bench sessions 2>/dev/null | tee "$WORK/sessions"
echo "== 4b. the same with the heap in transparent huge pages (glibc.malloc.hugetlb=1)"
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "${SERVER_CPU[@]}" cargo bench -q -p oidc-layer --bench sessions 2>/dev/null \
  | tee "$WORK/sessions-huge"

echo "== 5. the callback (criterion, short run)"
"${SERVER_CPU[@]}" cargo bench -q -p oidc-layer --features bench --bench callback -- \
  --warm-up-time 1 --measurement-time 3 --noplot 2>/dev/null \
  | grep -E '^ID token|^(id_token|callback)/|time:' | tee "$WORK/callback"

echo "== 5b. login capacity: the layer's CPU per login start and per callback, provider excluded"
"${SERVER_CPU[@]}" cargo bench -q -p oidc-layer --bench login_capacity 2>/dev/null | tee "$WORK/logins"

echo "== 6. RS256 verification backends"
"${SERVER_CPU[@]}" "$BIN/perf-rs256" | tee "$WORK/rs256"

# criterion's "time: [low mid high]" of BENCH, in microseconds.
criterion_us() {
  awk -v bench="$1" '
    index($0, bench) == 1 { found = 1 }
    found && /time:/ {
      sub(/.*time: *\[/, ""); split($0, f, " "); v = f[3]; u = f[4]
      if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000; else if (u == "s") v *= 1000000
      printf "%.1f", v; exit
    }' "$WORK/callback"
}

echo
echo "== summary"
printf '%-10s %9s %8s %8s %8s %11s %8s %14s\n' variant "req/s" "p50 us" "p99 us" "vs bare" "CPU us/req" "vs bare" "in-process ns"
for mode in "${modes[@]}"; do
  printf '%-10s %9.0f %8.0f %8.0f %8.2f %11.2f %8.2f %14s\n' "$mode" "${rps[$mode]}" "${p50[$mode]}" "${p99[$mode]}" \
    "${ratio[$mode]}" "${cpu_us[$mode]}" "${cpu_ratio[$mode]}" "${ns[$mode]:-}"
done
echo "(vs bare: medians of the per-round ratios; req/s is wall clock, CPU us/req the server's own time)"
[ -n "$redis_note" ] && printf '%-10s %s\n' redis "$redis_note"
awk -v b="${cpu_us[bare]}" -v l="${cpu_us[layer]}" -v a="${cpu_us[axum-oidc]}" \
  -v nb="${ns[bare]}" -v nl="${ns[layer]}" -v na="${ns[axum-oidc]}" 'BEGIN {
  hl = l - b; ha = a - b
  printf "over HTTP (server CPU): a bare request costs %.2f us; the layer adds %.2f us, axum-oidc %.1f us (%.0fx)\n", b, hl, ha, (hl > 0 ? ha / hl : 0)
  il = nl - nb; ia = na - nb
  printf "in process: the layer adds %.0f ns per request, axum-oidc %.0f ns: %.0fx faster\n", il, ia, ia / il
  # Cross-check of the HTTP ratio, free of the noise of the load test: what the in-process cost
  # would make of the measured cost of a bare request.
  printf "the in-process cost predicts layer/bare = %.2f at this cost of a bare request\n", b / (b + il / 1000)
}'
ir_bare=${ir[bare]} ir_layer=${ir[layer]} ir_local=${ir["layer-local"]}
echo "instructions per request (callgrind): bare $ir_bare, with the layer $ir_layer (the layer adds $((ir_layer - ir_bare))); break-glass session $ir_local (adds $((ir_local - ir_bare)))"
sed 's/^/allocations: /; s/^allocations: allocations/allocations/' "$WORK/alloc"
grep -E '^(session record|sessions|memory per|one dependent)' "$WORK/sessions" || true
grep -E '^(sessions|one dependent)' "$WORK/sessions-huge" | sed 's/^/huge pages: /' || true
verify=$(criterion_us id_token/verify)
whole=$(criterion_us callback/whole)
awk -v v="$verify" -v w="$whole" 'BEGIN {
  printf "callback: ID-token verification %.0f us; whole callback %.0f us wall clock, the in-process provider'"'"'s work included\n", v, w
}'
grep -E '^  (login start|callback|a whole login)' "$WORK/logins" | sed 's/^  /login capacity (the layer alone): /' || true
awk '$1 == "rs256" && $2 ~ /^(openidconnect|ring)$/ { t[$2] = $3 } END {
  printf "RS256 verify: rsa (openidconnect) %.0f us, ring %.0f us (%.1fx)\n", t["openidconnect"] / 1000, t["ring"] / 1000, t["openidconnect"] / t["ring"]
}' "$WORK/rs256"
awk -v r="${ratio[layer]}" 'BEGIN { printf "wall-clock req/s ratio (shared machine): layer/bare = %.2f\n", r }'
awk -v r="${cpu_ratio[layer]}" 'BEGIN { printf "ratio: layer/bare = %.2f\n", r }'
