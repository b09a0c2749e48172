"""A scripted upstream for proxy tests: records what it receives and streams SSE on command.

It is a real HTTP server (uvicorn in a thread) standing in for an MCP server where the test needs
control a real one does not give: holding a response open until the test says so.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Self

from starlette.types import Receive, Scope, Send

from gateway.runtimes.mcp_probe import USER_AGENT as PROBE_USER_AGENT
from tests.support.servers import UvicornThread

PROBE_ANSWER = b'{"jsonrpc":"2.0","id":"mcp-gateway-probe","result":{"protocolVersion":"2025-06-18","capabilities":{}}}'


class UpstreamProbe:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.finished = threading.Event()
        self.disconnected = threading.Event()
        self.server = UvicornThread(self.app, lifespan="off", interface="asgi3", start_timeout=10, stop_timeout=10)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"{self.server.url}/mcp"

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.stop()

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if headers.get("user-agent") == PROBE_USER_AGENT:
            # The gateway's readiness probe of a url adapter: answer it as an MCP server would, unrecorded.
            json_headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": json_headers})
            await send({"type": "http.response.body", "body": PROBE_ANSWER})
            return
        self.requests.append(
            {
                "method": scope["method"],
                "headers": headers,
                "raw_headers": [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
                "body": body,
                "query": scope.get("query_string", b"").decode(),
            }
        )
        mode = headers.get("x-probe-mode", "json")
        if mode == "sse-hold":
            await self._sse_until_released(receive, send)
        elif mode == "hop-by-hop":
            # Names an allow-listed header in Connection: it is meant for the gateway's hop only.
            hop_headers = [
                (b"content-type", b"application/json"),
                (b"connection", b"keep-alive, Content-Language"),
                (b"content-language", b"en"),
                (b"cache-control", b"no-store"),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": hop_headers})
            await send({"type": "http.response.body", "body": b'{"jsonrpc":"2.0","id":1,"result":{}}'})
        else:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"mcp-session-id", b"bad:session/id"),
                        (b"set-cookie", b"upstream=1"),
                        (b"x-internal", b"secret"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"jsonrpc":"2.0","id":1,"result":{}}'})

    async def _sse_until_released(self, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send(
            {"type": "http.response.body", "body": b'event: message\ndata: {"first":true}\n\n', "more_body": True}
        )
        disconnect = asyncio.ensure_future(receive())  # resolves with http.disconnect when the peer goes
        while not self.release.is_set():
            if disconnect.done():
                self.disconnected.set()
                return
            await asyncio.sleep(0.02)
        disconnect.cancel()
        await send({"type": "http.response.body", "body": b'event: message\ndata: {"last":true}\n\n'})
        self.finished.set()
