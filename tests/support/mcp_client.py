"""The official MCP SDK client as a development identity, over a socket or an in-process transport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


@contextlib.asynccontextmanager
async def sdk_client(
    url: str,
    user: str = "carol",
    roles: str = "mcp.user",
    mode: str = "legacy",
    extra_headers: dict[str, str] | None = None,
    message_handler: Any = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> AsyncIterator[Client]:
    """The SDK's ``Client`` on ``url`` with ``X-Dev-UserId``/``X-Dev-Roles``; ``transport`` replaces the socket
    (``tests.support.asgi.StreamingASGITransport2`` for an app in this process)."""
    headers = {"X-Dev-UserId": user, "X-Dev-Roles": roles, **(extra_headers or {})}
    http = httpx2.AsyncClient(transport=transport, headers=headers, timeout=httpx2.Timeout(30, read=60))
    streams = streamable_http_client(url, http_client=http)
    async with http, Client(streams, mode=mode, message_handler=message_handler) as client:  # type: ignore[arg-type]
        yield client
