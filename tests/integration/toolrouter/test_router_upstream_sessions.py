"""Kept upstream sessions (issue #19): the router keeps one MCP session per caller session and adapter.

Real router (in process, its lifespan running), a real handshake-era adapter on a loopback thread behind a
recorder of every HTTP request it receives (method, headers, JSON-RPC method), the real SDK client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from router_harness import (
    ROUTER_BASE_URL,
    Connect,
    RouterUnderTest,
    gateway_headers,
    handshake_era_only,
    issues_app,
    router_settings,
    threaded,
)

from tests.support.asgi import StreamingASGITransport2, running_lifespan
from tests.support.servers import UvicornThread
from tests.support.waiting import async_wait_for
from toolrouter import create_router_app
from toolrouter.upstream import SESSION_IDLE_SECONDS

USER_ROLES = ["mcp.user"]


@dataclass
class Seen:
    """One HTTP request the adapter received."""

    method: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def rpc(self) -> str | None:
        if not self.body:
            return None
        message = json.loads(self.body)
        return message.get("method") if isinstance(message, dict) else None


@dataclass
class Recorded:
    seen: list[Seen] = field(default_factory=list)

    def app(self, inner: Any) -> Any:
        async def wrapper(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            record = Seen(scope["method"], {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
            self.seen.append(record)

            async def recording_receive() -> Any:
                message = await receive()
                if message["type"] == "http.request":
                    record.body += message.get("body", b"")
                return message

            await inner(scope, recording_receive, send)

        return wrapper

    def count(self, rpc: str) -> int:
        return sum(1 for s in self.seen if s.rpc == rpc)

    def deletes(self) -> int:
        return sum(1 for s in self.seen if s.method == "DELETE")


def serve_issues(recorded: Recorded, port: int = 0) -> UvicornThread:
    """The handshake-era issues server on ``port`` (0: any free one)."""
    server: UvicornThread = threaded(recorded.app(handshake_era_only(issues_app())))
    server.server.config.port = port
    return server


@pytest.fixture
def adapter() -> Iterator[tuple[Recorded, UvicornThread]]:
    recorded = Recorded()
    with serve_issues(recorded) as server:
        yield recorded, server


async def _dev(router: RouterUnderTest, url: str) -> None:
    router.catalog.put_adapter("issues", [url], required_roles=["mcp.user"])
    router.catalog.put_server("dev", [{"adapter": "issues"}], required_roles=["mcp.user"])
    await router.synced()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_one_upstream_session_serves_every_exchange_of_a_caller(
    router: RouterUnderTest, connect: Connect, adapter: tuple[Recorded, UvicornThread], mode: str
) -> None:
    """A handshake-era downstream session, and 2026-07-28 (session-less) requests: one upstream session."""
    recorded, server = adapter
    await _dev(router, f"{server.url}/mcp")
    async with connect("alice", USER_ROLES, mode=mode, server="dev") as client:
        assert len((await client.list_tools()).tools) == 5
        for number in (1, 2, 3):
            result = await client.call_tool("issues__get_issue", {"number": number})
            assert not result.is_error
        await client.get_prompt("issues__triage", {"number": "1"})
        await client.read_resource("issues://readme")
    assert recorded.count("initialize") == 1
    assert recorded.count("tools/call") == 3
    assert len({s.headers.get("mcp-session-id") for s in recorded.seen if s.rpc == "tools/call"}) == 1


async def test_the_upstream_sessions_end_with_the_downstream_session(
    router: RouterUnderTest, connect: Connect, adapter: tuple[Recorded, UvicornThread]
) -> None:
    recorded, server = adapter
    await _dev(router, f"{server.url}/mcp")
    upstream = router.app.state.upstream
    async with connect("alice", USER_ROLES, server="dev") as client:
        await client.call_tool("issues__get_issue", {"number": 1})
        assert upstream.kept_sessions() == 1
        assert recorded.deletes() == 0
    # The SDK client ended its session (DELETE): the router ends the adapter session it used.
    await async_wait_for(lambda: recorded.deletes() == 1, timeout=5, interval=0.02, what="the upstream DELETE")
    assert upstream.kept_sessions() == 0


async def test_two_callers_never_share_an_upstream_session(
    router: RouterUnderTest, connect: Connect, adapter: tuple[Recorded, UvicornThread]
) -> None:
    recorded, server = adapter
    await _dev(router, f"{server.url}/mcp")
    for mode in ("legacy", "auto"):
        async with (
            connect("alice", USER_ROLES, mode=mode, server="dev") as alice,
            connect("bob", USER_ROLES, mode=mode, server="dev") as bob,
        ):
            for client in (alice, bob, alice, bob):
                assert not (await client.call_tool("issues__get_issue", {"number": 7})).is_error
    users_of: dict[str, set[str | None]] = {}
    for seen in recorded.seen:
        if "mcp-session-id" in seen.headers:
            users_of.setdefault(seen.headers["mcp-session-id"], set()).add(seen.headers.get("x-mcp-userid"))
    assert len(users_of) == 4  # alice and bob, in each downstream era
    assert all(len(users) == 1 for users in users_of.values())
    assert {u for users in users_of.values() for u in users} == {"alice", "bob"}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_restarted_replica_gets_a_new_session_transparently(
    router: RouterUnderTest, connect: Connect, mode: str
) -> None:
    """The replica restarts on the same address: it does not know the kept session (404); the router opens a
    new one and sends the call again, which the old replica never ran."""
    first, second = Recorded(), Recorded()
    with serve_issues(first) as server:
        port = server.port
        await _dev(router, f"{server.url}/mcp")
        async with connect("alice", USER_ROLES, mode=mode, server="dev") as client:
            assert not (await client.call_tool("issues__get_issue", {"number": 1})).is_error
            server.stop()
            with serve_issues(second, port):
                result = await client.call_tool("issues__get_issue", {"number": 2})
                prompt = await client.get_prompt("issues__triage", {"number": "3"})
    assert not result.is_error, result
    assert prompt.messages
    assert (first.count("initialize"), second.count("initialize")) == (1, 1)
    # The new replica got the call twice: first for the old session (404, not run), then on its new session.
    (old,) = [s.headers["mcp-session-id"] for s in first.seen if s.rpc == "tools/call"]
    calls = [s.headers["mcp-session-id"] for s in second.seen if s.rpc == "tools/call"]
    assert len(calls) == 2 and calls[0] == old and calls[1] != old


async def test_a_moved_adapter_gets_a_new_session(
    router: RouterUnderTest, connect: Connect, adapter: tuple[Recorded, UvicornThread]
) -> None:
    """The catalog points the adapter at another replica: the old session ends, a new one is opened there."""
    recorded, server = adapter
    other = Recorded()
    await _dev(router, f"{server.url}/mcp")
    with serve_issues(other) as moved:
        async with connect("alice", USER_ROLES, server="dev") as client:
            assert not (await client.call_tool("issues__get_issue", {"number": 1})).is_error
            await _dev(router, f"{moved.url}/mcp")
            assert not (await client.call_tool("issues__get_issue", {"number": 2})).is_error
        assert (recorded.count("tools/call"), other.count("tools/call")) == (1, 1)
        await async_wait_for(lambda: recorded.deletes() == 1, timeout=5, interval=0.02, what="the old DELETE")


async def test_no_task_or_session_is_left_after_the_router_stops(
    catalog: Any, catalog_server: str, adapter: tuple[Recorded, UvicornThread]
) -> None:
    recorded, server = adapter
    before = set(asyncio.all_tasks())
    app = create_router_app(router_settings(catalog_server))
    async with running_lifespan(app):
        router = RouterUnderTest(f"{ROUTER_BASE_URL}/mcp", ROUTER_BASE_URL, catalog, app)
        await _dev(router, f"{server.url}/mcp")
        http = httpx2.AsyncClient(
            transport=StreamingASGITransport2(app), headers=gateway_headers("alice", USER_ROLES, server="dev")
        )
        # 2026-07-28 downstream: no downstream session, so nothing ends the upstream one but the shutdown.
        transport = streamable_http_client(router.mcp_url, http_client=http)
        async with http, Client(transport, mode="auto") as client:
            assert not (await client.call_tool("issues__get_issue", {"number": 1})).is_error
        assert app.state.upstream.kept_sessions() == 1
        assert recorded.deletes() == 0
    assert app.state.upstream.kept_sessions() == 0
    assert recorded.deletes() == 1
    left = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()}
    assert not left, left



async def test_an_idle_upstream_session_is_ended(
    router: RouterUnderTest, connect: Connect, adapter: tuple[Recorded, UvicornThread]
) -> None:
    recorded, server = adapter
    await _dev(router, f"{server.url}/mcp")
    upstream = router.app.state.upstream
    async with connect("alice", USER_ROLES, mode="auto", server="dev") as client:
        assert not (await client.call_tool("issues__get_issue", {"number": 1})).is_error
        upstream.sweep()  # used just now: kept
        assert upstream.kept_sessions() == 1
        later = upstream._clock() + SESSION_IDLE_SECONDS + 1
        upstream._clock = lambda: later
        upstream.sweep()
        await async_wait_for(lambda: recorded.deletes() == 1, timeout=5, interval=0.02, what="the idle DELETE")
        assert upstream.kept_sessions() == 0
        # The next call opens a new one.
        assert not (await client.call_tool("issues__get_issue", {"number": 2})).is_error
    assert recorded.count("initialize") == 2
