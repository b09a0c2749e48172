"""Security headers on every portal response.

The page runs only its own scripts (no inline script, no ``eval``), may be framed by no one, and talks
only to the gateway and, when signing in, to the issuer (discovery and the token request are ``fetch``
calls, so the issuer's origin must be in ``connect-src``). Tool results may carry images as ``data:`` URLs.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.auth.metadata import authorization_server
from gateway.portal.config import origin_of
from gateway.settings import GatewaySettings


def content_security_policy(connect_origins: Iterable[str] = ()) -> str:
    connect = " ".join(["'self'", *sorted(set(connect_origins))])
    directives = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "media-src 'self' data:",
        f"connect-src {connect}",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
    return "; ".join(directives)


def security_headers(settings: GatewaySettings) -> dict[str, str]:
    issuer = authorization_server(settings.auth)
    return {
        "Content-Security-Policy": content_security_policy([origin_of(issuer)] if issuer else []),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
        # The sign-in answer comes back in the fragment, but no page URL should leave the browser anyway.
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    }
