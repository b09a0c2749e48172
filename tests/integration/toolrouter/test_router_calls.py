"""tools/call end to end: router -> real tool servers over loopback, every failure an isError result."""

from __future__ import annotations

import json
import time

import pytest
from mcp_types import CallToolResult, TextContent
from router_harness import SLOW_TOOL_TIMEOUT_SECONDS, Connect, RouterUnderTest, ToolServer, gateway_headers

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["location"],
}


def text_of(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_sample_weather_tool_answers_with_structured_content(
    router: RouterUnderTest, weather_url: str, connect: Connect, mode: str
) -> None:
    router.catalog.put("weather", [weather_url], input_schema=WEATHER_SCHEMA)
    await router.synced()
    async with connect("alice", mode=mode) as client:
        result = await client.call_tool("weather", {"location": "Oslo", "unit": "celsius"})
    expected = {"location": "Oslo", "unit": "celsius", "temperature": 22.2, "conditions": "clear"}
    assert not result.is_error
    assert result.structured_content == expected
    assert '"temperature":22.2' in text_of(result)


WEATHER_OUTPUT = {
    "type": "object",
    "properties": {"location": {"type": "string"}, "temperature": {"type": "number"}},
    "required": ["location", "temperature"],
}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_sdk_client_accepts_a_reply_that_matches_the_declared_output_schema(
    router: RouterUnderTest, weather_url: str, connect: Connect, mode: str
) -> None:
    # The SDK client validates structuredContent against the listed outputSchema and raises on a mismatch.
    router.catalog.put("weather", [weather_url], input_schema=WEATHER_SCHEMA, output_schema=WEATHER_OUTPUT)
    await router.synced()
    async with connect("alice", mode=mode) as client:
        result = await client.call_tool("weather", {"location": "Oslo"})
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["location"] == "Oslo"


async def test_a_reply_that_breaks_the_declared_output_schema_is_an_error_result_not_a_client_failure(
    router: RouterUnderTest, weather_url: str, connect: Connect
) -> None:
    broken = {**WEATHER_OUTPUT, "required": ["location", "humidity"]}  # the weather tool sends no humidity
    router.catalog.put("weather", [weather_url], input_schema=WEATHER_SCHEMA, output_schema=broken)
    await router.synced()
    async with connect("alice") as client:
        result = await client.call_tool("weather", {"location": "Oslo"})
    assert result.is_error
    assert text_of(result).splitlines() == [
        "Tool 'weather' replied with output that breaks its outputSchema:",
        "- $: 'humidity' is a required property",
    ]


async def test_invalid_arguments_give_an_error_result_listing_each_problem_with_its_path(
    router: RouterUnderTest, weather_url: str, connect: Connect
) -> None:
    router.catalog.put("weather", [weather_url], input_schema=WEATHER_SCHEMA)
    await router.synced()
    async with connect("alice") as client:
        result = await client.call_tool("weather", {"unit": "kelvin"})
    assert result.is_error
    text = text_of(result)
    assert text.startswith("Invalid arguments for tool 'weather':")
    assert "$: 'location' is a required property" in text
    assert "$.unit: 'kelvin' is not one of ['celsius', 'fahrenheit']" in text


async def test_a_tool_rejecting_the_call_with_http_400_is_reported_with_its_reason(
    router: RouterUnderTest, weather_url: str, connect: Connect
) -> None:
    router.catalog.put("weather", [weather_url])  # no schema: the tool itself says what is wrong
    await router.synced()
    async with connect("alice") as client:
        result = await client.call_tool("weather", {})
    assert result.is_error
    assert text_of(result) == "Tool 'weather' failed: HTTP 400 Bad Request: {\"detail\":\"Missing 'location' field.\"}"


@pytest.mark.parametrize(
    ("path", "expected_text", "structured"),
    [
        ("text", "plain words", None),
        ("array", "[1,2,3]", None),
    ],
)
async def test_a_reply_that_is_not_a_json_object_becomes_text_only(
    router: RouterUnderTest,
    tool_server: ToolServer,
    connect: Connect,
    path: str,
    expected_text: str,
    structured: object,
) -> None:
    router.catalog.put("t", [f"{tool_server.url}/{path}"])
    await router.synced()
    async with connect("alice") as client:
        result = await client.call_tool("t", {})
    assert not result.is_error
    assert text_of(result) == expected_text
    assert result.structured_content is structured


async def test_a_failing_tool_server_gives_an_error_result_with_status_and_body(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    router.catalog.put("broken", [f"{tool_server.url}/fail"])
    await router.synced()
    async with connect("alice") as client:
        result = await client.call_tool("broken", {})
    assert result.is_error
    assert text_of(result) == "Tool 'broken' failed: HTTP 500 Internal Server Error: database exploded"


async def test_a_slow_tool_gives_a_timeout_error_result_instead_of_a_hang(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    router.catalog.put("slow", [f"{tool_server.url}/slow"], timeout_seconds=SLOW_TOOL_TIMEOUT_SECONDS)
    await router.synced()
    async with connect("alice") as client:
        started = time.monotonic()
        result = await client.call_tool("slow", {})
        elapsed = time.monotonic() - started
    assert result.is_error
    assert text_of(result) == f"Tool 'slow' timed out after {SLOW_TOOL_TIMEOUT_SECONDS:g} s."
    assert elapsed < SLOW_TOOL_TIMEOUT_SECONDS + 5


async def test_an_unreachable_tool_gives_an_error_result(
    router: RouterUnderTest, closed_port_url: str, connect: Connect
) -> None:
    router.catalog.put("gone", [closed_port_url])
    await router.synced()
    async with connect("alice") as client:
        result = await client.call_tool("gone", {})
    assert result.is_error
    assert text_of(result).startswith("Tool 'gone' is unreachable:")
    assert "127.0.0.1" not in text_of(result)


async def test_a_tool_without_a_ready_replica_gives_an_error_result(router: RouterUnderTest, connect: Connect) -> None:
    router.catalog.put("scaled-to-zero", [])
    await router.synced()
    async with connect("alice") as client:
        result = await client.call_tool("scaled-to-zero", {})
    assert result.is_error
    assert text_of(result) == "Tool 'scaled-to-zero' has no ready replica; try again shortly."


async def test_an_oversized_reply_is_dropped_with_an_error_result(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    router.catalog.put("huge", [f"{tool_server.url}/huge"])
    await router.synced()
    async with connect("alice") as client:
        result = await client.call_tool("huge", {})
    assert result.is_error
    assert "more than 1048576 bytes" in text_of(result)


async def test_a_tool_deleted_mid_session_gives_an_error_result(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    router.catalog.put("ephemeral", [f"{tool_server.url}/ok"])
    await router.synced()
    async with connect("alice") as client:
        assert not (await client.call_tool("ephemeral", {})).is_error
        router.catalog.delete("ephemeral")
        await router.synced()
        result = await client.call_tool("ephemeral", {})
        listed = await client.list_tools()
    assert result.is_error
    assert text_of(result) == "Tool 'ephemeral' not found, or you do not have permission to call it."
    assert listed.tools == []


async def test_the_tool_receives_the_arguments_as_json_and_no_identity_or_secret(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    router.catalog.put("echo", [f"{tool_server.url}/ok"], required_roles=["mcp.engineer"])
    await router.synced()
    tool_server.received_headers.clear()
    async with connect("carol", ["mcp.engineer"]) as client:
        result = await client.call_tool("echo", {"q": "ü"})
    assert result.structured_content == {"echo": {"q": "ü"}, "ok": True}
    (headers,) = tool_server.received_headers
    assert headers["content-type"] == "application/json"
    forwarded = {"x-mcp-userid", "x-mcp-roles", "x-gateway-secret", "authorization", "mcp-session-id"}
    assert forwarded.isdisjoint(headers)


async def test_calls_are_spread_round_robin_over_the_ready_replicas(
    router: RouterUnderTest, tool_server: ToolServer, closed_port_url: str, connect: Connect
) -> None:
    router.catalog.put("two", [f"{tool_server.url}/ok", closed_port_url])
    await router.synced()
    async with connect("alice") as client:
        outcomes = [(await client.call_tool("two", {})).is_error for _ in range(4)]
    assert sorted(outcomes) == [False, False, True, True]


def _stateless_call(name: str, arguments: dict[str, object], headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """A raw 2026-07-28 ``tools/call`` (what the SDK client sends, headers and body), with ``headers`` added."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    }
    params = {"name": name, "arguments": arguments, "_meta": meta}
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    sent = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
        **gateway_headers("alice", ["mcp.user"]),
        **headers,
    }
    return sent, json.dumps(body).encode()


async def test_a_registered_tools_mcp_param_header_is_checked_against_its_arguments(
    router: RouterUnderTest, tool_server: ToolServer
) -> None:
    """2026-07-28: a parameter marked ``x-mcp-header`` travels as ``Mcp-Param-*`` too; a header that says
    something else than the body is refused (400, -32020), checked with the tool's own schema (the router hands
    the SDK each tool's schema rather than letting it list every tool on every call)."""
    schema = {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}
    router.catalog.put("regional", [f"{tool_server.url}/ok"], input_schema=schema, required_roles=["mcp.user"])
    await router.synced()
    async with router.http() as http:
        headers, body = _stateless_call("regional", {"region": "eu"}, {"Mcp-Param-Region": "eu"})
        agreed = await http.post(router.mcp_url, content=body, headers=headers)
        headers, body = _stateless_call("regional", {"region": "eu"}, {"Mcp-Param-Region": "us"})
        disagreed = await http.post(router.mcp_url, content=body, headers=headers)
    assert agreed.status_code == 200, agreed.text
    assert disagreed.status_code == 400 and disagreed.json()["error"]["code"] == -32020
