"""Adversarial review of the virtual-server relays and kept upstream sessions (issue #19, b2559a4..3130aae).

Real router in process, real MCP servers on loopback threads as adapters, some behind a hostile ASGI wrapper
(a call it never answers, a DELETE it never answers, initialize refused as a 2026-07-28-only server would),
and the real SDK client. Each test states what should hold; the ones that fail today are findings.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from router_harness import Adapter, Connect, RouterUnderTest, gateway_headers, handshake_era_only, recording, threaded
from test_router_relays import Heard, chatty_app, talking_client

from tests.support.asgi import StreamingASGITransport2
from tests.support.waiting import async_wait_for

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


# --- a hostile adapter -----------------------------------------------------------------------------------


def hostile_app() -> Any:
    """A real MCP server whose ``hang`` tool the wrapper below never answers, and whose ``poke`` tool sends
    ``notifications/resources/updated`` for any URI on the session's standalone stream."""
    app = MCPServer(name="Hostile", version="1.0.0", log_level="WARNING")

    @app.tool(description="Never answered (the wrapper holds the response open)")
    def hang() -> str:
        return "never"

    @app.tool(description="Tell the session a resource changed")
    async def poke(uri: str, ctx: Context) -> str:
        await ctx.session.send_resource_updated(uri)  # no related request: the standalone (GET) stream
        return "poked"

    @app.tool(description="Harmless")
    def ping() -> str:
        return "pong"

    return app.streamable_http_app(host="127.0.0.1")


@dataclass
class Hostile:
    release: threading.Event = field(default_factory=threading.Event)
    hang_deletes: bool = False
    refuse_initialize: bool = False
    open_hangs: int = 0
    """Requests held open right now (calls of ``hang``, DELETEs when ``hang_deletes``)."""
    initializes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, delta: int) -> None:
        with self.lock:
            self.open_hangs += delta

    async def _hold(self) -> None:
        self._count(1)
        try:
            # A threading.Event, set from the test's thread at teardown (this runs on uvicorn's loop).
            while not self.release.is_set():  # noqa: ASYNC110
                await anyio.sleep(0.05)
        finally:
            self._count(-1)

    def app(self, inner: Any) -> Any:
        async def wrapper(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            if scope["method"] == "DELETE" and self.hang_deletes:
                await self._hold()
                await send({"type": "http.response.start", "status": 204, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            if scope["method"] != "POST":
                await inner(scope, receive, send)
                return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            rpc = json.loads(body) if body else None
            method = rpc.get("method") if isinstance(rpc, dict) else None
            if method == "initialize":
                self.initializes += 1
                if self.refuse_initialize:
                    # What a server that speaks 2026-07-28 only answers to the handshake.
                    error = {"code": -32600, "message": "Unsupported protocol version"}
                    payload = json.dumps({"jsonrpc": "2.0", "id": rpc.get("id"), "error": error}).encode()
                    headers = [(b"content-type", b"application/json")]
                    await send({"type": "http.response.start", "status": 400, "headers": headers})
                    await send({"type": "http.response.body", "body": payload})
                    return
            if method == "tools/call" and (rpc.get("params") or {}).get("name") == "hang":
                headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": b": held open\n\n", "more_body": True})
                await self._hold()
                await send({"type": "http.response.body", "body": b""})
                return
            replayed = False

            async def replay() -> Any:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await inner(scope, replay, send)

        return wrapper


@pytest.fixture
def hostile() -> Iterator[tuple[Hostile, Adapter]]:
    state = Hostile()
    received: list[dict[str, str]] = []
    with threaded(recording(state.app(handshake_era_only(hostile_app())), received)) as server:
        try:
            yield state, Adapter(f"{server.url}/mcp", received)
        finally:
            state.release.set()


async def _hostile_server(router: RouterUnderTest, adapter: Adapter) -> str:
    router.catalog.put_adapter("hostile", [adapter.url])
    router.catalog.put_server("h", [{"adapter": "hostile"}])
    await router.synced()
    return "h"


def _acquired(router: RouterUnderTest, *, stream: bool = False) -> int:
    executor = router.app.state.executor
    pool = executor.stream_pool(guarded=False) if stream else executor.pool(guarded=False)
    return len(pool.connector._acquired)  # aiohttp's connections in use


# --- resource exhaustion: connections of the shared pool ------------------------------------------------------


@pytest.mark.parametrize("router", [{"call_timeout_seconds": 1.0}], indirect=True)
async def test_a_call_the_adapter_never_answers_gives_its_pooled_connection_back(
    router: RouterUnderTest, connect: Connect, hostile: tuple[Hostile, Adapter]
) -> None:
    """A timed-out call on a handshake-era upstream session leaves its POST (an SSE response the adapter
    keeps open) reading in the kept session's transport: the connection stays taken from the pool that
    registered tools and every other adapter share (``ToolExecutor.pool``, 256 connections)."""
    state, adapter = hostile
    server = await _hostile_server(router, adapter)
    async with connect("alice", server=server) as client:
        assert not (await client.call_tool("hostile__ping", {})).is_error
        before = _acquired(router)
        for _ in range(3):
            result = await client.call_tool("hostile__hang", {})
            assert result.is_error and "timed out" in result.content[0].text  # type: ignore[union-attr]
        # The router gives every connection back (this adapter never looks for the disconnect, so its own
        # handlers stay until the test releases them: that part is the adapter's business). Cancelling an
        # exchange takes a moment, longer on a CI machine running other tests (1 s was not always enough).
        await async_wait_for(
            lambda: _acquired(router) == before, timeout=10, interval=0.05, what=lambda: f"{_acquired(router)} held"
        )
    assert state.open_hangs == 3


@pytest.mark.parametrize("router", [{"call_timeout_seconds": 1.0}], indirect=True)
async def test_an_upstream_delete_the_adapter_never_answers_does_not_hold_the_session_forever(
    router: RouterUnderTest, connect: Connect, hostile: tuple[Hostile, Adapter]
) -> None:
    """Ending a kept session sends DELETE through ``PooledTransport`` (aiohttp ``total=None``, no read
    time-out; httpx's own time-outs are not applied by a custom transport). An adapter that never answers
    it keeps the ``_keep`` task, a main-pool connection, and (cancelled only after the DELETE) the GET
    stream, for as long as the router runs."""
    state, adapter = hostile
    state.hang_deletes = True
    server = await _hostile_server(router, adapter)
    async with connect("alice", server=server) as client:
        assert not (await client.call_tool("hostile__ping", {})).is_error
    upstream = router.app.state.upstream
    await async_wait_for(lambda: upstream.kept_sessions() == 0, timeout=5, interval=0.02, what="the drop")
    await async_wait_for(lambda: state.open_hangs == 1, timeout=5, interval=0.02, what="the upstream DELETE")
    await anyio.sleep(7.0)  # longer than the bounded close (CLOSE_SECONDS)
    # The router gave up on the DELETE and holds nothing (the adapter's handler waits for the test's release).
    assert (_acquired(router), _acquired(router, stream=True)) == (0, 0)


# --- 2026-07-28 requests naming a session --------------------------------------------------------------------


async def test_a_2026_request_with_a_made_up_session_id_does_not_get_an_upstream_session_of_its_own(
    router: RouterUnderTest, issues_adapter: Adapter
) -> None:
    """The SDK serves a 2026-07-28 request without looking at ``Mcp-Session-Id``; the router's middleware
    still takes it as the downstream session: each made-up id opens (and keeps, with its GET stream) one
    more upstream session, handshake era forced, and evicts other callers' kept sessions past 1000."""
    router.catalog.put_adapter("issues", [issues_adapter.url])
    router.catalog.put_server("dev", [{"adapter": "issues"}])
    await router.synced()

    async def made_up_session(request: httpx2.Request) -> None:
        request.headers["mcp-session-id"] = uuid.uuid4().hex

    http = httpx2.AsyncClient(
        transport=StreamingASGITransport2(router.app),
        headers=gateway_headers("alice", None, server="dev"),
        timeout=httpx2.Timeout(30, read=60),
        event_hooks={"request": [made_up_session]},
    )
    async with http, Client(streamable_http_client(router.mcp_url, http_client=http), mode="auto") as client:  # type: ignore[arg-type]
        assert client.protocol_version == "2026-07-28"
        for number in range(4):
            assert not (await client.call_tool("issues__get_issue", {"number": number})).is_error
    assert router.app.state.upstream.kept_sessions() == 1


# --- era forcing --------------------------------------------------------------------------------------------


async def test_a_handshake_era_client_can_use_an_adapter_that_speaks_only_2026(
    router: RouterUnderTest, connect: Connect
) -> None:
    """``AdapterClient.session`` forces the handshake for a session's upstream session whenever the url's era
    is unknown, and a forced handshake never learns the era (nor does its failure: the era is forgotten). A
    2026-07-28-only adapter is then never usable by handshake-era clients (unless a 2026-07-28 caller happened
    to probe it in the last 5 minutes)."""
    state = Hostile(refuse_initialize=True)
    received: list[dict[str, str]] = []
    with threaded(recording(state.app(hostile_app()), received)) as server:
        try:
            router.catalog.put_adapter("modern", [f"{server.url}/mcp"])
            router.catalog.put_server("m", [{"adapter": "modern"}])
            await router.synced()
            async with connect("alice", server="m") as client:
                listed = {t.name for t in (await client.list_tools()).tools}
                result = await client.call_tool("modern__ping", {})
        finally:
            state.release.set()
    assert "modern__ping" in listed
    assert not result.is_error


# --- what an adapter may push ----------------------------------------------------------------------------------


async def test_resources_updated_reaches_only_a_client_that_subscribed_to_that_uri(
    router: RouterUnderTest, hostile: tuple[Hostile, Adapter]
) -> None:
    """``Relay.message`` relays every ``notifications/resources/updated`` of the adapter to the session,
    subscribed or not, whatever the URI (one of another member's, say)."""
    _, adapter = hostile
    server = await _hostile_server(router, adapter)
    heard = Heard()
    async with talking_client(router, server, heard) as client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "notifications/resources/updated" not in heard.notifications:
            # The adapter drops it until the router's GET stream is up: poke until it arrives (or not).
            assert not (await client.call_tool("hostile__poke", {"uri": "issues://someone-elses"})).is_error
            await anyio.sleep(0.1)
    assert "notifications/resources/updated" not in heard.notifications


@pytest.mark.parametrize("router", [{"call_timeout_seconds": 3.0}], indirect=True)
async def test_plain_mcp_declares_no_client_capability_to_adapters_it_cannot_relay_to(
    router: RouterUnderTest, chatty_plain: str
) -> None:
    """``/mcp`` answers each POST with one JSON body ("it relays nothing", docs/toolrouter.md), yet the
    upstream session of a ``/mcp`` session declares the client's sampling/elicitation/roots to the adapter
    (``AdapterClient._relay`` does not know which server it serves)."""
    heard = Heard()
    async with talking_client(router, None, heard) as client:  # type: ignore[arg-type]
        declared = (await client.call_tool(f"{chatty_plain}__capabilities", {})).structured_content
        started = time.monotonic()
        asked = await client.call_tool(f"{chatty_plain}__ask_name", {})
        took = time.monotonic() - started
    assert declared is not None and not {"sampling", "elicitation", "roots"} & set(declared), declared
    assert took < 2.0 and heard.questions == [], (took, asked)


@pytest.fixture
def chatty_plain_adapter() -> Iterator[Adapter]:
    received: list[dict[str, str]] = []
    with threaded(recording(handshake_era_only(chatty_app()), received)) as server:
        yield Adapter(f"{server.url}/mcp", received)


@pytest.fixture
async def chatty_plain(router: RouterUnderTest, chatty_plain_adapter: Adapter) -> str:
    router.catalog.put_adapter("chatty", [chatty_plain_adapter.url])
    router.catalog.put_server("talk", [{"adapter": "chatty"}])
    await router.synced()
    return "chatty"


# --- what must hold (sound today) ------------------------------------------------------------------------------


@asynccontextmanager
async def user_client(router: RouterUnderTest, server: str | None, heard: Heard, user: str, roles: list[str]) -> Any:
    """``talking_client`` with roles: a capable handshake-era client of ``user``."""
    http = httpx2.AsyncClient(
        transport=StreamingASGITransport2(router.app),
        headers=gateway_headers(user, roles, server=server),
        timeout=httpx2.Timeout(30, read=60),
    )
    async with (
        http,
        Client(
            streamable_http_client(router.mcp_url, http_client=http),  # type: ignore[arg-type]
            mode="legacy",
            message_handler=heard.on_message,
            logging_callback=heard.on_log,
            elicitation_callback=heard.on_elicit,
            sampling_callback=heard.on_sampling,
            list_roots_callback=heard.on_roots,
        ) as client,
    ):
        # So a test can change what the gateway forwards in the middle of the session.
        heard.http = http  # type: ignore[attr-defined]
        yield client


async def test_log_lines_and_questions_of_one_users_call_never_reach_another_user(
    router: RouterUnderTest, chatty_plain: str
) -> None:
    router.catalog.put_adapter("chatty", list(router.catalog.adapters["chatty"]["urls"]), required_roles=["mcp.user"])
    router.catalog.put_server("talk", [{"adapter": "chatty"}], required_roles=["mcp.user"])
    await router.synced()
    alice, bob = Heard(), Heard()
    async with (
        user_client(router, "talk", alice, "alice", ["mcp.user"]) as alice_client,
        user_client(router, "talk", bob, "bob", ["mcp.user"]) as bob_client,
    ):
        results: dict[str, Any] = {}

        async def run(name: str, client: Client, tool: str, arguments: dict[str, Any]) -> None:
            results[name] = await client.call_tool(tool, arguments)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run, "a1", alice_client, "chatty__count", {"n": 5})
            tasks.start_soon(run, "a2", alice_client, "chatty__ask_name", {})
            tasks.start_soon(run, "b1", bob_client, "chatty__capabilities", {})
    assert not any(r.is_error for r in results.values()), results
    assert alice.logs == [f"counted {i}" for i in range(1, 6)] and alice.questions == ["What is your name?"]
    assert bob.logs == [] and bob.questions == []


async def test_a_server_the_caller_lost_access_to_relays_nothing_more(
    router: RouterUnderTest, chatty_plain: str
) -> None:
    """A role revoked mid-session: the next request is refused before any upstream exchange."""
    urls = list(router.catalog.adapters["chatty"]["urls"])
    router.catalog.put_adapter("chatty", urls, created_by="carol", required_roles=["talkers"])
    router.catalog.put_server("talk", [{"adapter": "chatty"}], created_by="carol", required_roles=["talkers"])
    await router.synced()
    heard = Heard()
    async with user_client(router, "talk", heard, "dave", ["talkers"]) as client:
        assert not (await client.call_tool("chatty__count", {"n": 1})).is_error
        # The gateway now forwards dave without the role (the same downstream session).
        heard.http.headers["X-Mcp-Roles"] = "other"  # type: ignore[attr-defined]
        with pytest.raises(Exception) as refused:
            await client.call_tool("chatty__count", {"n": 2})
    assert "not found, or you do not have permission" in str(refused.value)
    assert heard.logs == ["counted 1"]
