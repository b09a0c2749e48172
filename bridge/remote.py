"""``MCP_PROXY_URL``: a transparent Streamable HTTP relay from ``/mcp`` to a remote MCP endpoint.

Nothing is interpreted: the body goes up as is, the reply comes back chunk by chunk (SSE unbuffered),
and only the headers MCP needs cross in either direction. Credentials the client sent are not
forwarded (no token passthrough); the remote sees the bridge, with Host set to its own authority.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bridge.config import BridgeConfig, RemoteTarget
from bridge.wire import (
    INVALID_REQUEST,
    SERVER_ERROR,
    BodyTooLarge,
    error_response,
    read_body,
    rebinding_rejection,
)

REQUEST_HEADERS = frozenset({
    "accept", "content-type", "mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name",
    "last-event-id",
})
RESPONSE_HEADERS = frozenset({
    "content-type", "mcp-session-id", "mcp-protocol-version", "cache-control", "retry-after", "allow",
})


def upstream_headers(request: Request) -> dict[str, str]:
    """The headers that travel upstream: the MCP ones, plus every ``Mcp-Param-*`` (the spec says forward)."""
    headers = {name: value for name, value in request.headers.items()
               if name in REQUEST_HEADERS or name.startswith("mcp-param-")}
    # Compressed SSE would be buffered by the decoder; ask for identity so events flow one by one.
    headers["accept-encoding"] = "identity"
    return headers


def downstream_headers(response: httpx.Response) -> dict[str, str]:
    headers = {name: value for name, value in response.headers.items() if name in RESPONSE_HEADERS}
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        headers["X-Accel-Buffering"] = "no"
    return headers


class RemoteRelay:
    """Forward one request at a time over a shared connection pool."""

    def __init__(self, config: BridgeConfig, target: RemoteTarget) -> None:
        self.config = config
        self.url = target.url
        # No read timeout: SSE streams legitimately stay quiet for a long time.
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), trust_env=False)

    async def handle(self, request: Request) -> Response:
        rejection = rebinding_rejection(request, self.config.host)
        if rejection is not None:
            return rejection
        try:
            body = await read_body(request, self.config.max_body_bytes)
        except BodyTooLarge:
            return error_response(413, INVALID_REQUEST,
                                  f"Request body larger than {self.config.max_body_bytes} bytes")
        upstream = self.client.build_request(request.method, self.url, headers=upstream_headers(request),
                                             content=body or None)
        try:
            response = await self.client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            return error_response(502, SERVER_ERROR, f"Bad Gateway: remote MCP server unreachable: {exc}")
        return StreamingResponse(
            _relay(response), status_code=response.status_code, headers=downstream_headers(response),
            background=BackgroundTask(response.aclose),
        )


async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
    """Pass bytes through as they arrive; a client disconnect closes the upstream stream too."""
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    except httpx.HTTPError:
        return  # the remote dropped the stream: end ours the same way
    finally:
        await response.aclose()


def create_remote_app(config: BridgeConfig, target: RemoteTarget) -> Starlette:
    """The ASGI app relaying ``/mcp`` to ``target.url``."""
    relay = RemoteRelay(config, target)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await relay.client.aclose()

    routes = [Route("/mcp", relay.handle, methods=["GET", "POST", "DELETE"])]
    return Starlette(routes=routes, lifespan=lifespan)
