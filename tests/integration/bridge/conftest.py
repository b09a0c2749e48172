"""The bridge as a real process on a free loopback port, in front of the stdio fixture server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.waiting import wait_for

STDIO_FIXTURE = Path(__file__).with_name("stdio_fixture.py")
FIXTURE_COMMAND = [sys.executable, str(STDIO_FIXTURE)]


class BridgeProcess:
    """``python -m bridge`` with its stderr captured to a file."""

    def __init__(self, log_dir: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"bridge-{self.port}.log"
        self.args = args
        self.env = {**os.environ, "PORT": str(self.port), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> BridgeProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bridge", *self.args], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_for(self._listening, 30, what=f"bridge on {self.url}")
        return self

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"bridge exited with {self.process.returncode}:\n{self.log()}")
        try:
            httpx.get(self.url, timeout=1)
            return True
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[BridgeProcess]:
    """The bridge serving the stdio fixture (one child per session)."""
    process = BridgeProcess(tmp_path, ["--", *FIXTURE_COMMAND]).start()
    yield process
    process.stop()


@pytest.fixture
def start_bridge(tmp_path: Path) -> Iterator[object]:
    """A factory for bridges with custom args/env; all are stopped at teardown."""
    started: list[BridgeProcess] = []

    def start(args: list[str], env: dict[str, str] | None = None) -> BridgeProcess:
        process = BridgeProcess(tmp_path, args, env).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
