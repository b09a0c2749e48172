"""One gateway per data directory, and a taken port fails before anything starts (issue 16, item 6): run
``python -m gateway serve`` as a user would, next to what it clashes with."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.paths import PYTHON, REPO
from tests.support.ports import free_port
from tests.support.processes import processes_running

pytestmark = pytest.mark.slow


def _serve(data_dir: Path, port: int, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "gateway", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env={**os.environ, "MCPGW_ROUTER__REPLICAS": "1", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_gateway_on_the_same_data_directory_refuses_to_start(tmp_path: Path) -> None:
    first = GatewayProcess(tmp_path / "data").start()
    try:
        assert first.process is not None
        second = _serve(tmp_path / "data", free_port())
        assert second.returncode == 2
        assert f"another gateway (pid {first.process.pid}) is using the data directory" in second.stderr
        assert "--data-dir" in second.stderr
    finally:
        first.stop()


def test_a_crashed_gateway_leaves_no_lock_behind(tmp_path: Path) -> None:
    crashed = GatewayProcess(tmp_path / "data").start()
    crashed.stop(sig=signal.SIGKILL)
    after = GatewayProcess(tmp_path / "data").start()  # the kernel released the lock with the process
    after.stop()


def test_a_taken_port_fails_first_naming_the_port_and_starting_nothing(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        # Children inherit the gateway's environment (but for MCPGW_*): the marker tells its router apart from
        # the routers of tests running in parallel.
        marker = f"GATEWAY_TEST_MARKER={tmp_path}"
        started = time.monotonic()
        result = _serve(tmp_path / "data", port, GATEWAY_TEST_MARKER=str(tmp_path))
        assert result.returncode == 2
        assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
        assert f"make run PORT={port + 1}" in result.stderr
        assert time.monotonic() - started < 30
        # The tool router (a child the lifespan would start) never ran.
        assert processes_running("toolrouter", environ=marker) == []
        assert "toolgateway" not in result.stdout + result.stderr
