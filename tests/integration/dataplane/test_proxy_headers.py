"""Header rules of the proxy, against a scripted upstream registered as a ``url`` adapter: what reaches the
adapter, what reaches the client, the request id, and the JSON-RPC errors for methods and bodies the data
plane refuses.

In process (tests/support/inprocess.py): the gateway app in the test's event loop, the scripted upstream
on a thread. Streaming timing, client disconnects and a replica that never gets ready stay with a real
gateway process: test_streaming_and_headers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.support.inprocess import InProcessGateway, in_process_gateway

ALICE = {"X-Dev-UserId": "alice", "X-Dev-Roles": "mcp.user,team.blue"}


@pytest.fixture
async def probed_gateway(probe: UpstreamProbe) -> AsyncIterator[InProcessGateway]:
    async with in_process_gateway() as gateway:
        await gateway.add_adapter("probe", probe.url, roles=["mcp.user"])
        yield gateway


async def test_credentials_and_client_identities_never_reach_the_adapter(
    probed_gateway: InProcessGateway, probe: UpstreamProbe
) -> None:
    forged = {
        "Authorization": "Bearer secret-token",
        "X-Mcp-UserId": "admin",
        "X-Mcp-Roles": "mcp.admin",
        "X-Gateway-Secret": "guess",
        "Cookie": "session=abc",
        "Origin": "http://localhost:3000",
    }
    response = await probed_gateway.client(None).post(
        "/adapters/probe/mcp?trace=1",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={**ALICE, **forged},
    )
    assert response.status_code == 200
    seen = probe.requests[-1]["headers"]
    for header in ("authorization", "x-gateway-secret", "cookie", "origin", "x-dev-userid", "x-dev-roles"):
        assert header not in seen, header
    assert seen["x-mcp-userid"] == "alice"
    assert seen["x-mcp-roles"] == "mcp.user,team.blue"
    assert seen["host"] == f"127.0.0.1:{probe.port}"
    assert seen["forwarded"].startswith("for=127.0.0.1;proto=http")
    assert probe.requests[-1]["query"] == "trace=1"


async def test_response_headers_are_allow_listed_and_bad_session_ids_dropped(
    probed_gateway: InProcessGateway, probe: UpstreamProbe
) -> None:
    response = await probed_gateway.client(None).post(
        "/adapters/probe/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize"},
        headers=ALICE,
    )
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers  # "bad:session/id" fails the session-id pattern
    assert "set-cookie" not in response.headers and "x-internal" not in response.headers
    assert response.headers["content-type"] == "application/json"


async def test_a_cookie_one_replica_sets_never_rides_along_on_a_later_request(
    probed_gateway: InProcessGateway, probe: UpstreamProbe
) -> None:
    # Every reply of the probe carries Set-Cookie; the proxy's one shared client must not keep it. The
    # adapter is addressed by host name: cookie jars ignore cookies from bare IP addresses.
    by_name_url = probe.url.replace("127.0.0.1", "localhost")
    await probed_gateway.add_adapter("probe-by-name", by_name_url, roles=["mcp.user"])
    for user in ("alice", "bob"):
        http = probed_gateway.client(user, "mcp.user")
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert (await http.post("/adapters/probe-by-name/mcp", json=ping)).status_code == 200
        assert "cookie" not in probe.requests[-1]["headers"]


async def test_the_request_id_is_echoed_and_passed_to_the_replica(
    probed_gateway: InProcessGateway, probe: UpstreamProbe
) -> None:
    http = probed_gateway.client(None)
    path = "/adapters/probe/mcp"
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    given = await http.post(path, json=ping, headers={**ALICE, "X-Request-Id": "req-123"})
    assert given.headers["x-request-id"] == "req-123"
    assert probe.requests[-1]["headers"]["x-request-id"] == "req-123"
    minted = await http.post(path, json=ping, headers={**ALICE, "X-Request-Id": "bad id with spaces"})
    assert minted.headers["x-request-id"] != "bad id with spaces"
    assert probe.requests[-1]["headers"]["x-request-id"] == minted.headers["x-request-id"]


async def test_a_trailing_slash_is_served_not_redirected(
    probed_gateway: InProcessGateway, probe: UpstreamProbe
) -> None:
    response = await probed_gateway.client(None).post(
        "/adapters/probe/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=ALICE
    )
    assert response.status_code == 200
    assert probe.requests[-1]["method"] == "POST"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS", "HEAD"])
async def test_other_http_methods_are_405_with_allow_and_a_jsonrpc_error(
    probed_gateway: InProcessGateway, probe: UpstreamProbe, method: str
) -> None:
    forwarded_before = len(probe.requests)
    response = await probed_gateway.client(None).request(method, "/adapters/probe/mcp", headers=ALICE)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, GET, DELETE"
    if method != "HEAD":
        assert response.json()["error"]["message"].startswith(f"{method} is not an MCP method")
    assert len(probe.requests) == forwarded_before


async def test_an_oversized_mcp_body_is_413_with_a_jsonrpc_error(probed_gateway: InProcessGateway) -> None:
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"blob": "x" * (5 * 1024 * 1024)}}
    response = await probed_gateway.client(None).post("/adapters/probe/mcp", json=big, headers=ALICE, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["message"].startswith("The MCP request body is larger")
