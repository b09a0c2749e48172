"""The MCP readiness probe: parsing what a server answers to initialize, and reasons a person can act on."""

from __future__ import annotations

import json
import socket

import aiohttp
import pytest
from aiohttp import web

from gateway.runtimes.mcp_probe import USER_AGENT, new_session, parse_initialize_reply, probe_mcp
from tests.support.ports import free_port

INIT_RESULT = {"jsonrpc": "2.0", "id": "x", "result": {"protocolVersion": "2025-06-18", "capabilities": {}}}


def reply(status: int, content_type: str, body: object) -> tuple[bool, str | None, str | None]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result = parse_initialize_reply(status, content_type, raw, "/mcp")
    return result.ok, result.reason, result.public


def test_a_json_initialize_result_with_a_protocol_version_is_mcp() -> None:
    assert reply(200, "application/json", INIT_RESULT) == (True, None, None)
    assert reply(200, "application/json; charset=utf-8", INIT_RESULT)[0]


def test_the_first_sse_event_counts() -> None:
    body = b": comment\r\n\r\nevent: message\r\nid: 1\r\ndata: " + json.dumps(INIT_RESULT).encode() + b"\r\n\r\n"
    assert reply(200, "text/event-stream", body)[0]
    split = b'event: message\ndata: {"jsonrpc": "2.0", "id": 1,\ndata: "result": {"protocolVersion": "x"}}\n\n'
    assert reply(200, "text/event-stream", split)[0]


@pytest.mark.parametrize(
    ("status", "content_type", "body", "reason", "public"),
    [
        (200, "text/html; charset=utf-8", b"<html>hi</html>", "answered text/html, not MCP", None),
        (404, "application/json", {"detail": "Not Found"}, "answered HTTP 404 at /mcp", None),
        (404, "text/plain", b"Not Found", "answered HTTP 404 at /mcp", None),
        (404, "text/html", b"<h1>404</h1>", "answered HTTP 404 at /mcp (text/html, not MCP)", None),
        (
            500,
            "application/json",
            {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "the server exited (code 1)"}},
            "JSON-RPC error -32603: the server exited (code 1)",
            None,
        ),
        (
            200,
            "application/json",
            {"jsonrpc": "2.0", "id": 1, "result": {}},
            "answered initialize without a protocolVersion, not MCP",
            None,
        ),
        (200, "application/json", {"hello": "world"}, "answered JSON that is not JSON-RPC, not MCP", None),
        (200, "application/json", b"{not json", "answered invalid JSON", None),
        (200, "text/plain", b"OK", "answered text/plain, not MCP", None),
        (200, "text/event-stream", b": only a comment\n\n", "answered an event stream without any event", None),
    ],
)
def test_anything_else_is_not_mcp_and_says_why(
    status: int, content_type: str, body: object, reason: str, public: str | None
) -> None:
    assert reply(status, content_type, body) == (False, reason, public or reason)


async def test_a_refused_connection_names_the_address_only_in_the_operators_reason() -> None:
    port = free_port()  # nothing listens on it
    async with new_session() as session:
        result = await probe_mcp(session, f"http://127.0.0.1:{port}/mcp", within=2)
    assert (result.ok, result.reason, result.public) == (
        False,
        f"connection refused on 127.0.0.1:{port}",
        "connection refused",
    )


async def test_a_real_server_is_probed_with_initialize_and_its_session_is_ended() -> None:
    seen: list[tuple[str, dict[str, str], str]] = []

    async def mcp(request: web.Request) -> web.StreamResponse:
        if request.path == "/protected":  # MCP authorization: a 401 with a challenge is an MCP answer
            return web.Response(status=401, headers={"WWW-Authenticate": 'Bearer resource_metadata="x"'})
        seen.append((request.method, dict(request.headers), await request.text()))
        if request.method == "DELETE":
            return web.Response(status=204)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Mcp-Session-Id": "s1"})
        await response.prepare(request)
        await response.write(b"event: message\ndata: " + json.dumps(INIT_RESULT).encode() + b"\n\n")
        return response  # an SSE answer the probe must not wait out

    app = web.Application()
    app.router.add_route("*", "/mcp", mcp)
    app.router.add_route("*", "/protected", mcp)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with new_session() as session:
            result = await probe_mcp(session, f"http://127.0.0.1:{port}/mcp", within=3)
            slow = await probe_mcp(session, f"http://127.0.0.1:{port}/other", within=3)
            protected = await probe_mcp(session, f"http://127.0.0.1:{port}/protected", within=3)
    finally:
        await runner.cleanup()
    assert result.ok, result.reason
    assert not slow.ok and slow.reason == "answered HTTP 404 at /other"
    assert protected.ok
    (post_method, post_headers, post_body), (delete_method, delete_headers, _) = seen[:2]
    assert (post_method, delete_method) == ("POST", "DELETE")
    assert json.loads(post_body)["method"] == "initialize"
    assert json.loads(post_body)["params"]["protocolVersion"] >= "2025-06-18"
    assert post_headers["Accept"] == "application/json, text/event-stream"
    assert post_headers["User-Agent"] == USER_AGENT
    assert delete_headers["Mcp-Session-Id"] == "s1"


async def test_a_server_that_never_answers_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            result = await probe_mcp(session, f"http://127.0.0.1:{port}/mcp", within=0.5)
    finally:
        listener.close()
    assert (result.ok, result.reason, result.public) == (
        False,
        "no answer within 0.5s at /mcp",
        "no answer within 0.5s",
    )
