"""The README's first set-up command: ``make run`` starts a gateway that answers ``/ping``."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def test_make_run_serves_the_gateway_on_its_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MCPGW_SERVER__DATA_DIR": str(tmp_path / "data")}
    # The venv made by `make test` is reused, so this checks the target, not a second install.
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started: list[int] = []
    try:

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(process.stdout.read().decode() if process.stdout else "make run exited")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout=120, what="make run to answer /ping")
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.json() == {"status": "ready"}
        assert (tmp_path / "data" / "gateway.db").exists()  # the embedded SQLite store
        # The gateway, the tool router's guard and the tool router (the guard forks the router after the
        # gateway is ready, so on a busy machine it may take a moment).
        def all_three() -> list[int]:
            found = descendants(process.pid)
            return found if len(found) >= 3 else []

        started = wait_for(all_three, timeout=30, what="the gateway, the router's guard and the router")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    wait_for(lambda: not any(pid_alive(p) for p in started), timeout=20, what="nothing left running")
