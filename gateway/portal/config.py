"""``GET /portal/config``: what the page needs to know before its first API call (how to sign in)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway import __version__
from gateway.auth.metadata import authorization_server, scopes_supported
from gateway.settings import GatewaySettings

REDIRECT_PATH = "/portal/"
"""Where the issuer sends the browser back after sign-in (register ``{origin}/portal/`` as a redirect URI)."""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def portal_client_id(settings: GatewaySettings) -> str | None:
    """The portal's OAuth client: its own setting, else (Entra) the gateway's application, which can carry
    the single-page-application redirect URI itself."""
    if settings.portal.client_id:
        return settings.portal.client_id
    return settings.auth.client_id if settings.auth.mode == "entra" else None


def portal_scopes(settings: GatewaySettings) -> list[str]:
    """The configured scopes, else ``openid`` (an id token names the user in the page) plus the scopes the
    gateway advertises to MCP clients, so the access token is one the gateway accepts."""
    if settings.portal.scopes:
        return list(settings.portal.scopes)
    scopes = ["openid"]
    scopes += [s for s in scopes_supported(settings.auth) if s not in scopes]
    return scopes


def portal_config(settings: GatewaySettings, request_base_url: str) -> dict[str, Any]:
    """The document. ``signIn`` is null in development mode, where the page sends ``X-Dev-*`` headers."""
    public = settings.server.public_url or request_base_url
    sign_in: dict[str, Any] | None = None
    if settings.auth.mode != "dev":
        sign_in = {
            "issuer": authorization_server(settings.auth),
            "clientId": portal_client_id(settings),
            "scopes": portal_scopes(settings),
            "redirectPath": REDIRECT_PATH,
        }
    return {
        "authMode": settings.auth.mode,
        "publicOrigin": origin_of(public),
        "signIn": sign_in,
        "version": __version__,
    }
