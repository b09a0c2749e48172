"""A virtual server end to end: REST resource -> tool catalog -> the real tool router -> a real adapter.

In process (tests/support/inprocess.py): the gateway app in the test's event loop, the real tool router app
on a thread (``router=True``) reading the gateway's real ``/internal/tool-catalog``, and the sample MCP server
on a thread, registered as a ``url`` adapter. What the gateway alone guarantees (authorization, routing,
headers, sessions) is in test_virtual_server_route.py; this checks that the catalog carries what the router
needs to serve a server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_types import TextContent

from tests.support.inprocess import InProcessGateway, in_process_gateway, sample_mcp_app, serve
from tests.support.paths import MCP_EXAMPLE
from tests.support.waiting import async_wait_for


@pytest.fixture(scope="module")
def calculator() -> Iterator[str]:
    with serve(sample_mcp_app(MCP_EXAMPLE)) as server:
        yield f"{server.url}/mcp"


async def listed(gateway: InProcessGateway, path: str, user: str, roles: str) -> list[str]:
    async with gateway.mcp_client(path, user=user, roles=roles) as mcp:
        return [tool.name for tool in (await mcp.list_tools()).tools]


async def test_a_virtual_server_lists_and_calls_its_members_tools_under_its_own_names(calculator: str) -> None:
    async with in_process_gateway(router=True) as gateway:
        await gateway.add_adapter("calculator", calculator, roles=["mcp.user"])
        server = {
            "name": "math",
            "requiredRoles": ["mcp.user"],
            "members": [{"adapter": "calculator", "overrides": {"add": {"alias": "sum", "description": "Adds"}}}],
        }
        created = await gateway.client("owner").post("/servers", json=server)
        assert created.status_code == 201, created.text

        # The router learns of the server from its next catalog poll (every second).
        names = await async_wait_for(
            lambda: listed(gateway, "/servers/math/mcp", "carol", "mcp.user"),
            timeout=10,
            what="the router to serve the virtual server",
            ignoring=(Exception,),
        )
        assert names == ["sum"]
        async with gateway.mcp_client("/servers/math/mcp", user="carol", roles="mcp.user") as mcp:
            result = await mcp.call_tool("sum", {"a": 2, "b": 40})
        assert not result.is_error
        assert isinstance(result.content[0], TextContent) and result.content[0].text == "42"
        refused = await gateway.client("mallory", "mcp.guest").post(
            "/servers/math/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
        )
        assert refused.status_code == 403
