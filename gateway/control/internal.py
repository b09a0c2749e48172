"""Internal endpoints for the gateway's own components (the tool router); not part of the public API."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.errors import Unauthenticated

router = APIRouter(prefix="/internal", include_in_schema=False)

SECRET_HEADER = "x-gateway-secret"


@router.get("/tool-catalog")
async def tool_catalog(request: Request) -> Response:
    ctx = request.app.state.ctx
    presented = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(presented.encode(), ctx.router_secret.encode()):
        raise Unauthenticated("the tool catalog is only for the tool router")
    snapshot = await ctx.catalog.snapshot()
    etag = f'"{snapshot["version"]}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(snapshot, headers={"ETag": etag, "Cache-Control": "no-store"})
