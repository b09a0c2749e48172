"""RFC 9728 challenge: where a client finds how to get a token for the resource it asked for."""

from __future__ import annotations

WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource"


def resource_metadata_url(base_url: str, path: str) -> str:
    """The path-suffixed metadata URL for ``path`` (RFC 9728 §3.1), e.g. ``…/oauth-protected-resource/mcp``."""
    suffix = "" if path in ("", "/") else "/" + path.lstrip("/")
    return f"{base_url.rstrip('/')}{WELL_KNOWN_PRM}{suffix}"


def challenge_header(base_url: str, path: str, error_code: str | None = None, description: str | None = None) -> str:
    parts = [f'resource_metadata="{resource_metadata_url(base_url, path)}"']
    if error_code:
        parts.append(f'error="{error_code}"')
        if description:
            parts.append('error_description="{}"'.format(description.replace('"', "'")))
    return "Bearer " + ", ".join(parts)
