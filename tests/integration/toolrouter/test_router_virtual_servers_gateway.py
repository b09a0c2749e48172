"""A virtual server end to end: created through the gateway's REST API (``POST /adapters``, ``POST /servers``),
used through its data-plane route ``/servers/{name}/mcp``, served by the real tool router (issue #19): filters,
an alias listed and called, tool search, both eras, ``/mcp`` aggregating, and the gateway refusing a stranger.

In process (tests/support/inprocess.py): the gateway in the test's event loop with the real router on a
thread, reading the gateway's real catalog; the adapter is the issues MCP server of router_harness.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from router_harness import Adapter, issues_app, recording

from tests.support.inprocess import InProcessGateway, in_process_gateway, serve
from tests.support.waiting import async_wait_for


@pytest.fixture(scope="module")
def upstream() -> Iterator[Adapter]:
    received: list[dict[str, str]] = []
    with serve(recording(issues_app(), received)) as server:
        yield Adapter(f"{server.url}/mcp", received)


async def _router_knows(gateway: InProcessGateway, server: str) -> None:
    def known() -> bool:
        return server in gateway.router_app.state.catalog.current.servers

    await async_wait_for(known, timeout=10, interval=0.05, what=f"the router to load server {server!r}")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_server_created_through_the_gateway_is_served_by_the_router(upstream: Adapter, mode: str) -> None:
    async with in_process_gateway(router=True) as gateway:
        await gateway.add_adapter("issues", upstream.url, roles=["mcp.user"], owner="alice")
        body: dict[str, Any] = {
            "name": "dev-tools",
            "requiredRoles": ["mcp.user"],
            "members": [{"adapter": "issues", "include": ["get_*"], "overrides": {"get_user": {"alias": "who"}}}],
            "toolSearch": "beside",
        }
        created = await gateway.client("alice").post("/servers", json=body)
        assert created.status_code == 201, created.text
        await _router_knows(gateway, "dev-tools")
        before = len(upstream.received)
        async with gateway.mcp_client("/servers/dev-tools/mcp", user="carol", roles="mcp.user", mode=mode) as mcp:
            listed = [t.name for t in (await mcp.list_tools()).tools]
            issue = await mcp.call_tool("issues__get_issue", {"number": 4})
            found = await mcp.call_tool("search_tools", {"query": "user login"})
            who = await mcp.call_tool("who", {"login": "carol"})
        async with gateway.mcp_client("/mcp", user="carol", roles="mcp.user", mode=mode) as plain:
            # /mcp aggregates every adapter carol may read: all its tools, unfiltered, by their own names.
            aggregated = [t.name for t in (await plain.list_tools()).tools]
        # Someone without the server's role is refused at the gateway, before the router.
        refused = await gateway.client("mallory", "mcp.guest").post(
            "/servers/dev-tools/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
        )
    assert refused.status_code == 403
    every_tool = ["get_issue", "get_user", "search_issues", "delete_issue", "broken"]
    assert aggregated == [f"issues__{name}" for name in every_tool]
    assert listed == ["search_tools", "call_tool", "issues__get_issue", "who"]
    assert issue.structured_content == {"number": 4, "title": "Issue 4", "state": "open"}
    assert not who.is_error and who.structured_content == {"login": "carol"}  # an alias calls the original tool
    assert found.structured_content is not None and found.structured_content["tools"][0]["name"] == "who"
    # The adapter saw carol as the gateway presents her, and neither the router's secret nor the server header.
    seen = upstream.received[before:]
    assert seen and {(h.get("x-mcp-userid"), h.get("x-mcp-roles")) for h in seen} == {("carol", "mcp.user")}
    assert not any({"x-gateway-secret", "x-mcp-virtual-server", "authorization"} & set(h) for h in seen)
