#!/bin/bash
# sipfleet registrar benchmark: SIPp authenticated registrations (REGISTER → 401 →
# REGISTER with credentials → 200, every binding committed to PostgreSQL before the 200)
# for COUNT distinct phones over UDP on loopback, with ../shared/bench/harness.
#
# usage: bench/registrar/run.sh            (env: COUNT RATES OUT WORKERS PORT HARNESS LOCKED_TO)
# Writes $OUT/steps.tsv (one line per step, columns of sipp_step.sh) and $OUT/run.log.
# Method as ../shared/bench/kamailio: warm-up registers all COUNT phones at 1000/s, then
# each step re-registers max(20000, 15 s × rate) times (users wrap around).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
HARNESS=${HARNESS:-/work/shared/bench/harness}
OUT=${OUT:-/tmp/sipfleet-bench/registrar}
COUNT=${COUNT:-10000}
RATES=${RATES:-"2000 3000 4000 4500 5000 6000"}
MIN_STEP=${MIN_STEP:-20000}
PORT=${PORT:-5090}
HTTP=${HTTP:-8090}
REALM=bench.test
PY=${PY:-/work/venv/bin/python}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
LOG="$OUT/run.log"
KEY=$($PY -c 'import secrets; print(secrets.token_hex(32))')

# a fresh embedded PostgreSQL (pgserver) for this run
PGDIR="$OUT/pg"
[ -d "$PGDIR" ] && $PY "$HERE/pg.py" "$PGDIR" stop >/dev/null 2>&1 || true
rm -rf "$PGDIR" "$OUT/data"
DSN=$($PY "$HERE/pg.py" "$PGDIR" | tail -1)
$PY "$HERE/make_phones.py" --dsn "$DSN" --count "$COUNT" --realm "$REALM" \
    --secret-key "$KEY" --csv "$OUT/users.csv" ${LOCKED_TO:+--locked-to "$LOCKED_TO"} | tee -a "$LOG"

export SIPFLEET_DATABASE_URL="$DSN" SIPFLEET_SECRET_KEY="$KEY" SIPFLEET_SIP_DOMAIN="$REALM"
export SIPFLEET_DATA_DIR="$OUT/data" SIPFLEET_HTTP_LISTEN="127.0.0.1:$HTTP"
export SIPFLEET_SIP_LISTEN="udp:127.0.0.1:$PORT" SIPFLEET_LOG_LEVEL=warning
# SIPp does not answer OPTIONS: keep-alive probes off, as they would count as failures
export SIPFLEET_KEEPALIVE_INTERVAL=0
# WORKERS=N: N worker processes (SIPFLEET_WORKERS), one by default
export SIPFLEET_WORKERS=${WORKERS:-${SIPFLEET_WORKERS:-1}}
# with N > 1 the workers share SIPp's one UDP flow by phone (sip_udp_partition): each
# user's REGISTERs reach one worker, spread over all; SIPFLEET_SIP_UDP_PARTITION=flow: one
if [ "$SIPFLEET_WORKERS" -gt 1 ]; then
  export SIPFLEET_SIP_UDP_PARTITION=${SIPFLEET_SIP_UDP_PARTITION:-phone}
fi
# SIPp answers only the first challenge and knows MD5 only
export SIPFLEET_DIGEST_ALGORITHMS=MD5
cd "$ROOT"
start_sipfleet() {
  $PY -m provisioning serve >>"$OUT/sipfleet.log" 2>&1 &
  SF=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && break; sleep 0.2; done
}
start_sipfleet
trap 'kill $SF 2>/dev/null; wait $SF 2>/dev/null; $PY "$HERE/pg.py" "$PGDIR" stop >/dev/null 2>&1' EXIT

# (a process may exit between `ps` and reading /proc: skipped, never fatal under set -e)
pg_ticks() { local t=0 p v; for p in $(ps -u pgserver -o pid= 2>/dev/null); do
  v=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null) && [ -n "$v" ] && t=$((t+v)); done
  echo $t; }
rss() { awk '/VmRSS/{print $2}' /proc/$SF/status; }
# sipfleet's CPU (the process and any worker processes it started), in clock ticks
sf_ticks() { local t=0 p v; for p in $SF $(pgrep -P $SF 2>/dev/null); do
  v=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null) && [ -n "$v" ] && t=$((t+v)); done
  echo $t; }
# each worker process's CPU ("pid:ticks" words), to see how evenly they share the load
worker_ticks() { local p v; for p in $(pgrep -P $SF 2>/dev/null); do
  v=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null) && [ -n "$v" ] && echo -n "$p:$v "; done; }
worker_cores() {  # BEFORE AFTER WALL_S -> "c0,c1,..." cores per worker over the step
  local -A b=(); local w out=""
  for w in $1; do b[${w%%:*}]=${w#*:}; done
  for w in $2; do out+="$(echo "scale=2; (${w#*:}-${b[${w%%:*}]:-0})/$(getconf CLK_TCK)/$3" | bc),"; done
  echo "${out%,}"; }
step() {  # RATE N LABEL
  local p0 p1 t0 t1 s0 s1 w0 w1
  p0=$(pg_ticks); s0=$(sf_ticks); w0=$(worker_ticks); t0=$(date +%s.%N)
  line=$(DOMAIN=$REALM bash "$HARNESS/sipp_step.sh" 127.0.0.1 "$PORT" "$OUT/users.csv" "$1" "$2" "$3" "$OUT" $SF)
  p1=$(pg_ticks); s1=$(sf_ticks); w1=$(worker_ticks); t1=$(date +%s.%N)
  # CPU per registration: sipfleet CPU over the step / registrations asked (N)
  us=$(echo "scale=0; ($s1-$s0)*1000000/$(getconf CLK_TCK)/$2" | bc)
  echo -e "$line\tpgserver_cores=$(echo "scale=2; ($p1-$p0)/$(getconf CLK_TCK)/($t1-$t0)" | bc)\tsipfleet_us_per_reg=$us\trss_kb=$(rss)${w1:+\tworker_cores=$(worker_cores "$w0" "$w1" "$(echo "$t1 - $t0" | bc)")}" | tee -a "$LOG"
}
echo "sipfleet pid $SF; rss before warm-up $(rss) kB" | tee -a "$LOG"
step "${WARM_RATE:-1000}" "$COUNT" warmup
echo "bindings in PostgreSQL: $($PY - "$DSN" <<'PY'
import asyncio, sys, asyncpg
async def main():
    c = await asyncpg.connect(sys.argv[1]); print(await c.fetchval("select count(*) from bindings")); await c.close()
asyncio.run(main())
PY
)" | tee -a "$LOG"
for R in $RATES; do
  N=$(( R * 15 > MIN_STEP ? R * 15 : MIN_STEP ))
  step "$R" "$N" "rate_$R"
done
echo "rss after the run $(rss) kB" | tee -a "$LOG"
echo "bindings per node: $($PY - "$DSN" <<'PY'
import asyncio, sys, asyncpg
async def main():
    c = await asyncpg.connect(sys.argv[1])
    rows = await c.fetch("select node, count(*) from bindings group by node order by node")
    print(", ".join(f"{r[0]}={r[1]}" for r in rows)); await c.close()
asyncio.run(main())
PY
)" | tee -a "$LOG"
# durability: kill -9, restart, then count (1) the unexpired bindings in PostgreSQL — what
# a restart can recover — and (2) the bindings the new process holds in memory: the sum
# of sipfleet_bindings{transport="udp"} over its workers. With SIPFLEET_WORKERS > 1 the
# HTTP port is shared (SO_REUSEPORT), so /metrics is scraped over many connections and
# one answer per worker (told apart by process_start_time_seconds and the count itself:
# workers forked in the same 10 ms tick share a start time) is summed; the line says how
# many workers answered.
db_bindings() { $PY - "$DSN" <<'PY'
import asyncio, sys, asyncpg
async def main():
    c = await asyncpg.connect(sys.argv[1])
    print(await c.fetchval("select count(*) from bindings where expires_at > now()"))
    await c.close()
asyncio.run(main())
PY
}
mem_bindings() {  # prints "<sum> <workers answering>"
  local i
  for i in $(seq "$(( WORKERS_N > 1 ? 16 * WORKERS_N : 1 ))"); do
    curl -s "http://127.0.0.1:$HTTP/metrics" | awk '
      /^process_start_time_seconds /{s=$2} /^sipfleet_bindings\{transport="udp"\}/{b=$2}
      END{print s, b}' || true
  done | awk 'NF==2 && !($0 in seen){seen[$0]=1; n++; t+=$2} END{printf "%d %d\n", t, n}'
}
WORKERS_N=$SIPFLEET_WORKERS
before_db=$(db_bindings); before_mem=$(mem_bindings)
kids=$(pgrep -P $SF 2>/dev/null || true)  # its workers, if any: the whole service crashes
kill -9 $SF $kids 2>/dev/null || true; wait $SF 2>/dev/null || true
start_sipfleet
sleep 2
after_db=$(db_bindings); after_mem=$(mem_bindings)
echo "durability: unexpired bindings in PostgreSQL before kill -9: $before_db; after restart: $after_db" | tee -a "$LOG"
echo "durability: bindings in memory (sum over workers answering, of $WORKERS_N) before: ${before_mem% *} (${before_mem#* } answering); after restart: ${after_mem% *} (${after_mem#* } answering)" | tee -a "$LOG"
