"""Routers for ``/adapters`` and ``/tools``: the same seven endpoints for each kind.

(No ``from __future__ import annotations`` here: FastAPI reads the body model from the real annotation
objects of the handlers built inside :func:`resource_router`.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from fastapi.responses import PlainTextResponse

from gateway.auth.deps import CurrentPrincipal
from gateway.control.problems import problem_responses
from gateway.control.strict_json import StrictJsonRoute
from gateway.models import AdapterStatus
from gateway.services.resources import ResourceService, etag_of

# Any request can be malformed (400), unauthenticated (401) or too large (413), and any one reads the store.
COMMON_PROBLEMS = (400, 401, 413, 502)


def resource_router(
    prefix: str, kind: str, data_model: type[Any], resource_model: type[Any], service_attr: str
) -> APIRouter:
    router = APIRouter(
        prefix=prefix,
        tags=[prefix.strip("/")],
        responses=problem_responses(*COMMON_PROBLEMS),
        route_class=StrictJsonRoute,
    )
    example = {kind: {"summary": "Points at a server that already runs", "value": data_model.example}}

    def service(request: Request) -> ResourceService[Any, Any]:
        svc: ResourceService[Any, Any] = getattr(request.app.state.ctx, service_attr)
        return svc

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=resource_model,
        summary=f"Create and deploy a {kind}",
        responses=problem_responses(403, 409),
    )
    async def create(
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        data: Annotated[data_model, Body(openapi_examples=example)],  # type: ignore[valid-type]
    ) -> Any:
        created = await service(request).create(principal, data)
        response.headers["Location"] = f"{prefix}/{created.name}"
        return created

    list_model: Any = list[resource_model]  # type: ignore[valid-type]

    @router.get("", response_model=list_model, summary=f"List the {kind}s you may read")
    async def list_all(request: Request, principal: CurrentPrincipal) -> Any:
        return await service(request).list(principal)

    @router.get(
        "/{name}", response_model=resource_model, summary=f"Get a {kind}", responses=problem_responses(403, 404)
    )
    async def get(request: Request, response: Response, name: str, principal: CurrentPrincipal) -> Any:
        resource, version = await service(request).get_versioned(principal, name)
        response.headers["ETag"] = etag_of(version)
        return resource

    @router.put(
        "/{name}",
        response_model=resource_model,
        summary=f"Replace a {kind} (rolling update)",
        responses=problem_responses(403, 404, 409, 412),
    )
    async def update(
        request: Request,
        name: str,
        principal: CurrentPrincipal,
        data: Annotated[data_model, Body(openapi_examples=example)],  # type: ignore[valid-type]
        if_match: Annotated[str | None, Header(description="Only if the ETag still matches (else 412)")] = None,
    ) -> Any:
        return await service(request).update(principal, name, data, if_match)

    @router.delete(
        "/{name}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Delete a {kind}",
        responses=problem_responses(403, 404, 409, 412),
    )
    async def delete(
        request: Request,
        name: str,
        principal: CurrentPrincipal,
        if_match: Annotated[str | None, Header(description="Only if the ETag still matches (else 412)")] = None,
    ) -> Response:
        await service(request).delete(principal, name, if_match)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get(
        "/{name}/status",
        response_model=AdapterStatus,
        summary=f"Replica status of a {kind}",
        responses=problem_responses(403, 404),
    )
    async def get_status(request: Request, name: str, principal: CurrentPrincipal) -> Any:
        return await service(request).status(principal, name)

    @router.get(
        "/{name}/logs",
        response_class=PlainTextResponse,
        summary=f"Last 1000 log lines of one {kind} instance",
        responses=problem_responses(403, 404),
    )
    async def logs(
        request: Request,
        name: str,
        principal: CurrentPrincipal,
        instance: Annotated[int, Query(ge=0, le=1000, description="Replica ordinal")] = 0,
    ) -> PlainTextResponse:
        return PlainTextResponse(await service(request).logs(principal, name, instance))

    return router
