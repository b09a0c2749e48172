"""Several gateway processes sharing one session store (Redis or Cosmos DB) keep each session's affinity,
and a gateway on the Cosmos stores keeps its records across a restart."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import EMULATOR_KEY
from tests.support.gateway_process import GatewayProcess
from tests.support.mcp_client import sdk_client as mcp_client
from tests.support.paths import PYTHON, SESSION_EXAMPLE
from tests.support.ports import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
USER = {"X-Dev-UserId": "carol", "X-Dev-Roles": "mcp.user"}


@pytest.fixture(scope="module")
def session_server() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "MCP_REPLICA_ID": "only-replica"}
    process = subprocess.Popen([PYTHON, str(SESSION_EXAMPLE)], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"

    def up() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=30, what="session-example")
    yield url
    process.terminate()
    process.wait(10)


def structured(body: str) -> dict[str, object]:
    """The structuredContent of a tools/call answer sent as JSON or as one SSE event."""
    payload = next((line[5:] for line in body.splitlines() if line.startswith("data:")), body)
    return dict(json.loads(payload)["result"]["structuredContent"])


SHARED_SEAL_KEYS = "k1:" + base64.b64encode(os.urandom(32)).decode()


def store_env(kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """``sealed``: sealed session ids and the same keyring on both gateways, no shared store at all; ``redis``
    and ``cosmos``: store-mapped ids (``MCPGW_SESSIONS__SEALED=false``) in that shared store."""
    if kind == "sealed":
        return {"MCPGW_SESSIONS__KIND": "memory", "MCPGW_SESSIONS__SEAL_KEYS": SHARED_SEAL_KEYS}
    if kind == "redis":
        return {
            "MCPGW_SESSIONS__SEALED": "false",
            "MCPGW_SESSIONS__KIND": "redis",
            "MCPGW_SESSIONS__REDIS_URL": request.getfixturevalue("redis_url"),
        }
    endpoint = request.getfixturevalue("cosmos_endpoint")
    return {
        "MCPGW_SESSIONS__SEALED": "false",
        "MCPGW_SESSIONS__KIND": "cosmos",
        "MCPGW_STORE__KIND": "cosmos",
        "MCPGW_COSMOS__ENDPOINT": endpoint,
        "MCPGW_COSMOS__KEY": EMULATOR_KEY,
        "MCPGW_COSMOS__DATABASE": f"gw{uuid.uuid4().hex[:8]}",
    }


@pytest.mark.parametrize(
    "kind",
    ["sealed", pytest.param("redis", marks=pytest.mark.redis), pytest.param("cosmos", marks=pytest.mark.cosmos)],
)
async def test_a_session_started_on_one_gateway_continues_on_another(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, session_server: str
) -> None:
    # Two gateways, each with its own data directory (one gateway per data directory, gateway.exclusive),
    # sharing the SQLite records file when the metadata store is SQLite.
    env = {"MCPGW_STORE__SQLITE_PATH": str(tmp_path / "shared.db"), **store_env(kind, request)}
    first = GatewayProcess(tmp_path / "first", env=env).start()
    second = GatewayProcess(tmp_path / "second", env=env).start()
    try:
        adapter = {"name": "sessions", "url": session_server, "requiredRoles": ["mcp.user"]}
        assert first.client(user="owner").post("/adapters", json=adapter).status_code == 201
        async with mcp_client(f"{second.url}/adapters/sessions/mcp") as client:  # the SDK client works on either
            assert (await client.call_tool("whoami", {})).structured_content["sessionCalls"] == 1  # type: ignore[index]
        # A raw client carries one session across both gateways: initialize on the first, call on the second.
        raw = httpx.AsyncClient(timeout=30)
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        accept = {"Accept": "application/json, text/event-stream"}
        opened = await raw.post(f"{first.url}/adapters/sessions/mcp", json=init, headers={**USER, **accept})
        session = opened.headers["mcp-session-id"]
        headers = {**USER, **accept, "Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}
        await raw.post(
            f"{second.url}/adapters/sessions/mcp",
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=headers,
        )
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
        for expected in (1, 2):
            gateway = second if expected == 1 else first
            answer = await raw.post(f"{gateway.url}/adapters/sessions/mcp", json=call, headers=headers)
            assert answer.status_code == 200, answer.text
            assert structured(answer.text)["sessionCalls"] == expected
        # Another user cannot use the id on either gateway.
        stranger = {**headers, "X-Dev-UserId": "mallory"}
        assert (await raw.post(f"{second.url}/adapters/sessions/mcp", json=call, headers=stranger)).status_code == 404
        await raw.aclose()
    finally:
        first.stop()
        second.stop()


@pytest.mark.cosmos
def test_a_gateway_on_the_cosmos_stores_keeps_its_records_across_a_restart(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = store_env("cosmos", request)
    gateway = GatewayProcess(tmp_path / "a", env=env).start()
    tool = {
        "name": "weather",
        "url": "http://127.0.0.1:9/score",
        "toolDefinition": {"tool": {"name": "weather", "inputSchema": {"type": "object"}}},
    }
    try:
        client = gateway.client()
        assert client.post("/adapters", json={"name": "kept", "url": "http://127.0.0.1:9/mcp"}).status_code == 201
        assert client.post("/tools", json=tool).status_code == 201
    finally:
        gateway.stop()
    restarted = GatewayProcess(tmp_path / "b", env=env).start()  # a different data dir: nothing local is reused
    try:
        client = restarted.client()
        assert client.get("/adapters/kept").json()["createdBy"] == "alice"
        assert client.get("/tools/weather").json()["toolDefinition"]["port"] == 8000
        assert client.get("/readyz").json() == {"status": "ready"}
    finally:
        restarted.stop()


@pytest.mark.cosmos
def test_on_cosmos_a_revoked_role_takes_effect_at_once_here_and_within_the_record_cache_age_elsewhere(
    request: pytest.FixtureRequest, tmp_path: Path, session_server: str
) -> None:
    """The data plane reuses a Cosmos record for up to 2 s (the default) instead of a read per request."""
    env = store_env("cosmos", request)
    first = GatewayProcess(tmp_path / "a", env=env).start()
    second = GatewayProcess(tmp_path / "b", env=env).start()
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {**USER, "Accept": "application/json, text/event-stream"}

    def status_on(gateway: GatewayProcess) -> int:
        return httpx.post(f"{gateway.url}/adapters/guarded/mcp", json=init, headers=headers, timeout=30).status_code

    try:
        owner = first.client(user="owner")
        adapter = {"name": "guarded", "url": session_server, "requiredRoles": ["mcp.user"]}
        assert owner.post("/adapters", json=adapter).status_code == 201
        assert status_on(first) == 200 and status_on(second) == 200  # both now hold the record
        revoked = owner.put("/adapters/guarded", json={**adapter, "requiredRoles": ["mcp.auditor"]})
        assert revoked.status_code == 200, revoked.text
        revoked_at = time.monotonic()
        assert status_on(first) == 403  # written through this gateway: no stale copy
        wait_for(lambda: status_on(second) == 403, timeout=10, what="the revocation to reach the other gateway")
        # Bounded by the cache age (2 s) plus the time one check takes against the emulator.
        assert time.monotonic() - revoked_at < 2.0 + 3.0
    finally:
        first.stop()
        second.stop()
