"""ToolExecutor: argument validation and reply mapping, over an in-process HTTP transport."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from mcp_types import CallToolResult, TextContent

from toolrouter.catalog import CatalogEntry, parse_catalog
from toolrouter.executor import ToolExecutor, argument_problems

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "array", "items": {"type": "integer"}}},
    "required": ["city"],
    "additionalProperties": False,
}


def entry(
    urls: list[str] | None = None, timeout: float | None = None, schema: dict[str, Any] | None = None
) -> CatalogEntry:
    item = {
        "name": "t",
        "tool": {"name": "t", "inputSchema": schema or {"type": "object"}},
        "createdBy": "alice",
        "urls": ["http://tool-a/run"] if urls is None else urls,
        "timeoutSeconds": timeout,
    }
    parsed = parse_catalog({"tools": [item]}).get("t")
    assert parsed is not None
    return parsed


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


async def call(handler: Handler, arguments: dict[str, Any], **entry_args: Any) -> CallToolResult:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        executor = ToolExecutor(http, default_timeout_seconds=5, max_response_bytes=1024)
        return await executor.call(entry(**entry_args), arguments)


def text(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


def reply(response: httpx.Response) -> Handler:
    async def handler(_: httpx.Request) -> httpx.Response:
        return response

    return handler


def test_argument_problems_name_the_json_path_of_each_problem() -> None:
    problems = argument_problems(entry(schema=SCHEMA), {"days": [1, "two"], "extra": True})
    assert problems == [
        "$: 'city' is a required property",
        "$: Additional properties are not allowed ('extra' was unexpected)",
        "$.days[1]: 'two' is not of type 'integer'",
    ]


async def test_invalid_arguments_never_reach_the_tool() -> None:
    calls: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    result = await call(handler, {"days": "x"}, schema=SCHEMA)
    assert result.is_error
    assert text(result).splitlines() == [
        "Invalid arguments for tool 't':",
        "- $: 'city' is a required property",
        "- $.days: 'x' is not of type 'array'",
    ]
    assert calls == []


async def test_the_arguments_are_posted_as_json_to_the_tool_url() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    result = await call(handler, {"city": "Oslo"}, schema=SCHEMA)
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "http://tool-a/run")
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"city": "Oslo"}
    assert result.structured_content == {"ok": True} and not result.is_error
    assert json.loads(text(result)) == {"ok": True}


@pytest.mark.parametrize(
    ("response", "expected_text"),
    [
        (httpx.Response(200, json=[1, 2]), "[1,2]"),
        (httpx.Response(200, json="just a string"), '"just a string"'),
        (httpx.Response(200, text="hello"), "hello"),
        (httpx.Response(200, content=b"{not json", headers={"content-type": "application/json"}), "{not json"),
        (httpx.Response(204), ""),
    ],
)
async def test_a_reply_that_is_not_a_json_object_is_text_without_structured_content(
    response: httpx.Response, expected_text: str
) -> None:
    result = await call(reply(response), {})
    assert not result.is_error
    assert result.structured_content is None
    assert text(result) == expected_text


async def test_an_http_error_quotes_status_reason_and_the_start_of_the_body() -> None:
    result = await call(reply(httpx.Response(503, text="y" * 800)), {})
    assert result.is_error
    assert text(result) == "Tool 't' failed: HTTP 503 Service Unavailable: " + "y" * 500


async def test_a_tool_slower_than_its_timeout_gives_a_timeout_result() -> None:
    async def handler(_: httpx.Request) -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    result = await call(handler, {}, timeout=0.05)
    assert result.is_error
    assert text(result) == "Tool 't' timed out after 0.05 s."


async def test_a_connection_failure_gives_an_unreachable_result() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = await call(handler, {})
    assert result.is_error
    assert text(result) == "Tool 't' is unreachable: connection refused or host not found."


async def test_a_reply_over_the_size_limit_is_dropped() -> None:
    result = await call(reply(httpx.Response(200, text="z" * 2048)), {})
    assert result.is_error
    assert text(result) == "Tool 't' replied with more than 1024 bytes; the reply was dropped."


async def test_no_ready_replica_gives_an_error_result() -> None:
    result = await call(reply(httpx.Response(200)), {}, urls=[])
    assert result.is_error
    assert text(result) == "Tool 't' has no ready replica; try again shortly."
