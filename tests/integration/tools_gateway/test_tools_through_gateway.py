"""Issue 4 end to end: the gateway's ``/mcp`` reaches the tool router it started, with real tools behind it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from mcp_types import ToolListChangedNotification
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from tests.helpers import PYTHON, TOOL_EXAMPLE, GatewayProcess, descendants, free_port, wait_for
from tests.integration.dataplane.conftest import mcp_client

pytestmark = pytest.mark.slow

OWNER, ENGINEER, STRANGER, ADMIN = ("owner", ""), ("eve", "mcp.engineer"), ("sam", "mcp.guest"), ("root", "mcp.admin")


async def _slow(request: Request) -> JSONResponse:
    await asyncio.sleep(8)  # longer than the router's call time-out set below
    return JSONResponse({"late": True})


async def _fail(request: Request) -> PlainTextResponse:
    return PlainTextResponse("kaboom", status_code=500)


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"echo": await request.json(), "callerHeaders": sorted(request.headers.keys())})


class ToolServer:
    """Real HTTP tool endpoints that misbehave on purpose (uvicorn in a thread)."""

    def __init__(self) -> None:
        app = Starlette(
            routes=[
                Route("/slow", _slow, methods=["POST"]),
                Route("/fail", _fail, methods=["POST"]),
                Route("/echo", _echo, methods=["POST"]),
            ]
        )
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))

    def __enter__(self) -> ToolServer:
        import threading

        threading.Thread(target=self.server.run, daemon=True).start()
        wait_for(lambda: self.server.started, timeout=10, what="tool server")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True


def tool_body(
    name: str, url: str | None = None, roles: list[str] | None = None, path: str = "/score"
) -> dict[str, object]:
    source: dict[str, object] = (
        {"url": url} if url else {"command": PYTHON, "args": [str(TOOL_EXAMPLE)], "transport": "streamable-http"}
    )
    schema = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}
    return {
        "name": name,
        **source,
        "requiredRoles": roles or [],
        "toolDefinition": {
            "tool": {"name": name, "title": name.title(), "description": f"The {name} tool", "inputSchema": schema},
            "port": 8000,
            "path": path,
        },
    }


@pytest.fixture(scope="module")
def tools_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, ToolServer]]:
    env = {"MCPGW_ROUTER__REPLICAS": "1", "MCPGW_ROUTER__CALL_TIMEOUT_SECONDS": "2"}
    with ToolServer() as tools:
        gateway = GatewayProcess(tmp_path_factory.mktemp("tools"), env=env).start()
        owner = gateway.client(user="owner")
        for body in (
            tool_body("weather", roles=["mcp.engineer"]),
            tool_body("private-tool", url=f"http://127.0.0.1:{tools.port}/echo"),
            tool_body("failing", url=f"http://127.0.0.1:{tools.port}/fail", roles=["mcp.engineer"]),
            tool_body("slow", url=f"http://127.0.0.1:{tools.port}/slow", roles=["mcp.engineer"]),
            tool_body("unreachable", url=f"http://127.0.0.1:{free_port()}/x", roles=["mcp.engineer"]),
        ):
            assert owner.post("/tools", json=body).status_code == 201, body["name"]
        wait_for(
            lambda: owner.get("/tools/weather/status").json()["replicaStatus"] == "Healthy",
            timeout=60,
            what="the weather tool to be ready",
        )
        yield gateway, tools
        gateway.stop()


async def _listed(gateway: GatewayProcess, user: str, roles: str) -> set[str]:
    async with mcp_client(f"{gateway.url}/mcp", user=user, roles=roles or "none") as client:
        return {t.name for t in (await client.list_tools()).tools}


async def _wait_listed(gateway: GatewayProcess, user: tuple[str, str], expected: set[str]) -> set[str]:
    deadline = time.monotonic() + 30  # the router starts with the gateway and polls the catalog every second
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
    tools_gateway: tuple[GatewayProcess, ToolServer], user: tuple[str, str], expected: set[str]
) -> None:
    gateway, _ = tools_gateway
    assert await _wait_listed(gateway, user, expected) == expected


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_calling_weather_returns_the_samples_answer_as_structured_content(
    tools_gateway: tuple[GatewayProcess, ToolServer], mode: str
) -> None:
    gateway, _ = tools_gateway
    await _wait_listed(gateway, ENGINEER, {"weather", "failing", "slow", "unreachable"})
    async with mcp_client(f"{gateway.url}/mcp", user="eve", roles="mcp.engineer", mode=mode) as client:
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
    tools_gateway: tuple[GatewayProcess, ToolServer], tool: str, arguments: dict[str, object], message: str
) -> None:
    gateway, _ = tools_gateway
    await _wait_listed(gateway, ENGINEER, {"weather", "failing", "slow", "unreachable"})
    async with mcp_client(f"{gateway.url}/mcp", user="eve", roles="mcp.engineer") as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert message in result.content[0].text  # type: ignore[union-attr]


async def test_a_new_tool_is_announced_and_callable_within_5_seconds_and_a_deleted_one_fails(
    tools_gateway: tuple[GatewayProcess, ToolServer],
) -> None:
    gateway, tools = tools_gateway
    await _wait_listed(gateway, OWNER, {"weather", "private-tool", "failing", "slow", "unreachable"})
    changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    owner = gateway.client(user="owner")
    async with mcp_client(f"{gateway.url}/mcp", user="owner", roles="", message_handler=on_message) as client:
        await client.list_tools()
        registered = time.monotonic()
        assert (
            owner.post("/tools", json=tool_body("fresh", url=f"http://127.0.0.1:{tools.port}/echo")).status_code == 201
        )
        await asyncio.wait_for(changed.wait(), timeout=5)  # tools/list_changed within 5 s
        result = await client.call_tool("fresh", {"location": "here"})
        assert not result.is_error and result.structured_content["echo"] == {"location": "here"}  # type: ignore[index]
        assert time.monotonic() - registered < 5
        # Nothing about the caller reaches a tool.
        caller_headers = set(result.structured_content["callerHeaders"])  # type: ignore[index]
        assert not {"authorization", "x-mcp-userid", "x-gateway-secret"} & caller_headers

        assert owner.delete("/tools/fresh").status_code == 204
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            gone = await client.call_tool("fresh", {"location": "here"})
            if gone.is_error:
                break
            await asyncio.sleep(0.1)
        assert gone.is_error


def test_a_router_replica_refuses_requests_without_the_gateway_secret(
    tools_gateway: tuple[GatewayProcess, ToolServer],
) -> None:
    gateway, _ = tools_gateway
    assert gateway.process is not None
    router_ports = []
    for pid in descendants(gateway.process.pid):
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"MCP_REPLICA_ID=toolgateway-0" in environ and b"-m\0toolrouter" in cmdline:
                router_ports += [int(e.split(b"=")[1]) for e in environ if e.startswith(b"PORT=")]
    assert router_ports, "the gateway should run one tool router replica"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    forged = {"X-Mcp-UserId": "owner", "X-Mcp-Roles": "mcp.admin", "Accept": "application/json, text/event-stream"}
    direct = httpx.post(f"http://127.0.0.1:{router_ports[0]}/mcp", json=body, headers=forged)
    assert direct.status_code == 401
    wrong = httpx.post(
        f"http://127.0.0.1:{router_ports[0]}/mcp", json=body, headers={**forged, "X-Gateway-Secret": "guess"}
    )
    assert wrong.status_code == 401


async def test_identity_headers_forged_by_a_client_never_reach_the_router(
    tools_gateway: tuple[GatewayProcess, ToolServer],
) -> None:
    gateway, _ = tools_gateway
    await _wait_listed(gateway, STRANGER, set())
    forged = {"X-Mcp-UserId": "owner", "X-Mcp-Roles": "mcp.admin", "X-Gateway-Secret": "guess"}
    async with mcp_client(f"{gateway.url}/mcp", user="sam", roles="mcp.guest", extra_headers=forged) as client:
        assert (await client.list_tools()).tools == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(
    "user", [OWNER, ENGINEER, STRANGER, ADMIN], ids=["creator", "role-holder", "stranger", "admin"]
)
async def test_a_tool_that_cannot_be_listed_cannot_be_called_in_either_era(
    tools_gateway: tuple[GatewayProcess, ToolServer], user: tuple[str, str], mode: str
) -> None:
    gateway, _ = tools_gateway
    await _wait_listed(gateway, OWNER, {"weather", "private-tool", "failing", "slow", "unreachable"})
    name, roles = user
    async with mcp_client(f"{gateway.url}/mcp", user=name, roles=roles or "none", mode=mode) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        for tool in ("weather", "private-tool", "failing", "unreachable"):
            result = await client.call_tool(tool, {"location": "Oslo"})
            text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
            denied = result.is_error and "not found, or you do not have permission" in text
            assert denied == (tool not in listed), (tool, mode, text)
