"""The proxy's request path in one process: McpProxy over fakes of its collaborators (``ProxyDeps``) and
real HTTP replicas (small aiohttp servers on loopback), driven through ASGI directly.

The process-level behaviour is covered by tests/integration/dataplane; these check the pipeline's own
bookkeeping, which a client cannot see: every in-flight count is given back, on every path.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web

from gateway.auth.principal import Principal
from gateway.proxy.deps import ProxyDeps
from gateway.proxy.mcp_proxy import McpProxy
from gateway.runtimes.base import Endpoint, WorkloadStatus
from gateway.settings import ProxySettings, SessionSettings
from gateway.stores.base import ResourceKind, SessionKey, SessionRoute, StoredRecord
from gateway.stores.memory import MemorySessionStore

INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}).encode()


class LoopbackReplica:
    """A small aiohttp server on a free loopback port whose ``_handle`` answers ``/mcp`` (for ``route_method``)."""

    route_method = "*"
    url = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route(self.route_method, "/mcp", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/mcp"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Replica(LoopbackReplica):
    """An MCP replica's HTTP surface: answers every POST, issues ``issue`` as the session id."""

    def __init__(self, name: str, issue: str | None = "s-1") -> None:
        self.name = name
        self.issue = issue
        self.delete_status = 200
        self.hits = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        await request.read()
        if request.method == "DELETE":
            return web.Response(status=self.delete_status)
        headers = {"mcp-session-id": self.issue} if self.issue is not None else {}
        return web.json_response({"jsonrpc": "2.0", "id": 1, "result": {"from": self.name}}, headers=headers)


    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.name, self.url)


def refusing_endpoint() -> Endpoint:
    """A loopback port nothing listens on: the connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return Endpoint("dead-0", f"http://127.0.0.1:{port}/mcp")


class FakeRuntime:
    def __init__(self) -> None:
        self.ready: list[Endpoint] = []
        self.status_calls = 0

    async def endpoints(self, name: str) -> list[Endpoint]:
        return list(self.ready)

    async def url_routable(self, name: str) -> bool:
        return True

    async def status(self, name: str) -> WorkloadStatus:
        self.status_calls += 1
        return WorkloadStatus(
            desired=1, ready=0, updated=1, available=0, image="x", phase="Failing", public_error="exited with code 1"
        )


class Records:
    async def recent(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        return StoredRecord(kind, name, {"createdBy": "alice"}, "1") if name == "weather" else None


class Alice:
    mode = "fake"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def authenticate(self, headers: Mapping[str, str], query_params: Mapping[str, str]) -> Principal:
        return Principal("alice")


class Answer:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        start = messages[0]
        assert start["type"] == "http.response.start"
        self.status: int = start["status"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        self.body = b"".join(m.get("body", b"") for m in messages[1:])

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def sessions() -> MemorySessionStore:
    return MemorySessionStore(SessionSettings())


def proxy_deps(**overrides: Any) -> ProxyDeps:
    """``ProxyDeps`` over this module's fakes (alice, a FakeRuntime, the weather and news records, a memory session
    store, default proxy settings), with ``overrides``."""
    defaults: dict[str, Any] = {
        "records": Records(),
        "sessions": MemorySessionStore(SessionSettings()),
        "runtime": FakeRuntime(),
        "authenticator": Alice(),
        "settings": ProxySettings(),
        "public_url": None,
        "environment": "development",
        "scopes_supported": (),
        "router_secret": "secret",
    }
    return ProxyDeps(**{**defaults, **overrides})


@pytest.fixture
async def proxy(runtime: FakeRuntime, sessions: MemorySessionStore) -> AsyncIterator[McpProxy]:
    deps = proxy_deps(sessions=sessions, runtime=runtime, settings=ProxySettings(request_body_limit_bytes=1024))
    proxy = McpProxy(deps)
    yield proxy
    await proxy.aclose()


@pytest.fixture
async def replicas() -> AsyncIterator[list[Replica]]:
    started = [Replica("weather-0"), Replica("weather-1")]
    for replica in started:
        await replica.start()
    yield started
    for replica in started:
        await replica.stop()


async def call(
    proxy: McpProxy,
    method: str = "POST",
    session_id: str | None = None,
    chunks: tuple[bytes, ...] = (INITIALIZE,),
) -> Answer:
    headers = [(b"host", b"gateway.test"), (b"content-type", b"application/json")]
    if session_id is not None:
        headers.append((b"mcp-session-id", session_id.encode()))
    inbound = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        if inbound:
            return inbound.pop(0)
        await asyncio.Event().wait()  # the client stays
        raise AssertionError

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": "/adapters/weather/mcp",
        "headers": headers,
        "query_string": b"",
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }
    await proxy.serve(scope, receive, send, "weather")
    return Answer(sent)


def assert_nothing_in_flight(proxy: McpProxy) -> None:
    assert proxy._balancer._in_flight == {}
    assert proxy._limits.in_flight("weather") == 0


async def test_a_new_session_is_bound_to_its_replica_and_followed(
    proxy: McpProxy, runtime: FakeRuntime, replicas: list[Replica]
) -> None:
    runtime.ready = [r.endpoint for r in replicas]
    first = await call(proxy)
    assert first.status == 200
    assert first.headers["mcp-session-id"] == "s-1"
    assert "x-request-id" in first.headers
    served_by = first.json()["result"]["from"]
    for _ in range(5):
        again = await call(proxy, session_id="s-1")
        assert again.json()["result"]["from"] == served_by
    assert_nothing_in_flight(proxy)


async def test_a_refused_connection_goes_to_another_ready_replica(
    proxy: McpProxy, runtime: FakeRuntime, replicas: list[Replica]
) -> None:
    live = replicas[0]
    runtime.ready = [refusing_endpoint(), live.endpoint]
    for _ in range(8):
        answer = await call(proxy)
        assert answer.status == 200, answer.body
        assert answer.json()["result"]["from"] == "weather-0"
    assert live.hits == 8
    assert_nothing_in_flight(proxy)


async def test_a_streamed_body_is_not_sent_twice(
    proxy: McpProxy, runtime: FakeRuntime, replicas: list[Replica]
) -> None:
    dead = refusing_endpoint()
    runtime.ready = [dead]
    answer = await call(proxy, chunks=(INITIALIZE[:10], INITIALIZE[10:]))
    assert answer.status == 502
    assert answer.json()["error"]["message"] == "The adapter 'weather' could not be reached."
    assert_nothing_in_flight(proxy)


async def test_a_sessions_refused_connection_is_not_found_and_forgotten(
    proxy: McpProxy, runtime: FakeRuntime, sessions: MemorySessionStore, replicas: list[Replica]
) -> None:
    dead = refusing_endpoint()
    runtime.ready = [dead, replicas[0].endpoint]
    key = SessionKey("alice", "weather", "s-9")
    await sessions.put(key, SessionRoute(dead.id, dead.url))
    answer = await call(proxy, session_id="s-9")
    assert answer.status == 404
    error = answer.json()["error"]
    assert (error["code"], error["message"]) == (-32001, "Session not found")
    assert await sessions.get(key) is None
    assert replicas[0].hits == 0  # a session's request is never sent elsewhere
    assert_nothing_in_flight(proxy)


async def test_a_malformed_issued_session_id_is_dropped(
    proxy: McpProxy, runtime: FakeRuntime, sessions: MemorySessionStore, replicas: list[Replica]
) -> None:
    replicas[0].issue = "not a valid id"
    runtime.ready = [replicas[0].endpoint]
    answer = await call(proxy)
    assert answer.status == 200
    assert "mcp-session-id" not in answer.headers
    assert await sessions.count() == 0


@pytest.mark.parametrize("delete_status", [200, 404])
async def test_a_delete_the_replica_accepted_or_did_not_know_ends_the_session(
    proxy: McpProxy, runtime: FakeRuntime, replicas: list[Replica], delete_status: int
) -> None:
    replicas[0].delete_status = delete_status
    runtime.ready = [replicas[0].endpoint]
    assert (await call(proxy)).status == 200
    assert (await call(proxy, "DELETE", session_id="s-1", chunks=(b"",))).status == delete_status
    assert (await call(proxy, session_id="s-1")).status == 404
    assert_nothing_in_flight(proxy)


async def test_no_ready_replica_names_the_cause_and_reads_it_once_per_burst(
    proxy: McpProxy, runtime: FakeRuntime
) -> None:
    answers = await asyncio.gather(*(call(proxy) for _ in range(10)))
    for answer in answers:
        assert answer.status == 503
        assert answer.json()["error"]["message"] == (
            "No replica of the adapter 'weather' is ready (Failing: exited with code 1); try again shortly."
        )
    assert runtime.status_calls == 1
    assert_nothing_in_flight(proxy)


@pytest.mark.parametrize("chunks", [(b"x" * 2000,), (b"x" * 600, b"x" * 600)])
async def test_a_body_over_the_limit_is_refused(
    proxy: McpProxy, runtime: FakeRuntime, replicas: list[Replica], chunks: tuple[bytes, ...]
) -> None:
    runtime.ready = [replicas[0].endpoint]
    answer = await call(proxy, chunks=chunks)
    assert answer.status == 413
    assert answer.json()["error"]["message"] == "The MCP request body is larger than 1024 bytes."
    assert_nothing_in_flight(proxy)
