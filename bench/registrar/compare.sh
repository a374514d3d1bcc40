#!/bin/bash
# Kamailio and sipfleet in ONE benchmark run: the same SIPp harness
# (../shared/bench/harness: REGISTER -> 401 -> REGISTER with credentials -> 200), the same
# number of users, the same rates, step rule and bisection, one server after another:
#   1. Kamailio 5.6 (Debian), usrloc db_mode=0: bindings in memory only
#   2. Kamailio 5.6 (Debian), usrloc db_mode=1: write-through to PostgreSQL
#   3. sipfleet as the README deploys it: `sipfleet serve` (python -m provisioning serve),
#      workers = cores, its embedded PostgreSQL in its own data directory, default log
#      level; every 200 after its commit
# and for each, two measures:
#   FIRST registrations: each step registers NUSERS phones that never registered before
#      (a fresh batch per step). For sipfleet the phones are created through its REST API
#      (bench/bootstorm/fleet.py: POST /api/customers, POST /api/extensions,
#      PUT /api/pbx/sipphone with a yealink-t54w model and default settings, so ip OPEN):
#      the step's REGISTER is each phone's first, and its IP gate locks the phone to
#      127.0.0.1 on the way. For Kamailio a fresh batch of subscribers (gen_users.py).
#   REFRESHES: a batch of NUSERS phones registered once (the warm-up, at WARM_RATE, not
#      scored), then steps of max(MIN_COUNT, MIN_SECS x rate) registrations of the same
#      phones (users wrap around: every REGISTER re-registers a phone with a binding).
# then kill -9 + restart of each server to count the bindings that survive, and one summary.
#
#   flock /tmp/sipfleet-bench.lock bench/registrar/compare.sh                   # full run
#   NUSERS=2000 flock /tmp/sipfleet-bench.lock bench/registrar/compare.sh       # 2,000 phones
#   QUICK=1 NUSERS=1000 flock /tmp/sipfleet-bench.lock bench/registrar/compare.sh   # minutes
#
# Writes $OUT/summary.md (the tables), $OUT/<server>/steps.tsv, raw SIPp output, logs.
# Needs root (apt-get, PostgreSQL run as the `postgres` user). Everything it starts has its
# ports and directories of its own and is stopped at the end, also on error or Ctrl-C:
# Kamailio on KAM_PORT, Debian's PostgreSQL as a private cluster in $OUT/kamailio/pg on
# KPG_PORT (not the system cluster), sipfleet and its embedded PostgreSQL in
# $OUT/sipfleet/data.
#
# env: OUT (bench/out/registrar)  NUSERS (10000)  WORKERS (sipfleet workers: nproc)
#      FIRST_RATES ("100 200 300 500 1000 2000 3000 4000 5000")  FIRST_REFINE (100)
#      REFRESH_RATES ("1000 2000 3000 4000 5000 6000 8000"; RATES is read as well)
#      REFINE_STEP (250, refreshes)  MIN_COUNT (20000)  MIN_SECS (15)  WARM_RATE (500)
#      PHASES ("refresh first": which measures, in that order)  TAIL (2 s: CPU counted
#      after each step too, for work the step left queued)  PAUSE (3 s between steps)
#      SETTLE (10 s after the warm-up and after a batch is created)  CHILDREN (4 Kamailio
#      UDP workers)  SERVERS ("kamailio_db0 kamailio_db1 sipfleet": a subset to run)
#      TRANSPORT (u1 | un: SIPp's -t)  KAM_PORT (5070)  KPG_PORT (55432)  SF_PORT (5090)
#      SF_HTTP (8090)  SKIP_INSTALL=1  PY (.venv/bin/python)
#      SIP_USER_AGENT ("Yealink SIP-T54W 96.86.0.100": the scenario's User-Agent, see below)
#      SRC (default: `git archive HEAD` of this checkout into $OUT/src, so the run measures
#        a commit and not files others are editing; SRC=/work/main: that tree as it is)
#      QUICK=1: FIRST_RATES="250 500", REFRESH_RATES="500 1000", 5 s steps (MIN_SECS=5,
#        MIN_COUNT=0), PAUSE=1, SETTLE=2
# sipfleet settings that differ from a default `sipfleet serve`, and why: data_dir,
# http_listen, sip_listen (127.0.0.1 and the ports above), sip_domain bench.test (the
# realm SIPp is given), keepalive_interval 0 (SIPp does not answer OPTIONS: its probes
# would count as failed calls), digest_algorithms MD5 (SIPp answers only the first
# challenge and knows MD5 only; the default offers SHA-256 first).
# Step rule: the coarse rates run in order until two in a row are dirty; then the rate is
# bisected between the highest clean and the lowest dirty rate above it (rounded to 50/s)
# until they are <= REFINE_STEP (FIRST_REFINE) apart. "Clean" = every call succeeded:
# 0 failed, 0 SIPp retransmissions (SIPp retransmits after 500 ms).
set -uo pipefail
SELF=$(readlink -f "$0")
HERE=$(cd "$(dirname "$SELF")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/bench/common/lib.sh"
SHARED=${SHARED_HARNESS:-/work/shared/bench/harness}
PY=${PY:-$ROOT/.venv/bin/python}
OUT=${OUT:-$ROOT/bench/out/registrar}
if [ -n "${QUICK:-}" ]; then
  FIRST_RATES=${FIRST_RATES:-"250 500"}; REFRESH_RATES=${REFRESH_RATES:-${RATES:-"500 1000"}}
  MIN_SECS=${MIN_SECS:-5}; MIN_COUNT=${MIN_COUNT:-0}; PAUSE=${PAUSE:-1}; SETTLE=${SETTLE:-2}
fi
FIRST_RATES=${FIRST_RATES:-"100 200 300 500 1000 2000 3000 4000 5000"}
REFRESH_RATES=${REFRESH_RATES:-${RATES:-"1000 2000 3000 4000 5000 6000 8000"}}
MIN_COUNT=${MIN_COUNT:-20000}; MIN_SECS=${MIN_SECS:-15}; PAUSE=${PAUSE:-3}; SETTLE=${SETTLE:-10}
REFINE_STEP=${REFINE_STEP:-250}; FIRST_REFINE=${FIRST_REFINE:-100}; WARM_RATE=${WARM_RATE:-500}
NUSERS=${NUSERS:-10000}; TAIL=${TAIL:-2}; PHASES=${PHASES:-"refresh first"}
CHILDREN=${CHILDREN:-4}; TRANSPORT=${TRANSPORT:-u1}; WORKERS=${WORKERS:-$(nproc)}
SERVERS=${SERVERS:-"kamailio_db0 kamailio_db1 sipfleet"}
KAM_PORT=${KAM_PORT:-5070}; KPG_PORT=${KPG_PORT:-55432}; SF_PORT=${SF_PORT:-5090}; SF_HTTP=${SF_HTTP:-8090}
HZ=$(getconf CLK_TCK)
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)   # absolute: Kamailio, PostgreSQL and sipfleet get it
KDIR=$OUT/kamailio; KPG=$KDIR/pg; KRUN=$KDIR/run
KCTL="unix:$KRUN/kamailio_ctl"; KPIDF=$KRUN/kamailio.pid
KDBURL="postgres://kamailio:kamailiorw@127.0.0.1:$KPG_PORT/kamailio"
SFDIR=$OUT/sipfleet; SFDATA=$SFDIR/data; REALM=bench.test
export TRANSPORT

log() { echo "[$(date -u +%T)] $*" | tee -a "$OUT/compare.log" >&2; }

# ------------------------------------------------------------------ process accounting
# tree_pids ROOT_PID, tree_ticks ROOT_PID (CPU ticks of the tree): bench/common/lib.sh
delta_ticks() { echo $(( $2 - $1 )); }  # SNAP_BEFORE SNAP_AFTER -> ticks spent
cores() { printf '%.2f' "$(echo "scale=3; $1 / $HZ / $2" | bc)"; }  # TICKS WALL_S
ms_per() { [ "${2:-0}" -gt 0 ] 2>/dev/null && printf '%.3f' "$(echo "scale=6; $1 * 1000 / $HZ / $2" | bc)" || echo "?"; }  # TICKS N

# ------------------------------------------------------------------ steps and the rate rule
count_for() { local c=$(( $1 * MIN_SECS )); [ "$c" -lt "$MIN_COUNT" ] && c=$MIN_COUNT; echo $c; }
STEP_HDR="label\tkind\tphase\trate_asked\tcount\tok\tfailed\tretrans\trate_achieved\trtd1_401_ms\trtd2_200_ms\tserver_cores\tpg_cores\tsipp_cores\tsys_busy\tserver_ms_per_reg\tpg_ms_per_reg\tclean\tload"
# run_step NAME KIND PHASE RATE COUNT LABEL PORT CSV SERVER_ROOT_PID PG_ROOT_PID
# One SIPp step with the shared sipp_step.sh. CPU of the server's and PostgreSQL's whole
# process trees, measured here (the harness's own pg column counts every `postgres`
# process on the machine): in cores over the step, and in ms per successful registration
# over the step and the TAIL seconds after it. Appends to $OUT/NAME/steps.tsv and, past the
# warm-up, to the history the rate rule reads.
run_step() {
  local name=$1 kind=$2 phase=$3 rate=$4 count=$5 label=$6 port=$7 csv=$8 srv=$9 pgroot=${10}
  local d=$OUT/$name s0 s1 s2 p0 p1 p2 t0 t1 line wall load
  local f_label f_rate f_count created ok failed retr achieved elapsed rtd1 rtd2 _srv _pg sippc busy rc
  tree_pids "$srv" | wc -l > "$d/server_processes"
  load=$(cut -d' ' -f1 /proc/loadavg)
  s0=$(tree_ticks "$srv"); p0=$(tree_ticks "$pgroot"); t0=$(date +%s.%N)
  line=$(DOMAIN=$DOMAIN bash "$HARNESS/sipp_step.sh" 127.0.0.1 "$port" "$csv" "$rate" "$count" "$label" "$d/sipp" $(tree_pids "$srv"))
  t1=$(date +%s.%N)
  s1=$(tree_ticks "$srv"); p1=$(tree_ticks "$pgroot")
  sleep "$TAIL"
  s2=$(tree_ticks "$srv"); p2=$(tree_ticks "$pgroot")
  wall=$(echo "$t1 - $t0" | bc)
  IFS=$'\t' read -r f_label f_rate f_count created ok failed retr achieved elapsed rtd1 rtd2 _srv _pg sippc busy rc <<< "$line"
  local clean=0
  [ "${failed:-x}" = 0 ] && [ "${retr:-x}" = 0 ] && [ "${ok:-x}" = "$count" ] && clean=1
  echo -e "$label\t$kind\t$phase\t$rate\t$count\t${ok:-?}\t${failed:-?}\t${retr:-?}\t${achieved:-?}\t${rtd1:-?}\t${rtd2:-?}\t$(cores "$(delta_ticks "$s0" "$s1")" "$wall")\t$(cores "$(delta_ticks "$p0" "$p1")" "$wall")\t${sippc:-?}\t${busy:-?}\t$(ms_per "$(delta_ticks "$s0" "$s2")" "${ok:-0}")\t$(ms_per "$(delta_ticks "$p0" "$p2")" "${ok:-0}")\t$clean\t$load" >> "$d/steps.tsv"
  [ "$phase" != warmup ] && echo "$phase $rate $clean" >> "$d/history.$kind"
  # nothing answered the warm-up: the server is not working, a sweep would only waste time
  [ "$phase" = warmup ] && [ "${ok:-0}" = 0 ] && touch "$d/no_answer"
  log "$name $kind $label: asked $rate/s, ok ${ok:-?}/$count, failed ${failed:-?}, retrans ${retr:-?}, achieved ${achieved:-?}/s, load $load -> $([ $clean = 1 ] && echo clean || echo dirty)"
}
max_clean() {  # NAME KIND -> highest clean rate seen (0 if none)
  awk 'BEGIN{b=0} $3==1 && $2+0>b {b=$2+0} END{print b}' "$OUT/$1/history.$2" 2>/dev/null || echo 0
}
next_rate() {  # NAME KIND RATES REFINE -> "coarse RATE" | "bisect RATE" | nothing when finished
  local h=$OUT/$1/history.$2 n=0 row=0 ph r c best hi mid refine=$4
  local -a coarse=($3)
  if [ -f "$h" ]; then
    while read -r ph r c; do
      [ "$ph" = coarse ] || continue
      n=$((n + 1)); if [ "$c" = 1 ]; then row=0; else row=$((row + 1)); fi
    done < "$h"
  fi
  if [ $n -lt ${#coarse[@]} ] && [ $row -lt 2 ]; then echo "coarse ${coarse[$n]}"; return; fi
  best=$(max_clean "$1" "$2")
  hi=$(awk -v b="$best" 'BEGIN{h=0} $3==0 && $2+0>b && (h==0 || $2+0<h) {h=$2+0} END{print h}' "$h" 2>/dev/null)
  [ "${hi:-0}" -gt 0 ] && [ $(( hi - best )) -gt "$refine" ] || return 0
  mid=$(( (best + hi) / 2 / 50 * 50 ))
  [ $mid -gt "$best" ] && [ $mid -lt "$hi" ] && echo "bisect $mid"
}
# sweep NAME PORT SERVER_ROOT_PID PG_ROOT_PID NEW_BATCH_FUNCTION REFRESH_CSV
# The measures of PHASES for one running server. Refreshes use REFRESH_CSV (registered by
# the caller's warm-up); before each first-registration step NEW_BATCH_FUNCTION writes
# NUSERS phones that never registered into a CSV and names it in BATCH_CSV.
sweep() {
  local name=$1 port=$2 srv=$3 pgroot=$4 new_batch=$5 refresh_csv=$6 kind nr csv
  for kind in $PHASES; do
    while [ ! -f "$OUT/$name/no_answer" ]; do
      if [ "$kind" = first ]; then nr=$(next_rate "$name" first "$FIRST_RATES" "$FIRST_REFINE")
      else nr=$(next_rate "$name" refresh "$REFRESH_RATES" "$REFINE_STEP"); fi
      [ -n "$nr" ] || break
      set -- $nr
      if [ "$kind" = first ]; then
        $new_batch || { log "$name: no new batch of phones"; touch "$OUT/$name/no_answer"; break; }
        sleep "$SETTLE"
        run_step "$name" first "$1" "$2" "$NUSERS" "f$2" "$port" "$BATCH_CSV" "$srv" "$pgroot"
      else
        sleep "$PAUSE"
        run_step "$name" refresh "$1" "$2" "$(count_for "$2")" "r$2" "$port" "$refresh_csv" "$srv" "$pgroot"
      fi
    done
  done
}

# ------------------------------------------------------------------ 1. install (idempotent)
chmod 755 "$OUT"
: > "$OUT/compare.log"
rm -rf "$KDIR" "$OUT/kamailio_db0" "$OUT/kamailio_db1" "$SFDIR" "$OUT/bin" "$OUT/summary.md"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if [ -z "${SKIP_INSTALL:-}" ]; then
  missing=""
  for p in kamailio kamailio-postgres-modules sip-tester postgresql bc curl; do installed $p || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    log "installing:$missing"
    apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >> "$OUT/apt.log" 2>&1 \
      || { log "apt-get install failed, see $OUT/apt.log"; exit 1; }
  fi
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
for c in kamailio kamcmd sipp bc curl; do command -v $c >/dev/null || { log "missing: $c"; exit 1; }; done
[ -x "$PGBIN/initdb" ] || { log "missing: PostgreSQL server binaries"; exit 1; }
[ "$(id -u)" = 0 ] || { log "run as root (PostgreSQL runs as the postgres user)"; exit 1; }
for port in "udp $KAM_PORT" "udp $SF_PORT" "udp ${LOCAL_PORT:-5061}" "tcp $KPG_PORT" "tcp $SF_HTTP" "tcp $KAM_PORT" "tcp $SF_PORT"; do
  set -- $port
  if ss -Hln --$1 "sport = :$2" 2>/dev/null | grep -q .; then log "port $1/$2 is in use: set another (see the env list at the top)"; exit 1; fi
done

# SIPp with TRANSPORT=un (a socket per call) refuses to start unless its socket limit
# (-max_socket, default 50,000) is below the open-file limit; the shared sipp_step.sh does not
# pass -max_socket, so where the hard limit is lower a `sipp` first in PATH adds it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
if [ "$TRANSPORT" = un ] && [ "$NOFILE" != unlimited ] && [ "$NOFILE" -le 50000 ]; then
  mkdir -p "$OUT/bin"
  printf '#!/bin/sh\nexec %q "$@" -max_socket %d\n' "$(command -v sipp)" $(( NOFILE - 1000 )) > "$OUT/bin/sipp"
  chmod +x "$OUT/bin/sipp"; export PATH="$OUT/bin:$PATH"
  log "SIPp: open-file limit $NOFILE, so -max_socket $(( NOFILE - 1000 ))"
fi

# the code under test: a commit, not the working tree others are editing
code_under_test "$OUT/src"; SF_COMMIT=$SRC_COMMIT

# the harness: ../shared/bench/harness as it is, but for the User-Agent of its scenario,
# which says what the phones are — sipfleet's are yealink-t54w, and a User-Agent naming
# another device ("sipp-bench") is recorded as a phone.mismatch and takes the gate's slow
# path: that is not what a fleet of Yealinks costs. Kamailio ignores it.
HARNESS=$OUT/harness
SIP_USER_AGENT=${SIP_USER_AGENT:-Yealink SIP-T54W 96.86.0.100}
SHARED_HARNESS=$SHARED "$PY" "$ROOT/bench/common/harness.py" "$HARNESS" "$SIP_USER_AGENT" \
  || { log "cannot prepare the harness in $HARNESS"; exit 1; }

# ------------------------------------------------------------------ cleanup (also on error)
kam_main() { [ -s "$KPIDF" ] && cat "$KPIDF"; }
kam_stop() {
  local m; m=$(kam_main) || return 0
  kill -TERM "$m" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$m" 2>/dev/null || break; sleep 0.2; done
  local left; left=$(tree_pids "$m"); [ -n "$left" ] && kill -9 $left 2>/dev/null
  rm -f "$KPIDF"
}
kpg_stop() { [ -f "$KPG/data/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$KPG/data" -m fast -w stop >/dev/null 2>&1; }
SF=
sf_stop() {  # SIGTERM: sipfleet stops its workers and its embedded PostgreSQL
  [ -n "$SF" ] || return 0
  kill -TERM "$SF" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$SF" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$SF" 2>/dev/null && kill -9 $(tree_pids "$SF") 2>/dev/null
  wait "$SF" 2>/dev/null; SF=
}
sf_pg_stop() {  # the embedded PostgreSQL, if a killed sipfleet left it running
  (cd "$SRC" && PYTHONPATH="$SRC" "$PY" -c '
import sys; from pathlib import Path; from db.embedded import running_embedded
s = running_embedded(Path(sys.argv[1])); s and s.stop()' "$SFDATA") >/dev/null 2>&1
}
cleanup() {
  trap - EXIT INT TERM
  kam_stop; kpg_stop
  sf_stop; [ -d "$SFDATA" ] && sf_pg_stop
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# ------------------------------------------------------------------ machine and versions
START=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
{
  echo "start=$START"
  echo "nproc=$(nproc)"
  echo "model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  echo "kernel=$(uname -r)"
  echo "memory=$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "loadavg_at_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "kamailio=$(kamailio -v 2>/dev/null | awk '/^version/{print $3; exit}')"
  echo "sipp=$(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1 | sed 's/[.,]$//')"
  echo "postgresql_kamailio=$("$PGBIN/postgres" --version)"
  echo "python=$("$PY" --version 2>&1)"
  echo "sipfleet_commit=$SF_COMMIT"
  echo "transport=$TRANSPORT"
  echo "workers=$WORKERS"
  echo "first_rates=$FIRST_RATES"
  echo "refresh_rates=$REFRESH_RATES"
  echo "first_step=$NUSERS phones that never registered, a fresh batch per step; bisection to $FIRST_REFINE/s"
  echo "refresh_step=max($MIN_COUNT, $MIN_SECS s x rate) re-registrations of $NUSERS phones registered once at $WARM_RATE/s; bisection to $REFINE_STEP/s"
  echo "users=$NUSERS"
  echo "phases=$PHASES"
  echo "pauses=${SETTLE} s after the warm-up and each new batch, ${PAUSE} s between refresh steps, CPU counted ${TAIL} s past each step"
  echo "kamailio_children=$CHILDREN"
  echo "user_agent=$SIP_USER_AGENT"
} > "$OUT/machine.txt"
log "machine: $(tr '\n' ' ' < "$OUT/machine.txt")"

# ------------------------------------------------------------------ Kamailio
kam_ctl() { kamcmd -s "$KCTL" "$@" 2>/dev/null; }
kam_start() {  # DBMODE
  mkdir -p "$KRUN"
  kamailio -f "$HERE/kamailio/kamailio.cfg" -P "$KPIDF" -Y "$KRUN" -m 256 -M 16 \
    -A DBMODE="$1" -A CHILDREN="$CHILDREN" -A LISTEN_PORT="$KAM_PORT" \
    -A "DBURL=\"$KDBURL\"" -A "CTL_SOCKET=\"$KCTL\"" >> "$KRUN/kamailio.log" 2>&1
  for _ in $(seq 50); do kam_ctl core.uptime >/dev/null && return 0; sleep 0.2; done
  log "kamailio did not start, see $KRUN/kamailio.log"; return 1
}
kam_count() {  # contacts in memory, once usrloc's asynchronous DB preload has settled
  local prev=-1 same=0 c
  for _ in $(seq 40); do
    c=$(kam_ctl stats.get_statistics location_contacts | awk '{print $3}')
    if [ "$c" = "$prev" ]; then same=$((same + 1)); else same=0; fi
    prev=$c; [ $same -ge 6 ] && break; sleep 0.5
  done
  echo "$prev"
}
kpsql() { PGPASSWORD=kamailiorw psql -h 127.0.0.1 -p "$KPG_PORT" -U kamailio -d kamailio -v ON_ERROR_STOP=1 -Atq "$@"; }
KBATCH=0; BATCH_CSV=
kam_batch() {  # BATCH_CSV= NUSERS new subscribers (users b<N>u00000…), loaded into PostgreSQL
  KBATCH=$((KBATCH + 1))
  local b=$KDIR/batch$KBATCH
  python3 "$SHARED/gen_users.py" --count "$NUSERS" --prefix "b${KBATCH}u" --domain 127.0.0.1 \
    --csv "$b.csv" --tsv "$b.tsv" >&2 || return 1
  kpsql -c "\\copy subscriber(username,domain,password) FROM '$b.tsv'" >&2 || return 1
  BATCH_CSV=$b.csv
}
kamailio_setup() {  # private PostgreSQL cluster + Kamailio's schema
  rm -rf "$KDIR"; mkdir -p "$KPG" "$KRUN"; chmod 755 "$KDIR"; chown postgres: "$KPG"
  chmod 700 "$KPG"   # its socket accepts local connections without a password: postgres only
  runuser -u postgres -- "$PGBIN/initdb" -D "$KPG/data" -U postgres -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 > "$KPG/initdb.log" 2>&1 || { log "initdb failed"; return 1; }
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$KPG/data" -l "$KPG/server.log" -w \
    -o "-p $KPG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$KPG" start >/dev/null \
    || { log "PostgreSQL did not start, see $KPG/server.log"; return 1; }
  runuser -u postgres -- psql -h "$KPG" -p "$KPG_PORT" -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE kamailio LOGIN PASSWORD 'kamailiorw'" -c "CREATE DATABASE kamailio OWNER kamailio" || return 1
  local s=/usr/share/kamailio/postgres
  kpsql -f $s/standard-create.sql -f $s/auth_db-create.sql -f $s/usrloc-create.sql >/dev/null || return 1
  log "kamailio: private PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$KPG_PORT"
}
kamailio_variant() {  # DBMODE
  local v=$1 name=kamailio_db$1 d pgroot csv
  d=$OUT/$name; rm -rf "$d"; mkdir -p "$d"; echo -e "$STEP_HDR" > "$d/steps.tsv"
  pgroot=$(head -1 "$KPG/data/postmaster.pid")
  kpsql -c "TRUNCATE location" || return 1
  kam_start "$v" || return 1
  log "$name: kamailio main pid $(kam_main), $CHILDREN UDP workers"
  DOMAIN=127.0.0.1
  kam_batch || return 1; csv=$BATCH_CSV
  run_step "$name" first warmup "$WARM_RATE" "$NUSERS" warmup "$KAM_PORT" "$csv" "$(kam_main)" "$pgroot"
  sleep "$SETTLE"
  [ -f "$d/no_answer" ] && log "$name: nothing answered the warm-up, see $KRUN/kamailio.log"
  sweep "$name" "$KAM_PORT" "$(kam_main)" "$pgroot" kam_batch "$csv"
  # durability: kill -9 every Kamailio process, start it again, count what it holds
  local before after rows
  before=$(kam_count)
  kill -9 $(tree_pids "$(kam_main)") 2>/dev/null; sleep 1; rm -f "$KPIDF"
  kam_start "$v" || return 1
  after=$(kam_count); rows=$(kpsql -c "select count(*) from location")
  echo "$before $after" > "$d/durability"
  log "$name: max clean first $(max_clean "$name" first)/s, refresh $(max_clean "$name" refresh)/s; kill -9: contacts before $before, after restart $after (location rows $rows)"
  kam_stop
}

# ------------------------------------------------------------------ sipfleet
sf_start() {  # as the README deploys it; the settings below are the only ones changed
  (cd "$SRC" && exec env PYTHONPATH="$SRC" SIPFLEET_DATA_DIR="$SFDATA" SIPFLEET_WORKERS="$WORKERS" \
    SIPFLEET_SIP_LISTEN="udp:127.0.0.1:$SF_PORT,tcp:127.0.0.1:$SF_PORT" \
    SIPFLEET_HTTP_LISTEN="127.0.0.1:$SF_HTTP" SIPFLEET_SIP_DOMAIN="$REALM" \
    SIPFLEET_KEEPALIVE_INTERVAL=0 SIPFLEET_DIGEST_ALGORITHMS=MD5 \
    "$PY" -m provisioning serve) >> "$SFDIR/sipfleet.log" 2>&1 &
  SF=$!
  local ready
  for _ in $(seq 600); do
    ready=$(grep -c "worker .* of $WORKERS ready\|worker .* ready" "$SFDIR/sipfleet.log" 2>/dev/null)
    curl -sf "http://127.0.0.1:$SF_HTTP/healthz" >/dev/null && [ "${ready:-0}" -ge 1 ] && sleep 1 && return 0
    kill -0 "$SF" 2>/dev/null || break
    sleep 0.2
  done
  log "sipfleet did not start, see $SFDIR/sipfleet.log"; return 1
}
sf_pg_root() { head -1 "$SFDATA/postgres/postmaster.pid" 2>/dev/null; }
SBATCH=0
sf_batch() {  # BATCH_CSV= NUSERS phones just created through the REST API (never registered)
  local b=$SFDIR/batch$SBATCH first=$(( SBATCH * NUSERS ))
  SBATCH=$((SBATCH + 1))
  "$PY" "$ROOT/bench/bootstorm/fleet.py" --api "http://127.0.0.1:$SF_HTTP" \
    --token-file "$SFDATA/admin-token" --count "$NUSERS" --first "$first" \
    --customer-name "Bench batch $SBATCH" --out "$b.tsv" --sipp-csv "$b.csv" 2>> "$OUT/compare.log" >&2 \
    || return 1
  BATCH_CSV=$b.csv
}
sf_sql() {  # QUERY -> one value, from sipfleet's embedded PostgreSQL
  (cd "$SRC" && PYTHONPATH="$SRC" "$PY" - "$SFDATA" "$1" <<'PY'
import asyncio, sys
from pathlib import Path
import asyncpg
from db.embedded import running_embedded
async def main():
    server = running_embedded(Path(sys.argv[1]))
    conn = await asyncpg.connect(server.uri)
    print(await conn.fetchval(sys.argv[2])); await conn.close()
asyncio.run(main())
PY
  )
}
sf_mem_bindings() {  # "<sum over workers answering> <workers answering>" from /metrics: with
  # several workers the HTTP port is shared (SO_REUSEPORT), so it is scraped over many
  # connections and one answer per worker (told apart by process_start_time_seconds and the
  # count) is summed
  local i
  for i in $(seq $(( 16 * WORKERS ))); do
    curl -s "http://127.0.0.1:$SF_HTTP/metrics" | awk '
      /^process_start_time_seconds /{s=$2} /^sipfleet_bindings\{transport="udp"\}/{b=$2}
      END{print s, b}' || true
  done | awk 'NF==2 && !($0 in seen){seen[$0]=1; n++; t+=$2} END{printf "%d %d\n", t, n}'
}
sipfleet_variant() {
  local name=sipfleet d=$SFDIR csv
  rm -rf "$d"; mkdir -p "$d"; echo -e "$STEP_HDR" > "$d/steps.tsv"
  sf_start || { touch "$d/no_answer"; return 1; }
  log "sipfleet $SF_COMMIT: pid $SF, $WORKERS workers, embedded PostgreSQL pid $(sf_pg_root)"
  DOMAIN=$REALM
  sf_batch || { log "sipfleet: phones not created"; touch "$d/no_answer"; return 1; }; csv=$BATCH_CSV
  log "sipfleet: $NUSERS phones created through the API ($(sf_sql "select count(*) from sip_phones where ip_mode = 'OPEN'") OPEN)"
  sleep "$SETTLE"
  run_step "$name" first warmup "$WARM_RATE" "$NUSERS" warmup "$SF_PORT" "$csv" "$SF" "$(sf_pg_root)"
  sleep "$SETTLE"
  sweep "$name" "$SF_PORT" "$SF" "$(sf_pg_root)" sf_batch "$csv"
  # durability: kill -9 (the supervisor and its workers; the embedded PostgreSQL is left
  # as a crash leaves it), start again, count the unexpired bindings in PostgreSQL and
  # those the workers hold in memory
  local before_db before_mem after_db after_mem
  before_db=$(sf_sql "select count(*) from bindings where expires_at > now()"); before_mem=$(sf_mem_bindings)
  kill -9 $(tree_pids "$SF") 2>/dev/null; wait "$SF" 2>/dev/null; SF=
  sf_start || return 1
  sleep 2
  after_db=$(sf_sql "select count(*) from bindings where expires_at > now()"); after_mem=$(sf_mem_bindings)
  echo "$before_db $after_db" > "$d/durability"
  log "sipfleet: max clean first $(max_clean "$name" first)/s, refresh $(max_clean "$name" refresh)/s; kill -9: bindings in PostgreSQL before $before_db, after restart $after_db; in memory before ${before_mem% *} (${before_mem#* } workers answering), after ${after_mem% *} (${after_mem#* } answering); phones LOCKED: $(sf_sql "select count(*) from sip_phones where ip_mode = 'LOCKED'")"
  sf_stop
}

# ------------------------------------------------------------------ the run
RUN_T0=$(date +%s)
if grep -qw kamailio_db0 <<< "$SERVERS" || grep -qw kamailio_db1 <<< "$SERVERS"; then
  if kamailio_setup; then
    for v in 0 1; do
      grep -qw "kamailio_db$v" <<< "$SERVERS" || continue
      kamailio_variant "$v" || { log "kamailio_db$v: aborted"; kam_stop; }
      sleep "$PAUSE"
    done
  else
    log "kamailio: set-up failed"
  fi
  kam_stop; kpg_stop   # its PostgreSQL must not run (nor count) during sipfleet's steps
fi
grep -qw sipfleet <<< "$SERVERS" && { sipfleet_variant || log "sipfleet: aborted"; sf_stop; }
echo "end=$(date -u '+%Y-%m-%d %H:%M:%S UTC')" >> "$OUT/machine.txt"
echo "loadavg_at_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
echo "duration_s=$(( $(date +%s) - RUN_T0 ))" >> "$OUT/machine.txt"

"$PY" "$HERE/summary.py" "$OUT" > "$OUT/summary.md"
log "summary: $OUT/summary.md"
cat "$OUT/summary.md"
