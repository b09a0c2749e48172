"""Mounts the MCP proxy on ``/adapters/{name}/mcp`` and ``/mcp``."""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.routing import Route

from gateway.proxy.mcp_proxy import McpProxy

MCP_METHODS = ["GET", "POST", "DELETE"]
_MCP_PATH = re.compile(r"^/(adapters/[^/]+/)?mcp/?$")


def is_mcp_path(path: str) -> bool:
    return _MCP_PATH.match(path) is not None


def install_mcp_routes(app: FastAPI) -> McpProxy:
    proxy = McpProxy(app.state.ctx)
    app.state.mcp_proxy = proxy
    app.router.routes.append(
        Route("/adapters/{name}/mcp", endpoint=proxy, methods=MCP_METHODS, include_in_schema=False)
    )
    app.router.routes.append(Route("/mcp", endpoint=proxy, methods=MCP_METHODS, include_in_schema=False))
    return proxy
