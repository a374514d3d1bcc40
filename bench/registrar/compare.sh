#!/bin/bash
# Kamailio and sipfleet in ONE benchmark run (issue 3): the same SIPp harness
# (../shared/bench/harness: REGISTER -> 401 -> REGISTER with credentials -> 200), the same
# 10,000 users, the same rates, step rule and bisection, one server after another:
#   1. Kamailio 5.6 (Debian), usrloc db_mode=0: bindings in memory only
#   2. Kamailio 5.6 (Debian), usrloc db_mode=1: write-through to PostgreSQL
#   3. sipfleet, started by bench/registrar/run.sh (every 200 after the commit)
# then kill -9 + restart of each to count the bindings that survive, and one summary.
#
#   flock /tmp/sipfleet-bench.lock bench/registrar/compare.sh            # full run
#   QUICK=1 flock /tmp/sipfleet-bench.lock bench/registrar/compare.sh    # a few minutes
#
# Writes $OUT/summary.md (the table), $OUT/<server>/steps.tsv, raw SIPp output, logs.
# Needs root (apt-get, PostgreSQL run as the `postgres` user). Everything it starts has its
# ports and directories of its own and is stopped at the end, also on error or Ctrl-C:
# Kamailio on KAM_PORT, Debian's PostgreSQL as a private cluster in $OUT/kamailio/pg on
# KPG_PORT (not the system cluster), sipfleet's own pgserver in $OUT/sipfleet/run/pg.
#
# env: OUT (/tmp/sipfleet-bench/registrar)  TRANSPORT (u1 | un: SIPp's -t for all three)
#      WORKERS (sipfleet worker processes, passed as SIPFLEET_WORKERS when set)
#      RATES ("500 1000 1500 2000 3000 4000 5000 6000 8000")  MIN_COUNT (20000)  MIN_SECS (15)
#      REFINE_STEP (250)  WARM_RATE (500)  NUSERS (10000)  CHILDREN (4 Kamailio UDP workers)
#      SERVERS ("kamailio_db0 kamailio_db1 sipfleet": a subset to run)  PAUSE (3 s between steps)
#      SETTLE (10 s after the warm-up: the first registrations' writes settle before step 1)
#      KAM_PORT (5070)  KPG_PORT (55432)  SF_PORT (5090)  SF_HTTP (8090)  SKIP_INSTALL=1
#      QUICK=1: RATES="500 1000", 5 s steps (MIN_SECS=5, MIN_COUNT=0), PAUSE=1, SETTLE=2
# Step rule (as ../shared/bench/kamailio/run.sh): the warm-up registers all NUSERS users at
# WARM_RATE (not scored; 500/s because at 1,000/s sipfleet's warm-up, which also locks every
# phone through its IP gate, drowns in SIPp retransmissions); each step then sends
# max(MIN_COUNT, MIN_SECS x rate) registrations (users wrap around: re-registrations).
# "Clean" = every call succeeded: 0 failed, 0 SIPp retransmissions. The coarse rates run in
# order until two in a row are dirty; then the rate is bisected between the highest clean
# and the lowest dirty rate above it (rounded to 50/s) until they are <= REFINE_STEP apart.
# sipfleet is started, warmed up and kill -9'd by bench/registrar/run.sh itself; only its
# steps are chosen here (run.sh is handed a harness directory whose sipp_step.sh calls back
# into this script, see "wrapper mode").
set -uo pipefail
SELF=$(readlink -f "$0")
HERE=$(cd "$(dirname "$SELF")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED_HARNESS:-/work/shared/bench/harness}
PY=${PY:-/work/venv/bin/python}
OUT=${OUT:-/tmp/sipfleet-bench/registrar}
if [ "${1:-}" = __sipp_step ]; then  # called back from run.sh: settings come as CMP_*
  OUT=$CMP_OUT RATES=$CMP_RATES MIN_COUNT=$CMP_MIN_COUNT MIN_SECS=$CMP_MIN_SECS
  REFINE_STEP=$CMP_REFINE_STEP PAUSE=$CMP_PAUSE SETTLE=$CMP_SETTLE
fi
if [ -n "${QUICK:-}" ]; then
  RATES=${RATES:-"500 1000"}; MIN_SECS=${MIN_SECS:-5}; MIN_COUNT=${MIN_COUNT:-0}; PAUSE=${PAUSE:-1}
  SETTLE=${SETTLE:-2}
fi
RATES=${RATES:-"500 1000 1500 2000 3000 4000 5000 6000 8000"}
MIN_COUNT=${MIN_COUNT:-20000}; MIN_SECS=${MIN_SECS:-15}; PAUSE=${PAUSE:-3}; SETTLE=${SETTLE:-10}
REFINE_STEP=${REFINE_STEP:-250}; WARM_RATE=${WARM_RATE:-500}; NUSERS=${NUSERS:-10000}
CHILDREN=${CHILDREN:-4}; TRANSPORT=${TRANSPORT:-u1}; WORKERS=${WORKERS:-${SIPFLEET_WORKERS:-}}
SERVERS=${SERVERS:-"kamailio_db0 kamailio_db1 sipfleet"}
KAM_PORT=${KAM_PORT:-5070}; KPG_PORT=${KPG_PORT:-55432}; SF_PORT=${SF_PORT:-5090}; SF_HTTP=${SF_HTTP:-8090}
HZ=$(getconf CLK_TCK)
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)   # absolute: Kamailio, PostgreSQL and run.sh get it
KDIR=$OUT/kamailio; KPG=$KDIR/pg; KRUN=$KDIR/run
KCTL="unix:$KRUN/kamailio_ctl"; KPIDF=$KRUN/kamailio.pid
KDBURL="postgres://kamailio:kamailiorw@127.0.0.1:$KPG_PORT/kamailio"
export TRANSPORT

log() { echo "[$(date -u +%T)] $*" | tee -a "$OUT/compare.log" >&2; }

# ------------------------------------------------------------------ process accounting
tree_pids() {  # ROOT_PID -> the PID and all its descendants (only while ROOT is alive)
  local p=${1:-} c
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
  echo "$p"
  for c in $(ps -o pid= --ppid "$p"); do tree_pids "$c"; done
}
snap() {  # PIDS... -> "pid:ticks" words (utime+stime)
  local p v
  for p in "$@"; do v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) && [ -n "$v" ] && echo -n "$p:$v "; done
}
delta_ticks() {  # "SNAP_BEFORE" "SNAP_AFTER" -> ticks spent (processes gone by the end are lost)
  local -A b=(); local w t=0
  for w in $1; do b[${w%%:*}]=${w#*:}; done
  for w in $2; do t=$(( t + ${w#*:} - ${b[${w%%:*}]:-0} )); done
  echo $t
}
cores() { printf '%.2f' "$(echo "scale=3; $1 / $HZ / $2" | bc)"; }  # TICKS WALL_S

# ------------------------------------------------------------------ steps and the rate rule
count_for() { local c=$(( $1 * MIN_SECS )); [ "$c" -lt "$MIN_COUNT" ] && c=$MIN_COUNT; echo $c; }
STEP_HDR="label\tphase\trate_asked\tcount\tok\tfailed\tretrans\trate_achieved\trtd1_401_ms\trtd2_200_ms\tserver_cores\tpg_cores\tsipp_cores\tsys_busy\tclean"
# run_step NAME PHASE RATE COUNT LABEL HOST PORT CSV SERVER_ROOT_PID PG_ROOT_PID
# One SIPp step with the shared sipp_step.sh; the CPU of the server's and PostgreSQL's whole
# process trees is measured here (the harness's own pg column counts every `postgres`
# process on the machine). Appends to $OUT/NAME/steps.tsv and, past the warm-up, to the
# history the rate rule reads; prints the harness line.
run_step() {
  local name=$1 phase=$2 rate=$3 count=$4 label=$5 host=$6 port=$7 csv=$8 srv=$9 pgroot=${10}
  local d=$OUT/$name s0 s1 p0 p1 t0 t1 line wall
  local f_label f_rate f_count created ok failed retr achieved elapsed rtd1 rtd2 _srv _pg sippc busy rc
  local sp pp; sp=$(tree_pids "$srv"); pp=$(tree_pids "$pgroot")
  wc -w <<< "$sp" > "$d/server_processes"
  s0=$(snap $sp); p0=$(snap $pp); t0=$(date +%s.%N)
  line=$(bash "$SHARED/sipp_step.sh" "$host" "$port" "$csv" "$rate" "$count" "$label" "$d/sipp" $sp)
  t1=$(date +%s.%N)
  s1=$(snap $(tree_pids "$srv")); p1=$(snap $(tree_pids "$pgroot"))
  wall=$(echo "$t1 - $t0" | bc)
  IFS=$'\t' read -r f_label f_rate f_count created ok failed retr achieved elapsed rtd1 rtd2 _srv _pg sippc busy rc <<< "$line"
  local clean=0
  [ "${failed:-x}" = 0 ] && [ "${retr:-x}" = 0 ] && [ "${ok:-x}" = "$count" ] && clean=1
  echo -e "$label\t$phase\t$rate\t$count\t${ok:-?}\t${failed:-?}\t${retr:-?}\t${achieved:-?}\t${rtd1:-?}\t${rtd2:-?}\t$(cores "$(delta_ticks "$s0" "$s1")" "$wall")\t$(cores "$(delta_ticks "$p0" "$p1")" "$wall")\t${sippc:-?}\t${busy:-?}\t$clean" >> "$d/steps.tsv"
  [ "$phase" != warmup ] && echo "$phase $rate $clean" >> "$d/history"
  # nothing answered the warm-up: the server is not working, a sweep would only waste time
  [ "$phase" = warmup ] && [ "${ok:-0}" = 0 ] && touch "$d/no_answer"
  log "$name $label: asked $rate/s, ok ${ok:-?}/$count, failed ${failed:-?}, retrans ${retr:-?}, achieved ${achieved:-?}/s -> $([ $clean = 1 ] && echo clean || echo dirty)"
  echo "$line"
}
sf_postmaster() {  # PID of the PostgreSQL that run.sh started for sipfleet (data under our OUT)
  pgrep -o -f -- "postgres -D $OUT/sipfleet/run/" 2>/dev/null
}
max_clean() {  # NAME -> highest clean rate seen (0 if none)
  awk 'BEGIN{b=0} $3==1 && $2+0>b {b=$2+0} END{print b}' "$OUT/$1/history" 2>/dev/null || echo 0
}
next_rate() {  # NAME -> "coarse RATE" | "bisect RATE" | nothing when the sweep is finished
  local h=$OUT/$1/history n=0 row=0 ph r c best hi mid
  local -a coarse=($RATES)
  if [ -f "$h" ]; then
    while read -r ph r c; do
      [ "$ph" = coarse ] || continue
      n=$((n + 1)); if [ "$c" = 1 ]; then row=0; else row=$((row + 1)); fi
    done < "$h"
  fi
  if [ $n -lt ${#coarse[@]} ] && [ $row -lt 2 ]; then echo "coarse ${coarse[$n]}"; return; fi
  best=$(max_clean "$1")
  hi=$(awk -v b="$best" 'BEGIN{h=0} $3==0 && $2+0>b && (h==0 || $2+0<h) {h=$2+0} END{print h}' "$h" 2>/dev/null)
  [ "${hi:-0}" -gt 0 ] && [ $(( hi - best )) -gt "$REFINE_STEP" ] || return 0
  mid=$(( (best + hi) / 2 / 50 * 50 ))
  [ $mid -gt "$best" ] && [ $mid -lt "$hi" ] && echo "bisect $mid"
}

# ------------------------------------------------------------------ wrapper mode
# bench/registrar/run.sh runs `bash $HARNESS/sipp_step.sh HOST PORT CSV RATE COUNT LABEL
# OUTDIR SERVER_PID` once for the warm-up and once per entry of RATES. For sipfleet this
# script hands run.sh a harness directory whose sipp_step.sh lands here: the warm-up goes
# through as asked; every other call runs the next step of the rate rule above (or does
# nothing once the sweep is finished), so run.sh's own start-up, warm-up and kill -9 check
# are used unchanged.
if [ "${1:-}" = __sipp_step ]; then
  shift
  host=$1 port=$2 csv=$3 rate=$4 count=$5 label=$6; srv=${8:-}
  echo "$srv" > "$OUT/sipfleet/server.pid"
  pgroot=$(sf_postmaster)
  if [ ! -f "$OUT/sipfleet/no_answer" ] && ! kill -0 "$srv" 2>/dev/null; then
    log "sipfleet: the server (pid $srv) is not running, see $OUT/sipfleet/run/sipfleet.log"
    touch "$OUT/sipfleet/no_answer"
  fi
  if [ -f "$OUT/sipfleet/no_answer" ]; then echo "skipped: the server does not answer"; exit 0; fi
  if [ "$label" = warmup ]; then
    run_step sipfleet warmup "$rate" "$count" warmup "$host" "$port" "$csv" "$srv" "$pgroot"
    sleep "$SETTLE"; exit 0
  fi
  nr=$(next_rate sipfleet)
  if [ -z "$nr" ]; then echo "skipped: sweep finished"; exit 0; fi
  set -- $nr; sleep "$PAUSE"
  run_step sipfleet "$1" "$2" "$(count_for "$2")" "r$2" "$host" "$port" "$csv" "$srv" "$pgroot"
  exit 0
fi

# ------------------------------------------------------------------ 1. install (idempotent)
chmod 755 "$OUT"
: > "$OUT/compare.log"
rm -rf "$OUT/kamailio" "$OUT/kamailio_db0" "$OUT/kamailio_db1" "$OUT/sipfleet" "$OUT/bin" "$OUT/summary.md"
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
for port in "udp $KAM_PORT" "udp $SF_PORT" "udp ${LOCAL_PORT:-5061}" "tcp $KPG_PORT" "tcp $SF_HTTP" "tcp $KAM_PORT"; do
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

# ------------------------------------------------------------------ cleanup (also on error)
RUNSH_PID=
kam_main() { [ -s "$KPIDF" ] && cat "$KPIDF"; }
kam_stop() {
  local m; m=$(kam_main) || return 0
  kill -TERM "$m" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$m" 2>/dev/null || break; sleep 0.2; done
  local left; left=$(tree_pids "$m"); [ -n "$left" ] && kill -9 $left 2>/dev/null
  rm -f "$KPIDF"
}
kpg_stop() { [ -f "$KPG/data/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$KPG/data" -m fast -w stop >/dev/null 2>&1; }
cleanup() {
  trap - EXIT INT TERM
  kam_stop; kpg_stop
  if [ -n "$RUNSH_PID" ] && kill -0 "$RUNSH_PID" 2>/dev/null; then
    local t; t=$(tree_pids "$RUNSH_PID"); kill -TERM $t 2>/dev/null; sleep 2
    t=$(tree_pids "$RUNSH_PID"); [ -n "$t" ] && kill -9 $t 2>/dev/null
  fi
  local sf; sf=$(cat "$OUT/sipfleet/server.pid" 2>/dev/null)
  if [ -n "$sf" ] && grep -q "provisioning" "/proc/$sf/cmdline" 2>/dev/null; then kill -9 $(tree_pids "$sf") 2>/dev/null; fi
  local pm; pm=$(sf_postmaster)
  if [ -n "$pm" ]; then
    "$PY" "$HERE/pg.py" "$OUT/sipfleet/run/pg" stop >/dev/null 2>&1
    sleep 1; kill -0 "$pm" 2>/dev/null && kill -INT "$pm"   # fast shutdown of that postmaster
  fi
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
  echo "sipfleet_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "transport=$TRANSPORT"
  echo "workers=${WORKERS:-default}"
  echo "sip_udp_partition=$([ "${WORKERS:-1}" -gt 1 ] && echo "${SIPFLEET_SIP_UDP_PARTITION:-phone}" || echo "n/a (one process)")"
  echo "rates=$RATES"
  echo "step=max($MIN_COUNT, $MIN_SECS s x rate) registrations; warm-up $NUSERS at $WARM_RATE/s; bisection to $REFINE_STEP/s"
  echo "users=$NUSERS"
  echo "pauses=${SETTLE} s after the warm-up, ${PAUSE} s between steps"
  echo "kamailio_children=$CHILDREN"
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
kamailio_setup() {  # private PostgreSQL cluster + Kamailio's schema + NUSERS subscribers
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
  python3 "$SHARED/gen_users.py" --count "$NUSERS" --domain 127.0.0.1 --csv "$KDIR/users.csv" --tsv "$KDIR/users.tsv"
  kpsql -c "\\copy subscriber(username,domain,password) FROM '$KDIR/users.tsv'" || return 1
  log "kamailio: private PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$KPG_PORT, subscribers: $(kpsql -c 'select count(*) from subscriber')"
}
kamailio_variant() {  # DBMODE
  local v=$1 name=kamailio_db$1 d pgroot nr
  d=$OUT/$name; rm -rf "$d"; mkdir -p "$d"; echo -e "$STEP_HDR" > "$d/steps.tsv"
  pgroot=$(head -1 "$KPG/data/postmaster.pid")
  kpsql -c "TRUNCATE location" || return 1
  kam_start "$v" || return 1
  log "$name: kamailio main pid $(kam_main), $CHILDREN UDP workers"
  run_step "$name" warmup "$WARM_RATE" "$NUSERS" warmup 127.0.0.1 "$KAM_PORT" "$KDIR/users.csv" "$(kam_main)" "$pgroot" >/dev/null
  sleep "$SETTLE"
  [ -f "$d/no_answer" ] && log "$name: nothing answered the warm-up, see $KRUN/kamailio.log"
  while [ ! -f "$d/no_answer" ] && nr=$(next_rate "$name") && [ -n "$nr" ]; do
    set -- $nr; sleep "$PAUSE"
    run_step "$name" "$1" "$2" "$(count_for "$2")" "r$2" 127.0.0.1 "$KAM_PORT" "$KDIR/users.csv" "$(kam_main)" "$pgroot" >/dev/null
  done
  # durability: kill -9 every Kamailio process, start it again, count what it holds
  local before after rows
  before=$(kam_count)
  kill -9 $(tree_pids "$(kam_main)") 2>/dev/null; sleep 1; rm -f "$KPIDF"
  kam_start "$v" || return 1
  after=$(kam_count); rows=$(kpsql -c "select count(*) from location")
  echo "$before $after" > "$d/durability"
  log "$name: max clean $(max_clean "$name")/s; kill -9: contacts before $before, after restart $after (location rows $rows)"
  kam_stop
}

# ------------------------------------------------------------------ sipfleet (via run.sh)
sipfleet_variant() {
  local d=$OUT/sipfleet slots
  rm -rf "$d"; mkdir -p "$d/harness" "$d/run"; echo -e "$STEP_HDR" > "$d/steps.tsv"
  for f in register_auth.xml parse_sipp.py gen_users.py; do ln -s "$SHARED/$f" "$d/harness/$f"; done
  printf '#!/bin/bash\nexec bash %q __sipp_step "$@"\n' "$SELF" > "$d/harness/sipp_step.sh"
  # run.sh runs one step per RATES entry: as many entries as the coarse rates + the longest
  # bisection can need (each spare entry still costs run.sh a little bookkeeping)
  local r prev=0 gap=0 b=2
  for r in $RATES; do [ $(( r - prev )) -gt $gap ] && gap=$(( r - prev )); prev=$r; done
  while [ "$gap" -gt "$REFINE_STEP" ]; do gap=$(( (gap + 1) / 2 )); b=$(( b + 1 )); done
  slots=$(seq -s' ' 1 $(( $(wc -w <<< "$RATES") + b )))
  local -a runenv=(OUT="$d/run" COUNT="$NUSERS" RATES="$slots" MIN_STEP=0 WARM_RATE="$WARM_RATE"
    PORT="$SF_PORT" HTTP="$SF_HTTP" HARNESS="$d/harness" PY="$PY" SHARED_HARNESS="$SHARED"
    CMP_OUT="$OUT" CMP_RATES="$RATES" CMP_MIN_COUNT="$MIN_COUNT" CMP_MIN_SECS="$MIN_SECS"
    CMP_REFINE_STEP="$REFINE_STEP" CMP_PAUSE="$PAUSE" CMP_SETTLE="$SETTLE")
  [ -n "$WORKERS" ] && runenv+=(WORKERS="$WORKERS" SIPFLEET_WORKERS="$WORKERS")
  # several workers share SIPp's one UDP flow by phone (run.sh's default for WORKERS > 1)
  [ "${WORKERS:-1}" -gt 1 ] && runenv+=(SIPFLEET_SIP_UDP_PARTITION="${SIPFLEET_SIP_UDP_PARTITION:-phone}")
  log "sipfleet: bench/registrar/run.sh (workers=${WORKERS:-default}, transport $TRANSPORT)"
  env "${runenv[@]}" bash "$HERE/run.sh" > "$d/run.stdout" 2>&1 &
  RUNSH_PID=$!
  wait $RUNSH_PID; local rc=$?; RUNSH_PID=
  echo "$rc" > "$d/run_sh_exit"
  [ $rc = 0 ] || log "sipfleet: run.sh exited with $rc (see $d/run.stdout)"
  local dur
  dur=$(grep -o 'before kill -9: [0-9.]*; after restart: [0-9.]*' "$d/run/run.log" 2>/dev/null | tail -1)
  [ -n "$dur" ] && awk '{print $4+0, $7+0}' <<< "$dur" > "$d/durability"
  log "sipfleet: max clean $(max_clean sipfleet)/s; kill -9: ${dur:-no durability line in $d/run/run.log}"
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
grep -qw sipfleet <<< "$SERVERS" && sipfleet_variant
echo "end=$(date -u '+%Y-%m-%d %H:%M:%S UTC')" >> "$OUT/machine.txt"
echo "duration_s=$(( $(date +%s) - RUN_T0 ))" >> "$OUT/machine.txt"

# ------------------------------------------------------------------ summary
python3 - "$OUT" <<'PY'
"""Write $OUT/summary.md from the per-server steps.tsv, durability and machine.txt."""
import csv
import sys
from pathlib import Path

out = Path(sys.argv[1])
machine = dict(
    line.split("=", 1) for line in (out / "machine.txt").read_text().splitlines() if "=" in line
)
servers = [
    ("kamailio_db0", "Kamailio, usrloc db_mode=0 (memory only)"),
    ("kamailio_db1", "Kamailio, usrloc db_mode=1 (write-through)"),
    ("sipfleet", f"sipfleet (every 200 after its commit; workers={machine.get('workers')})"),
]


def processes(name: str) -> str:
    path = out / name / "server_processes"
    return path.read_text().strip() if path.exists() else "?"


def steps(name: str) -> list[dict[str, str]]:
    path = out / name / "steps.tsv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def best_row(rows: list[dict[str, str]]) -> dict[str, str] | None:
    clean = [r for r in rows if r["phase"] != "warmup" and r["clean"] == "1"]
    return max(clean, key=lambda r: int(r["rate_asked"]), default=None)


def p50_p99(cell: str) -> str:
    parts = dict(p.split("=") for p in cell.split() if "=" in p)
    return f"{parts.get('p50', '?')} / {parts.get('p99', '?')}" if parts else cell


def per_reg(row: dict[str, str]) -> str:
    """Server CPU milliseconds per registration (REGISTER, 401, REGISTER, 200) at that step."""
    try:
        return f"{1000 * float(row['server_cores']) / float(row['rate_achieved']):.3f} ms"
    except (ValueError, ZeroDivisionError):
        return "?"


res = {}
capped = set()  # servers clean at every rate tried: their limit is above the list
lines = []
lines.append("# Registrar: Kamailio and sipfleet in one run (bench/registrar/compare.sh)\n")
lines.append(
    f"Machine: {machine.get('nproc')} CPUs ({machine.get('model')}), {machine.get('memory')}, "
    f"kernel {machine.get('kernel')}; run {machine.get('start')} → {machine.get('end')} "
    f"({machine.get('duration_s')} s); load average at start {machine.get('loadavg_at_start')}.  "
)
lines.append(
    f"Versions: Kamailio {machine.get('kamailio')}, {machine.get('sipp')}, "
    f"{machine.get('postgresql_kamailio')} (Kamailio's, private cluster), sipfleet "
    f"{machine.get('sipfleet_commit')} on pgserver, {machine.get('python')}.  "
)
lines.append(
    f"Method: SIPp transport `{machine.get('transport')}`, {machine.get('users')} users, rates "
    f"{machine.get('rates')}; {machine.get('step')}, {machine.get('pauses')}; clean = every call OK, 0 failed, 0 "
    f"retransmissions. Kamailio: {machine.get('kamailio_children')} UDP workers. CPU in cores "
    f"(CPU-seconds per wall second over the step; the server's and PostgreSQL's whole process "
    f"trees); sys busy = the whole machine.\n"
)
lines.append(
    "| server | highest clean rate (reg/s) | achieved | lowest dirty rate above it | 200 round trip p50 / p99 ms | server CPU (cores) | server CPU per registration | PostgreSQL CPU | SIPp CPU | sys busy | bindings after kill -9 + restart |"
)
lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
for name, title in servers:
    rows = steps(name)
    if not rows:
        if (out / name).exists():
            lines.append(f"| {title} | **not measured** (see compare.log) | – | – | – | – | – | – | – | – | – |")
        continue
    b = best_row(rows)
    rate = int(b["rate_asked"]) if b else 0
    res[name] = rate
    dirty = [int(r["rate_asked"]) for r in rows if r["phase"] != "warmup" and r["clean"] != "1"]
    above = min((x for x in dirty if x > rate), default=None)
    dur_path = out / name / "durability"
    dur = dur_path.read_text().split() if dur_path.exists() else []
    rc_path = out / name / "run_sh_exit"
    rc = rc_path.read_text().strip() if rc_path.exists() else "0"
    dur_txt = (
        f"{dur[1]} of {dur[0]}"
        if len(dur) == 2
        else "not measured" + (f" (run.sh exited {rc})" if rc != "0" else "")
    )
    title = f"{title}, {processes(name)} processes"
    if b and above is None:
        capped.add(name)
    if b:
        shown = f"**≥ {rate:,}** (clean at every rate tried)" if name in capped else f"**{rate:,}**"
        lines.append(
            f"| {title} | {shown} | {b['rate_achieved']} | {above if above else '–'} | "
            f"{p50_p99(b['rtd2_200_ms'])} | {b['server_cores']} | {per_reg(b)} | {b['pg_cores']} | "
            f"{b['sipp_cores']} | {b['sys_busy']} | {dur_txt} |"
        )
    elif (out / name / "no_answer").exists():
        lines.append(f"| {title} | **no answer: not measured** (see compare.log) | – | – | – | – | – | – | – | – | – |")
        res.pop(name)
    else:
        lines.append(f"| {title} | **none clean** | – | {above} | – | – | – | – | – | – | {dur_txt} |")
lines.append("")
sf = res.get("sipfleet")
for key, label in (("kamailio_db0", "memory-only"), ("kamailio_db1", "write-through")):
    k = res.get(key)
    if sf is not None and k:
        cap = [n for n in ("sipfleet", key) if n in capped]
        note = (
            f"; not a limit: {' and '.join(cap)} clean at every rate tried, add higher RATES"
            if cap
            else ""
        )
        lines.append(f"- **sipfleet ÷ Kamailio {label}: {sf / k:.2f}** ({sf:,} / {k:,}{note})")
    else:
        lines.append(f"- sipfleet ÷ Kamailio {label}: n/a (a server was not measured or had no clean rate)")
if machine.get("transport") == "un":
    lines.append(
        "- Transport `un`: SIPp sends each registration from a new socket, so each carries its "
        "own Contact port and the servers keep more bindings than there are users."
    )
lines.append(
    "- Near the limit the clean/dirty boundary moves by about ±10–15 % run to run (one 500 ms "
    "stall makes a step dirty): repeat a boundary rate before trusting a small difference."
)
lines.append("")
for name, title in servers:
    rows = steps(name)
    if not rows:
        continue
    lines.append(f"## {title}\n")
    lines.append(
        "| step | phase | asked/s | registrations | ok | failed | retrans | achieved/s | "
        "401 rtt ms | 200 rtt ms | server cores | pg cores | SIPp cores | sys busy | clean |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            "| " + " | ".join(
                r[k] for k in (
                    "label", "phase", "rate_asked", "count", "ok", "failed", "retrans",
                    "rate_achieved", "rtd1_401_ms", "rtd2_200_ms", "server_cores", "pg_cores",
                    "sipp_cores", "sys_busy", "clean",
                )
            ) + " |"
        )
    lines.append("")
(out / "summary.md").write_text("\n".join(lines) + "\n")
PY
log "summary: $OUT/summary.md"
cat "$OUT/summary.md"
