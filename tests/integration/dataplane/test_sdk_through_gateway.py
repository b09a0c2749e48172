"""The official MCP SDK client behind the gateway behaves as if it talked to the server directly, and the
gateway binds each session to its user and adapter and checks access on every request.

In process (tests/support/inprocess.py): the gateway app in the test's event loop, the sample servers on
threads as ``url`` adapters. Affinity and spreading over several replica processes, and replicas that die,
need the local runtime's processes: test_replica_affinity.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.inprocess import InProcessGateway, in_process_gateway, sample_mcp_app, serve
from tests.support.paths import MCP_EXAMPLE, SESSION_EXAMPLE


@pytest.fixture(scope="module")
def mcp_example_url() -> Iterator[str]:
    with serve(sample_mcp_app(MCP_EXAMPLE)) as server:
        yield f"{server.url}/mcp"


@pytest.fixture(scope="module")
def sessions_url() -> Iterator[str]:
    with serve(sample_mcp_app(SESSION_EXAMPLE, MCP_REPLICA_ID="sessions-0")) as server:
        yield f"{server.url}/mcp"


@pytest.fixture
async def gateway(mcp_example_url: str, sessions_url: str) -> AsyncIterator[InProcessGateway]:
    async with in_process_gateway() as running:
        await running.add_adapter("mcp-example", mcp_example_url, roles=["mcp.user"])
        await running.add_adapter("sessions", sessions_url, roles=["mcp.user"])
        yield running


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_sdk_client_lists_and_calls_tools_in_both_protocol_eras(gateway: InProcessGateway, mode: str) -> None:
    async with gateway.mcp_client("/adapters/mcp-example/mcp", mode=mode) as client:
        expected_era = "2025-11-25" if mode == "legacy" else "2026-07-28"
        assert client.protocol_version == expected_era
        tools = await client.list_tools()
        assert [t.name for t in tools.tools] == ["add"]
        result = await client.call_tool("add", {"a": 2, "b": 40})
        assert not result.is_error
        assert result.content[0].text == "42"  # type: ignore[union-attr]


INITIALIZE_BODY = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


async def _initialize(gateway: InProcessGateway, path: str, user: str) -> str:
    headers = {"X-Dev-UserId": user, "X-Dev-Roles": "mcp.user", "Accept": "application/json, text/event-stream"}
    response = await gateway.client(None).post(path, json=INITIALIZE_BODY, headers=headers)
    assert response.status_code == 200
    return response.headers["mcp-session-id"]


@pytest.mark.parametrize("attack", ["other user", "forged id", "malformed id", "other adapter"])
async def test_session_hijack_attempts_get_404_with_a_jsonrpc_error(gateway: InProcessGateway, attack: str) -> None:
    path = "/adapters/sessions/mcp"
    session = await _initialize(gateway, path, "victim")
    headers = {
        "X-Dev-UserId": "attacker",
        "X-Dev-Roles": "mcp.user",
        "Accept": "application/json, text/event-stream",
        "Mcp-Session-Id": session,
        "Mcp-Protocol-Version": "2025-11-25",
    }
    target = path
    if attack == "forged id":
        headers.update({"X-Dev-UserId": "victim", "Mcp-Session-Id": "0" * 32})
    elif attack == "malformed id":
        headers.update({"X-Dev-UserId": "victim", "Mcp-Session-Id": "../" + session})
    elif attack == "other adapter":
        headers["X-Dev-UserId"] = "victim"
        target = "/adapters/mcp-example/mcp"
    response = await gateway.client(None).post(
        target, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32001


async def test_the_session_owner_keeps_working_after_hijack_attempts(gateway: InProcessGateway) -> None:
    path = "/adapters/sessions/mcp"
    session = await _initialize(gateway, path, "owner2")
    headers = {
        "X-Dev-UserId": "owner2",
        "X-Dev-Roles": "mcp.user",
        "Accept": "application/json, text/event-stream",
        "Mcp-Session-Id": session,
        "Mcp-Protocol-Version": "2025-11-25",
    }
    http = gateway.client(None)
    await http.post(path, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    response = await http.post(path, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers)
    assert response.status_code == 200 and "whoami" in response.text
    deleted = await http.delete(path, headers=headers)
    assert deleted.status_code in (200, 204)
    after = await http.post(path, json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, headers=headers)
    assert after.status_code == 404


async def test_access_is_checked_on_every_request(gateway: InProcessGateway) -> None:
    http = gateway.client(None)
    response = await http.post(
        "/adapters/sessions/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"X-Dev-UserId": "stranger", "X-Dev-Roles": "mcp.other"},
    )
    assert response.status_code == 403
    missing = await http.post("/adapters/nope/mcp", json={}, headers={"X-Dev-UserId": "x"})
    assert missing.status_code == 404 and missing.json()["jsonrpc"] == "2.0"


async def test_a_foreign_browser_origin_is_refused(gateway: InProcessGateway) -> None:
    response = await gateway.client(None).post(
        "/adapters/mcp-example/mcp",
        json={},
        headers={"Origin": "http://evil.example.com", "X-Dev-Roles": "mcp.admin"},
    )
    assert response.status_code == 403
