"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.errors import BackendError, Unavailable

router = APIRouter(tags=["health"])


@router.get("/ping", summary="Load-balancer probe (200, empty body)")
async def ping() -> Response:
    return Response(status_code=200)


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz", summary="The store, session store and runtime are usable")
async def readyz(request: Request) -> dict[str, str]:
    ctx = request.app.state.ctx
    for name, part in (("metadata store", ctx.store), ("session store", ctx.sessions), ("runtime", ctx.runtime)):
        try:
            await part.check()
        except BackendError as exc:
            raise Unavailable(f"{name} is not usable: {exc.detail}") from exc
    return {"status": "ready"}
