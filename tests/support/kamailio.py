"""Kamailio with deploy/edge/kamailio.cfg as a real process on loopback, in front of
sipfleet nodes: the same configuration file a deployment uses, its addresses given as
`-A` defines and its dispatcher list written for the nodes the test started."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ROOT, free_port

CONFIG = ROOT / "deploy" / "edge" / "kamailio.cfg"
KAMAILIO = shutil.which("kamailio") or (
    "/usr/sbin/kamailio" if os.access("/usr/sbin/kamailio", os.X_OK) else None
)


PR_SET_PDEATHSIG = 1
KAMCMD = shutil.which("kamcmd") or "/usr/sbin/kamcmd"


@dataclass
class Edge:
    process: subprocess.Popen[bytes]
    ip: str
    port: int
    log_path: Path
    ctl: str
    nodes: int
    node_port: int  # where the nodes reach the edge (Path, Record-Route on their side)

    @property
    def address(self) -> tuple[str, int]:
        return self.ip, self.port

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def slot(self, from_user: str) -> int:
        """Which node (index in the dispatcher set) the edge hashes this From user to
        while every node is up, as its dispatcher computes it."""
        out = subprocess.run(
            [KAMCMD, "-s", self.ctl, "dispatcher.hash", str(self.nodes), from_user],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout  # fmt: skip
        found = re.search(r"slot:\s*(\d+)", out)
        assert found, out
        return int(found.group(1))

    def states(self) -> dict[str, str]:
        """Each node's dispatcher flags (`kamcmd dispatcher.list`): first "A" active or
        "I" inactive, then "P" while it is being probed ("X" otherwise)."""
        out = subprocess.run(
            [KAMCMD, "-s", self.ctl, "dispatcher.list"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout  # fmt: skip
        return dict(re.findall(r"URI:\s*(\S+)\s+FLAGS:\s*(\S+)", out))

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def die_with_parent() -> None:
    """In a child before exec: SIGTERM when the process that started it dies, so a test
    run that is killed (pjsua2 aborts the whole process on some errors) leaves no edge
    or node behind. Call the starting function from the main thread: the signal follows
    the thread that forked."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_edge(
    run_dir: Path, nodes: list[tuple[str, int]], *, ip: str = "127.0.0.5",
    defines: dict[str, str] | None = None,
) -> Edge:  # fmt: skip
    """Start Kamailio in the foreground on `ip` with a free port for the phones (`port`)
    and another for the nodes, the nodes in dispatcher set 1; return once it answers an
    OPTIONS addressed to itself."""
    assert KAMAILIO is not None, "kamailio is not installed"
    run_dir.mkdir(parents=True, exist_ok=True)
    ds_list = run_dir / "dispatcher.list"
    ds_list.write_text("".join(f"1 sip:{host}:{port}\n" for host, port in nodes))
    port, node_side = free_port(), free_port()
    ctl = f"unix:{run_dir / 'ctl'}"
    values = {
        # as deployed: one port for the phones, another one for the nodes
        "LISTEN_IP": ip,
        "LISTEN_PORT": str(node_side),
        "PUBLIC_PORT": str(port),
        "DS_LIST": f'"{ds_list}"',
        "CTL_SOCKET": f'"{ctl}"',
        "CHILDREN": "2",
        "DEBUG_LEVEL": "2",
        **(defines or {}),
    }
    command = [KAMAILIO, "-f", str(CONFIG), "-DD", "-E", "-m", "64", "-M", "8",
               "-Y", str(run_dir), "-P", str(run_dir / "kamailio.pid")]  # fmt: skip
    for name, value in values.items():
        command += ["-A", f"{name}={value}"]
    log_path = run_dir / "kamailio.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, cwd=run_dir,
            preexec_fn=die_with_parent,
        )  # fmt: skip
    edge = Edge(process, ip, port, log_path, ctl, len(nodes), node_side)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kamailio exited early:\n{edge.log()}")
        if _answers_options(ip, port):
            return edge
        time.sleep(0.1)
    edge.stop()
    raise AssertionError(f"kamailio did not answer:\n{edge.log()}")


def _answers_options(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        request = (
            f"OPTIONS sip:{ip}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKedgeprobe{time.monotonic_ns()};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"
            f"To: <sip:{ip}:{port}>\r\nCall-ID: probe-{time.monotonic_ns()}\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        sock.settimeout(0.3)
        try:
            sock.sendto(request.encode(), (ip, port))
            data = sock.recv(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200")
