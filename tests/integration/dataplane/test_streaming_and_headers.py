"""Streaming and header rules of the proxy, against a scripted upstream registered as a ``url`` adapter."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import GatewayProcess, wait_for
from tests.integration.dataplane.upstream_probe import UpstreamProbe

pytestmark = pytest.mark.slow
ALICE = {"X-Dev-UserId": "alice", "X-Dev-Roles": "mcp.user,team.blue"}


@pytest.fixture(scope="module")
def probed_gateway(dataplane_gateway: GatewayProcess, probe: UpstreamProbe) -> GatewayProcess:
    adapter = {"name": "probe", "url": probe.url, "requiredRoles": ["mcp.user"]}
    assert dataplane_gateway.client(user="owner").post("/adapters", json=adapter).status_code == 201
    return dataplane_gateway


def test_the_first_sse_event_arrives_before_the_upstream_finishes(
    probed_gateway: GatewayProcess, probe: UpstreamProbe
) -> None:
    probe.release.clear()
    headers = {**ALICE, "X-Probe-Mode": "sse-hold", "Accept": "text/event-stream"}
    with httpx.stream(
        "POST",
        f"{probed_gateway.url}/adapters/probe/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers=headers,
        timeout=30,
    ) as response:
        assert response.headers["x-accel-buffering"] == "no"
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        assert first == 'data: {"first":true}'
        assert not probe.finished.is_set()  # the upstream is still holding its response open
        probe.release.set()
        rest = [line for line in lines if line.startswith("data:")]
    assert rest == ['data: {"last":true}']


def test_a_client_disconnect_cancels_the_upstream_request(probed_gateway: GatewayProcess, probe: UpstreamProbe) -> None:
    probe.release.clear()
    probe.disconnected.clear()
    headers = {**ALICE, "X-Probe-Mode": "sse-hold", "Accept": "text/event-stream"}
    with httpx.stream(
        "POST",
        f"{probed_gateway.url}/adapters/probe/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "x"},
        headers=headers,
        timeout=30,
    ) as response:
        next(line for line in response.iter_lines() if line.startswith("data:"))
    wait_for(probe.disconnected.is_set, timeout=15, what="the upstream to see the disconnect")


def test_credentials_and_client_identities_never_reach_the_adapter(
    probed_gateway: GatewayProcess, probe: UpstreamProbe
) -> None:
    forged = {
        "Authorization": "Bearer secret-token",
        "X-Mcp-UserId": "admin",
        "X-Mcp-Roles": "mcp.admin",
        "X-Gateway-Secret": "guess",
        "Cookie": "session=abc",
        "Origin": "http://localhost:3000",
    }
    response = httpx.post(
        f"{probed_gateway.url}/adapters/probe/mcp?trace=1",
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


def test_response_headers_are_allow_listed_and_bad_session_ids_dropped(
    probed_gateway: GatewayProcess, probe: UpstreamProbe
) -> None:
    response = httpx.post(
        f"{probed_gateway.url}/adapters/probe/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize"},
        headers=ALICE,
    )
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers  # "bad:session/id" fails the session-id pattern
    assert "set-cookie" not in response.headers and "x-internal" not in response.headers
    assert response.headers["content-type"] == "application/json"


def test_a_cookie_one_replica_sets_never_rides_along_on_a_later_request(
    probed_gateway: GatewayProcess, probe: UpstreamProbe
) -> None:
    # Every reply of the probe carries Set-Cookie; the proxy's one shared client must not keep it. The
    # adapter is addressed by host name: cookie jars ignore cookies from bare IP addresses.
    by_name_url = probe.url.replace("127.0.0.1", "localhost")
    by_name = {"name": "probe-by-name", "url": by_name_url, "requiredRoles": ["mcp.user"]}
    assert probed_gateway.client(user="owner").post("/adapters", json=by_name).status_code == 201
    url = f"{probed_gateway.url}/adapters/probe-by-name/mcp"
    for user in ("alice", "bob"):
        headers = {"X-Dev-UserId": user, "X-Dev-Roles": "mcp.user"}
        assert httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers).status_code == 200
        assert "cookie" not in probe.requests[-1]["headers"]


def test_the_request_id_is_echoed_and_passed_to_the_replica(
    probed_gateway: GatewayProcess, probe: UpstreamProbe
) -> None:
    url = f"{probed_gateway.url}/adapters/probe/mcp"
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    given = httpx.post(url, json=ping, headers={**ALICE, "X-Request-Id": "req-123"})
    assert given.headers["x-request-id"] == "req-123"
    assert probe.requests[-1]["headers"]["x-request-id"] == "req-123"
    minted = httpx.post(url, json=ping, headers={**ALICE, "X-Request-Id": "bad id with spaces"})
    assert minted.headers["x-request-id"] != "bad id with spaces"
    assert probe.requests[-1]["headers"]["x-request-id"] == minted.headers["x-request-id"]


def test_a_trailing_slash_is_served_not_redirected(probed_gateway: GatewayProcess, probe: UpstreamProbe) -> None:
    response = httpx.post(
        f"{probed_gateway.url}/adapters/probe/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=ALICE
    )
    assert response.status_code == 200
    assert probe.requests[-1]["method"] == "POST"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS", "HEAD"])
def test_other_http_methods_are_405_with_allow_and_a_jsonrpc_error(
    probed_gateway: GatewayProcess, probe: UpstreamProbe, method: str
) -> None:
    forwarded_before = len(probe.requests)
    response = httpx.request(method, f"{probed_gateway.url}/adapters/probe/mcp", headers=ALICE)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, GET, DELETE"
    if method != "HEAD":
        assert response.json()["error"]["message"].startswith(f"{method} is not an MCP method")
    assert len(probe.requests) == forwarded_before


def test_an_oversized_mcp_body_is_413_with_a_jsonrpc_error(probed_gateway: GatewayProcess) -> None:
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"blob": "x" * (5 * 1024 * 1024)}}
    response = httpx.post(f"{probed_gateway.url}/adapters/probe/mcp", json=big, headers=ALICE, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["message"].startswith("The MCP request body is larger")


def test_a_request_with_no_ready_replica_is_503(probed_gateway: GatewayProcess) -> None:
    owner = probed_gateway.client(user="owner")
    adapter = {
        "name": "idle",
        "command": "python3",
        "args": ["-c", "import time; time.sleep(600)"],
        "transport": "streamable-http",
        "replicaCount": 1,
        "requiredRoles": ["mcp.user"],
    }
    assert owner.post("/adapters", json=adapter).status_code == 201
    try:
        response = httpx.post(f"{probed_gateway.url}/adapters/idle/mcp", json={}, headers=ALICE)
        assert response.status_code == 503
        assert response.json()["error"]["message"].startswith("No replica")
    finally:
        owner.delete("/adapters/idle")
