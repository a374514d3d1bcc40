#!/usr/bin/env python3
"""Registrations through the Kamailio edge (deploy/edge/kamailio.cfg) to one and to two
sipfleet nodes on one PostgreSQL, with the SIPp harness of bench/registrar.

For each layout (`d1`: one node, SIPp straight at it, for the edge's cost; `1`, `2`: one
and two nodes behind the edge), on a fresh database of one standalone PostgreSQL
(pgserver, the one sipfleet embeds, started here in its own directory):
  - the nodes start as `sipfleet serve` with `workers = WORKERS` each, the edge's address
    in trusted_proxies; Kamailio starts in front of them (single port, UDP workers
    KAM_CHILDREN, pike and pipelimit out of reach: SIPp is one source address);
  - phones are created through the REST API (bench/bootstorm/fleet.py: yealink-t54w,
    default settings, so ip OPEN), NUSERS per batch;
  - FIRST registrations: each step registers a fresh batch (its phones' first REGISTER,
    which locks each to 127.0.0.1) at FIRST_RATES, until a dirty step;
  - REFRESHES: the first batch re-registers at REFRESH_RATES, steps of
    max(MIN_COUNT, MIN_SECS x rate), until two dirty steps in a row.
Every step is the shared harness's sipp_step.sh (REGISTER -> 401 -> REGISTER -> 200),
aimed at the edge. "Clean" = every call succeeded, 0 SIPp retransmissions. CPU is
measured per process tree (utime+stime+cutime+cstime of every live process, differenced
as totals, as bench/registrar/compare.sh does): Kamailio, each node (supervisor and
workers), PostgreSQL, SIPp; in cores over the step and in ms per registration.

    bench/edge/run.sh            (writes $OUT/summary.md, $OUT/steps.tsv)

env: OUT (bench/out/edge)  NUSERS (2000)  WORKERS (2)  LAYOUTS ("d1 1 2")
     FIRST_RATES ("250 500 1000 1500 2000")  REFRESH_RATES ("1000 2000 3000 4000 5000 6000")
     MIN_COUNT (10000)  MIN_SECS (8)  PAUSE (2)  KAM_CHILDREN (4)  KAM_SHM (1024 MB)
     KAM_MALLOC (tlsf: Kamailio's -x)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from bench.common.harness import prepare as prepare_harness  # noqa: E402
from bench.common.pg import fresh_database  # noqa: E402
from bench.common.phones import YEALINK_UA  # noqa: E402
from db.embedded import start_embedded  # noqa: E402

OUT = Path(os.environ.get("OUT", ROOT / "bench/out/edge")).resolve()
NUSERS = int(os.environ.get("NUSERS", "2000"))
WORKERS = os.environ.get("WORKERS", "2")
# "1", "2": nodes behind the edge; "d1": one node with SIPp straight at it (no edge)
LAYOUTS = os.environ.get("LAYOUTS", "d1 1 2").split()
FIRST_RATES = [int(r) for r in os.environ.get("FIRST_RATES", "250 500 1000 1500 2000").split()]
REFRESH_RATES = [
    int(r) for r in os.environ.get("REFRESH_RATES", "1000 2000 3000 4000 5000 6000").split()
]
MIN_COUNT = int(os.environ.get("MIN_COUNT", "10000"))
MIN_SECS = int(os.environ.get("MIN_SECS", "8"))
PAUSE = float(os.environ.get("PAUSE", "2"))
KAM_CHILDREN = os.environ.get("KAM_CHILDREN", "4")
# Kamailio's shared memory (MB): every transaction stays in it for tm's wait timer (5 s)
# after its final answer, two per registration — about 100 MB at 2,000 registrations/s
KAM_SHM = os.environ.get("KAM_SHM", "1024")
# Kamailio's memory manager (-x): Debian's default q_malloc searches a free list, TLSF is
# constant time
KAM_MALLOC = os.environ.get("KAM_MALLOC", "tlsf")
PY = sys.executable
EDGE_IP = "127.0.0.5"
EDGE_PORT, NODE_SIDE = 5170, 5171
NODE_SIP = [5191, 5192]
NODE_HTTP = [8191, 8192]
REALM = "bench.test"
TOKEN = "sft_edge-bench-admin-token"
HZ = os.sysconf("SC_CLK_TCK")
HEADER = ("layout\tkind\trate_asked\tcount\tok\tfailed\tretrans\trate_achieved\trtd1_ms\trtd2_ms"
          "\tclean\tload\tkamailio_cores\tnodes_cores\tpg_cores\tsipp_cores"
          "\tkamailio_ms\tnodes_ms\tpg_ms\tnode_cores_each")  # fmt: skip


def log(text: str) -> None:
    line = f"[{time.strftime('%H:%M:%S', time.gmtime())}] {text}"
    print(line, file=sys.stderr, flush=True)
    with open(OUT / "bench.log", "a") as f:
        f.write(line + "\n")


def ticks(root: int | None) -> int:
    """CPU ticks of a process tree: utime+stime+cutime+cstime of every live process."""
    if root is None:
        return 0
    try:
        procs = [psutil.Process(root)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])
        except (OSError, ValueError):
            continue
    return total


class Layout:
    def __init__(self, nodes: int, pg_uri: str, pg_pid: int, direct: bool = False) -> None:
        self.count = nodes
        self.direct = direct
        self.pg_uri = pg_uri
        self.pg_pid = pg_pid
        self.dir = OUT / f"{'direct' if direct else 'nodes'}{nodes}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.edge: subprocess.Popen[bytes] | None = None
        self.batches = 0

    @property
    def name(self) -> str:
        nodes = f"{self.count} node{'s' if self.count > 1 else ''}"
        return f"{nodes}, no edge" if self.direct else f"edge + {nodes}"

    def env(self, index: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIPFLEET_")}
        env.update({
            "PYTHONPATH": str(ROOT),
            "SIPFLEET_DATA_DIR": str(self.dir / f"node{index}"),
            "SIPFLEET_DATABASE_URL": self.pg_uri,
            "SIPFLEET_WORKERS": WORKERS,
            "SIPFLEET_SIP_LISTEN": f"udp:127.0.0.1:{NODE_SIP[index]}",
            "SIPFLEET_HTTP_LISTEN": f"127.0.0.1:{NODE_HTTP[index]}",
            "SIPFLEET_SIP_DOMAIN": REALM,
            "SIPFLEET_SECRET_KEY": "ab" * 32,
            "SIPFLEET_ADMIN_TOKEN": TOKEN,
            "SIPFLEET_TRUSTED_PROXIES": EDGE_IP,
            # SIPp answers no OPTIONS and knows MD5 only (as bench/registrar)
            "SIPFLEET_KEEPALIVE_INTERVAL": "0",
            "SIPFLEET_DIGEST_ALGORITHMS": "MD5",
        })  # fmt: skip
        return env

    def start(self) -> None:
        for index in range(self.count):
            log_file = open(self.dir / f"node{index}.log", "wb")  # noqa: SIM115
            self.nodes.append(subprocess.Popen(
                [PY, "-m", "provisioning", "serve"], env=self.env(index), cwd=ROOT,
                stdout=log_file, stderr=subprocess.STDOUT,
            ))  # fmt: skip
            wait_http(f"http://127.0.0.1:{NODE_HTTP[index]}/healthz", self.nodes[-1])
        if self.direct:
            return
        ds_list = self.dir / "dispatcher.list"
        ds_list.write_text("".join(f"1 sip:127.0.0.1:{NODE_SIP[i]}\n" for i in range(self.count)))
        defines = {
            "LISTEN_IP": EDGE_IP, "LISTEN_PORT": str(EDGE_PORT), "DS_LIST": f'"{ds_list}"',
            "CTL_SOCKET": f'"unix:{self.dir / "kamailio_ctl"}"', "CHILDREN": KAM_CHILDREN,
            "PIKE_DENSITY": "10000000", "RL_REGISTER": "10000000", "DEBUG_LEVEL": "0",
        }  # fmt: skip
        command = ["kamailio", "-f", str(ROOT / "deploy/edge/kamailio.cfg"), "-DD", "-E",
                   "-m", KAM_SHM, "-M", "16", "-x", KAM_MALLOC, "-Y", str(self.dir)]  # fmt: skip
        for name, value in defines.items():
            command += ["-A", f"{name}={value}"]
        log_file = open(self.dir / "kamailio.log", "wb")  # noqa: SIM115
        self.edge = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        time.sleep(2)
        if self.edge.poll() is not None:
            raise SystemExit(f"kamailio did not start: see {self.dir / 'kamailio.log'}")

    def stop(self) -> None:
        for proc in [self.edge, *self.nodes]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [self.edge, *self.nodes]:
            if proc is None:
                continue
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def new_batch(self) -> Path:
        """NUSERS phones created through the API; their SIPp injection file."""
        first = self.batches * NUSERS
        self.batches += 1
        token = self.dir / "admin-token"
        token.write_text(TOKEN)
        csv = self.dir / f"batch{self.batches}.csv"
        subprocess.run(
            [PY, str(ROOT / "bench/bootstorm/fleet.py"), "--api", f"http://127.0.0.1:{NODE_HTTP[0]}",
             "--token-file", str(token), "--count", str(NUSERS), "--first", str(first),
             "--customer-name", f"Edge batch {self.batches}",
             "--out", str(self.dir / f"batch{self.batches}.tsv"), "--sipp-csv", str(csv)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        return csv

    def step(self, kind: str, rate: int, count: int, csv: Path, label: str) -> dict[str, Any]:
        groups: dict[str, int | None] = {
            "kamailio": self.edge.pid if self.edge else None,
            **{f"node{i}": proc.pid for i, proc in enumerate(self.nodes)},
            "pg": self.pg_pid,
        }
        load = Path("/proc/loadavg").read_text().split()[0]
        before = {name: ticks(pid) for name, pid in groups.items()}
        t0 = time.monotonic()
        env = {**os.environ, "DOMAIN": REALM, "TRANSPORT": "u1"}
        host, port = ("127.0.0.1", NODE_SIP[0]) if self.direct else (EDGE_IP, EDGE_PORT)
        line = subprocess.run(
            ["bash", str(HARNESS / "sipp_step.sh"), host, str(port), str(csv), str(rate),
             str(count), label, str(self.dir / "sipp")],
            env=env, capture_output=True, text=True, check=False,
        ).stdout.strip().splitlines()  # fmt: skip
        wall = time.monotonic() - t0
        time.sleep(1)  # work the step left queued
        after = {name: ticks(pid) for name, pid in groups.items()}
        fields = line[-1].split("\t") if line else []
        (_, _, _, _, ok, failed, retr, achieved, _, rtd1, rtd2, _, _, sippc, *_rest) = (
            fields + ["?"] * 16
        )[:16]
        spent = {name: after[name] - before[name] for name in groups}
        node_ticks = sum(v for k, v in spent.items() if k.startswith("node"))
        done = int(ok) if ok.isdigit() else 0

        def ms(t: int) -> str:
            return f"{t * 1000 / HZ / done:.3f}" if done else "?"

        def cores(t: int) -> str:
            return f"{t / HZ / wall:.2f}"

        clean = failed == "0" and retr == "0" and ok == str(count)
        row = {
            "layout": self.name, "kind": kind,
            "rate_asked": rate, "count": count, "ok": ok, "failed": failed, "retrans": retr,
            "rate_achieved": achieved, "rtd1_ms": rtd1, "rtd2_ms": rtd2, "clean": int(clean),
            "load": load, "kamailio_cores": cores(spent["kamailio"]),
            "nodes_cores": cores(node_ticks), "pg_cores": cores(spent["pg"]),
            "sipp_cores": sippc, "kamailio_ms": ms(spent["kamailio"]),
            "nodes_ms": ms(node_ticks), "pg_ms": ms(spent["pg"]),
            "node_cores_each": "/".join(
                cores(v) for k, v in spent.items() if k.startswith("node")
            ),
        }  # fmt: skip
        with open(OUT / "steps.tsv", "a") as f:
            f.write("\t".join(str(row[k]) for k in HEADER.split("\t")) + "\n")
        log(f"{row['layout']} {kind} {rate}/s: ok {ok}/{count} failed {failed} retrans {retr} "
            f"achieved {achieved}/s load {load} -> {'clean' if clean else 'dirty'}; cores "
            f"kamailio {row['kamailio_cores']} nodes {row['nodes_cores']} "
            f"({row['node_cores_each']}) pg {row['pg_cores']} sipp {sippc}")  # fmt: skip
        return row


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the node exited")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    time.sleep(2)  # every worker up
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url}: not healthy")


def run_layout(name: str, server: Any, pg_pid: int) -> None:
    direct = name.startswith("d")
    nodes = int(name.lstrip("d"))
    uri = asyncio.run(fresh_database(server.uri, f"edge_bench_{name}"))
    subprocess.run(
        [PY, "-m", "provisioning", "db", "upgrade"], cwd=ROOT, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SIPFLEET_DATABASE_URL": uri,
             "SIPFLEET_DATA_DIR": str(OUT / "cli")},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    layout = Layout(nodes, uri, pg_pid, direct)
    try:
        layout.start()
        log(f"{layout.name}: {WORKERS} workers per node")
        refresh_csv: Path | None = None
        for rate in FIRST_RATES:
            csv = layout.new_batch()
            refresh_csv = refresh_csv or csv
            time.sleep(PAUSE * 2)
            row = layout.step("first", rate, NUSERS, csv, f"f{rate}")
            if not row["clean"]:
                break
        assert refresh_csv is not None
        dirty = 0
        for rate in REFRESH_RATES:
            time.sleep(PAUSE)
            row = layout.step(
                "refresh", rate, max(MIN_COUNT, MIN_SECS * rate), refresh_csv, f"r{rate}"
            )
            dirty = 0 if row["clean"] else dirty + 1
            if dirty == 2:
                break
    finally:
        layout.stop()


def main() -> None:
    global HARNESS
    # stopped by SIGTERM or SIGINT (even started in the background, where a shell ignores
    # SIGINT): unwind, so every process started here is stopped
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench.log").write_text("")
    (OUT / "steps.tsv").write_text(HEADER + "\n")
    HARNESS = prepare_harness(OUT / "harness", YEALINK_UA)
    with open(OUT / "machine.txt", "w") as f:
        f.write(f"start={time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n")
        f.write(f"nproc={os.cpu_count()}\nuptime={subprocess.getoutput('uptime')}\n")
        f.write(f"kamailio={subprocess.getoutput('kamailio -v | head -1')}\n")
        f.write(f"commit={subprocess.getoutput(f'git -C {ROOT} rev-parse --short HEAD')}\n")
        f.write(
            f"workers={WORKERS} users={NUSERS} kamailio_children={KAM_CHILDREN} "
            f"kamailio_shm={KAM_SHM} MB kamailio_malloc={KAM_MALLOC}\n"
        )
    pg_dir = OUT / "pg"
    shutil.rmtree(pg_dir, ignore_errors=True)
    server = start_embedded(pg_dir)
    pg_pid = int((pg_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    log(f"PostgreSQL pid {pg_pid}")
    try:
        for name in LAYOUTS:
            run_layout(name, server, pg_pid)
    finally:
        server.stop()
        with open(OUT / "machine.txt", "a") as f:
            f.write(f"end={time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n")
            f.write(f"uptime_end={subprocess.getoutput('uptime')}\n")
        (OUT / "summary.md").write_text(summary())
        log(f"summary: {OUT / 'summary.md'}")


def summary() -> str:
    """The steps as a Markdown table, and the highest clean rate of each layout and kind."""
    rows = [line.split("\t") for line in (OUT / "steps.tsv").read_text().splitlines()]
    header, body = rows[0], rows[1:]
    cols = ["layout", "kind", "rate_asked", "ok", "failed", "retrans", "rate_achieved",
            "rtd2_ms", "clean", "load", "kamailio_cores", "node_cores_each", "pg_cores",
            "sipp_cores", "kamailio_ms", "nodes_ms", "pg_ms"]  # fmt: skip
    index = [header.index(c) for c in cols]
    out = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    out += ["| " + " | ".join(row[i] for i in index) + " |" for row in body]
    best: dict[tuple[str, str], int] = {}
    for row in body:
        key = (row[0], row[1])
        best.setdefault(key, 0)
        if row[header.index("clean")] == "1":
            best[key] = max(best[key], int(row[header.index("rate_asked")]))
    out += ["", "| layout | kind | highest clean rate asked |", "| --- | --- | --- |"]
    out += [f"| {layout} | {kind} | {rate}/s |" for (layout, kind), rate in best.items()]
    return "\n".join(out) + "\n"


HARNESS = Path()

if __name__ == "__main__":
    main()
