"""The request's context for logs, errors and audit: its id and the client's address, in context variables.

The HTTP middleware and the MCP proxy set them, so every record logged while a request is handled (by the
gateway, uvicorn, httpx or the MCP SDK) carries the id without it being passed along. A module of its own,
below the error tree that quotes the id (``gateway.errors``) and the telemetry that logs it.
"""

from __future__ import annotations

import contextvars
import re
import secrets

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
"""An inbound id is echoed into logs and headers, so it must be short and harmless."""

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("mcpgw_request_id", default=None)
client_address_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("mcpgw_client_address", default=None)
"""The client's address as the edge settled it (``gateway.edge``: forwarding headers only from trusted proxies)."""


def accept_request_id(inbound: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is well-formed, else a new random id."""
    if inbound and _REQUEST_ID_RE.match(inbound):
        return inbound
    return secrets.token_hex(8)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_client_address() -> str | None:
    return client_address_var.get()
