"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.control.problems import problem_responses
from gateway.errors import BackendError, Unavailable

router = APIRouter(tags=["health"])


@router.get(
    "/ping",
    summary="Load-balancer probe (200, empty body)",
    response_class=Response,  # no media type, so the document promises no body
    responses={200: {"description": "Alive; the body is empty"}},
)
async def ping() -> Response:
    return Response(status_code=200)


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/readyz", summary="The store, session store and runtime are usable", responses=problem_responses(503)
)
async def readyz(request: Request) -> dict[str, str]:
    ctx = request.app.state.ctx
    for name, part in (("metadata store", ctx.store), ("session store", ctx.sessions), ("runtime", ctx.runtime)):
        try:
            await part.check()
        except BackendError as exc:
            internal = f"{name} is not usable: {exc.internal_detail}"
            raise Unavailable(internal, public=f"The {name} is not usable.") from exc
    return {"status": "ready"}
