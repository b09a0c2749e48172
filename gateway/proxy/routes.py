"""Serves ``/adapters/{name}/mcp``, ``/servers/{name}/mcp`` and ``/mcp`` in front of FastAPI's routing and
middleware stack.

The MCP routes need none of what FastAPI adds (request models, dependency injection, exception
handlers, the control plane's body limit and metrics): the proxy authenticates, limits, observes and
answers errors itself. Matching them first saves the route scan and seven middleware layers on every
proxied call (a measurable share of the gateway's CPU per call, docs/benchmarks.md).
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.proxy.mcp_proxy import McpProxy

_MCP_PATH = re.compile(r"^/(?:(adapters|servers)/([^/]+)/)?mcp/?\Z")


def is_mcp_path(path: str) -> bool:
    """True for the paths the proxy serves, whose errors are JSON-RPC bodies rather than problem+json."""
    return _MCP_PATH.match(path) is not None


class McpDispatch:
    """ASGI: MCP paths go straight to the proxy, everything else to ``app`` (FastAPI's own stack)."""

    def __init__(self, app: ASGIApp, proxy: McpProxy) -> None:
        self._app = app
        self._proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = _MCP_PATH.match(scope["path"])
            if match is not None:
                # No group: /mcp, the tool router; else an adapter's or a virtual server's name.
                kind, name = match.group(1, 2)
                if kind == "servers":
                    await self._proxy.serve(scope, receive, send, None, server=name)
                else:
                    await self._proxy.serve(scope, receive, send, name)
                return
        await self._app(scope, receive, send)
