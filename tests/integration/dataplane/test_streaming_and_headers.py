"""Streaming rules of the proxy, against a scripted upstream registered as a ``url`` adapter, through a real
gateway process: the first SSE event's timing, a client disconnect, a replica process that never gets ready.
The header rules run in process: test_proxy_headers.py."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.support.gateway_process import GatewayProcess
from tests.support.waiting import wait_for

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
