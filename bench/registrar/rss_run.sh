#!/bin/bash
# RSS of one `sipfleet serve` holding COUNT bindings: at rest (after a restart that reloads
# them from PostgreSQL), right after 60 s of SIPp refreshes at each RATE, and 40 s later
# (Timer J has freed the transaction table by then: what stays is the high-water mark).
#
# usage: rss_run.sh setup          create COUNT phones LOCKED to 127.0.0.1 and register each
#                                  once with SIPp (in halves of ≤ 90 s at WARM_RATE)
#        rss_run.sh measure        for each RATE: restart sipfleet, RSS at rest, refresh,
#                                  RSS after, RSS 40 s later
#        rss_run.sh stop           stop the embedded PostgreSQL
# env: OUT (default bench/out/registrar/rss; keeps pg/, users.csv, key between setup and measure),
#      COUNT (100000), RATES ("1000 2500"), WARM_RATE (600), SECONDS_PER_STEP (60),
#      TREE (the sipfleet source tree to run, default this repository — point it at an
#      older checkout for a before/after), LABEL (tags the output lines),
#      TRACED=1 (sipfleet under tracemalloc via memory.py --serve-traced: ~2x the CPU, so
#      use a lower RATE; snapshots at rest / after / 40 s later in $OUT/snaps-LABEL-RATE,
#      and `memory.py --diff` of them in the log).
# Run a COPY of this script (bash reads a script as it runs: editing it mid-run breaks the run):
#   cp bench/registrar/rss_run.sh /tmp/rss_run.sh; ROOT=$PWD /tmp/rss_run.sh setup
# `setup` calls bench/registrar/pg.py and make_phones.py, removed in 5981606 (phones
# inserted straight into PostgreSQL are not what the API produces): only `measure` and
# `stop` of an existing $OUT run as they are.
# Ports: SIP udp 5190, HTTP 8190, SIPp 5161 (PORT, HTTP, LOCAL_PORT). Each SIPp step holds `flock /tmp/sipfleet-bench.lock` and lasts ≤ 90 s.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${ROOT:-$(cd "$HERE/../.." && pwd)}  # ROOT=… when run from a copy of this script
TREE=${TREE:-$ROOT}
HARNESS=${HARNESS:-/work/shared/bench/harness}
OUT=${OUT:-$ROOT/bench/out/registrar/rss}
COUNT=${COUNT:-100000}
RATES=${RATES:-"1000 2500"}
WARM_RATE=${WARM_RATE:-600}
SECONDS_PER_STEP=${SECONDS_PER_STEP:-60}
LABEL=${LABEL:-$(cd "$TREE" && git rev-parse --short HEAD 2>/dev/null || cat .commit 2>/dev/null || echo tree)}
PORT=${PORT:-5190}  # not run.sh's ports: another benchmark may be running beside this one
HTTP=${HTTP:-8190}
export LOCAL_PORT=${LOCAL_PORT:-5161}  # SIPp's own port
REALM=bench.test
PY=${PY:-$ROOT/.venv/bin/python}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
LOG="$OUT/rss.log"
PGDIR="$OUT/pg"

if [ "${1:-}" = stop ]; then $PY "$ROOT/bench/registrar/pg.py" "$PGDIR" stop; exit 0; fi
if [ "${1:-}" = setup ]; then
  [ -d "$PGDIR" ] && $PY "$ROOT/bench/registrar/pg.py" "$PGDIR" stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR" "$OUT/data" "$OUT"/users*.csv
  $PY -c 'import secrets; print(secrets.token_hex(32))' >"$OUT/key"
fi
KEY=$(cat "$OUT/key")
DSN=$($PY "$ROOT/bench/registrar/pg.py" "$PGDIR" | tail -1)

export SIPFLEET_DATABASE_URL="$DSN" SIPFLEET_SECRET_KEY="$KEY" SIPFLEET_SIP_DOMAIN="$REALM"
export SIPFLEET_DATA_DIR="$OUT/data" SIPFLEET_HTTP_LISTEN="127.0.0.1:$HTTP"
export SIPFLEET_SIP_LISTEN="udp:127.0.0.1:$PORT" SIPFLEET_LOG_LEVEL=warning
export SIPFLEET_KEEPALIVE_INTERVAL=0 SIPFLEET_WORKERS=1 SIPFLEET_DIGEST_ALGORITHMS=MD5

SF=
start_sipfleet() {
  if [ "${TRACED:-0}" = 1 ]; then
    (cd "$TREE" && SIPFLEET_TREE=$TREE exec $PY "$ROOT/bench/registrar/memory.py" --serve-traced \
      "$SNAPS" -- serve >>"$OUT/sipfleet.log" 2>&1) &
  else
    (cd "$TREE" && exec $PY -m provisioning serve >>"$OUT/sipfleet.log" 2>&1) &
  fi
  SF=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && break; sleep 0.2; done
  kill -0 "$SF" 2>/dev/null || { echo "sipfleet did not start (see $OUT/sipfleet.log)" >&2; SF=; exit 1; }
}
stop_sipfleet() { [ -n "$SF" ] && kill "$SF" 2>/dev/null; wait "$SF" 2>/dev/null || true; SF=; }
trap 'stop_sipfleet' EXIT
rss() { awk '/VmRSS/{print $2}' /proc/$SF/status; }
bindings() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^sipfleet_bindings\{transport="udp"\}/{print int($2)}'; }
snapshot() {  # N: ask the traced sipfleet for snapshot N and wait until it is written
  [ "${TRACED:-0}" = 1 ] || return 0
  kill -USR1 "$SF"
  for _ in $(seq 120); do [ -s "$SNAPS/snap-$1.bin" ] && break; sleep 1; done
  sleep 2
}
sf_ticks() { awk '{print $14+$15}' /proc/$SF/stat; }
sipp_step() {  # CSV RATE N STEP_LABEL
  flock /tmp/sipfleet-bench.lock env DOMAIN=$REALM bash "$HARNESS/sipp_step.sh" 127.0.0.1 "$PORT" \
    "$1" "$2" "$3" "$4" "$OUT/steps" "$SF" | tee -a "$LOG"
}

if [ "${1:-}" = setup ]; then
  $PY "$ROOT/bench/registrar/make_phones.py" --dsn "$DSN" --count "$COUNT" --realm "$REALM" \
    --secret-key "$KEY" --csv "$OUT/users.csv" --locked-to 127.0.0.1 | tee -a "$LOG"
  # halves, so that each SIPp step stays under 90 s at WARM_RATE (SIPp wraps around a file)
  HALF=$(( COUNT / 2 ))
  { echo SEQUENTIAL; sed -n "2,$(( HALF + 1 ))p" "$OUT/users.csv"; } >"$OUT/users-a.csv"
  { echo SEQUENTIAL; sed -n "$(( HALF + 2 )),\$p" "$OUT/users.csv"; } >"$OUT/users-b.csv"
  start_sipfleet
  echo "$(date -u +%FT%TZ) setup: sipfleet pid $SF, rss $(rss) kB before registering" | tee -a "$LOG"
  sipp_step "$OUT/users-a.csv" "$WARM_RATE" "$HALF" warm-a
  sipp_step "$OUT/users-b.csv" "$WARM_RATE" "$(( COUNT - HALF ))" warm-b
  echo "$(date -u +%FT%TZ) setup: bindings in memory $(bindings), rss $(rss) kB" | tee -a "$LOG"
  exit 0
fi

[ "${1:-}" = measure ] || { echo "usage: $0 setup|measure|stop" >&2; exit 2; }
for R in $RATES; do
  SNAPS="$OUT/snaps-$LABEL-$R"; rm -rf "$SNAPS"
  start_sipfleet
  for _ in $(seq 60); do [ "$(bindings)" -ge "$COUNT" ] 2>/dev/null && break; sleep 1; done
  sleep 5
  echo "$(date -u +%FT%TZ) [$LABEL] rate $R: restarted pid $SF, bindings $(bindings), rss at rest $(rss) kB" | tee -a "$LOG"
  snapshot 1
  N=$(( R * SECONDS_PER_STEP ))
  t0=$(sf_ticks)
  sipp_step "$OUT/users.csv" "$R" "$N" "refresh-$LABEL-$R"
  t1=$(sf_ticks)
  us=$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / N ))
  echo "$(date -u +%FT%TZ) [$LABEL] rate $R: after $N refreshes rss $(rss) kB (sipfleet ${us} us CPU per refresh)" | tee -a "$LOG"
  snapshot 2
  sleep 40
  echo "$(date -u +%FT%TZ) [$LABEL] rate $R: 40 s later rss $(rss) kB, bindings $(bindings)" | tee -a "$LOG"
  if [ "${TRACED:-0}" = 1 ]; then
    snapshot 3
    for pair in "1 2" "1 3"; do set -- $pair
      $PY "$ROOT/bench/registrar/memory.py" --diff "$SNAPS/snap-$1.bin" "$SNAPS/snap-$2.bin" | tee -a "$LOG"
    done
  fi
  stop_sipfleet
done
