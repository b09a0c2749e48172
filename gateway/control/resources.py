"""Routers for ``/adapters``, ``/tools`` and ``/servers``: the same five endpoints for each kind, plus status,
restart and logs for the kinds that run a workload (adapters and tools; a virtual server runs nothing).

(No ``from __future__ import annotations`` here: FastAPI reads the body model from the real annotation
objects of the handlers built inside :func:`resource_router`.)
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from fastapi.responses import PlainTextResponse, StreamingResponse

from gateway.auth.deps import CurrentPrincipal
from gateway.control.problems import problem_responses
from gateway.control.strict_json import StrictJsonRoute
from gateway.errors import FieldProblem, InvalidRequest
from gateway.models import AdapterStatus
from gateway.services.resources import RecordService, ResourceService, etag_of

log = logging.getLogger(__name__)

# Any request can be malformed (400), unauthenticated (401) or too large (413), and any one reads the store.
COMMON_PROBLEMS = (400, 401, 413, 502)
DEFAULT_TAIL = 1000
MAX_TAIL = 10000
KEEPALIVE_SECONDS = 15.0
"""A followed log stream sends an SSE comment after this long without a line (proxies keep it open)."""
FOLLOW_BUFFER_LINES = 256
"""Lines read ahead of a slow follow client; the runtime's own stream is bounded as well."""


def parse_since(value: str | None) -> datetime | None:
    """``since``: whole seconds ago (``300``) or an RFC 3339 timestamp with an offset (``...T10:00:00Z``)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = int(text)
        if seconds > 10 * 365 * 24 * 3600:
            raise _bad_since("is too many seconds ago")
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad_since("must be a number of seconds or an RFC 3339 timestamp such as 2026-01-31T10:00:00Z") from None
    if moment.tzinfo is None or "T" not in text.upper():
        raise _bad_since("must be an RFC 3339 timestamp with a time and an offset (Z or +hh:mm)")
    return moment


def _bad_since(message: str) -> InvalidRequest:
    return InvalidRequest(f"since {message}.", [FieldProblem("since", message)])


async def sse_lines(lines: AsyncIterator[str], keepalive: float | None = None) -> AsyncIterator[bytes]:
    """One SSE event per line, a comment when nothing was sent for a while; ends with ``lines``. Lines are
    read by a task into a bounded queue, so a slow client holds back at most that many lines."""
    interval = KEEPALIVE_SECONDS if keepalive is None else keepalive
    queue: asyncio.Queue[str | None] = asyncio.Queue(FOLLOW_BUFFER_LINES)

    async def pump() -> None:
        try:
            async for line in lines:
                await queue.put(line)
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    reader = asyncio.create_task(pump())
    try:
        yield b": following\n\n"
        while True:
            try:
                line = await asyncio.wait_for(queue.get(), interval)
            except TimeoutError:
                if reader.done() and queue.empty():  # its end marker did not fit in a full queue
                    break
                yield b": keepalive\n\n"
                continue
            if line is None:
                break
            text = line.replace("\r", "")
            yield ("".join(f"data: {part}\n" for part in text.split("\n")) + "\n").encode()
        try:
            await reader
        except Exception as exc:  # the response has started: say so in the stream, not with a status
            log.warning("following logs failed: %s", exc)
            yield b"event: error\ndata: [gateway] the log stream broke off\n\n"
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        aclose = getattr(lines, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def resource_router(
    prefix: str,
    kind: str,
    data_model: type[Any],
    resource_model: type[Any],
    service_attr: str,
    *,
    workloads: bool = True,
    example_summary: str = "Points at a server that already runs",
) -> APIRouter:
    """The endpoints of one kind, served by the context's ``service_attr``; ``workloads``: the kind runs a
    workload (a :class:`ResourceService`), which adds status, restart and logs."""
    router = APIRouter(
        prefix=prefix,
        tags=[prefix.strip("/")],
        responses=problem_responses(*COMMON_PROBLEMS),
        route_class=StrictJsonRoute,
    )
    example = {kind.replace(" ", "-"): {"summary": example_summary, "value": data_model.example}}

    def service(request: Request) -> RecordService[Any, Any]:
        svc: RecordService[Any, Any] = getattr(request.app.state.ctx, service_attr)
        return svc

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=resource_model,
        summary=f"Create and deploy a {kind}" if workloads else f"Create a {kind}",
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
        summary=f"Replace a {kind} (rolling update)" if workloads else f"Replace a {kind}",
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

    if workloads:
        _add_workload_routes(router, kind, service_attr)
    return router


def _add_workload_routes(router: APIRouter, kind: str, service_attr: str) -> None:
    """Status, restart and logs: what a kind that runs replicas adds."""

    def service(request: Request) -> ResourceService[Any, Any]:
        svc: ResourceService[Any, Any] = getattr(request.app.state.ctx, service_attr)
        return svc

    @router.get(
        "/{name}/status",
        response_model=AdapterStatus,
        summary=f"Replica status of a {kind}",
        responses=problem_responses(403, 404),
    )
    async def get_status(request: Request, name: str, principal: CurrentPrincipal) -> Any:
        return await service(request).status(principal, name)

    @router.post(
        "/{name}/restart",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AdapterStatus,
        summary=f"Restart a {kind}: replace its replicas one at a time, with no spec change",
        description="Answers once the restart has begun, with the status at that moment (phase `Updating` "
        "while replicas are replaced); follow `GET .../status` until the phase is `Ready`.",
        responses=problem_responses(403, 404, 409),
    )
    async def restart(request: Request, name: str, principal: CurrentPrincipal) -> Any:
        await service(request).restart(principal, name)
        return await service(request).status(principal, name)

    @router.get(
        "/{name}/logs",
        response_class=PlainTextResponse,
        summary=f"Log lines of one {kind} instance (the last ones, since a time, or followed as SSE)",
        responses={
            **problem_responses(403, 404),
            200: {
                "description": "The lines as text; with `follow=true` a `text/event-stream` with one event per "
                "line (`data: <line>`) and keep-alive comments, ending when the replica stops",
                "content": {"text/plain": {}, "text/event-stream": {}},
            },
        },
    )
    async def logs(
        request: Request,
        name: str,
        principal: CurrentPrincipal,
        instance: Annotated[int, Query(ge=0, le=1000, description="Replica ordinal")] = 0,
        tail: Annotated[int, Query(ge=1, le=MAX_TAIL, description="How many of the last lines")] = DEFAULT_TAIL,
        since: Annotated[
            str | None,
            Query(
                max_length=64,
                description="Only lines written since: a number of seconds ago, or an RFC 3339 timestamp",
            ),
        ] = None,
        follow: Annotated[bool, Query(description="Stream new lines as server-sent events")] = False,
    ) -> Response:
        since_time = parse_since(since)
        svc = service(request)
        if not follow:
            return PlainTextResponse(await svc.logs(principal, name, instance, tail=tail, since=since_time))
        lines = await svc.follow_logs(principal, name, instance, tail=tail, since=since_time)
        return StreamingResponse(
            sse_lines(lines),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
