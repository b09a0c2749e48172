"""An adapter's ``path`` and ``transport: "sse"``: the wire rules, the workload they make on each runtime, and the
bridge configuration those workloads run with."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.config import (
    DEFAULT_SESSION_TTL,
    ConfigError,
    SseTarget,
    StdioTarget,
    load_config,
)
from gateway.models import AdapterData, AdapterResource, ToolData
from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.runtimes.local.runtime import _argv
from gateway.settings import LocalRuntimeSettings

TOOL_DEFINITION = {"tool": {"name": "t", "inputSchema": {"type": "object"}}}


def adapter(**fields: Any) -> AdapterData:
    return AdapterData.model_validate({"name": "a", **fields})


def problem(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter(**fields)
    return str(caught.value)


@pytest.mark.parametrize(("fields", "path", "serving", "upstream"), [
    ({"imageName": "mcp/x", "imageVersion": "1"}, None, "/mcp", None),
    ({"imageName": "mcp/x", "imageVersion": "1", "path": "/api/mcp"}, "/api/mcp", "/api/mcp", None),
    ({"command": "srv", "transport": "streamable-http", "path": "/v1/mcp"}, "/v1/mcp", "/v1/mcp", None),
    ({"command": "srv"}, None, "/mcp", None),  # stdio: the bridge serves /mcp
    ({"command": "srv", "transport": "sse"}, None, "/mcp", "/sse"),
    ({"command": "srv", "transport": "sse", "path": "/events"}, "/events", "/mcp", "/events"),
    ({"url": "http://h/sse", "transport": "sse"}, None, "/mcp", "http://h/sse"),
    ({"url": "http://h/mcp"}, None, "/mcp", None),
])  # fmt: skip
def test_path_is_where_the_server_serves_and_bridged_adapters_are_served_at_mcp(
    fields: dict[str, Any], path: str | None, serving: str, upstream: str | None,
) -> None:
    data = adapter(**fields)

    assert (data.path, data.serving_path, data.sse_upstream) == (path, serving, upstream)


@pytest.mark.parametrize("bad", [
    "mcp", "/a/../b", "/a/./b", "/a//b", "/mcp?x=1", "/mcp#f", "/with space", "/tab\\t", "/%2e%2e/x", "/é",
    "/" + "a" * 512,
])  # fmt: skip
def test_a_path_that_is_not_a_plain_url_path_is_refused_on_the_field(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        adapter(command="srv", transport="streamable-http", path=bad)

    assert caught.value.errors()[0]["loc"] == ("path",)


def test_path_and_transport_rules_across_fields_say_what_to_do() -> None:
    for fields, message in [({"url": "http://h/mcp"}, "the URL already carries its path"),
                            ({"command": "srv"}, "does not apply to transport stdio")]:
        with pytest.raises(ValidationError) as caught:
            adapter(**fields, path="/x")
        assert caught.value.errors()[0]["loc"] == ("path",) and message in str(caught.value)
    assert "transport with a url can only be 'sse'" in problem(url="http://h/mcp", transport="stdio")
    image_sse = problem(imageName="mcp/x", imageVersion="1", transport="sse")
    assert "register its SSE URL as a url adapter with transport 'sse'" in image_sse
    assert "args only apply to a command source" in problem(url="http://h/sse", transport="sse", args=["x"])


def test_tools_take_their_path_from_the_tool_definition_and_no_sse() -> None:
    base = {"name": "t", "url": "http://h/score", "toolDefinition": TOOL_DEFINITION}
    command = {"name": "t", "command": "srv", "transport": "streamable-http", "toolDefinition": TOOL_DEFINITION}
    with pytest.raises(ValidationError, match="toolDefinition.path"):
        ToolData.model_validate({**command, "path": "/x"})
    with pytest.raises(ValidationError, match="applies to adapters"):
        ToolData.model_validate({**base, "transport": "sse"})


def test_a_stored_record_without_path_still_loads() -> None:
    stored = {"name": "a", "id": "a", "command": "srv", "transport": "stdio", "createdBy": "u",
              "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z"}

    assert AdapterResource.model_validate(stored).path is None


SETTINGS = LocalRuntimeSettings(session_idle_timeout_seconds=30, max_sessions_per_replica=3)


def test_the_local_runtime_runs_the_bridge_with_the_session_bounds_for_stdio_and_sse() -> None:
    stdio = WorkloadSpec(name="s", kind=WorkloadKind.ADAPTER, command="srv", args=("x",), transport="stdio")
    sse_command = WorkloadSpec(name="c", kind=WorkloadKind.ADAPTER, command="srv", transport="sse", sse_upstream="/e")
    sse_url = WorkloadSpec(name="u", kind=WorkloadKind.ADAPTER, transport="sse", sse_upstream="http://h/sse")
    direct = WorkloadSpec(name="d", kind=WorkloadKind.ADAPTER, command="srv", transport="streamable-http")
    bridge = [sys.executable, "-m", "bridge", "--host", "127.0.0.1", "--session-ttl", "30",
              "--max-sessions", "3"]

    assert _argv(stdio, SETTINGS) == [*bridge, "--", "srv", "x"]
    assert _argv(sse_command, SETTINGS) == [*bridge, "--transport", "sse", "--sse-url", "/e", "--", "srv"]
    assert _argv(sse_url, SETTINGS) == [*bridge, "--transport", "sse", "--sse-url", "http://h/sse"]
    assert _argv(direct, SETTINGS) == ["srv"]


def test_the_bridge_reads_the_sse_targets_and_the_session_bounds_from_its_environment() -> None:
    by_url = load_config([], {"MCP_TRANSPORT": "sse", "MCP_SSE_URL": "https://h/sse"})
    by_command = load_config([], {"MCP_TRANSPORT": "sse", "MCP_COMMAND": "srv", "MCP_ARGS": "sse"})
    bounded = load_config(["--", "srv"], {"MCP_SESSION_TTL": "45", "MCP_MAX_SESSIONS": "2"})

    assert by_url.target == SseTarget("https://h/sse")
    assert by_command.target == SseTarget("/sse", "srv", ("sse",))
    assert (bounded.target, bounded.session_ttl, bounded.max_sessions) == (StdioTarget("srv", ()), 45, 2)
    assert load_config(["--", "srv"], {}).session_ttl == DEFAULT_SESSION_TTL == 600


@pytest.mark.parametrize(("argv", "env", "message"), [
    ([], {"MCP_TRANSPORT": "sse"}, "needs the SSE endpoint's URL"),
    ([], {"MCP_TRANSPORT": "sse", "MCP_SSE_URL": "/sse"}, "must be an absolute http:// or https:// URL"),
    (["--transport", "sse", "--sse-url", "sse", "--", "srv"], {}, "must be a path on the command's port"),
    ([], {"MCP_TRANSPORT": "websocket", "MCP_COMMAND": "srv"}, "'stdio', 'streamable-http' or 'sse'"),
])  # fmt: skip
def test_unusable_sse_configurations_name_the_setting(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(argv, env)
