"""RFC 9728 challenge: where a client finds how to get a token for the resource it asked for."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import Unauthenticated

WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource"


def resource_metadata_url(base_url: str, path: str) -> str:
    """The path-suffixed metadata URL for ``path`` (RFC 9728 §3.1): ``…/oauth-protected-resource/mcp``."""
    suffix = "" if path in ("", "/") else "/" + path.lstrip("/")
    return f"{base_url.rstrip('/')}{WELL_KNOWN_PRM}{suffix}"


def _quoted(value: str) -> str:
    # A quoted-string may not contain a bare quote or backslash (RFC 9110 §5.6.4); descriptions are prose.
    return '"' + value.replace("\\", "/").replace('"', "'") + '"'


def challenge_header(
    base_url: str,
    path: str,
    error_code: str | None = None,
    description: str | None = None,
    scopes: Sequence[str] = (),
) -> str:
    """``Bearer resource_metadata="…"``, the ``scope`` to ask for, and ``error`` (RFC 6750 §3) when a token
    was presented and refused.

    RFC 6750 §3.1: a request without any credentials gets no error code, only the pointer to the metadata.
    The MCP authorization spec has clients prefer this ``scope`` over the metadata's ``scopes_supported``.
    """
    parts = [f"resource_metadata={_quoted(resource_metadata_url(base_url, path))}"]
    if scopes:
        parts.append(f"scope={_quoted(' '.join(scopes))}")
    if error_code:
        parts.append(f"error={_quoted(error_code)}")
        if description:
            parts.append(f"error_description={_quoted(description)}")
    return "Bearer " + ", ".join(parts)


def public_base(public_url: str | None, scheme: str, host: str) -> str:
    """The gateway's external base URL: the configured one, else the request's own origin."""
    return public_url or f"{scheme}://{host}"


def challenge_for(error: Unauthenticated, base_url: str, path: str, scopes: Sequence[str] = ()) -> str:
    """The challenge for an authentication failure; a description only when a token was presented."""
    description = error.detail if error.error_code else None
    return challenge_header(base_url, path, error.error_code, description, scopes)
