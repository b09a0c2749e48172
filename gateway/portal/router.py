"""The portal's routes: ``/`` and ``/portal`` redirect to ``/portal/``, ``/portal/config``, the files under
``/portal/assets/``, and the page (one HTML document) for every route the page itself knows.

The page routes are a fixed list rather than "anything under /portal/", so a mistyped asset or an old
link is an honest 404 (problem+json, like every other REST error) instead of an empty page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from gateway.errors import NotFound
from gateway.portal.assets import Asset, find_asset, index_page
from gateway.portal.config import portal_config
from gateway.portal.headers import security_headers
from gateway.settings import GatewaySettings

PAGE_ROOTS = frozenset({"adapters", "tools", "servers", "console"})
"""First path segments of the page's own routes (``/portal/adapters/new``, ``/portal/console``, ...)."""


def is_page_route(path: str) -> bool:
    segments = path.strip("/").split("/")
    return segments == [""] or (segments[0] in PAGE_ROOTS and len(segments) <= 3)


def portal_router(settings: GatewaySettings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    headers = security_headers(settings)

    def serve(asset: Asset, request: Request, cache_control: str) -> Response:
        common = {**headers, "ETag": asset.etag, "Cache-Control": cache_control}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=common)
        return Response(asset.body, media_type=asset.content_type, headers=common)

    @router.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/portal/", status_code=302)

    @router.get("/portal")
    async def portal_without_slash() -> RedirectResponse:
        return RedirectResponse("/portal/", status_code=302)

    @router.get("/portal/config")
    async def config(request: Request) -> JSONResponse:
        body = portal_config(settings, str(request.base_url))
        return JSONResponse(body, headers={**headers, "Cache-Control": "no-store"})

    @router.get("/portal/assets/{relative:path}")
    async def asset(request: Request, relative: str) -> Response:
        found = find_asset(relative)
        if found is None:
            raise NotFound(f"The portal has no file assets/{relative[:200]}.", headers=headers)
        # Names carry no content hash, so the browser revalidates each time (a 304 when unchanged).
        return serve(found, request, "no-cache")

    @router.get("/portal/{page:path}")
    async def page(request: Request, page: str) -> Response:
        if not is_page_route(page):
            raise NotFound(f"The portal has no page {page[:200]}.", headers=headers)
        return serve(index_page(), request, "no-cache")

    return router
