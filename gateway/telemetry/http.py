"""One pure ASGI middleware for every control-plane request: request id, span and metrics.

MCP paths never pass through it (``gateway.proxy.routes.McpDispatch`` serves them first): the proxy sets
their request id, span and metrics itself (see ``gateway.telemetry.mcp``), knowing the adapter, the MCP
method and the session.
"""

from __future__ import annotations

import time

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.request_context import REQUEST_ID_HEADER, accept_request_id, request_id_var
from gateway.telemetry.metrics import GatewayMetrics, status_class
from gateway.telemetry.tracing import extract_context, get_tracer, tracing_active

_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNTRACED_PATHS = frozenset({"/ping", "/healthz", "/readyz", "/metrics", "/internal/tool-catalog"})
"""Probes, scrapes and the router's once-a-second catalog polls: counted, but a span each would be noise."""


class HttpTelemetryMiddleware:
    """Sets the request id (inbound ``X-Request-Id`` if well-formed, else new) and echoes it; traces and
    counts the request."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inbound = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_BYTES:
                inbound = value.decode("latin-1")
                break
        request_id = accept_request_id(inbound)
        token = request_id_var.set(request_id)
        try:
            await self._observed(scope, receive, _echo_request_id(send, request_id), request_id)
        finally:
            request_id_var.reset(token)

    async def _observed(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        method = scope["method"] if scope["method"] in _HTTP_METHODS else "other"
        status = 500
        started = time.perf_counter()

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        span = None
        token = None
        if tracing_active() and scope["path"] not in UNTRACED_PATHS:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            span = get_tracer().start_span(
                f"{method} {scope['path']}",
                context=extract_context(headers),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": scope["path"], "mcpgw.request_id": request_id},
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, tracking_send)
        except BaseException as exc:
            if span is not None:
                span.record_exception(exc)
            raise
        finally:
            route = _route_template(scope)
            if span is not None and token is not None:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                span.end()
                otel_context.detach(token)
            if self.metrics is not None:
                self.metrics.http_requests.labels(route, method, status_class(status)).inc()
                self.metrics.http_duration.labels(route, method).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The matched route's template (``/adapters/{name}``): bounded, unlike the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _echo_request_id(send: Send, request_id: str) -> Send:
    header = (_REQUEST_ID_BYTES, request_id.encode("latin-1"))

    async def echoing_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == _REQUEST_ID_BYTES for name, _ in headers):
                headers.append(header)
                message = {**message, "headers": headers}
        await send(message)

    return echoing_send
