"""RFC 9728 Protected Resource Metadata: how an MCP client learns where to get a token for the gateway.

Pure functions over :class:`AuthSettings`, so the discovery router needs none of the JWT stack and the
document can be unit-tested without a server.
"""

from __future__ import annotations

from typing import Any

from gateway.settings import AuthSettings

ENTRA_LOGIN = "https://login.microsoftonline.com"


def entra_issuer(tenant_id: str) -> str:
    """The v2.0 issuer of a tenant; its discovery document lives under this URL."""
    return f"{ENTRA_LOGIN}/{tenant_id}/v2.0"


def entra_v1_issuer(tenant_id: str) -> str:
    """Issuer of v1.0 access tokens, which Entra issues unless the app sets accessTokenAcceptedVersion=2."""
    return f"https://sts.windows.net/{tenant_id}/"


def authorization_server(auth: AuthSettings) -> str | None:
    """The issuer that MCP clients should sign in with; None in development mode (there is none)."""
    if auth.mode == "entra":
        # An explicit issuer overrides the public cloud (sovereign clouds, test issuers).
        return auth.issuer or entra_issuer(auth.tenant_id or "")
    if auth.mode == "oidc":
        return auth.issuer
    return None


def scopes_supported(auth: AuthSettings) -> list[str]:
    """Configured scopes, else for Entra ``api://{clientId}/.default``.

    ``.default`` asks Entra for every permission already granted to the client on this API (the ``access``
    scope for pre-authorized VS Code and Azure CLI); it is also what the original gateway advertised.
    """
    if auth.scopes_supported:
        return list(auth.scopes_supported)
    if auth.mode == "entra" and auth.client_id:
        return [f"api://{auth.client_id}/.default"]
    return []


def resource_identifier(base_url: str, path: str) -> str:
    """The resource a metadata document describes: the base URL plus the path-suffix (RFC 9728 §3.3)."""
    base = base_url.rstrip("/")
    suffix = path.strip("/")
    return f"{base}/{suffix}" if suffix else base


def protected_resource_metadata(resource: str, servers: list[str], scopes: list[str]) -> dict[str, Any]:
    """The RFC 9728 document. Only the header bearer method: query-string tokens are refused."""
    return {
        "resource": resource,
        "authorization_servers": servers,
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
    }
