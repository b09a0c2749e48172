"""The gateway's edge: what every HTTP request meets first, before the control plane or the data plane.

Two facts must be settled once, for everything behind the edge to agree on:

1. **Unambiguous headers.** A header the gateway decides on (identity, session, origin, body framing) must
   arrive at most once, and without list syntax where the value is a single item. Otherwise the gateway
   could check one value while an upstream acts on another: a second ``Mcp-Session-Id`` beside one's own
   was the session hijack this closes. Such a request is refused (400) before anything reads it.
2. **Who the client is.** ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed only when the TCP peer
   is a configured proxy (``MCPGW_SERVER__TRUSTED_PROXIES``); the client address then replaces the
   peer in the ASGI scope (in place, so uvicorn's access log sees it too) and in ``client_address_var``
   for the audit trail. ``Forwarded`` (RFC 7239) is never read: it is what the gateway itself sends
   upstream, and Azure's Application Gateway does not set it, so a client could.
"""

from __future__ import annotations

import ipaddress
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ambiguity import ambiguity_in
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.refusals import refusal_body
from gateway.request_context import client_address_var
from gateway.settings import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address



class ClientResolver:
    """The client's address and scheme, believing forwarding headers only from trusted proxies."""

    def __init__(self, trusted: tuple[IPNetwork, ...]) -> None:
        self._trusted = trusted

    def is_trusted(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self._trusted)

    def resolve(self, scope: Scope) -> bool:
        """Rewrite ``scope["client"]`` and ``scope["scheme"]`` when the peer is a trusted proxy; True then
        (the request was relayed by the public edge)."""
        client = scope.get("client")
        if not self._trusted or not client or not self.is_trusted(_address(client[0])):
            return False
        forwarded_for: list[bytes] = []
        proto: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.append(value)
            elif name == b"x-forwarded-proto":
                proto = value
        if forwarded_for:
            hops = b",".join(forwarded_for).decode("latin-1").split(",")
            scope["client"] = (self._client_of(hops, client[0]), 0)
        if proto is not None and proto.strip().lower() in (b"http", b"https"):
            scope["scheme"] = proto.strip().lower().decode()
        return True

    def _client_of(self, hops: list[str], peer: str) -> str:
        """The nearest hop that is not a trusted proxy: everything left of it was written by the client and
        proves nothing. A hop that is not an address ends the walk at the last one that was."""
        nearest = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                return nearest
            nearest = str(address)
            if not self.is_trusted(address):
                return nearest
        return nearest


def _address(text: str) -> IPAddress | None:
    """An address from ``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:5678`` or ``::1``; None for anything else."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A zone id ("fe80::1%eth0") is free text that would flow into logs and the Forwarded header.
    return None if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None else address


_HOST_RE = re.compile(rb"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?\Z")
"""RFC 3986 host[:port] without the rare sub-delimiters and percent-escapes: the Host header is written into
the ``Forwarded`` header sent upstream and into the URLs of authentication challenges, so it must be
plain."""


CLUSTER_ONLY_PATHS = ("/metrics", "/internal")
"""Served to callers inside the cluster (the metrics scraper, the tool router), never to a request that a
trusted proxy relayed from outside: its path rules see the raw path (``/%6Detrics``), this sees it decoded."""


def _refusal(scope: Scope, relayed: bool) -> GatewayError | None:
    ambiguity = ambiguity_in(scope["headers"])
    if ambiguity is not None:
        return InvalidRequest(f"Ambiguous request: {ambiguity}")
    host_problem = _host_problem(scope["headers"])
    if host_problem is not None:
        return InvalidRequest(host_problem)
    if relayed and _is_cluster_only(scope["path"]):
        return NotFound("Not found.")
    return None


def _is_cluster_only(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in CLUSTER_ONLY_PATHS)


def _host_problem(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"host" and not _HOST_RE.match(value):
            return "The Host header is not a host name or address with an optional port."
    return None


class Edge:
    """Pure ASGI, outermost: settles the client's address and refuses ambiguous requests."""

    def __init__(self, app: ASGIApp, trusted_proxies: tuple[IPNetwork, ...] = ()) -> None:
        self._app = app
        self._clients = ClientResolver(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        relayed = self._clients.resolve(scope)
        client = scope.get("client")
        token = client_address_var.set(client[0] if client else None)
        try:
            error = _refusal(scope, relayed)
            if error is not None:
                await _refuse(scope, send, error)
                return
            await self._app(scope, receive, send)
        finally:
            client_address_var.reset(token)


async def _refuse(scope: Scope, send: Send, error: GatewayError) -> None:
    content_type, payload = refusal_body(scope["path"], error)
    headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
