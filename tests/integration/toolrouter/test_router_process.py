"""``python -m toolrouter`` as its own process: start-up rules and a served health endpoint."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow  # the router as its own process


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCPGW_", "PORT"))}
    return {**env, **extra}


def test_production_without_a_secret_refuses_to_start_with_a_clear_message() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "toolrouter"],
        env=_env(MCPGW_SERVER__ENVIRONMENT="production"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "MCPGW_ROUTER__SECRET" in proc.stderr


def test_the_router_runs_as_its_own_process_on_the_port_from_the_environment() -> None:
    port = free_port()
    env = _env(PORT=str(port), MCPGW_ROUTER__SECRET="s", MCPGW_ROUTER__CATALOG_URL=f"http://127.0.0.1:{free_port()}/c")
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolrouter"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    def healthy() -> bool:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout=30, interval=0.02, what="python -m toolrouter")
        refused = httpx.post(f"http://127.0.0.1:{port}/mcp", json={}, timeout=5)
        assert refused.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
