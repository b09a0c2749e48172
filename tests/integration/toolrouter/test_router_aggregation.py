"""``/mcp`` aggregates adapters (issue #19): the registered tools as ever, plus every readable adapter's tools
(``{adapter}__{tool}``), prompts and resources; ``aggregate_adapters=False`` is the registered tools alone
(test_router_virtual_servers.py). Real router in process, real adapters, the SDK client in both eras.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from router_harness import Adapter, Connect, RouterUnderTest, ToolServer

ERAS = ["legacy", "auto"]
ISSUES_TOOLS = ["get_issue", "get_user", "search_issues", "delete_issue", "broken"]


def text_of(result: Any) -> str:
    return str(result.content[0].text)


async def _catalog(router: RouterUnderTest, adapter: Adapter, tool_server: ToolServer) -> None:
    """Registered tools ``echo`` (role ``mcp.user``) and ``weather`` (anyone with ``ops``); adapters ``issues``
    (role ``mcp.user``) and ``ops-issues`` (the same server, role ``ops``). Everything is alice's."""
    router.catalog.put("weather", [f"{tool_server.url}/ok"], required_roles=["ops"])
    router.catalog.put("echo", [f"{tool_server.url}/ok"], description="Echoes.", required_roles=["mcp.user"])
    router.catalog.put_adapter("ops-issues", [adapter.url], required_roles=["ops"])
    router.catalog.put_adapter("issues", [adapter.url], required_roles=["mcp.user"])
    await router.synced()


@pytest.mark.parametrize("mode", ERAS)
async def test_mcp_lists_and_calls_registered_tools_and_readable_adapters_tools(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer, mode: str
) -> None:
    await _catalog(router, issues_adapter, tool_server)
    async with connect("bob", ["mcp.user"], mode=mode) as client:
        capabilities = client.session.server_capabilities
        listed = (await client.list_tools()).tools
        echoed = await client.call_tool("echo", {"n": 1})
        issue = await client.call_tool("issues__get_issue", {"number": 3})
        failed = await client.call_tool("issues__broken", {})
        hidden = await client.call_tool("ops-issues__get_issue", {"number": 3})
        weather = await client.call_tool("weather", {})
        unknown = await client.call_tool("issues__nope", {})
    # The registered tools first, in name order, as /mcp always listed them; then each adapter's, by adapter.
    assert [t.name for t in listed] == ["echo"] + [f"issues__{name}" for name in ISSUES_TOOLS]
    echo = listed[0]
    assert (echo.title, echo.description, echo.input_schema) == ("Echo", "Echoes.", {"type": "object"})
    assert listed[1].description == "Get one issue by number"
    assert capabilities is not None and capabilities.tools is not None and capabilities.tools.list_changed
    assert capabilities.prompts is not None and capabilities.resources is not None
    assert echoed.structured_content == {"echo": {"n": 1}, "ok": True}
    assert not issue.is_error and issue.structured_content == {"number": 3, "title": "Issue 3", "state": "open"}
    assert failed.is_error and "the issue tracker is on fire" in text_of(failed)
    # What the caller may not read, and what does not exist, are answered alike, with /mcp's own sentence.
    for name, result in (("ops-issues__get_issue", hidden), ("weather", weather), ("issues__nope", unknown)):
        assert result.is_error
        assert text_of(result) == f"Tool '{name}' not found, or you do not have permission to call it."


async def test_each_caller_sees_only_what_they_may_read(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    await _catalog(router, issues_adapter, tool_server)
    async with connect("carol", ["ops"]) as client:
        listed = [t.name for t in (await client.list_tools()).tools]
        issue = await client.call_tool("ops-issues__get_issue", {"number": 2})
        denied = await client.call_tool("issues__get_issue", {"number": 2})
        prompts = [p.name for p in (await client.list_prompts()).prompts]
    assert listed == ["weather"] + [f"ops-issues__{name}" for name in ISSUES_TOOLS]
    assert not issue.is_error and issue.structured_content is not None
    assert denied.is_error and "not found, or you do not have permission" in text_of(denied)
    assert prompts == ["ops-issues__triage"]
    async with connect("alice") as client:  # the owner of everything
        names = [t.name for t in (await client.list_tools()).tools]
    assert names[:2] == ["echo", "weather"] and len(names) == 2 + 2 * len(ISSUES_TOOLS)
    async with connect("dave", ["nobody"]) as client:
        assert (await client.list_tools()).tools == []
        assert (await client.list_resources()).resources == []
    async with connect(None) as client:  # anonymous: nothing
        assert (await client.list_tools()).tools == []
        assert (await client.list_prompts()).prompts == []


@pytest.mark.parametrize("mode", ERAS)
async def test_adapter_prompts_and_resources_through_mcp(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer, mode: str
) -> None:
    await _catalog(router, issues_adapter, tool_server)
    async with connect("bob", ["mcp.user"], mode=mode) as client:
        prompts = (await client.list_prompts()).prompts
        prompt = await client.get_prompt("issues__triage", {"number": "12"})
        resources = (await client.list_resources()).resources
        read = await client.read_resource("issues://readme")
        with pytest.raises(MCPError) as hidden_prompt:
            await client.get_prompt("ops-issues__triage", {"number": "1"})
    assert [(p.name, p.description) for p in prompts] == [("issues__triage", "Triage an issue")]
    assert prompt.messages[0].content.text == "Please triage issue 12."  # type: ignore[union-attr]
    assert [(str(r.uri), r.name) for r in resources] == [("issues://readme", "readme")]
    assert read.contents[0].text == "File issues with care."  # type: ignore[union-attr]
    assert hidden_prompt.value.code == -32602


async def test_an_adapter_added_to_the_catalog_is_announced_on_mcp(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    from mcp.client.session import IncomingMessage
    from mcp_types import ToolListChangedNotification

    from tests.support.waiting import async_wait_for

    router.catalog.put("echo", [f"{tool_server.url}/ok"], required_roles=["mcp.user"])
    await router.synced()
    changed: list[IncomingMessage] = []

    def on_message(message: IncomingMessage) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.append(message)

    async with connect("bob", ["mcp.user"], on_message=on_message) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
        router.catalog.put_adapter("issues", [issues_adapter.url], required_roles=["mcp.user"])
        await async_wait_for(lambda: bool(changed), timeout=5, interval=0.02, what="list_changed")
        assert len((await client.list_tools()).tools) == 1 + len(ISSUES_TOOLS)


@pytest.mark.parametrize("router", [{"aggregate_adapters": False}], indirect=True)
async def test_without_aggregation_adapter_names_are_not_callable(
    router: RouterUnderTest, connect: Connect, issues_adapter: Adapter, tool_server: ToolServer
) -> None:
    await _catalog(router, issues_adapter, tool_server)
    async with connect("bob", ["mcp.user"]) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
        result = await client.call_tool("issues__get_issue", {"number": 1})
        with pytest.raises(MCPError):
            await client.list_prompts()
    assert text_of(result) == "Tool 'issues__get_issue' not found, or you do not have permission to call it."
