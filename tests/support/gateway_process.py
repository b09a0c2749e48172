"""The gateway run as a real process: ``mcp-gateway serve`` as a child of the test.

Every started gateway is remembered until it is stopped, and :func:`stop_leftovers` (run at the end of the
test session, and at exit) stops the ones a fixture left running: a fixture whose setup fails after
``start()`` never reaches its ``stop()``, and its gateway, with the replicas it runs, must not outlive the run.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
from pathlib import Path

import httpx

from tests.support.paths import PYTHON, REPO
from tests.support.ports import free_port
from tests.support.waiting import wait_for


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
        _running.add(self)
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
        _running.discard(self)
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


_running: set[GatewayProcess] = set()


def stop_leftovers() -> list[int]:
    """Stop every gateway still running; returns their ports (a fixture that leaked one)."""
    leftovers = list(_running)
    for gateway in leftovers:
        gateway.stop()
    return [gateway.port for gateway in leftovers]


atexit.register(stop_leftovers)
