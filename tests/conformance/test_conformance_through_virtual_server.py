"""The conformance suite through a virtual server with one member passes exactly as it does directly (#19).

A real gateway process and its real tool router process (``MCPGW_ROUTER__REPLICAS=1``); the fixture server is
the ``url`` adapter ``conformance`` and the only member of the virtual server ``conformance-vs``, listed with
``"prefix": ""`` so the harness finds the fixture's tools and prompts under the names it expects. Every leg
must fail exactly the scenarios expected-failures.yml lists for it, as the direct legs and the adapter route
do: the router's relays (progress, logging, sampling, elicitation, subscriptions, completion, templates) add
no failure and hide none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.run_conformance import NodeTools, assert_matches_expected_failures, run_conformance
from tests.conformance.test_conformance import LEGS
from tests.support.gateway_process import GatewayProcess
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.node, pytest.mark.slow]


@pytest.fixture(scope="module")
def server_url(fixture_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gateway = GatewayProcess(
        tmp_path_factory.mktemp("conformance-vs"), env={"MCPGW_ROUTER__REPLICAS": "1"}
    ).start()
    try:
        # The harness sends no identity headers: the default development user owns everything here.
        client = gateway.client(user="dev")
        created = client.post("/adapters", json={"name": "conformance", "url": fixture_url})
        assert created.status_code == 201, created.text
        server = {"name": "conformance-vs", "members": [{"adapter": "conformance", "prefix": ""}]}
        created = client.post("/servers", json=server)
        assert created.status_code == 201, created.text
        url = f"{gateway.url}/servers/conformance-vs/mcp"
        # The router starts with the gateway and polls its catalog every second: wait until it serves the server.
        wait_for(lambda: _initializes(url), 60, what="the tool router serving the virtual server")
        yield url
    finally:
        gateway.stop()


def _initializes(url: str) -> bool:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "wait", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream"}
    reply = httpx.post(url, json=body, headers=headers, timeout=5)
    session = reply.headers.get("mcp-session-id")
    if session:
        httpx.delete(url, headers={"mcp-session-id": session}, timeout=5)
    return reply.status_code == 200


@pytest.mark.parametrize("leg", list(LEGS))
def test_a_virtual_server_passes_the_same_conformance_scenarios_as_its_member_directly(
    leg: str, server_url: str, tools: NodeTools, tmp_path: Path
) -> None:
    alpha, suite_args = LEGS[leg]
    result = run_conformance(server_url, suite_args, tmp_path / leg, alpha=alpha, tools=tools)
    assert_matches_expected_failures(result, leg, "through a virtual server")
