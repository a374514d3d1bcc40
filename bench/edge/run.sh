#!/bin/bash
# Registrations through the Kamailio edge (deploy/edge/kamailio.cfg) to one and to two
# sipfleet nodes (workers = 2 each) on one PostgreSQL, with bench/registrar's SIPp harness
# and phones created through the REST API; see edge_bench.py for every setting.
#
#   flock /tmp/sipfleet-bench.lock bench/edge/run.sh
#   QUICK=1 bench/edge/run.sh                      # one short pass, to try the set-up
#
# Needs Debian's kamailio and sip-tester (SIPp); writes $OUT (bench/out/edge):
# steps.tsv (one line per step), bench.log, machine.txt (with `uptime` at start and end).
set -euo pipefail
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
for c in kamailio sipp bc; do
  command -v $c >/dev/null || [ -x /usr/sbin/$c ] || { echo "missing: $c (apt-get install kamailio sip-tester bc)" >&2; exit 1; }
done
export PATH="$PATH:/usr/sbin"
if [ -n "${QUICK:-}" ]; then
  export NUSERS=${NUSERS:-500} FIRST_RATES=${FIRST_RATES:-"250"} REFRESH_RATES=${REFRESH_RATES:-"1000"}
  export MIN_COUNT=${MIN_COUNT:-2000} MIN_SECS=${MIN_SECS:-2}
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "${PY:-$ROOT/.venv/bin/python}" "$HERE/edge_bench.py"
