"""Which headers must be unambiguous, and whether a request's are: one rule for the gateway's edge
(``gateway.edge``) and the tool router (``toolrouter.identity``), so both refuse the same requests.

A header the gateway or the router decides on must arrive at most once, and without list syntax where the
value is a single item; otherwise one component could check one value while another acts on a second.
"""

from __future__ import annotations

from collections.abc import Iterable

SINGLETON_HEADERS = frozenset(
    {
        b"host",
        b"authorization",
        b"content-length",
        b"content-type",
        b"transfer-encoding",
        b"origin",
        b"mcp-session-id",
        b"mcp-protocol-version",
        b"mcp-method",
        b"mcp-name",
        b"last-event-id",
        b"x-dev-userid",
        b"x-dev-name",
        b"x-dev-roles",
        b"x-gateway-secret",
        b"x-mcp-userid",
        b"x-mcp-roles",
        b"x-request-id",
        b"x-forwarded-proto",
        b"if-match",
        b"if-none-match",
    }
)
"""Headers that decide something in the gateway or the tool router: at most one line each."""

SINGLE_ITEM_HEADERS = frozenset(
    {
        b"host",
        b"authorization",
        b"content-length",
        b"origin",
        b"mcp-session-id",
        b"mcp-protocol-version",
        b"mcp-method",
        b"x-dev-userid",
        b"x-gateway-secret",
        b"x-mcp-userid",
        b"x-request-id",
        b"x-forwarded-proto",
    }
)
"""Singletons whose value is one item, so a comma can only be list syntax smuggling a second value."""


def ambiguity_in(
    headers: Iterable[tuple[bytes, bytes]], singletons: frozenset[bytes] = SINGLETON_HEADERS
) -> str | None:
    """Why these (lower-case, as ASGI gives them) headers are ambiguous, or None when they are not.

    A ``Connection`` header that names one of them counts too: the proxy drops what ``Connection`` names
    (hop-by-hop), so the gateway would decide on a value the upstream never sees."""
    seen: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            named = _named_singleton(value, singletons)
            if named is not None:
                return f"The Connection header names {named}, which must reach the server."
        if name not in singletons:
            continue
        if name in seen:
            return f"The header {name.decode('latin-1')} appears more than once."
        seen.add(name)
        if name in SINGLE_ITEM_HEADERS and b"," in value:
            return f"The header {name.decode('latin-1')} holds a list; it takes one value."
    return None


def _named_singleton(connection: bytes, singletons: frozenset[bytes]) -> str | None:
    for token in connection.split(b","):
        option = token.strip().lower()
        if option in singletons:
            return option.decode("latin-1")
    return None
