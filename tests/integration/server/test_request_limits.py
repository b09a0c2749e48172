"""Slow and oversized requests, as an attacker sends them: bare sockets against a real gateway process.

The gateway runs with short time-outs (2 s) and a small per-address cap (8) so the tests stay quick; the
size limits are the defaults (64 KiB head, 16 KiB per header, 100 headers).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.integration.server.wire import Reader, closed_by_peer, connect, read_response, request_head
from tests.support.gateway_process import GatewayProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

TIMEOUT = 2
"""MCPGW_SERVER__HEADER_TIMEOUT_SECONDS and __BODY_TIMEOUT_SECONDS here."""
LATEST = TIMEOUT + 1 + 2.5
"""When a 408 must have come: the time-out, plus up to a second for the once-a-second check, plus slack
for a shared CPU."""
PER_ADDRESS = 8
USER = [("X-Dev-UserId", "alice"), ("X-Dev-Roles", "mcp.user")]
MCP = "/adapters/probe/mcp"


@pytest.fixture(scope="module")
def probe() -> Iterator[UpstreamProbe]:
    upstream = UpstreamProbe().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, probe: UpstreamProbe) -> Iterator[GatewayProcess]:
    env = {
        "MCPGW_SERVER__HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
        "MCPGW_SERVER__BODY_TIMEOUT_SECONDS": str(TIMEOUT),
        "MCPGW_SERVER__MAX_CONNECTIONS_PER_CLIENT": str(PER_ADDRESS),
        "MCPGW_STORE__KIND": "memory",
    }
    gateway = GatewayProcess(tmp_path_factory.mktemp("limits"), env=env).start()
    adapter = {"name": "probe", "url": probe.url, "requiredRoles": ["mcp.user"]}
    assert gateway.client(user="owner").post("/adapters", json=adapter).status_code == 201
    yield gateway
    gateway.stop()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


Answer = tuple[int, dict[str, str], bytes]


def _send_request(port: int, head: bytes, body: bytes = b"", source: str | None = None) -> Answer:
    with connect(port, source) as sock:
        sock.sendall(head + body)
        response = read_response(sock)
    return response.status, response.headers, response.body


def _trickle(sock: socket.socket, data: bytes, every: float, give_up_after: float) -> float:
    """Send ``data`` one byte every ``every`` seconds until the gateway answers; returns the seconds it took."""
    started = time.monotonic()
    sock.settimeout(every)
    for byte in data:
        if time.monotonic() - started > give_up_after:
            break
        try:
            sock.sendall(bytes([byte]))
            sock.recv(1, socket.MSG_PEEK)
            break  # the gateway answered or closed the connection (EOF)
        except TimeoutError:
            continue
        except OSError:
            break  # closed
    return time.monotonic() - started


def _assert_408(sock: socket.socket, json_rpc: bool) -> None:
    sock.settimeout(5)
    response = read_response(sock)
    assert response.status == 408
    assert response.headers["connection"] == "close"
    body = response.json()
    if json_rpc:
        assert body["error"]["code"] == -32000 and body["id"] is None
    else:
        assert response.headers["content-type"] == "application/problem+json" and body["status"] == 408
    assert closed_by_peer(sock, 5)


def test_a_head_that_trickles_in_one_byte_a_second_gets_408(gateway: GatewayProcess) -> None:
    with connect(gateway.port) as sock:
        sock.sendall(f"POST {MCP} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        took = _trickle(sock, b"X-Slow: " + b"a" * 60, every=1.0, give_up_after=LATEST + 2)
        assert took <= LATEST
        _assert_408(sock, json_rpc=True)


def test_a_connection_that_never_sends_anything_is_closed(gateway: GatewayProcess) -> None:
    with connect(gateway.port) as sock:
        started = time.monotonic()
        assert closed_by_peer(sock, LATEST + 2)
        assert time.monotonic() - started <= LATEST


@pytest.mark.parametrize("path", [MCP, "/adapters"])
def test_a_body_that_trickles_in_gets_408(gateway: GatewayProcess, path: str) -> None:
    head = request_head("POST", path, [*USER, ("Content-Type", "application/json")], body_length=200)
    with connect(gateway.port) as sock:
        sock.sendall(head + b'{"jsonrpc":')
        took = _trickle(sock, b'"2.0"' + b" " * 180, every=1.0, give_up_after=LATEST + 2)
        assert took <= LATEST
        _assert_408(sock, json_rpc=path == MCP)


def test_a_body_still_trickling_after_the_answer_does_not_hold_the_connection(gateway: GatewayProcess) -> None:
    # An unknown adapter is answered (404) without reading the body; the client keeps sending it.
    head = request_head("POST", "/adapters/missing/mcp", [*USER, ("Content-Type", "application/json")], 200)
    with connect(gateway.port) as sock:
        sock.sendall(head + b"{")
        assert read_response(sock).status == 404
        took = _trickle(sock, b" " * 100, every=1.0, give_up_after=LATEST + 2)
        assert took <= LATEST
        sock.settimeout(5)
        try:
            leftover = sock.recv(65536)
        except ConnectionResetError:
            leftover = b""
        assert leftover == b"", "no second response after the first one"


@pytest.mark.parametrize("path", [MCP, "/adapters"])
def test_200_headers_get_431(gateway: GatewayProcess, path: str) -> None:
    headers = [*USER, *[(f"X-Filler-{i}", "x") for i in range(200)]]
    status, response_headers, body = _send_request(gateway.port, request_head("GET", path, headers))
    assert status == 431
    expected = "application/json" if path == MCP else "application/problem+json"
    assert response_headers["content-type"] == expected  # JSON-RPC on MCP paths, problem+json elsewhere
    detail = json.loads(body)
    assert "100 headers" in (detail["error"]["message"] if path == MCP else detail["detail"])


def test_a_100_kb_header_gets_431(gateway: GatewayProcess) -> None:
    head = request_head("GET", MCP, [*USER, ("X-Big", "b" * 100_000)])
    status, _, body = _send_request(gateway.port, head)
    assert status == 431
    assert json.loads(body)["jsonrpc"] == "2.0"


def test_a_20_kb_request_target_gets_414(gateway: GatewayProcess) -> None:
    status, _, body = _send_request(gateway.port, request_head("GET", "/adapters?" + "q" * 20_000, USER))
    assert status == 414
    assert json.loads(body)["status"] == 414


def test_pipelined_requests_in_one_write_are_each_checked_and_served(gateway: GatewayProcess) -> None:
    small = request_head("GET", "/ping", [])
    too_many = request_head("GET", "/ping", [(f"X-Filler-{i}", "x") for i in range(200)])
    with connect(gateway.port) as sock:
        sock.sendall(small + small + too_many)
        reader = Reader(sock)
        assert [read_response(sock, reader=reader).status for _ in range(3)] == [200, 200, 431]


def test_an_endless_header_is_cut_off_without_the_gateway_buffering_it(gateway: GatewayProcess) -> None:
    assert gateway.process is not None
    before = _rss_kib(gateway.process.pid)
    sent, total, block = 0, 32 * 1024 * 1024, b"e" * 65536
    with connect(gateway.port) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        try:
            while sent < total:
                sock.sendall(block)
                sent += len(block)
        except OSError:
            pass  # the gateway closed the connection: what this test wants
        assert sent < total, "the gateway read 32 MiB of a single header"
        answered = read_response(sock).status if not _reset(sock) else None
    assert answered in (431, None)  # the 431 may be lost to a reset, since the gateway left bytes unread
    assert _rss_kib(gateway.process.pid) - before < 8 * 1024


def _reset(sock: socket.socket) -> bool:
    try:
        sock.settimeout(5)
        return not sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return True


def test_a_large_but_reasonable_request_is_served(gateway: GatewayProcess) -> None:
    """The limits must not bite ordinary clients: 90 headers, a 12 KiB token-sized header, and a 1 MiB body
    that arrives in one write together with its head."""
    headers = [*USER, ("X-Token", "t" * 12 * 1024), *[(f"X-Filler-{i}", "x") for i in range(85)]]
    status, _, _ = _send_request(gateway.port, request_head("GET", "/ping", headers))
    assert status == 200
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"pad": "p" * 1_048_576}}).encode()
    head = request_head("POST", MCP, [*USER, ("Content-Type", "application/json")], body_length=len(payload))
    status, _, body = _send_request(gateway.port, head, payload)
    assert status == 200, body


def test_connections_are_capped_per_client_address(gateway: GatewayProcess) -> None:
    ping = request_head("GET", "/ping", [])
    held: list[socket.socket] = []
    try:
        for _ in range(PER_ADDRESS):  # keep-alive connections: they stay open after their answer
            sock = connect(gateway.port)
            held.append(sock)
            sock.sendall(ping)
            assert read_response(sock).status == 200
        status, headers, body = _send_request(gateway.port, ping)
        assert status == 429
        assert headers["retry-after"] and json.loads(body)["status"] == 429
        # Another address is another client.
        assert _send_request(gateway.port, ping, source="127.0.0.2")[0] == 200
        held.pop().close()
        # A closed connection frees its place.
        wait_for(lambda: _send_request(gateway.port, ping)[0] == 200, timeout=5, what="a freed place")
    finally:
        for sock in held:
            sock.close()
