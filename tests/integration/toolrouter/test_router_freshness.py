"""Catalog freshness: changes reach tools/list within seconds and open sessions hear about them."""

from __future__ import annotations

import time

import anyio
import httpx2
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import ToolsListChanged
from mcp_types import ToolListChangedNotification
from router_harness import Connect, RouterUnderTest, ToolServer

from tests.support.waiting import async_wait_for

FRESHNESS_SECONDS = 5.0


class SessionWatcher:
    """Collects what a handshake-era client receives and whether its GET stream is open."""

    def __init__(self) -> None:
        self.list_changed: list[float] = []
        self.get_stream_open = False

    def on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, ToolListChangedNotification):
            self.list_changed.append(time.monotonic())

    def on_response(self, response: httpx2.Response) -> None:
        # Notifications ride the standalone GET stream; without it the server has nowhere to send them.
        if response.request.method == "GET" and response.status_code == 200:
            self.get_stream_open = True


async def test_an_open_session_is_told_the_list_changed_and_can_call_a_new_tool_within_5_seconds(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    router.catalog.put("first", [f"{tool_server.url}/ok"])
    await router.synced()
    watcher = SessionWatcher()
    async with connect("alice", on_message=watcher.on_message, on_response=watcher.on_response) as client:
        assert client.server_capabilities.tools is not None
        assert client.server_capabilities.tools.list_changed is True
        await async_wait_for(
            lambda: watcher.get_stream_open, timeout=5, interval=0.02, what="the session's GET stream"
        )
        changed_at = time.monotonic()
        router.catalog.put("second", [f"{tool_server.url}/ok"])
        await async_wait_for(
            lambda: bool(watcher.list_changed), timeout=FRESHNESS_SECONDS, interval=0.02, what="list_changed"
        )
        result = await client.call_tool("second", {"x": 1})
        listed = {tool.name for tool in (await client.list_tools()).tools}
        callable_after = time.monotonic() - changed_at
    assert not result.is_error
    assert listed == {"first", "second"}
    assert callable_after < FRESHNESS_SECONDS
    # The client's DELETE on close also removes the session from the router's notification list.
    await async_wait_for(
        lambda: len(router.app.state.sessions) == 0, timeout=5, interval=0.02, what="the closed session to be forgotten"
    )


async def test_a_replica_change_alone_does_not_make_sessions_relist(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    router.catalog.put("scaled", [f"{tool_server.url}/ok"])
    await router.synced()
    watcher = SessionWatcher()
    async with connect("alice", on_message=watcher.on_message, on_response=watcher.on_response):
        await async_wait_for(
            lambda: watcher.get_stream_open, timeout=5, interval=0.02, what="the session's GET stream"
        )
        router.catalog.put("scaled", [f"{tool_server.url}/ok", f"{tool_server.url}/ok"])
        await router.synced()
        router.catalog.put("added", [f"{tool_server.url}/ok"])
        await async_wait_for(
            lambda: bool(watcher.list_changed), timeout=FRESHNESS_SECONDS, interval=0.02, what="list_changed"
        )
    # Notifications arrive in order on one stream: had the replica change produced one, it would be here too.
    assert len(watcher.list_changed) == 1


async def test_a_2026_client_listening_for_changes_hears_about_a_new_tool(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    async with connect("alice", mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(tools_list_changed=True) as subscription:
            router.catalog.put("fresh", [f"{tool_server.url}/ok"])
            with anyio.fail_after(FRESHNESS_SECONDS):
                event = await subscription.__anext__()
        assert isinstance(event, ToolsListChanged)
        result = await client.call_tool("fresh", {})
    assert not result.is_error


async def test_a_failing_catalog_endpoint_keeps_the_last_good_catalog(
    router: RouterUnderTest, tool_server: ToolServer, connect: Connect
) -> None:
    router.catalog.put("kept", [f"{tool_server.url}/ok"])
    await router.synced()
    router.catalog.failing = True
    polls_before = router.catalog.requests
    await async_wait_for(
        lambda: router.catalog.requests >= polls_before + 2, timeout=5, interval=0.02, what="two failed polls"
    )
    async with connect("alice") as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("kept", {})
    assert listed == {"kept"}
    assert not result.is_error
