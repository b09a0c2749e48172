"""Issue 4 end to end: the gateway's ``/mcp`` reaches the tool router it routes to, with real tools behind it.

In process (tests/support/inprocess.py): the gateway app in the test's event loop, the real tool router
app on a thread built from the environment the local runtime gives its router process, the sample weather
tool and misbehaving tool endpoints on threads, all over loopback sockets.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from mcp_types import ToolListChangedNotification
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from gateway.names import ROUTER_WORKLOAD
from tests.support.inprocess import InProcessGateway, in_process_gateway, sample_module, serve
from tests.support.paths import TOOL_EXAMPLE
from tests.support.ports import free_port
from tests.support.servers import UvicornThread
from tests.support.waiting import async_wait_for

# One gateway for the module, as before: its tests share one event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

OWNER, ENGINEER, STRANGER, ADMIN = ("owner", ""), ("eve", "mcp.engineer"), ("sam", "mcp.guest"), ("root", "mcp.admin")


RELEASE_SLOW = threading.Event()
"""Set when the module ends: the slow endpoint then answers at once, rather than holding its server's stop."""


async def _slow(request: Request) -> JSONResponse:
    # Up to 8 s, longer than the router's call time-out set below.
    await asyncio.get_running_loop().run_in_executor(None, RELEASE_SLOW.wait, 8)
    return JSONResponse({"late": True})


async def _fail(request: Request) -> PlainTextResponse:
    return PlainTextResponse("kaboom", status_code=500)


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"echo": await request.json(), "callerHeaders": sorted(request.headers.keys())})


class ToolServer(UvicornThread):
    """Real HTTP tool endpoints that misbehave on purpose (uvicorn in a thread)."""

    def __init__(self) -> None:
        app = Starlette(
            routes=[
                Route("/slow", _slow, methods=["POST"]),
                Route("/fail", _fail, methods=["POST"]),
                Route("/echo", _echo, methods=["POST"]),
            ]
        )
        super().__init__(app, start_timeout=10)


def tool_body(name: str, url: str, roles: list[str] | None = None, path: str = "/score") -> dict[str, object]:
    schema = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}
    return {
        "name": name,
        "url": url,
        "requiredRoles": roles or [],
        "toolDefinition": {
            "tool": {"name": name, "title": name.title(), "description": f"The {name} tool", "inputSchema": schema},
            "port": 8000,
            "path": path,
        },
    }


@dataclass
class Tools:
    gateway: InProcessGateway
    tools: ToolServer


@pytest.fixture(scope="module")
def tool_server() -> Iterator[ToolServer]:
    RELEASE_SLOW.clear()
    with ToolServer() as tools:
        yield tools
        RELEASE_SLOW.set()


@pytest.fixture(scope="module")
def weather_url() -> Iterator[str]:
    """The real sample weather tool (sample-servers/tool-example), served on a thread."""
    with serve(sample_module(TOOL_EXAMPLE).app) as server:
        yield f"{server.url}/score"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tools_gateway(tool_server: ToolServer, weather_url: str) -> AsyncIterator[Tools]:
    async with in_process_gateway({"router": {"call_timeout_seconds": 2}}) as gateway:
        owner = gateway.client(user="owner")
        for body in (
            tool_body("weather", weather_url, roles=["mcp.engineer"]),
            tool_body("private-tool", f"http://127.0.0.1:{tool_server.port}/echo"),
            tool_body("failing", f"http://127.0.0.1:{tool_server.port}/fail", roles=["mcp.engineer"]),
            tool_body("slow", f"http://127.0.0.1:{tool_server.port}/slow", roles=["mcp.engineer"]),
            tool_body("unreachable", f"http://127.0.0.1:{free_port()}/x", roles=["mcp.engineer"]),
        ):
            assert (await owner.post("/tools", json=body)).status_code == 201, body["name"]
        await gateway.start_router()
        yield Tools(gateway, tool_server)


async def _listed(gateway: InProcessGateway, user: str, roles: str) -> set[str]:
    async with gateway.mcp_client("/mcp", user=user, roles=roles or "none") as client:
        return {t.name for t in (await client.list_tools()).tools}


async def _wait_listed(gateway: InProcessGateway, user: tuple[str, str], expected: set[str]) -> set[str]:
    deadline = time.monotonic() + 30  # the router polls the catalog every second
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = await _listed(gateway, *user)
        except Exception as exc:  # the router may still be starting
            last = exc
        if last == expected:
            break
        await asyncio.sleep(0.2)
    assert isinstance(last, set), f"the router never answered: {last!r}"
    return last


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (OWNER, {"weather", "private-tool", "failing", "slow", "unreachable"}),
        (ENGINEER, {"weather", "failing", "slow", "unreachable"}),
        (STRANGER, set()),
        (ADMIN, {"weather", "private-tool", "failing", "slow", "unreachable"}),
    ],
    ids=["creator", "role-holder", "stranger", "admin"],
)
async def test_tools_list_shows_exactly_what_each_caller_may_read(
    tools_gateway: Tools, user: tuple[str, str], expected: set[str]
) -> None:
    assert await _wait_listed(tools_gateway.gateway, user, expected) == expected


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_calling_weather_returns_the_samples_answer_as_structured_content(
    tools_gateway: Tools, mode: str
) -> None:
    gateway = tools_gateway.gateway
    await _wait_listed(gateway, ENGINEER, {"weather", "failing", "slow", "unreachable"})
    async with gateway.mcp_client("/mcp", user="eve", roles="mcp.engineer", mode=mode) as client:
        result = await client.call_tool("weather", {"location": "Seattle, WA"})
    assert not result.is_error
    assert result.structured_content == {
        "location": "Seattle, WA",
        "unit": "fahrenheit",
        "temperature": 72.0,
        "conditions": "clear",
    }


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("weather", {"location": 42}, "location"),
        ("weather", {}, "location"),
        ("failing", {"location": "x"}, "500"),
        ("slow", {"location": "x"}, "timed out"),
        ("unreachable", {"location": "x"}, "unreachable"),
        ("private-tool", {"location": "x"}, "not found"),
    ],
    ids=["wrong-type", "missing-argument", "http-500", "time-out", "unreachable", "not-permitted"],
)
async def test_tool_failures_are_iserror_results_never_protocol_errors(
    tools_gateway: Tools, tool: str, arguments: dict[str, object], message: str
) -> None:
    gateway = tools_gateway.gateway
    await _wait_listed(gateway, ENGINEER, {"weather", "failing", "slow", "unreachable"})
    async with gateway.mcp_client("/mcp", user="eve", roles="mcp.engineer") as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert message in result.content[0].text  # type: ignore[union-attr]


async def test_a_new_tool_is_announced_and_callable_within_5_seconds_and_a_deleted_one_fails(
    tools_gateway: Tools,
) -> None:
    gateway, tools = tools_gateway.gateway, tools_gateway.tools
    await _wait_listed(gateway, OWNER, {"weather", "private-tool", "failing", "slow", "unreachable"})
    changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    owner = gateway.client(user="owner")
    async with gateway.mcp_client("/mcp", user="owner", roles="", message_handler=on_message) as client:
        await client.list_tools()
        registered = time.monotonic()
        fresh = tool_body("fresh", f"http://127.0.0.1:{tools.port}/echo")
        assert (await owner.post("/tools", json=fresh)).status_code == 201
        await asyncio.wait_for(changed.wait(), timeout=5)  # tools/list_changed within 5 s
        result = await client.call_tool("fresh", {"location": "here"})
        assert not result.is_error and result.structured_content["echo"] == {"location": "here"}  # type: ignore[index]
        assert time.monotonic() - registered < 5
        # Nothing about the caller reaches a tool.
        caller_headers = set(result.structured_content["callerHeaders"])  # type: ignore[index]
        assert not {"authorization", "x-mcp-userid", "x-gateway-secret"} & caller_headers

        assert (await owner.delete("/tools/fresh")).status_code == 204

        async def refused() -> bool:
            return bool((await client.call_tool("fresh", {"location": "here"})).is_error)

        await async_wait_for(refused, timeout=5, what="a call of the deleted tool to be an error")


async def test_a_router_replica_refuses_requests_without_the_gateway_secret(tools_gateway: Tools) -> None:
    # The replica the gateway routes /mcp to: the router app configured as the local runtime configures its
    # process (tests/support/inprocess.py), so the secret it expects is the one the gateway hands it.
    replicas = await tools_gateway.gateway.ctx.runtime.endpoints(ROUTER_WORKLOAD)
    assert replicas, "the gateway should route to one tool router replica"
    (replica,) = replicas
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    forged = {"X-Mcp-UserId": "owner", "X-Mcp-Roles": "mcp.admin", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient() as http:
        direct = await http.post(replica.url, json=body, headers=forged)
        assert direct.status_code == 401
        wrong = await http.post(replica.url, json=body, headers={**forged, "X-Gateway-Secret": "guess"})
        assert wrong.status_code == 401


async def test_identity_headers_forged_by_a_client_never_reach_the_router(tools_gateway: Tools) -> None:
    gateway = tools_gateway.gateway
    await _wait_listed(gateway, STRANGER, set())
    forged = {"X-Mcp-UserId": "owner", "X-Mcp-Roles": "mcp.admin", "X-Gateway-Secret": "guess"}
    async with gateway.mcp_client("/mcp", user="sam", roles="mcp.guest", extra_headers=forged) as client:
        assert (await client.list_tools()).tools == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(
    "user", [OWNER, ENGINEER, STRANGER, ADMIN], ids=["creator", "role-holder", "stranger", "admin"]
)
async def test_a_tool_that_cannot_be_listed_cannot_be_called_in_either_era(
    tools_gateway: Tools, user: tuple[str, str], mode: str
) -> None:
    gateway = tools_gateway.gateway
    await _wait_listed(gateway, OWNER, {"weather", "private-tool", "failing", "slow", "unreachable"})
    name, roles = user
    async with gateway.mcp_client("/mcp", user=name, roles=roles or "none", mode=mode) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        for tool in ("weather", "private-tool", "failing", "unreachable"):
            result = await client.call_tool(tool, {"location": "Oslo"})
            text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
            denied = result.is_error and "not found, or you do not have permission" in text
            assert denied == (tool not in listed), (tool, mode, text)
