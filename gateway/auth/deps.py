"""FastAPI dependencies: the caller's principal, with the RFC 9728 challenge on failure."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.auth.challenge import challenge_for, public_base
from gateway.auth.metadata import scopes_supported
from gateway.auth.principal import Principal
from gateway.errors import Unauthenticated


def public_base_url(request: Request) -> str:
    return public_base(request.app.state.ctx.settings.server.public_url, request.url.scheme, request.url.netloc)


async def current_principal(request: Request) -> Principal:
    authenticator = request.app.state.ctx.authenticator
    try:
        principal: Principal = await authenticator.authenticate(request.headers, request.query_params)
    except Unauthenticated as exc:
        scopes = scopes_supported(request.app.state.ctx.settings.auth)
        exc.headers["WWW-Authenticate"] = challenge_for(exc, public_base_url(request), request.url.path, scopes)
        raise
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
