"""Routers for ``/adapters`` and ``/tools``: the same seven endpoints for each kind.

(No ``from __future__ import annotations`` here: FastAPI reads the body model from the real annotation
objects of the handlers built inside :func:`resource_router`.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from fastapi.responses import PlainTextResponse

from gateway.auth.deps import CurrentPrincipal
from gateway.models import AdapterStatus
from gateway.services.resources import ResourceService, etag_of

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/problem+json": {}}}
    for code, text in {
        400: "Invalid input (problem details name each bad field)",
        401: "Authentication required",
        403: "Not permitted",
        404: "No such resource",
        409: "Name already used, or changed concurrently",
        412: "If-Match names an older version",
        413: "Request body too large",
    }.items()
}


def resource_router(
    prefix: str, kind: str, data_model: type[Any], resource_model: type[Any], service_attr: str
) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[prefix.strip("/")], responses=PROBLEM_RESPONSES)

    def service(request: Request) -> ResourceService[Any, Any]:
        svc: ResourceService[Any, Any] = getattr(request.app.state.ctx, service_attr)
        return svc

    @router.post(
        "", status_code=status.HTTP_201_CREATED, response_model=resource_model, summary=f"Create and deploy a {kind}"
    )
    async def create(
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        data: Annotated[data_model, Body()],  # type: ignore[valid-type]
    ) -> Any:
        created = await service(request).create(principal, data)
        response.headers["Location"] = f"{prefix}/{created.name}"
        return created

    list_model: Any = list[resource_model]  # type: ignore[valid-type]

    @router.get("", response_model=list_model, summary=f"List the {kind}s you may read")
    async def list_all(request: Request, principal: CurrentPrincipal) -> Any:
        return await service(request).list(principal)

    @router.get("/{name}", response_model=resource_model, summary=f"Get a {kind}")
    async def get(request: Request, response: Response, name: str, principal: CurrentPrincipal) -> Any:
        resource, version = await service(request).get_versioned(principal, name)
        response.headers["ETag"] = etag_of(version)
        return resource

    @router.put("/{name}", response_model=resource_model, summary=f"Replace a {kind} (rolling update)")
    async def update(
        request: Request,
        name: str,
        principal: CurrentPrincipal,
        data: Annotated[data_model, Body()],  # type: ignore[valid-type]
        if_match: Annotated[str | None, Header(description="Only if the ETag still matches (else 412)")] = None,
    ) -> Any:
        return await service(request).update(principal, name, data, if_match)

    @router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Delete a {kind}")
    async def delete(
        request: Request,
        name: str,
        principal: CurrentPrincipal,
        if_match: Annotated[str | None, Header(description="Only if the ETag still matches (else 412)")] = None,
    ) -> Response:
        await service(request).delete(principal, name, if_match)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/{name}/status", response_model=AdapterStatus, summary=f"Replica status of a {kind}")
    async def get_status(request: Request, name: str, principal: CurrentPrincipal) -> Any:
        return await service(request).status(principal, name)

    @router.get("/{name}/logs", response_class=PlainTextResponse, summary=f"Last 1000 log lines of one {kind} instance")
    async def logs(
        request: Request,
        name: str,
        principal: CurrentPrincipal,
        instance: Annotated[int, Query(ge=0, le=1000, description="Replica ordinal")] = 0,
    ) -> PlainTextResponse:
        return PlainTextResponse(await service(request).logs(principal, name, instance))

    return router
