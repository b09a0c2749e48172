"""ToolExecutor: argument validation and reply mapping, against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from mcp_types import CallToolResult, TextContent

from tests.support.ports import free_port
from toolrouter.catalog import CatalogEntry, parse_catalog
from toolrouter.executor import ToolExecutor, argument_problems

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "array", "items": {"type": "integer"}}},
    "required": ["city"],
    "additionalProperties": False,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def entry(
    urls: list[str] | None = None,
    timeout: float | None = None,
    schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
) -> CatalogEntry:
    definition: dict[str, Any] = {"name": "t", "inputSchema": schema or {"type": "object"}}
    if output_schema is not None:
        definition["outputSchema"] = output_schema
    item = {
        "name": "t",
        "tool": definition,
        "createdBy": "alice",
        "urls": ["http://127.0.0.1:9/run"] if urls is None else urls,
        "timeoutSeconds": timeout,
    }
    parsed = parse_catalog({"tools": [item]}).get("t")
    assert parsed is not None
    return parsed


class ToolServer:
    """An aiohttp server on 127.0.0.1 whose ``POST /run`` is answered by the current test's handler."""

    def __init__(self) -> None:
        self.handler: Handler = _reply(web.Response(status=200))
        self.seen: list[tuple[web.Request, bytes]] = []
        self.url = ""

    async def _run(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request, await request.read()))
        return await self.handler(request)


@pytest.fixture
async def tool() -> AsyncIterator[ToolServer]:
    server = ToolServer()
    app = web.Application()
    app.router.add_post("/run", server._run)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}/run"
    yield server
    await runner.cleanup()


async def call(
    tool: ToolServer | str, handler: Handler | None, arguments: dict[str, Any], **entry_args: Any
) -> CallToolResult:
    if isinstance(tool, ToolServer):
        if handler is not None:
            tool.handler = handler
        url = tool.url
    else:
        url = tool
    executor = ToolExecutor(default_timeout_seconds=5, max_response_bytes=1024)
    try:
        return await executor.call(entry(entry_args.pop("urls", [url]), **entry_args), arguments)
    finally:
        await executor.aclose()


def text(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


def _reply(response: web.Response) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        return response

    return handler


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/run"


def test_argument_problems_name_the_json_path_of_each_problem() -> None:
    problems = argument_problems(entry(schema=SCHEMA), {"days": [1, "two"], "extra": True})
    assert problems == [
        "$: 'city' is a required property",
        "$: Additional properties are not allowed ('extra' was unexpected)",
        "$.days[1]: 'two' is not of type 'integer'",
    ]


async def test_invalid_arguments_never_reach_the_tool(tool: ToolServer) -> None:
    result = await call(tool, None, {"days": "x"}, schema=SCHEMA)
    assert result.is_error
    assert text(result).splitlines() == [
        "Invalid arguments for tool 't':",
        "- $: 'city' is a required property",
        "- $.days: 'x' is not of type 'array'",
    ]
    assert tool.seen == []


async def test_the_arguments_are_posted_as_json_to_the_tool_url(tool: ToolServer) -> None:
    result = await call(tool, _reply(web.json_response({"ok": True})), {"city": "Oslo"}, schema=SCHEMA)
    ((request, body),) = tool.seen
    assert (request.method, request.path) == ("POST", "/run")
    assert request.headers["content-type"] == "application/json"
    assert json.loads(body) == {"city": "Oslo"}
    for header in ("authorization", "cookie", "x-mcp-userid", "x-mcp-roles", "x-gateway-secret"):
        assert header not in request.headers
    assert result.structured_content == {"ok": True} and not result.is_error
    assert json.loads(text(result)) == {"ok": True}


async def test_a_cookie_set_by_a_tool_is_never_sent_back(tool: ToolServer) -> None:
    async def sets_a_cookie(_: web.Request) -> web.StreamResponse:
        response = web.json_response({"ok": True})
        response.set_cookie("sticky", "user-a")
        return response

    executor = ToolExecutor(default_timeout_seconds=5, max_response_bytes=1024)
    tool.handler = sets_a_cookie
    # By host name: a cookie jar ignores cookies from bare IP addresses, in-cluster tools have names.
    by_name = tool.url.replace("127.0.0.1", "localhost")
    try:
        for _ in range(2):
            assert not (await executor.call(entry([by_name]), {})).is_error
    finally:
        await executor.aclose()
    assert [request.headers.get("cookie") for request, _ in tool.seen] == [None, None]


@pytest.mark.parametrize(
    ("response", "expected_text"),
    [
        (lambda: web.json_response([1, 2]), "[1, 2]"),
        (lambda: web.json_response("just a string"), '"just a string"'),
        (lambda: web.Response(text="hello"), "hello"),
        (lambda: web.Response(body=b"{not json", content_type="application/json"), "{not json"),
        (lambda: web.Response(status=204), ""),
    ],
)
async def test_a_reply_that_is_not_a_json_object_is_text_without_structured_content(
    tool: ToolServer, response: Callable[[], web.Response], expected_text: str
) -> None:
    result = await call(tool, _reply(response()), {})
    assert not result.is_error
    assert result.structured_content is None
    assert text(result) == expected_text


async def test_an_http_error_quotes_status_reason_and_the_start_of_the_body(tool: ToolServer) -> None:
    result = await call(tool, _reply(web.Response(status=503, text="y" * 800)), {})
    assert result.is_error
    assert text(result) == "Tool 't' failed: HTTP 503 Service Unavailable: " + "y" * 500


async def test_a_redirect_is_not_followed(tool: ToolServer) -> None:
    result = await call(tool, _reply(web.Response(status=302, headers={"Location": "http://169.254.169.254/"})), {})
    assert result.is_error
    assert text(result) == "Tool 't' failed: HTTP 302 Found"
    assert len(tool.seen) == 1


async def test_a_tool_slower_than_its_timeout_gives_a_timeout_result(tool: ToolServer) -> None:
    async def slow(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1)
        return web.Response()

    result = await call(tool, slow, {}, timeout=0.05)
    assert result.is_error
    assert text(result) == "Tool 't' timed out after 0.05 s."


async def test_a_tool_that_drips_its_reply_is_cut_off_by_the_whole_exchange_timeout(tool: ToolServer) -> None:
    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(50):
            await response.write(b".")
            await asyncio.sleep(0.02)
        return response

    result = await call(tool, drip, {}, timeout=0.2)
    assert result.is_error
    assert text(result) == "Tool 't' timed out after 0.2 s."


async def test_a_connection_failure_gives_an_unreachable_result() -> None:
    result = await call(closed_port_url(), None, {})
    assert result.is_error
    assert text(result) == "Tool 't' is unreachable: connection refused or host not found."


async def test_a_reply_over_the_size_limit_is_dropped(tool: ToolServer) -> None:
    result = await call(tool, _reply(web.Response(text="z" * 2048)), {})
    assert result.is_error
    assert text(result) == "Tool 't' replied with more than 1024 bytes; the reply was dropped."


async def test_no_ready_replica_gives_an_error_result(tool: ToolServer) -> None:
    result = await call(tool, None, {}, urls=[])
    assert result.is_error
    assert text(result) == "Tool 't' has no ready replica; try again shortly."
    assert tool.seen == []


FORECAST = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["city", "celsius"],
}


async def test_a_reply_that_matches_the_output_schema_is_structured_content(tool: ToolServer) -> None:
    reply = {"city": "Oslo", "celsius": -3.5}
    result = await call(tool, _reply(web.json_response(reply)), {}, output_schema=FORECAST)
    assert not result.is_error and result.structured_content == reply


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (web.json_response({"city": "Oslo", "celsius": "cold"}), "- $.celsius: 'cold' is not of type 'number'"),
        (web.json_response({"city": "Oslo"}), "- $: 'celsius' is a required property"),
        (web.json_response([1, 2]), "- the reply is not a JSON object"),
        (web.Response(text="sunny", content_type="text/plain"), "- the reply is not a JSON object"),
    ],
)
async def test_a_reply_that_breaks_the_output_schema_is_an_error_naming_the_problem(
    tool: ToolServer, response: web.Response, problem: str
) -> None:
    # MCP clients reject structuredContent that breaks a declared outputSchema (or is missing); the
    # caller gets a tool error that says why instead.
    result = await call(tool, _reply(response), {}, output_schema=FORECAST)
    assert result.is_error and result.structured_content is None
    assert text(result).splitlines() == ["Tool 't' replied with output that breaks its outputSchema:", problem]
