"""RFC 9728 discovery: ``GET /.well-known/oauth-protected-resource[/<path>]``.

The path-suffixed form describes the resource at ``<path>`` (the 401 challenge of ``/adapters/x/mcp``
points at ``…/oauth-protected-resource/adapters/x/mcp``). In development mode there is no authorization
server to advertise, so both forms answer 404 and MCP clients fall back to plain unauthenticated use.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.auth.challenge import WELL_KNOWN_PRM
from gateway.auth.deps import public_base_url
from gateway.auth.metadata import (
    authorization_server,
    protected_resource_metadata,
    resource_identifier,
    scopes_supported,
)
from gateway.control.problems import problem_responses
from gateway.errors import NotFound

router = APIRouter(tags=["discovery"])

# A public document: browser-based MCP clients (the Inspector) fetch it cross-origin.
_HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}


def _document(request: Request, path: str) -> JSONResponse:
    auth = request.app.state.ctx.settings.auth
    server = authorization_server(auth)
    if server is None:
        raise NotFound("This gateway uses development authentication and has no authorization server.")
    resource = resource_identifier(public_base_url(request), path)
    document = protected_resource_metadata(resource, [server], scopes_supported(auth))
    return JSONResponse(document, headers=_HEADERS)


# 404 in development mode: there is no authorization server to describe.
@router.get(
    WELL_KNOWN_PRM, summary="Protected resource metadata of the gateway (RFC 9728)", responses=problem_responses(404)
)
async def gateway_metadata(request: Request) -> JSONResponse:
    return _document(request, "")


@router.get(
    WELL_KNOWN_PRM + "/{path:path}", summary="Protected resource metadata of a path", responses=problem_responses(404)
)
async def path_metadata(request: Request, path: str) -> JSONResponse:
    return _document(request, path)
