#!/usr/bin/env python3
"""The shared SIPp harness (REGISTER -> 401 -> REGISTER with credentials -> 200), prepared
for phones that are Yealinks.

The harness of /work/shared/bench/harness (SHARED_HARNESS elsewhere) as it is, linked into
a directory of the run, but for the User-Agent of its scenario: sipfleet's phones are
yealink-t54w, and a User-Agent naming another device ("sipp-bench") is recorded as a
phone.mismatch and takes the IP gate's slow path — not what a fleet of Yealinks costs.
Kamailio ignores it.

    python bench/common/harness.py TARGET_DIR [USER_AGENT]
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common.phones import YEALINK_UA

SHARED = Path(os.environ.get("SHARED_HARNESS", "/work/shared/bench/harness"))


def prepare(target: Path, user_agent: str = YEALINK_UA) -> Path:
    """TARGET (emptied first): sipp_step.sh, parse_sipp.py and gen_users.py linked to the
    shared harness, register_auth.xml with USER_AGENT as its User-Agent."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in ("sipp_step.sh", "parse_sipp.py", "gen_users.py"):
        (target / name).symlink_to(SHARED / name)
    scenario = (SHARED / "register_auth.xml").read_text()
    if "User-Agent: sipp-bench" not in scenario:
        raise SystemExit(f"cannot set the scenario's User-Agent: {SHARED / 'register_auth.xml'}")
    (target / "register_auth.xml").write_text(
        scenario.replace("User-Agent: sipp-bench", f"User-Agent: {user_agent}")
    )
    return target


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[1] in ("-h", "--help"):
        raise SystemExit(__doc__)
    prepare(Path(sys.argv[1]), *sys.argv[2:])
