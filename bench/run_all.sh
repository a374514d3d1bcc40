#!/bin/bash
# Every sipfleet benchmark, one after another, unattended (for the final run on an idle
# machine), with the parameters bench/RESULTS.md documents:
#   registrar     bench/registrar/compare.sh: Kamailio db_mode=0, db_mode=1 and sipfleet in
#                 one run, 10,000 users, sweep + bisection, kill -9 durability
#   provisioning  bench/provisioning/bench_prov.py --phones 10000 --seconds 15 --connections 32
#   presence      bench/presence/run.py -n 1000 (5 fan-out rounds + 20 s sustained)
#
#   flock /tmp/sipfleet-bench.lock bench/run_all.sh            # as root (apt, PostgreSQL)
#   QUICK=1 flock /tmp/sipfleet-bench.lock bench/run_all.sh    # a smoke run of the script
#
# Output: $BASE/<name>/ (registrar/summary.md, provisioning/output.txt,
# presence/output.txt + sipfleet-n1000.json) and $BASE/run_all.md (commands, exit codes,
# durations). The benchmarks start and stop their own servers; nothing stays running.
# env: BASE (bench/out)  ONLY ("registrar provisioning presence")
#      WORKERS (sipfleet worker processes: SIPFLEET_WORKERS for the registrar, `--workers N`
#      for the Python benchmarks once their --help offers it)  TRANSPORT (u1|un, registrar)
#      QUICK=1: registrar QUICK=1, 1,000 phones / 5 s, 100 watchers / 2 fan-out rounds
set -uo pipefail
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
BASE=${BASE:-$ROOT/bench/out}
ONLY=${ONLY:-"registrar provisioning presence"}
WORKERS=${WORKERS:-}
export TRANSPORT=${TRANSPORT:-u1}
mkdir -p "$BASE"
INDEX=$BASE/run_all.md
cd "$ROOT"

{
  echo "# bench/run_all.sh, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo
  echo "Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg); sipfleet $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)'); workers=${WORKERS:-default}${QUICK:+; QUICK smoke run}"
  echo
  echo "| benchmark | command | exit | duration | figures |"
  echo "|---|---|---|---|---|"
} > "$INDEX"

workers_flag() {  # SCRIPT -> "--workers N" when WORKERS is set and the script accepts it
  [ -n "$WORKERS" ] || return 0
  if "$PY" "$1" --help 2>/dev/null | grep -q -- '--workers'; then echo "--workers $WORKERS"
  else echo "note: $1 has no --workers option yet; it runs with the default" >&2; fi
}
run() {  # NAME FIGURES CMD... : run one benchmark, log it, time it
  local name=$1 figures=$2; shift 2
  local t0 rc
  mkdir -p "$BASE/$name"
  echo "[$(date -u +%T)] $name: $*"
  t0=$(date +%s)
  "$@" > "$BASE/$name/output.txt" 2>&1; rc=$?
  echo "[$(date -u +%T)] $name: exit $rc after $(( $(date +%s) - t0 )) s; figures in $figures"
  echo "| $name | \`$*\` | $rc | $(( $(date +%s) - t0 )) s | $figures |" >> "$INDEX"
}

# the provisioning benchmark drives its load with wrk (Debian package `wrk`)
if grep -qw provisioning <<< "$ONLY" && ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1; }
fi
T0=$(date +%s)
for name in $ONLY; do
  case $name in
    registrar)
      run registrar "$BASE/registrar/summary.md" \
        env OUT="$BASE/registrar" ${WORKERS:+WORKERS=$WORKERS} ${QUICK:+QUICK=1} \
        bash "$HERE/registrar/compare.sh" ;;
    provisioning)
      if [ -n "${QUICK:-}" ]; then args=(--phones 1000 --seconds 5 --connections 32)
      else args=(--phones 10000 --seconds 15 --connections 32); fi
      run provisioning "$BASE/provisioning/output.txt" \
        "$PY" "$HERE/provisioning/bench_prov.py" "${args[@]}" $(workers_flag "$HERE/provisioning/bench_prov.py") ;;
    presence)
      if [ -n "${QUICK:-}" ]; then args=(-n 100 --mode fanout --rounds 2)
      else args=(-n 1000); fi
      run presence "$BASE/presence/output.txt, $BASE/presence/sipfleet-n${args[1]}.json" \
        "$PY" "$HERE/presence/run.py" "${args[@]}" --json "$BASE/presence/sipfleet-n${args[1]}.json" \
        $(workers_flag "$HERE/presence/run.py") ;;
    *) echo "unknown benchmark: $name (registrar, provisioning, presence)" >&2 ;;
  esac
done
echo >> "$INDEX"
echo "Total: $(( $(date +%s) - T0 )) s." >> "$INDEX"

echo
echo "== where the figures are"
cat "$INDEX"
[ -f "$BASE/registrar/summary.md" ] && { echo; sed -n '/^| server/,/^- Near/p' "$BASE/registrar/summary.md"; }
[ -f "$BASE/provisioning/output.txt" ] && { echo; echo "provisioning (last lines):"; tail -4 "$BASE/provisioning/output.txt"; }
[ -f "$BASE/presence/output.txt" ] && { echo; echo "presence (last lines):"; tail -8 "$BASE/presence/output.txt"; }
exit 0
