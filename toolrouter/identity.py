"""Who is calling: the gateway secret check and the forwarded identity, as one pure ASGI middleware.

The router does no token validation. It trusts ``X-Mcp-UserId`` / ``X-Mcp-Roles`` because only the
gateway knows ``X-Gateway-Secret`` and the gateway strips both identity headers from client requests
before adding its own (upstream spec §3.6). So the order is fixed: secret first, identity second.

The principal travels in the ASGI scope (``scope[PRINCIPAL_SCOPE_KEY]``); MCP handlers read it from the
request that carried the message, so a role revoked at the gateway takes effect on the next request, not
the next session. For session binding the caller is also exposed as the SDK's ``AuthenticatedUser``:
the streamable HTTP session manager then answers 404 when one user presents another user's session id.

``X-Mcp-Virtual-Server: <name>`` (the gateway's ``/servers/{name}/mcp`` route) is trusted the same way and
goes the same way (``scope[VIRTUAL_SERVER_SCOPE_KEY]``): the request is for that virtual server. It must
appear at most once and hold one name; it is part of the session owner too, so a session opened on one
virtual server is unknown (404) on another.
"""

from __future__ import annotations

import hmac
import json
import logging
from contextvars import ContextVar
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ambiguity import SINGLETON_HEADERS, ambiguity_in
from gateway.auth.principal import ROLES_HEADER as ROLES_HEADER_NAME
from gateway.auth.principal import USER_ID_HEADER as USER_ID_HEADER_NAME
from gateway.auth.principal import Principal, normalise_roles

logger = logging.getLogger(__name__)

PRINCIPAL_SCOPE_KEY = "toolrouter.principal"
VIRTUAL_SERVER_SCOPE_KEY = "toolrouter.virtual_server"
SECRET_HEADER = b"x-gateway-secret"
USER_ID_HEADER = USER_ID_HEADER_NAME.encode()
ROLES_HEADER = ROLES_HEADER_NAME.encode()
VIRTUAL_SERVER_HEADER = b"x-mcp-virtual-server"
_IDENTITY_HEADERS = frozenset(
    {SECRET_HEADER, USER_ID_HEADER, ROLES_HEADER, VIRTUAL_SERVER_HEADER, b"x-mcp-username"}
)
_SINGLETONS = SINGLETON_HEADERS | {VIRTUAL_SERVER_HEADER}
UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/metrics"})
"""Probes and scrapers cannot carry the secret; the health answer reveals nothing, and the metrics only
registered tool names and counts (the router is reachable inside the cluster only)."""


def principal_from_headers(user_id: str | None, roles: str | None) -> Principal | None:
    """The forwarded caller, or None (anonymous: may read nothing) when no user id was sent."""
    user = (user_id or "").strip()
    if not user:
        return None
    return Principal(user_id=user, name=user, roles=normalise_roles((roles or "").split(",")))


def principal_of(scope: Scope | None) -> Principal | None:
    """The principal :class:`IdentityMiddleware` stored for this request."""
    if scope is None:
        return None
    value = scope.get(PRINCIPAL_SCOPE_KEY)
    return value if isinstance(value, Principal) else None


request_scope: ContextVar[Scope | None] = ContextVar("request_scope", default=None)
"""The ASGI scope of the MCP request being served (set by ``toolrouter.app``), for what the SDK calls outside
the handlers (``get_tool_input_schema``, which runs before them)."""


def virtual_server_of(scope: Scope | None) -> str | None:
    """The virtual server this request is for (the trusted ``X-Mcp-Virtual-Server``), or None: ``/mcp`` itself."""
    if scope is None:
        return None
    value = scope.get(VIRTUAL_SERVER_SCOPE_KEY)
    return value if isinstance(value, str) else None


class IdentityMiddleware:
    """Rejects requests without the gateway secret (401) and records the forwarded principal."""

    def __init__(self, app: ASGIApp, *, secret: str | None) -> None:
        self._app = app
        self._secret = secret.encode() if secret else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNAUTHENTICATED_PATHS:
            await self._app(scope, receive, send)
            return
        raw_headers = scope.get("headers", [])
        ambiguity = ambiguity_in(raw_headers, _SINGLETONS)
        if ambiguity is None and b"," in dict(raw_headers).get(VIRTUAL_SERVER_HEADER, b""):
            ambiguity = "The header x-mcp-virtual-server holds a list; it takes one value."
        if ambiguity is not None:
            # The SDK behind us reads the first of two session ids; refuse rather than guess which one.
            await _bad_request(send, f"Ambiguous request: {ambiguity}")
            return
        headers = dict(raw_headers)
        if self._secret is not None and not hmac.compare_digest(headers.get(SECRET_HEADER, b""), self._secret):
            await _unauthorized(send)
            return
        principal = principal_from_headers(
            headers.get(USER_ID_HEADER, b"").decode("latin-1"),
            headers.get(ROLES_HEADER, b"").decode("latin-1"),
        )
        virtual_server = headers.get(VIRTUAL_SERVER_HEADER)
        scope = dict(scope)
        # Downstream code (and anything it logs) never sees the secret or the raw identity headers.
        scope["headers"] = [(n, v) for n, v in scope.get("headers", []) if n.lower() not in _IDENTITY_HEADERS]
        scope[PRINCIPAL_SCOPE_KEY] = principal
        if virtual_server is not None:
            # Present but blank is still a virtual-server request (for no server), never plain /mcp.
            scope[VIRTUAL_SERVER_SCOPE_KEY] = virtual_server.decode("latin-1").strip()
        else:
            scope.pop(VIRTUAL_SERVER_SCOPE_KEY, None)
        if principal is not None:
            scope["user"] = _session_owner(principal, scope.get(VIRTUAL_SERVER_SCOPE_KEY))
        else:
            scope.pop("user", None)
        await self._app(scope, receive, send)


def _session_owner(principal: Principal, virtual_server: str | None = None) -> AuthenticatedUser:
    # The session manager compares (client_id, issuer, subject) of the user that opened a session with
    # every later request's; only the user id identifies a caller here (roles may legitimately change).
    # The virtual server, as the "issuer", binds a session to the server it was opened on.
    claims = {"iss": f"virtual-server:{virtual_server}"} if virtual_server is not None else None
    token = AccessToken(
        token="forwarded", client_id=principal.user_id, scopes=[], subject=principal.user_id, claims=claims
    )
    return AuthenticatedUser(token)


async def _unauthorized(send: Send) -> None:
    await _json_error(send, 401, {"error": "unauthorized"})


async def _bad_request(send: Send, message: str) -> None:
    await _json_error(send, 400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}})


async def _json_error(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
