#!/bin/bash
# Boot storm after a power cut: NPHONES phones created through sipfleet's REST API (one
# customer, an extension each, yealink-t54w, default settings: ip OPEN), then all of them
# booting at RATE new phones a second — each fetches y000000000096.cfg and <mac>.cfg with
# its own User-Agent from its own address, reads its account from the file, and registers
# (digest MD5, 401 then 200) over UDP from a port of its own; ADDRESSES source addresses
# 127.0.x.y shared by several phones (a building's NATs). See README.md here.
#
#   flock /tmp/sipfleet-bench.lock bench/bootstorm/run.sh                  # 10,000 at 1,000/s
#   NPHONES=2000 RATES="500 1000" bench/bootstorm/run.sh                  # smaller
#   SEARCH=1 RATES="1000 200 400" flock /tmp/sipfleet-bench.lock bench/bootstorm/run.sh
#
# sipfleet runs as the README deploys it: `sipfleet serve` (python -m provisioning serve)
# with workers = number of cores, the embedded PostgreSQL in its own data directory, the
# default log level, default settings except where it must listen (127.0.0.1, ports
# below) and what it tells phones to use (sip_domain = 127.0.0.1: the address phones can
# reach here). The fleet is created once through the API on a fresh data directory; the
# server is then stopped and its data directory copied. Every storm starts from that copy
# (byte for byte the state the API left, so each rate meets the same never-registered,
# OPEN fleet): the copy is restored, sipfleet started (as after the power comes back),
# and after SETTLE seconds the phones boot.
#
# env: NPHONES (10000)  RATES ("1000": new phones a second; one storm each)  ADDRESSES (50)
#      CLIENTS (1: load-client processes)  WORKERS (nproc)  SETTLE (5 s after start)
#      SEARCH=1: after every rate of RATES (in the order given), bisect between the highest
#        clean rate and the lowest dirty rate above it, down to REFINE (100/s) apart
#      OUT (bench/out/bootstorm)  SIP_PORT (5290)  HTTP_PORT (8290)
#      SRC (default: `git archive HEAD` of this checkout into $OUT/src, so the run measures
#        one commit and not files others are editing; SRC=/work/main: the working tree)
#      PY (.venv/bin/python)  MAX_SECONDS (180: a phone not online this long after its own
#        start gives up)
#      PROFILE=1: py-spy record of each worker during the first storm (needs py-spy; PYSPY)
#      REUSE_FLEET=1: keep the fleet an earlier run created through the API in $OUT (same
#        NPHONES; the code under test upgrades its schema when it starts, as on an upgrade)
# Writes $OUT/summary.md (one table, one row a storm) and $OUT/storm-<rate>/ (client JSON,
# verify.json, server log).
set -uo pipefail
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/bench/common/lib.sh"
PY=${PY:-$ROOT/.venv/bin/python}
OUT=${OUT:-$ROOT/bench/out/bootstorm}
NPHONES=${NPHONES:-10000}; RATES=${RATES:-1000}; ADDRESSES=${ADDRESSES:-50}
CLIENTS=${CLIENTS:-1}; WORKERS=${WORKERS:-$(nproc)}; SETTLE=${SETTLE:-5}
SIP_PORT=${SIP_PORT:-5290}; HTTP_PORT=${HTTP_PORT:-8290}; MAX_SECONDS=${MAX_SECONDS:-180}
REFINE=${REFINE:-100}; SEARCH=${SEARCH:-}
HZ=$(getconf CLK_TCK)
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd); chmod 755 "$OUT"
DATA=$OUT/data; FLEET=$OUT/data.fleet
log() { echo "[$(date -u +%T)] $*" | tee -a "$OUT/run.log" >&2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ------------------------------------------------------------------ the code under test
code_under_test "$OUT/src"; COMMIT=$SRC_COMMIT
log "sipfleet $COMMIT from $SRC; $NPHONES phones; rates $RATES; $ADDRESSES addresses; $CLIENTS client process(es); workers=$WORKERS"

# ------------------------------------------------------------------ sipfleet
SF=
start_sipfleet() {  # LOG
  (cd "$SRC" && exec env PYTHONPATH="$SRC" SIPFLEET_DATA_DIR="$DATA" SIPFLEET_WORKERS="$WORKERS" \
    SIPFLEET_SIP_LISTEN="udp:127.0.0.1:$SIP_PORT,tcp:127.0.0.1:$SIP_PORT" \
    SIPFLEET_HTTP_LISTEN="127.0.0.1:$HTTP_PORT" SIPFLEET_SIP_DOMAIN=127.0.0.1 \
    "$PY" -m provisioning serve) >> "$1" 2>&1 &
  SF=$!
  local ready
  for _ in $(seq 300); do
    ready=$(grep -c "worker .* of $WORKERS ready" "$1" 2>/dev/null)
    [ "${ready:-0}" -ge "$WORKERS" ] && curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && return 0
    kill -0 $SF 2>/dev/null || break
    sleep 0.2
  done
  log "sipfleet did not start, see $1"; return 1
}
stop_sipfleet() {
  [ -n "$SF" ] || return 0
  kill -TERM $SF 2>/dev/null
  for _ in $(seq 150); do kill -0 $SF 2>/dev/null || break; sleep 0.2; done
  kill -0 $SF 2>/dev/null && { log "sipfleet did not stop in 30 s: kill -9"; kill -9 $SF $(pgrep -P $SF) 2>/dev/null; }
  wait $SF 2>/dev/null; SF=
}
CLIENT_PIDS=
cleanup() {
  for p in $CLIENT_PIDS; do kill -TERM "$p" 2>/dev/null; done
  [ -n "$PROFILE_PIDS" ] && kill -INT $PROFILE_PIDS 2>/dev/null
  stop_sipfleet
}
PROFILE_PIDS=
trap cleanup EXIT

# ------------------------------------------------------------------ CPU accounting
# tree_pids PID, tree_ticks PID (CPU ticks of the tree): bench/common/lib.sh
pg_root() { head -1 "$DATA/postgres/postmaster.pid" 2>/dev/null; }
sys_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
overflows() { nstat -az TcpExtListenOverflows 2>/dev/null | awk '/ListenOverflows/{print $2}'; }

# ------------------------------------------------------------------ the fleet, once
if [ -n "${REUSE_FLEET:-}" ] && [ -d "$FLEET" ] && [ -f "$OUT/phones.tsv" ] \
    && [ "$(wc -l < "$OUT/phones.tsv")" = "$NPHONES" ]; then
  log "REUSE_FLEET: the fleet of an earlier run in $FLEET (created through the API then)"
else
  rm -rf "$DATA" "$FLEET"
  start_sipfleet "$OUT/create.log" || exit 1
  log "creating $NPHONES phones through the API"
  "$PY" "$HERE/fleet.py" --api "http://127.0.0.1:$HTTP_PORT" --token-file "$DATA/admin-token" \
    --count "$NPHONES" --out "$OUT/phones.tsv" 2>&1 | tee -a "$OUT/run.log" >&2
  [ "$(wc -l < "$OUT/phones.tsv")" = "$NPHONES" ] || { log "fleet not created"; exit 1; }
  stop_sipfleet
  cp -a "$DATA" "$FLEET"
  log "fleet created; data directory kept in $FLEET ($(du -sh "$FLEET" | cut -f1))"
fi

# ------------------------------------------------------------------ one storm
storm() {  # RATE -> appends a line to $OUT/storms.jsonl; returns 0 if clean
  local rate=$1 d=$OUT/storm-$1 t0 k s0 s1 p0 p1 c1 b0 b1 tot0 tot1 o0 o1 w0 w1 pgr
  rm -rf "$d" "$DATA"; mkdir -p "$d"; cp -a "$FLEET" "$DATA"
  start_sipfleet "$d/server.log" || return 2
  sleep "$SETTLE"
  pgr=$(pg_root)
  # the idle server's own CPU over 3 s (timers, housekeeping): the baseline
  local i0 i1; i0=$(( $(tree_ticks $SF) + $(tree_ticks "$pgr") )); sleep 3; i1=$(( $(tree_ticks $SF) + $(tree_ticks "$pgr") ))
  "$PY" "$HERE/verify.py" --data-dir "$DATA" --src "$SRC" --snapshot "$d/dbstats-before.json" 2>> "$d/client.log"
  local load0; load0=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(python3 -c "import time; print(f'{time.time() + 2:.3f}')")
  CLIENT_PIDS=
  for k in $(seq 0 $((CLIENTS - 1))); do
    "$PY" "$HERE/storm.py" --phones "$OUT/phones.tsv" --slice "$k/$CLIENTS" --rate "$rate" \
      --t0 "$t0" --addresses "$ADDRESSES" --http-port "$HTTP_PORT" --max-seconds "$MAX_SECONDS" \
      --out "$d/client-$k.json" 2>> "$d/client.log" &
    CLIENT_PIDS="$CLIENT_PIDS $!"
  done
  if [ -n "${PROFILE:-}" ] && [ ! -f "$OUT/profiled" ]; then
    touch "$OUT/profiled"
    for w in $(pgrep -P $SF); do
      ${PYSPY:-py-spy} record --pid "$w" --rate 200 --duration $(( NPHONES / rate + 10 )) \
        --format raw --output "$d/pyspy-$w.txt" > "$d/pyspy-$w.log" 2>&1 &
      PROFILE_PIDS="$PROFILE_PIDS $!"
    done
  fi
  # CPU from T0 (the clients only wait until then)
  while [ "$(python3 -c "import time; print(int(time.time() < $t0))")" = 1 ]; do sleep 0.05; done
  s0=$(tree_ticks $SF); p0=$(tree_ticks "$pgr"); o0=$(overflows); read -r b0 tot0 < <(sys_busy)
  # until every client has written its result (all its phones online or given up)
  while true; do
    local n=0
    for k in $(seq 0 $((CLIENTS - 1))); do [ -f "$d/client-$k.json" ] && n=$((n + 1)); done
    [ $n = "$CLIENTS" ] && break
    local alive=0; for p in $CLIENT_PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && { log "rate $rate: a client died, see $d/client.log"; break; }
    sleep 0.1
  done
  s1=$(tree_ticks $SF); p1=$(tree_ticks "$pgr"); o1=$(overflows); read -r b1 tot1 < <(sys_busy)
  local t1; t1=$(date +%s.%N)
  # the writes still queued when the last 200 went out: CPU of the next 3 s, apart
  sleep 3
  local s2 p2; s2=$(tree_ticks $SF); p2=$(tree_ticks "$pgr")
  "$PY" "$HERE/verify.py" --api "http://127.0.0.1:$HTTP_PORT" --token-file "$DATA/admin-token" \
    --data-dir "$DATA" --t0 "$t0" --src "$SRC" --before "$d/dbstats-before.json" > "$d/verify.json" 2>> "$d/client.log"
  local load1; load1=$(cut -d' ' -f1-3 /proc/loadavg)
  for p in $CLIENT_PIDS; do kill -TERM "$p" 2>/dev/null; done
  for p in $CLIENT_PIDS; do wait "$p" 2>/dev/null; done
  CLIENT_PIDS=
  [ -n "$PROFILE_PIDS" ] && { wait $PROFILE_PIDS 2>/dev/null; PROFILE_PIDS=; }
  stop_sipfleet
  "$PY" "$HERE/report.py" storm --dir "$d" --rate "$rate" --nphones "$NPHONES" --t0 "$t0" \
    --t1 "$t1" --hz "$HZ" --server-ticks "$((s1 - s0))" --pg-ticks "$((p1 - p0))" \
    --server-ticks-after "$((s2 - s1))" --pg-ticks-after "$((p2 - p1))" --idle-ticks-3s "$((i1 - i0))" \
    --busy "$((b1 - b0)) $((tot1 - tot0))" --overflows "$(( ${o1:-0} - ${o0:-0} ))" \
    --load "$load0 / $load1" --workers "$WORKERS" --clients "$CLIENTS" --addresses "$ADDRESSES" \
    >> "$OUT/storms.jsonl"
  local clean; clean=$(tail -1 "$OUT/storms.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["clean"])')
  log "rate $rate: $(tail -1 "$OUT/storms.jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["line"])')"
  [ "$clean" = True ]
}

# ------------------------------------------------------------------ the storms
: > "$OUT/storms.jsonl"; rm -f "$OUT/profiled"
{
  echo "start=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine=$(nproc) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.1f GB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "commit=$COMMIT"
  echo "python=$("$PY" -V 2>&1)"
} > "$OUT/machine.txt"
declare -A CLEAN=()
for r in $RATES; do if storm "$r"; then CLEAN[$r]=1; else CLEAN[$r]=0; fi; done
bounds() {  # -> "best worst": the highest clean rate, the lowest dirty rate above it (0: none)
  local b=0 w=0 r
  for r in "${!CLEAN[@]}"; do [ "${CLEAN[$r]}" = 1 ] && [ "$r" -gt "$b" ] && b=$r; done
  for r in "${!CLEAN[@]}"; do
    [ "${CLEAN[$r]}" = 0 ] && [ "$r" -gt "$b" ] && { [ "$w" = 0 ] || [ "$r" -lt "$w" ]; } && w=$r
  done
  echo "$b $w"
}
read -r best worst < <(bounds)
if [ -n "$SEARCH" ] && [ "$worst" -gt 0 ]; then
  while [ $((worst - best)) -gt "$REFINE" ]; do
    r=$(( (best + worst) / 2 / 50 * 50 )); [ "$r" -le "$best" ] && r=$(( (best + worst) / 2 ))
    [ "$r" -le "$best" ] || [ "$r" -ge "$worst" ] && break
    if storm "$r"; then CLEAN[$r]=1; else CLEAN[$r]=0; fi
    read -r best worst < <(bounds)
  done
fi
echo "end=$(date -u '+%Y-%m-%d %H:%M:%S UTC')" >> "$OUT/machine.txt"
"$PY" "$HERE/report.py" summary --out "$OUT" --best "$best" --worst "$worst" > "$OUT/summary.md"
log "summary: $OUT/summary.md"
cat "$OUT/summary.md"
