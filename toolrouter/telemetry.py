"""The tool router's traces, metrics and audit events.

- ``RouterTelemetryMiddleware`` (outermost): request id from the gateway's ``X-Request-Id``, one server
  span per HTTP request continuing the gateway's trace (W3C ``traceparent``); the span is left in the
  ASGI scope because the MCP SDK runs handlers in the session's task, not the request's, so the
  handler finds its parent there rather than in the context.
- :meth:`RouterTelemetry.tool_call`: a span, metrics and one audit event per ``tools/call``.
- ``GET /metrics``: per-tool call counts and latency; tool labels are catalog names only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import Token
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.principal import Principal
from gateway.request_context import REQUEST_ID_HEADER, accept_request_id, request_id_var
from gateway.telemetry import audit
from gateway.telemetry.metrics import UNKNOWN
from gateway.telemetry.tracing import extract_context, get_tracer, tracing_active

SPAN_SCOPE_KEY = "toolrouter.span"
_MAX_NAME_CHARS = 128
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.tool_calls = Counter(
            "mcpgw_router_tool_calls", "tools/call requests", ["tool", "decision"], registry=self.registry
        )
        self.tool_duration = Histogram(
            "mcpgw_router_tool_call_duration_seconds",
            "tools/call latency, tool HTTP call included",
            ["tool"],
            buckets=_BUCKETS,
            registry=self.registry,
        )


@dataclass
class ToolCallRecord:
    """What the handler tells :meth:`RouterTelemetry.tool_call` about the outcome."""

    decision: audit.Decision = "allowed"
    status: int = 200
    detail: dict[str, Any] = field(default_factory=dict)

    def denied(self) -> None:
        # Unknown and unreadable look the same to the caller; the audit trail says "denied" for both.
        self.decision, self.status = "denied", 403

    def finished(self, result: types.CallToolResult | types.InputRequiredResult) -> None:
        """``result``: the call's answer; an ``InputRequiredResult`` (the tool asks the client first, 2026-07-28)
        is a call that goes on in the client's next request."""
        if isinstance(result, types.CallToolResult) and result.is_error:
            self.decision, self.status = "failed", 500


class RouterTelemetry:
    def __init__(self, *, metrics_enabled: bool = True, audit_arguments: bool = False) -> None:
        self.metrics = RouterMetrics() if metrics_enabled else None
        self._audit_arguments = audit_arguments

    @contextmanager
    def tool_call(
        self,
        scope: Scope | None,
        principal: Principal | None,
        params: types.CallToolRequestParams,
        known: bool,
    ) -> Iterator[ToolCallRecord]:
        """Span, metrics and audit event around one ``tools/call``; ``known``: the name is in the catalog."""
        name = params.name[:_MAX_NAME_CHARS]
        record = ToolCallRecord()
        if self._audit_arguments:
            record.detail["arguments"] = params.arguments
        started = time.perf_counter()
        span, token = self._start_span(scope, name)
        try:
            yield record
        except Exception as exc:
            record.decision, record.status = "failed", 500
            if span is not None:
                span.record_exception(exc)
            raise
        finally:
            elapsed = time.perf_counter() - started
            if span is not None and token is not None:
                span.set_attribute("mcp.outcome", record.decision)
                if record.decision == "failed":
                    span.set_status(Status(StatusCode.ERROR))
                span.end()
                otel_context.detach(token)
            if self.metrics is not None:
                label = name if known else UNKNOWN
                self.metrics.tool_calls.labels(label, record.decision).inc()
                self.metrics.tool_duration.labels(label).observe(elapsed)
            actor = principal.user_id if principal is not None else "anonymous"
            audit.emit(
                audit.AuditEvent(
                    actor,
                    "tool.call",
                    name,
                    record.decision,
                    record.status,
                    round(elapsed * 1000, 3),
                    detail=record.detail or None,
                )
            )

    def _start_span(self, scope: Scope | None, name: str) -> tuple[Span | None, Token[Context] | None]:
        if not tracing_active():
            return None, None
        parent_span = scope.get(SPAN_SCOPE_KEY) if scope is not None else None
        parent = trace.set_span_in_context(parent_span) if isinstance(parent_span, Span) else None
        span = get_tracer().start_span(
            f"tools/call {name}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={"mcp.method": "tools/call", "mcp.tool.name": name},
        )
        return span, otel_context.attach(trace.set_span_in_context(span))

    async def metrics_endpoint(self, _: Request) -> Response:
        if self.metrics is None:
            return Response(status_code=404)
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


class RouterTelemetryMiddleware:
    """Request id and one server span per HTTP request, continuing the caller's trace."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = accept_request_id(headers.get(REQUEST_ID_HEADER))
        request_token = request_id_var.set(request_id)
        try:
            if not tracing_active() or scope.get("path") in ("/healthz", "/metrics"):
                await self._app(scope, receive, send)
                return
            await self._traced(scope, receive, send, headers, request_id)
        finally:
            request_id_var.reset(request_token)

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], request_id: str
    ) -> None:
        method = scope.get("method", "")
        span = get_tracer().start_span(
            f"{method} {scope.get('path', '')}",
            context=extract_context(headers),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope.get("path", ""),
                "mcpgw.request_id": request_id,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        scope = {**scope, SPAN_SCOPE_KEY: span}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                span.set_attribute("http.response.status_code", message["status"])
                if message["status"] >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except Exception as exc:
            span.record_exception(exc)
            raise
        finally:
            span.end()
            otel_context.detach(token)


@contextmanager
def tool_http_span(url: str) -> Iterator[Span | None]:
    """A client span around the POST to a tool (its context is what the executor injects)."""
    if not tracing_active():
        yield None
        return
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    attributes: dict[str, AttributeValue] = {
        "http.request.method": "POST",
        "server.address": parts.hostname or "",
        "server.port": parts.port or 0,
    }
    with get_tracer().start_as_current_span("POST tool", kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span
