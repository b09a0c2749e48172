"""One adapter's hung upstream must not starve another's traffic: abandoned requests are cancelled upstream
at once, each adapter and each user has a bound on what it may hold open, and the shared pool keeps room
for everyone else. The hung upstream is a real TCP server that reads requests and never answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.support.gateway_process import GatewayProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

CALL = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'


class Tarpit:
    """Accepts connections and reads requests, never answers; counts connections still open."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self.open = 0
        self.accepted = 0
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(120)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
        with self._lock:
            self.open -= 1

    def stop(self) -> None:
        self._stopping = True
        self._listener.close()


def _raw_post(port: int, path: str, user: str, split_body: bool = False) -> socket.socket:
    """A POST whose answer nobody will read: the socket is returned still open, to be abandoned.
    ``split_body`` sends the body in two writes, so the gateway streams it rather than reading it whole."""
    body = CALL
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Dev-UserId: {user}\r\nX-Dev-Roles: mcp.user\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if split_body:
        sock.sendall(head.encode() + body[:10])
        time.sleep(0.3)
        sock.sendall(body[10:])
    else:
        sock.sendall(head.encode() + body)
    return sock


def _call(gateway: GatewayProcess, adapter: str, user: str = "bystander") -> httpx.Response:
    headers = {
        "X-Dev-UserId": user,
        "X-Dev-Roles": "mcp.user",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    return httpx.post(f"{gateway.url}/adapters/{adapter}/mcp", content=CALL, headers=headers, timeout=5)


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    pit = Tarpit()
    yield pit
    pit.stop()


def _register(gateway: GatewayProcess, name: str, url: str) -> None:
    response = gateway.client(user="owner", roles="mcp.admin").post(
        "/adapters", json={"name": name, "url": url, "requiredRoles": ["mcp.user"]}
    )
    assert response.status_code == 201, response.text


def test_abandoned_requests_to_a_hung_upstream_are_cancelled_at_once(
    tmp_path_factory: pytest.TempPathFactory, tarpit: Tarpit, probe: UpstreamProbe
) -> None:
    gateway = GatewayProcess(tmp_path_factory.mktemp("abandon")).start()
    try:
        _register(gateway, "hung", tarpit.url)
        _register(gateway, "healthy", probe.url)
        clients = [_raw_post(gateway.port, "/adapters/hung/mcp", f"user{i % 50}") for i in range(200)]
        wait_for(lambda: tarpit.open >= 200, timeout=30, what="200 requests held by the hung upstream")
        assert _call(gateway, "healthy").status_code == 200  # the other adapter answers meanwhile

        started = time.monotonic()
        for sock in clients:
            sock.close()
        # The read timeout is 300 s; the upstream requests must go with their clients, not then.
        wait_for(lambda: tarpit.open == 0, timeout=15, what="the gateway to drop every abandoned upstream request")
        assert time.monotonic() - started < 15
        assert _call(gateway, "healthy").status_code == 200
    finally:
        gateway.stop()


def test_a_hung_adapter_gets_its_bulkhead_and_no_more(
    tmp_path_factory: pytest.TempPathFactory, tarpit: Tarpit, probe: UpstreamProbe
) -> None:
    env = {
        "MCPGW_PROXY__MAX_CONNECTIONS": "30",
        "MCPGW_PROXY__MAX_IN_FLIGHT_PER_ADAPTER": "20",
        "MCPGW_PROXY__MAX_IN_FLIGHT_PER_USER": "5",
    }
    gateway = GatewayProcess(tmp_path_factory.mktemp("bulkhead"), env=env).start()
    held: list[socket.socket] = []
    try:
        _register(gateway, "hung", tarpit.url)
        _register(gateway, "healthy", probe.url)
        held = [_raw_post(gateway.port, "/adapters/hung/mcp", f"user{i}") for i in range(20)]
        wait_for(lambda: tarpit.open >= 20, timeout=30, what="20 requests held by the hung upstream")

        refused = _call(gateway, "hung", user="late")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "serving as many requests as it may (20)" in refused.json()["error"]["message"]
        assert tarpit.accepted == 20  # the refused request never reached the upstream

        # Ten connections of the pool are still free for everybody else.
        assert all(_call(gateway, "healthy", user=f"other{i}").status_code == 200 for i in range(10))
    finally:
        for sock in held:
            sock.close()
        wait_for(lambda: tarpit.open == 0, timeout=15, what="held requests to end")
        gateway.stop()


def test_one_user_cannot_hold_more_than_their_share(
    tmp_path_factory: pytest.TempPathFactory, tarpit: Tarpit, probe: UpstreamProbe
) -> None:
    env = {"MCPGW_PROXY__MAX_IN_FLIGHT_PER_USER": "5"}
    gateway = GatewayProcess(tmp_path_factory.mktemp("per-user"), env=env).start()
    held: list[socket.socket] = []
    try:
        _register(gateway, "hung", tarpit.url)
        _register(gateway, "healthy", probe.url)
        held = [_raw_post(gateway.port, "/adapters/hung/mcp", "greedy") for _ in range(5)]
        wait_for(lambda: tarpit.open >= 5, timeout=30, what="5 requests held")

        refused = _call(gateway, "healthy", user="greedy")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == -32000
        assert _call(gateway, "healthy", user="someone-else").status_code == 200
    finally:
        for sock in held:
            sock.close()
        wait_for(lambda: tarpit.open == 0, timeout=15, what="held requests to end")
        gateway.stop()


def test_abandoned_requests_give_their_slots_back_however_their_body_arrived(
    tmp_path_factory: pytest.TempPathFactory, tarpit: Tarpit, probe: UpstreamProbe
) -> None:
    env = {"MCPGW_PROXY__MAX_IN_FLIGHT_PER_USER": "3"}
    gateway = GatewayProcess(tmp_path_factory.mktemp("slots"), env=env).start()
    try:
        _register(gateway, "hung", tarpit.url)
        _register(gateway, "healthy", probe.url)
        for split in (False, True):
            held = [_raw_post(gateway.port, "/adapters/hung/mcp", "alice", split_body=split) for _ in range(3)]
            wait_for(lambda: tarpit.open >= 3, timeout=30, what="3 requests held")
            assert _call(gateway, "healthy", user="alice").status_code == 429
            for sock in held:
                sock.close()
            wait_for(lambda: tarpit.open == 0, timeout=15, what="the abandoned upstream requests to end")
            wait_for(
                lambda: _call(gateway, "healthy", user="alice").status_code == 200,
                timeout=5,
                what=f"alice's slots back (body split: {split})",
            )
    finally:
        gateway.stop()


def test_the_gateway_as_a_whole_admits_no_more_than_its_connection_bound(
    tmp_path_factory: pytest.TempPathFactory, tarpit: Tarpit, probe: UpstreamProbe
) -> None:
    env = {"MCPGW_PROXY__MAX_CONNECTIONS": "8", "MCPGW_PROXY__MAX_IN_FLIGHT_PER_ADAPTER": "5"}
    gateway = GatewayProcess(tmp_path_factory.mktemp("total"), env=env).start()
    held: list[socket.socket] = []
    try:
        _register(gateway, "hung", tarpit.url)
        _register(gateway, "hung-too", tarpit.url)
        _register(gateway, "healthy", probe.url)
        held = [_raw_post(gateway.port, "/adapters/hung/mcp", f"a{i}") for i in range(5)]
        held += [_raw_post(gateway.port, "/adapters/hung-too/mcp", f"b{i}") for i in range(3)]
        wait_for(lambda: tarpit.open >= 8, timeout=30, what="8 requests held by two hung adapters")
        refused = _call(gateway, "healthy")
        assert refused.status_code == 503
        assert "The gateway is serving as many requests as it may (8)" in refused.json()["error"]["message"]
        held.pop().close()
        wait_for(lambda: _call(gateway, "healthy").status_code == 200, timeout=10, what="a freed slot")
    finally:
        for sock in held:
            sock.close()
        wait_for(lambda: tarpit.open == 0, timeout=15, what="held requests to end")
        gateway.stop()
