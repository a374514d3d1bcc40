#!/bin/bash
# PostgreSQL away under registration load: a 60 s outage (pg_ctl stop -m fast, then start),
# a fail-over (the primary killed, its synchronous standby promoted OUTAGE_FAILOVER
# seconds later; database_url names both with target_session_attrs=read-write) and a
# 60 s network partition (a proxy in front of PostgreSQL stops forwarding). Each run
# starts its own PostgreSQL (pgserver's binaries) and `sipfleet serve` with two workers;
# see driver.py for what is measured. Reports go to $OUT/restart.md, $OUT/failover.md
# and $OUT/partition.md.
#
#   flock /tmp/sipfleet-bench.lock bench/outage/run.sh      # ≈4 min
#
# env: PHONES (200)  PAUSE (0.5 s between a phone's answer and its next REGISTER)
#      OUTAGE (60 s)  OUTAGE_FAILOVER (10 s from the kill to the promotion)
#      OUT (bench/out/outage)  PY (.venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-bench/out/outage}
PHONES=${PHONES:-200}
PAUSE=${PAUSE:-0.5}
mkdir -p "$OUT"
"$PY" bench/outage/driver.py --scenario restart --outage "${OUTAGE:-60}" \
    --phones "$PHONES" --pause "$PAUSE" --out "$OUT/restart.md"
"$PY" bench/outage/driver.py --scenario failover --outage "${OUTAGE_FAILOVER:-10}" \
    --phones "$PHONES" --pause "$PAUSE" --out "$OUT/failover.md"
"$PY" bench/outage/driver.py --scenario partition --outage "${OUTAGE:-60}" \
    --phones "$PHONES" --pause "$PAUSE" --out "$OUT/partition.md"
