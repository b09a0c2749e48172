"""Attacks on the headers the gateway decides on, sent as raw bytes over a socket (client libraries would
merge or refuse them): a second user's session id smuggled beside one's own, repeated or list-valued
singleton headers, headers named in ``Connection``, and forged forwarding headers."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.rawhttp import RawResponse, raw_request
from tests.support.gateway_process import GatewayProcess

pytestmark = pytest.mark.slow

MCP_HEADERS = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
LEGACY = "2025-11-25"


def _identity(user: str) -> list[tuple[str, str]]:
    return [("X-Dev-UserId", user), ("X-Dev-Roles", "mcp.user")]


def _rpc(method: str, params: dict[str, Any] | None = None, request_id: int | None = 1) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        message["id"] = request_id
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode()


def _sse_or_json(response: RawResponse) -> dict[str, Any]:
    if (response.header("content-type") or "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.body.decode().splitlines() if line.startswith("data:")]
        return dict(json.loads(data[-1]))
    return dict(response.json())


def _open_session(gateway: GatewayProcess, user: str) -> str:
    init = _rpc(
        "initialize",
        {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "attacker", "version": "1"}},
    )
    response = raw_request(gateway.port, "POST", "/adapters/sessions/mcp", MCP_HEADERS + _identity(user), init)
    assert response.status == 200, response.body
    session_id = response.header("mcp-session-id")
    assert session_id
    headers = MCP_HEADERS + _identity(user) + [("Mcp-Session-Id", session_id), ("Mcp-Protocol-Version", LEGACY)]
    initialized = raw_request(
        gateway.port, "POST", "/adapters/sessions/mcp", headers, _rpc("notifications/initialized", request_id=None)
    )
    assert initialized.status == 202, initialized.body
    return session_id


def _whoami(gateway: GatewayProcess, user: str, session_headers: list[tuple[str, str]]) -> RawResponse:
    headers = MCP_HEADERS + _identity(user) + session_headers + [("Mcp-Protocol-Version", LEGACY)]
    body = _rpc("tools/call", {"name": "whoami", "arguments": {}})
    return raw_request(gateway.port, "POST", "/adapters/sessions/mcp", headers, body)


def _session_of(response: RawResponse) -> str:
    result = _sse_or_json(response)["result"]
    return str(result["structuredContent"]["session"])


@pytest.mark.parametrize("victim_first", [True, False])
def test_a_second_users_session_id_smuggled_beside_ones_own_is_refused(
    dataplane_gateway: GatewayProcess, victim_first: bool
) -> None:
    alice = _open_session(dataplane_gateway, "alice")
    mallory = _open_session(dataplane_gateway, "mallory")
    ids = [alice, mallory] if victim_first else [mallory, alice]
    # The session each id reaches, as the replica names it (the client holds a sealed id for it).
    sessions = {user: _session_of(_whoami(dataplane_gateway, user, [("Mcp-Session-Id", sid)]))
                for user, sid in (("alice", alice), ("mallory", mallory))}
    assert sessions["alice"] != sessions["mallory"]

    smuggled = _whoami(dataplane_gateway, "mallory", [("Mcp-Session-Id", ids[0]), ("Mcp-Session-Id", ids[1])])
    assert smuggled.status == 400
    assert smuggled.json()["error"]["code"] == -32600
    assert "mcp-session-id appears more than once" in smuggled.json()["error"]["message"]

    listed = _whoami(dataplane_gateway, "mallory", [("Mcp-Session-Id", f"{ids[0]}, {ids[1]}")])
    assert listed.status == 400

    # Nor can the smuggled id end the victim's session: a DELETE is refused before any upstream sees it.
    headers = _identity("mallory") + [("Mcp-Session-Id", mallory), ("Mcp-Session-Id", alice)]
    assert raw_request(dataplane_gateway.port, "DELETE", "/adapters/sessions/mcp", headers).status == 400

    # Each user still reaches exactly their own session.
    assert _session_of(_whoami(dataplane_gateway, "alice", [("Mcp-Session-Id", alice)])) == sessions["alice"]
    assert _session_of(_whoami(dataplane_gateway, "mallory", [("Mcp-Session-Id", mallory)])) == sessions["mallory"]
    # And the victim's id alone is still somebody else's session.
    assert _whoami(dataplane_gateway, "mallory", [("Mcp-Session-Id", alice)]).status == 404


@pytest.fixture(scope="module")
def probed(dataplane_gateway: GatewayProcess, probe: UpstreamProbe) -> GatewayProcess:
    adapter = {"name": "hop-probe", "url": probe.url, "requiredRoles": ["mcp.user"]}
    assert dataplane_gateway.client(user="owner").post("/adapters", json=adapter).status_code == 201
    return dataplane_gateway


REPEATED = [
    ("Authorization", "Bearer a", "Bearer b"),
    ("Origin", "http://localhost:1", "http://evil.example"),
    ("Mcp-Protocol-Version", LEGACY, "2026-07-28"),
    ("Mcp-Method", "tools/list", "tools/call"),
    ("Mcp-Name", "a", "b"),
    ("Content-Type", "application/json", "text/plain"),
    ("X-Dev-UserId", "alice", "admin"),
    ("X-Dev-Roles", "mcp.user", "mcp.admin"),
    ("X-Request-Id", "one", "two"),
]


@pytest.mark.parametrize(("header", "first", "second"), REPEATED, ids=[h for h, _, _ in REPEATED])
def test_a_repeated_singleton_header_is_refused_and_never_forwarded(
    probed: GatewayProcess, probe: UpstreamProbe, header: str, first: str, second: str
) -> None:
    forwarded_before = len(probe.requests)
    base = [h for h in MCP_HEADERS + _identity("alice") if h[0].lower() != header.lower()]
    headers = [*base, (header, first), (header, second)]
    response = raw_request(probed.port, "POST", "/adapters/hop-probe/mcp", headers, _rpc("ping"))
    assert response.status == 400
    assert response.header("content-type") == "application/json"
    assert response.json()["error"]["code"] == -32600
    assert header.lower() in response.json()["error"]["message"]
    assert len(probe.requests) == forwarded_before


@pytest.mark.parametrize("header", ["Authorization", "X-Dev-UserId", "Host"])
def test_the_control_plane_refuses_repeated_identity_headers_with_problem_json(
    probed: GatewayProcess, header: str
) -> None:
    headers = [("X-Dev-UserId", "alice"), ("X-Dev-Roles", "mcp.admin")]
    headers = [h for h in headers if h[0] != header] + [(header, "alice"), (header, "admin")]
    if header == "Host":
        headers = [("X-Dev-UserId", "alice"), ("Host", "evil.example")]
    response = raw_request(probed.port, "GET", "/adapters", headers)
    assert response.status == 400
    assert response.header("content-type") == "application/problem+json"
    assert "appears more than once" in response.json()["detail"]


def test_headers_named_in_connection_do_not_cross_the_proxy_either_way(
    probed: GatewayProcess, probe: UpstreamProbe
) -> None:
    headers = [
        *MCP_HEADERS,
        *_identity("alice"),
        ("Connection", "X-Hop-Secret, X-Other-Hop"),
        ("X-Hop-Secret", "for the gateway only"),
        ("X-Other-Hop", "hop"),
        ("X-Probe-Mode", "hop-by-hop"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Upgrade", "websocket"),
    ]
    response = raw_request(probed.port, "POST", "/adapters/hop-probe/mcp", headers, _rpc("ping"))
    assert response.status == 200
    seen = [name for name, _ in probe.requests[-1]["raw_headers"]]
    for hop in ("x-hop-secret", "x-other-hop", "keep-alive", "te", "upgrade"):
        assert hop not in seen, hop
    assert "x-probe-mode" in seen  # an ordinary end-to-end header still crosses
    # The replica named Content-Language in its Connection header: the client never sees it.
    assert response.header("content-language") is None
    assert response.header("cache-control") == "no-store"


def test_forwarding_headers_from_an_untrusted_peer_are_ignored(probed: GatewayProcess, probe: UpstreamProbe) -> None:
    headers = [
        *MCP_HEADERS,
        *_identity("alice"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=198.51.100.1;proto=https"),
        ("X-Real-IP", "198.51.100.2"),
    ]
    response = raw_request(probed.port, "POST", "/adapters/hop-probe/mcp", headers, _rpc("ping"))
    assert response.status == 200
    seen = probe.requests[-1]["raw_headers"]
    assert [v for n, v in seen if n == "forwarded"] == [f'for=127.0.0.1;proto=http;host="127.0.0.1:{probed.port}"']
    assert not [n for n, _ in seen if n in ("x-forwarded-for", "x-forwarded-proto", "x-real-ip")]


def _era_request(gateway: GatewayProcess, era: str, user: str, roles: str, extra: list[tuple[str, str]]) -> int:
    identity = [("X-Dev-UserId", user), ("X-Dev-Roles", roles)]
    if era == "session":
        init = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "era", "version": "1"}}
        body, headers = _rpc("initialize", init), MCP_HEADERS + identity + extra
    else:
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "era", "version": "1"},
        }
        body = _rpc("server/discover", {"_meta": meta})
        modern = [("Mcp-Protocol-Version", "2026-07-28"), ("Mcp-Method", "server/discover")]
        headers = MCP_HEADERS + identity + modern + extra
    return raw_request(gateway.port, "POST", "/adapters/mcp-example/mcp", headers, body).status


@pytest.mark.parametrize("era", ["session", "stateless"])
def test_both_protocol_eras_get_the_same_authorization_and_session_decisions(
    dataplane_gateway: GatewayProcess, era: str
) -> None:
    # mcp-example requires mcp.user: a role holder is let through, anybody else is refused, in either era.
    assert _era_request(dataplane_gateway, era, "carol", "mcp.user", []) == 200
    assert _era_request(dataplane_gateway, era, "sam", "mcp.guest", []) == 403
    assert _era_request(dataplane_gateway, era, "anonymous-looking", "", []) == 403
    # A session id is never a credential: somebody else's is unknown to this caller in either era.
    alice = _open_session(dataplane_gateway, "alice")
    stolen = [("Mcp-Session-Id", alice)]
    assert _era_request(dataplane_gateway, era, "mallory", "mcp.user", stolen) == 404
    assert _era_request(dataplane_gateway, era, "sam", "mcp.guest", stolen) == 403


@pytest.mark.parametrize(
    "framing",
    [
        [("Content-Length", "15"), ("Content-Length", "16")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "15")],
        [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "identity")],
    ],
    ids=["two-lengths", "length-and-chunked", "two-encodings"],
)
def test_conflicting_body_framing_is_refused_before_any_upstream_sees_it(
    probed: GatewayProcess, probe: UpstreamProbe, framing: list[tuple[str, str]]
) -> None:
    forwarded_before = len(probe.requests)
    head = ["POST /adapters/hop-probe/mcp HTTP/1.1", f"Host: 127.0.0.1:{probed.port}"]
    head += [f"{n}: {v}" for n, v in MCP_HEADERS + _identity("alice") + framing] + ["Connection: close"]
    body = _rpc("ping")
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with socket.create_connection(("127.0.0.1", probed.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + chunked)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert len(probe.requests) == forwarded_before


@pytest.mark.parametrize("named", ["Mcp-Session-Id", "mcp-protocol-version", "Content-Type", "X-Request-Id"])
def test_connection_may_not_strip_a_header_the_gateway_decides_on(
    probed: GatewayProcess, probe: UpstreamProbe, named: str
) -> None:
    forwarded_before = len(probe.requests)
    headers = [*MCP_HEADERS, *_identity("alice"), ("Connection", f"keep-alive, {named}")]
    response = raw_request(probed.port, "POST", "/adapters/hop-probe/mcp", headers, _rpc("ping"))
    assert response.status == 400
    assert f"Connection header names {named.lower()}" in response.json()["error"]["message"]
    assert len(probe.requests) == forwarded_before


def test_underscore_spellings_of_identity_headers_never_reach_the_adapter(
    probed: GatewayProcess, probe: UpstreamProbe
) -> None:
    forged = [("X_Mcp_UserId", "root"), ("X_Dev_Roles", "mcp.admin"), ("Mcp_Session_Id", "someone-elses")]
    response = raw_request(
        probed.port, "POST", "/adapters/hop-probe/mcp", MCP_HEADERS + _identity("alice") + forged, _rpc("ping")
    )
    assert response.status == 200
    seen = probe.requests[-1]["raw_headers"]
    assert not [name for name, _ in seen if "_" in name]
    assert [v for n, v in seen if n == "x-mcp-userid"] == ["alice"]


@pytest.mark.parametrize(
    "host",
    ['gw.example";for=10.9.9.9;proto=https;x="', "gw.example/path", "gw example", "gw.example:80:81", "[::1"],
)
def test_a_malformed_host_is_refused_before_it_reaches_a_header_or_url(
    probed: GatewayProcess, probe: UpstreamProbe, host: str
) -> None:
    forwarded_before = len(probe.requests)
    lines = ["POST /adapters/hop-probe/mcp HTTP/1.1", f"Host: {host}"]
    lines += [f"{n}: {v}" for n, v in MCP_HEADERS + _identity("alice")]
    body = _rpc("ping")
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    with socket.create_connection(("127.0.0.1", probed.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
    assert len(probe.requests) == forwarded_before
