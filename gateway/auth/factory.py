"""Builds the authenticator that ``MCPGW_AUTH__MODE`` selects."""

from __future__ import annotations

import logging

from gateway.auth.base import Authenticator
from gateway.auth.dev import DevAuthenticator
from gateway.loopback import is_loopback_host
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


def build_authenticator(settings: GatewaySettings) -> Authenticator:
    if settings.auth.mode == "dev":
        if not is_loopback_host(settings.server.host):
            log.warning(
                "DEVELOPMENT AUTHENTICATION IS ON FOR %s: anyone who reaches this port can claim any "
                "identity, including mcp.admin (MCPGW_AUTH__FORCE_DEV=true). Never expose this gateway.",
                settings.server.host,
            )
        return DevAuthenticator()
    from gateway.auth.jwt import JwtAuthenticator  # only token modes need the JWT stack

    return JwtAuthenticator.from_settings(settings.auth)
