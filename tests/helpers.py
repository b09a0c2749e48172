"""Shared test helpers: free ports, polling with a deadline, and a gateway run as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MCP_EXAMPLE = REPO / "sample-servers" / "mcp-example" / "src" / "main.py"
TOOL_EXAMPLE = REPO / "sample-servers" / "tool-example" / "src" / "main.py"
SESSION_EXAMPLE = REPO / "sample-servers" / "session-example" / "src" / "main.py"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    """All live descendant process ids of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().split(")")[-1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return [p for p in found if pid_alive(p)]


def processes_running(fragment: str) -> list[int]:
    """Live processes whose command line contains ``fragment``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if fragment in cmdline and pid_alive(int(entry.name)):
                pids.append(int(entry.name))
    return pids


class GatewayProcess:
    """``mcp-gateway serve`` as a child process of the test, on a free loopback port."""

    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None, log_level: str = "warning"
    ) -> None:
        self.port = port or free_port()
        self.log_level = log_level
        self.data_dir = data_dir
        self.env = {**os.environ, "MCPGW_ROUTER__REPLICAS": "0", **(env or {})}
        self.log_path = data_dir / f"gateway-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gateway",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--log-level",
                self.log_level,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        wait_for(self._answers, timeout, what=f"gateway on port {self.port} (log: {self.log_path})")
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"gateway exited with {self.process.returncode}:\n{self.log_path.read_text()}")
        try:
            return httpx.get(f"{self.url}/ping", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client(self, user: str = "alice", roles: str | None = None) -> httpx.Client:
        headers = {"X-Dev-UserId": user}
        if roles is not None:
            headers["X-Dev-Roles"] = roles
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def node_tools() -> Path:
    """The Node tools directory (scripts/install-node-tools.sh); fail in CI, skip elsewhere, when missing."""
    import pytest

    directory = Path(os.environ.get("MCPGW_NODE_TOOLS", REPO / ".cache" / "node-tools"))
    if not (directory / "node_modules" / ".bin" / "inspector").exists():
        message = "Node test tools are missing: run scripts/install-node-tools.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return directory
