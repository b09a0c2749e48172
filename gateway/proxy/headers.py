"""Which headers cross the proxy, in each direction."""

from __future__ import annotations

from gateway.auth.principal import Principal

# Hop-by-hop headers (RFC 9110 §7.6.1) plus everything that identifies the caller to the gateway:
# credentials and identities are the gateway's business, never an adapter's.
_DROPPED_REQUEST_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",
        "cookie",
        "origin",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-gateway-secret",
        "x-real-ip",
    }
)
_DROPPED_REQUEST_PREFIXES = ("x-mcp-", "x-dev-")

ALLOWED_RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "content-language",
        "content-range",
        "cache-control",
        "etag",
        "last-modified",
        "accept-ranges",
        "vary",
        "retry-after",
        "x-request-id",
        "x-correlation-id",
        "mcp-session-id",
        "mcp-protocol-version",
        "allow",
    }
)


def upstream_request_headers(
    inbound: list[tuple[str, str]],
    principal: Principal,
    forwarded: str,
    gateway_secret: str | None,
) -> list[tuple[str, str]]:
    """Inbound headers minus credentials, identities and hop-by-hop ones, plus the gateway's own.

    ``Host`` is left to the HTTP client, which sets it to the replica's authority.
    """
    headers = [
        (name, value)
        for name, value in inbound
        if name not in _DROPPED_REQUEST_HEADERS and not name.startswith(_DROPPED_REQUEST_PREFIXES)
    ]
    headers.append(("x-mcp-userid", principal.user_id))
    if principal.roles:
        headers.append(("x-mcp-roles", ",".join(sorted(principal.roles))))
    headers.append(("forwarded", forwarded))
    if gateway_secret is not None:
        headers.append(("x-gateway-secret", gateway_secret))
    return headers


def downstream_response_headers(upstream: list[tuple[str, str]], drop_session_id: bool) -> list[tuple[bytes, bytes]]:
    """The allow-listed response headers; SSE responses also get anti-buffering headers."""
    out: list[tuple[bytes, bytes]] = []
    is_sse = False
    has_cache_control = False
    for name, value in upstream:
        lname = name.lower()
        if lname not in ALLOWED_RESPONSE_HEADERS or (drop_session_id and lname == "mcp-session-id"):
            continue
        is_sse = is_sse or (lname == "content-type" and value.lower().startswith("text/event-stream"))
        has_cache_control = has_cache_control or lname == "cache-control"
        out.append((lname.encode("latin-1"), value.encode("latin-1")))
    if is_sse:
        out.append((b"x-accel-buffering", b"no"))
        if not has_cache_control:
            out.append((b"cache-control", b"no-cache"))
    return out


def forwarded_value(client_host: str | None, scheme: str, host: str | None) -> str:
    node = client_host or "unknown"
    if ":" in node:  # IPv6 must be quoted (RFC 7239 §6)
        node = f'"[{node}]"'
    parts = [f"for={node}", f"proto={scheme}"]
    if host:
        parts.append(f'host="{host}"')
    return ";".join(parts)
