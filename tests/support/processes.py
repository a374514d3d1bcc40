"""Running `sipfleet serve` as a real subprocess on free loopback ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (checked, then released)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        try:
            with socket.socket(socket.AF_INET, other) as sock:
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port


@dataclass
class SipfleetProcess:
    process: subprocess.Popen[bytes]
    data_dir: Path
    http_port: int
    sip_port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def sipfleet_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "provisioning", *args]


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPFLEET_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def start_sipfleet(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    sip_transports: tuple[str, ...] = ("udp", "tcp"),
    wait: bool = True,
    http_port: int | None = None,
    sip_port: int | None = None,
    preexec_fn: Callable[[], None] | None = None,
    workers: str | None = "1",
) -> SipfleetProcess:
    """Start `sipfleet serve` and wait until /healthz answers 200 (`preexec_fn` runs in
    the child before it starts, e.g. to set its resource limits). One process unless
    `workers` (or SIPFLEET_WORKERS in `env`) says otherwise — the default, `auto`, would
    start one per CPU of whatever machine runs the tests; None leaves the default."""
    http_port = http_port or free_port()
    sip_port = sip_port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    listen = ",".join(f"{t}:127.0.0.1:{sip_port}" for t in sip_transports)
    full_env = base_env(
        {
            "SIPFLEET_DATA_DIR": str(data_dir),
            "SIPFLEET_HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "SIPFLEET_SIP_LISTEN": listen,
            "SIPFLEET_SIP_DOMAIN": "sipfleet.test",
            # the key of tests.factories, so phones made there decrypt in the service
            "SIPFLEET_SECRET_KEY": bytes(range(32)).hex(),
            **({} if workers is None else {"SIPFLEET_WORKERS": workers}),
            **(env or {}),
        }
    )
    log_path = data_dir.parent / f"sipfleet-{http_port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            sipfleet_command("serve", *args),
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            preexec_fn=preexec_fn,
        )
    running = SipfleetProcess(process, data_dir, http_port, sip_port, log_path, full_env)
    if wait:
        wait_healthy(running)
    return running


def wait_healthy(running: SipfleetProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"sipfleet exited early:\n{running.log()}")
        try:
            with urllib.request.urlopen(running.base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    running.stop()
    raise AssertionError(f"sipfleet did not become healthy:\n{running.log()}")


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(data_dir) in part for part in cmdline):
            found.append(proc)
    return found


def http_json(url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    """(status, JSON body) of a request to a served sipfleet (POST when `body` is given),
    with the bearer `token` when given; error statuses are answers too."""
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def sigterm(service: SipfleetProcess, timeout: float = 10) -> tuple[int, float]:
    """SIGTERM to the service: its exit code and the seconds it took to exit."""
    service.process.send_signal(signal.SIGTERM)
    begun = time.monotonic()
    code = service.process.wait(timeout)
    return code, time.monotonic() - begun
