"""The access log: one line per request by default (control plane and MCP paths), none when turned off."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("enabled", [True, False])
def test_the_access_log_follows_its_setting(tmp_path: Path, enabled: bool) -> None:
    env = {"MCPGW_SERVER__ACCESS_LOG": str(enabled).lower(), "MCPGW_STORE__KIND": "memory"}
    gateway = GatewayProcess(tmp_path, env=env, log_level="info").start()
    try:
        headers = {"X-Dev-UserId": "alice"}
        assert httpx.get(f"{gateway.url}/adapters", headers=headers).status_code == 200
        assert httpx.post(f"{gateway.url}/adapters/nothing-here/mcp", json={}, headers=headers).status_code == 404
    finally:
        gateway.stop()
    log = gateway.log_path.read_text()
    lines = ['"GET /adapters HTTP/1.1" 200', '"POST /adapters/nothing-here/mcp HTTP/1.1" 404']
    assert [line in log for line in lines] == [enabled, enabled], log
