"""Which headers cross the proxy, in each direction."""

from __future__ import annotations

from gateway.auth.principal import Principal, identity_headers

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


VIRTUAL_SERVER_HEADER = "x-mcp-virtual-server"
"""Tells the tool router which virtual server a request of ``/servers/{name}/mcp`` is for. Like every
``X-Mcp-*`` header it is dropped when a client sends it, so only the gateway sets it."""


def upstream_request_headers(
    inbound: list[tuple[str, str]],
    principal: Principal,
    forwarded: str,
    gateway_secret: str | None,
    virtual_server: str | None = None,
) -> list[tuple[str, str]]:
    """Inbound headers minus credentials, identities and hop-by-hop ones, plus the gateway's own: the
    caller's identity, the virtual server (when the route is one), ``Forwarded`` and the router's secret.

    ``Host`` is left to the HTTP client, which sets it to the replica's authority. Headers that the client's
    ``Connection`` header names are hop-by-hop too (RFC 9110 §7.6.1), whatever they are called.
    """
    hop_by_hop = connection_options(inbound)
    headers = [
        (name, value)
        for name, value in inbound
        if name not in _DROPPED_REQUEST_HEADERS
        and not name.startswith(_DROPPED_REQUEST_PREFIXES)
        and (not hop_by_hop or name not in hop_by_hop)
        # Servers behind CGI-style header maps read ``X_Mcp_UserId`` as ``X-Mcp-UserId``: a name with an
        # underscore could pose as an identity or session header the gateway sets or checks (nginx's default).
        and "_" not in name
    ]
    headers.extend(identity_headers(principal))
    if virtual_server is not None:
        headers.append((VIRTUAL_SERVER_HEADER, virtual_server))
    headers.append(("forwarded", forwarded))
    if gateway_secret is not None:
        headers.append(("x-gateway-secret", gateway_secret))
    return headers


def downstream_response_headers(
    upstream: list[tuple[str, str]], session_id: str | None = None
) -> list[tuple[bytes, bytes]]:
    """The allow-listed response headers, minus any the replica's ``Connection`` header names (hop-by-hop for
    that connection only); SSE responses also get anti-buffering headers. ``session_id``: what the client
    gets as ``Mcp-Session-Id`` instead of the replica's (a sealed id), ``""`` for none, None: the replica's."""
    out: list[tuple[bytes, bytes]] = []
    is_sse = False
    has_cache_control = False
    hop_by_hop = connection_options(upstream)
    for name, value in upstream:
        lname = name.lower()
        if lname not in ALLOWED_RESPONSE_HEADERS:
            continue
        if lname == "mcp-session-id" and session_id is not None:
            if session_id and not any(name == b"mcp-session-id" for name, _ in out):
                out.append((b"mcp-session-id", session_id.encode("ascii")))
            continue
        if hop_by_hop and lname in hop_by_hop:
            continue
        is_sse = is_sse or (lname == "content-type" and value.lower().startswith("text/event-stream"))
        has_cache_control = has_cache_control or lname == "cache-control"
        out.append((lname.encode("latin-1"), value.encode("latin-1")))
    if is_sse:
        out.append((b"x-accel-buffering", b"no"))
        if not has_cache_control:
            out.append((b"cache-control", b"no-cache"))
    return out


def connection_options(headers: list[tuple[str, str]]) -> frozenset[str]:
    """The header names listed in ``Connection`` (any case, any number of lines); usually none."""
    names: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return frozenset(names)


def forwarded_value(client_host: str | None, scheme: str, host: str | None) -> str:
    """RFC 7239 ``for``/``proto``/``host``. The edge already refused a malformed Host and forwarded-for hop;
    values are quoted with escapes anyway, so no input can add a parameter of its own."""
    node = client_host or "unknown"
    if ":" in node:  # IPv6 must be quoted (RFC 7239 §6)
        node = _quoted(f"[{node}]")
    parts = [f"for={node}", f"proto={scheme}"]
    if host:
        parts.append(f"host={_quoted(host)}")
    return ";".join(parts)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
