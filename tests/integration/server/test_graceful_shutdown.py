"""SIGTERM with work in flight, seen from raw sockets against a real gateway process.

One gateway (grace 3 s) holds, when the signal comes: an open GET event stream, a POST event stream the
upstream keeps open, a POST waiting on an upstream that never answers, a POST whose upstream answers in
a second, and a local adapter process. Each client must get a proper ending at the right time, and the
gateway must exit, leaving no process behind.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from starlette.types import Receive, Scope, Send

from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.integration.server.wire import WireResponse, connect, read_response, request_head
from tests.support.gateway_process import GatewayProcess
from tests.support.paths import MCP_EXAMPLE, PYTHON
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

GRACE = 3.0
USER = [("X-Dev-UserId", "alice"), ("X-Dev-Roles", "mcp.user")]
MCP = "/adapters/probe/mcp"
CALL = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}}'


class ShutdownProbe(UpstreamProbe):
    """The scripted upstream, plus a reply that never comes (``hang``) and one that takes a second (``slow``)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: dict[str, threading.Event] = {"hang": threading.Event(), "slow": threading.Event()}

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        mode = dict(scope["headers"]).get(b"x-probe-mode", b"").decode()
        if mode not in self.waiting:
            await super().app(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        self.waiting[mode].set()
        if mode == "hang":
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        await asyncio.sleep(1.0)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"jsonrpc":"2.0","id":7,"result":{"done":true}}'})


@pytest.fixture
def probe() -> Iterator[ShutdownProbe]:
    upstream = ShutdownProbe().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory, probe: ShutdownProbe) -> Iterator[GatewayProcess]:
    env = {"MCPGW_SERVER__SHUTDOWN_GRACE_SECONDS": str(GRACE), "MCPGW_STORE__KIND": "memory"}
    gateway = GatewayProcess(tmp_path_factory.mktemp("shutdown"), env=env, log_level="info").start()
    owner = gateway.client(user="owner", roles="mcp.admin")
    adapter = {"name": "probe", "url": probe.url, "requiredRoles": ["mcp.user"]}
    assert owner.post("/adapters", json=adapter).status_code == 201
    local = {"name": "local", "command": PYTHON, "args": [str(MCP_EXAMPLE)], "transport": "streamable-http"}
    assert owner.post("/adapters", json=local).status_code == 201
    wait_for(lambda: owner.get("/adapters/local/status").json()["readyReplicas"] == 1, timeout=60, what="local ready")
    yield gateway
    gateway.stop(signal.SIGKILL)


def _open(gateway: GatewayProcess, method: str, mode: str, body: bytes | None = None) -> socket.socket:
    headers = [*USER, ("X-Probe-Mode", mode), ("Accept", "application/json, text/event-stream")]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    sock = connect(gateway.port, timeout=GRACE + 15)
    sock.sendall(request_head(method, MCP, headers, None if body is None else len(body)) + (body or b""))
    return sock


def _stream(sock: socket.socket, first_event: threading.Event) -> WireResponse:
    with sock:
        return read_response(sock, on_chunk=lambda chunk: first_event.set())


def _reply(sock: socket.socket) -> WireResponse:
    with sock:
        return read_response(sock)


def test_sigterm_ends_streams_cleanly_answers_waiting_calls_and_lets_short_ones_finish(
    gateway: GatewayProcess, probe: ShutdownProbe
) -> None:
    assert gateway.process is not None
    children = descendants(gateway.process.pid)
    assert children, "the local adapter should run as a child of the gateway"
    listening, streaming = threading.Event(), threading.Event()
    with ThreadPoolExecutor(4) as pool:
        get_stream: Future[WireResponse] = pool.submit(_stream, _open(gateway, "GET", "sse-hold"), listening)
        post_stream = pool.submit(_stream, _open(gateway, "POST", "sse-hold", CALL), streaming)
        hung = pool.submit(_reply, _open(gateway, "POST", "hang", CALL))
        slow = pool.submit(_reply, _open(gateway, "POST", "slow", CALL))
        for event, what in ((listening, "GET stream"), (streaming, "POST stream")):
            assert event.wait(10), f"the {what} should have delivered its first event"
        for mode, event in probe.waiting.items():
            assert event.wait(10), f"the {mode} request should have reached the upstream"

        signalled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)

        # An idle GET stream is ended at once, cleanly: the client reconnects elsewhere.
        listened = get_stream.result(timeout=GRACE + 10)
        assert listened.status == 200 and listened.clean_end
        assert listened.ended_at - signalled < GRACE - 1
        # A call that finishes within the grace period is answered normally.
        answered = slow.result(timeout=GRACE + 10)
        assert (answered.status, answered.json()["result"]) == (200, {"done": True})
        # A call still waiting when the grace period ends gets a JSON-RPC error, not a text/plain 500.
        refused = hung.result(timeout=GRACE + 10)
        assert refused.status == 503 and refused.headers["content-type"] == "application/json"
        error = refused.json()
        assert error["jsonrpc"] == "2.0" and error["id"] is None and error["error"]["code"] == -32000
        assert "shutting down" in error["error"]["message"]
        assert refused.ended_at - signalled >= GRACE - 0.5
        # A POST stream may use the whole grace period; then it ends cleanly, with the events it had.
        streamed = post_stream.result(timeout=GRACE + 10)
        assert streamed.clean_end and streamed.ended_at - signalled >= GRACE - 0.5
        assert b'data: {"first":true}' in streamed.body

    gateway.process.wait(GRACE + 15)
    assert time.monotonic() - signalled < GRACE + 10
    assert not [pid for pid in children if pid_alive(pid)], "adapter processes outlived the gateway"


def test_a_gateway_with_nothing_in_flight_stops_at_once(gateway: GatewayProcess) -> None:
    assert gateway.process is not None
    children = descendants(gateway.process.pid)
    signalled = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    gateway.process.wait(GRACE + 15)
    assert time.monotonic() - signalled < GRACE, "an idle gateway should not wait out the grace period"
    assert not [pid for pid in children if pid_alive(pid)]
    log = gateway.log_path.read_text()
    assert "Traceback" not in log, log
