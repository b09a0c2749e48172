"""What the MCP proxy records about each request: one span, the request metrics, upstream errors.

The proxy wraps each request in :meth:`McpTelemetry.observe`. The observation watches the messages that
flow anyway (it never reads ahead or buffers), so it costs a function call per ASGI message:

- the MCP method comes from the ``Mcp-Method`` header (2026-07-28) or, in the session era, from the
  first body chunk when that chunk is the whole body and at most 64 KiB (one ``json.loads`` of a small
  object; larger or streamed bodies are labelled ``other`` rather than buffered);
- the tool name (``tools/call``) from ``Mcp-Name`` or the same parsed body, on the span only: a client
  can send any name, so it is never a metric label;
- the session id only as a keyed fingerprint (see ``session_fingerprint``).

With tracing off and metrics off, :meth:`observe` hands back the original ``receive``/``send``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from starlette.types import Message, Receive, Scope, Send

from gateway.request_context import REQUEST_ID_HEADER, current_request_id
from gateway.telemetry.metrics import UNKNOWN, GatewayMetrics, Series, method_label, status_class
from gateway.telemetry.tracing import (
    extract_context,
    get_tracer,
    session_fingerprint,
    tracing_active,
    with_trace_headers,
)

PEEK_LIMIT_BYTES = 64 * 1024
_MAX_ATTRIBUTE_CHARS = 128


class McpTelemetry:
    """Shared by every request of one proxy; ``metrics`` None turns metrics off."""

    def __init__(self, metrics: GatewayMetrics | None, session_key: bytes) -> None:
        self.metrics = metrics
        self._session_key = session_key
        self.series = _RequestSeries(metrics) if metrics is not None else None

    def observe(
        self, scope: Scope, lookup: Mapping[str, str], kind: str, target: str, receive: Receive, send: Send
    ) -> Observation:
        """A context manager (the observation) exposing the ``receive``/``send`` to use inside it."""
        traced = tracing_active()
        if not traced and self.metrics is None:
            return _Unobserved(receive, send)
        return McpObservation(self, scope, lookup, kind, target, receive, send, traced)

    def upstream_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The headers for the replica, plus the current trace context and the request id."""
        if tracing_active():
            headers = with_trace_headers(headers)
        request_id = current_request_id()
        if request_id is not None:
            # The accepted id replaces the inbound one, which may have been malformed and was not echoed.
            headers = [(n, v) for n, v in headers if n != REQUEST_ID_HEADER]
            headers.append((REQUEST_ID_HEADER, request_id))
        return headers

    def upstream_failed(self, kind: str, target: str, exc: BaseException) -> None:
        if self.metrics is not None:
            # Upstream errors name their kind (timeout, connect, disconnect); anything else is "other".
            error = str(getattr(exc, "kind", "other"))
            self.metrics.upstream_errors.labels(kind, target, error).inc()
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("mcp.upstream.error", type(exc).__name__)

    def fingerprint(self, session_id: str) -> str:
        return session_fingerprint(session_id, self._session_key)


class _RequestSeries:
    """The series every request updates, children remembered (``Series``)."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.in_flight = Series(metrics.mcp_in_flight)
        self.requests = Series(metrics.mcp_requests)
        self.duration = Series(metrics.mcp_duration)


class Observation:
    """The null observation: nothing to record, the proxy runs on the original callables."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._inner_receive = receive
        self._inner_send = send

    @property
    def receive(self) -> Receive:
        return self._inner_receive

    @property
    def send(self) -> Send:
        return self._inner_send

    def __enter__(self) -> Observation:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def reached(self, *, authenticated: bool, routed: bool) -> None:
        """How far the pipeline got: decides whether the adapter name is safe to use as a label."""


_Unobserved = Observation


class McpObservation(Observation):
    """One MCP request: start and end of its span, its metrics, what its messages revealed."""

    def __init__(
        self,
        telemetry: McpTelemetry,
        scope: Scope,
        lookup: Mapping[str, str],
        kind: str,
        target: str,
        receive: Receive,
        send: Send,
        traced: bool,
    ) -> None:
        self._telemetry = telemetry
        self._kind = kind
        self._target = target
        self._http_method: str = scope["method"]
        super().__init__(receive, send)
        self._traced = traced
        self.mcp_method: str | None = lookup.get("mcp-method")
        self.tool_name: str | None = lookup.get("mcp-name")
        self._session_id = lookup.get("mcp-session-id")
        self._peeked = self._http_method != "POST" or self.mcp_method is not None
        self.status = 0
        """0 until a response starts; stays 0 when the client left first."""
        self._authenticated = False
        self._routed = False
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        self._started = 0.0
        self._lookup = lookup

    # ----- the wrapped ASGI callables ------------------------------------------------------------
    # Bound anew on each access, never stored on the observation: holding its own bound methods made it a
    # reference cycle, which kept the whole request (scope, task, uvicorn's response cycle, about 30 objects)
    # alive until the garbage collector ran; that collector's work was about 3 % of the CPU per call.
    @property
    def receive(self) -> Receive:
        return self._observing_receive

    @property
    def send(self) -> Send:
        return self._observing_send

    async def _observing_receive(self) -> Message:
        message = await self._inner_receive()
        if not self._peeked and message["type"] == "http.request":
            self._peeked = True
            body = message.get("body", b"")
            if not message.get("more_body", False) and len(body) <= PEEK_LIMIT_BYTES:
                self._read_body(body)
        return message

    async def _observing_send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self._session_id is None:
                for name, value in message.get("headers", []):
                    if name == b"mcp-session-id":
                        self._opened(value.decode())
            elif self._http_method == "DELETE" and 200 <= self.status < 300:
                metrics = self._telemetry.metrics
                if metrics is not None:
                    metrics.sessions_ended.labels(self._kind).inc()
        await self._inner_send(message)

    def _opened(self, session_id: str) -> None:
        metrics = self._telemetry.metrics
        if metrics is not None:
            metrics.sessions_opened.labels(self._kind).inc()
        if self._span is not None:
            self._span.set_attribute("mcp.session.id", self._telemetry.fingerprint(session_id))

    def reached(self, *, authenticated: bool, routed: bool) -> None:
        self._authenticated, self._routed = authenticated, routed

    # ----- span and metrics ----------------------------------------------------------------------
    def __enter__(self) -> McpObservation:
        self._started = time.perf_counter()
        series = self._telemetry.series
        if series is not None:
            series.in_flight.labels(self._kind).inc()
        if self._traced:
            self._span = get_tracer().start_span(
                f"MCP {self._http_method} {self._target}",
                context=extract_context(self._lookup),
                kind=SpanKind.SERVER,
                attributes=self._initial_attributes(),
            )
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and not isinstance(exc, Exception):
            exc = None  # cancellation: the client went away, not an error of ours
        if self.status == 0:
            outcome = "error" if exc is not None else "cancelled"
        else:
            outcome = "error" if exc is not None or self.status >= 400 else "ok"
        if self._span is not None:
            self._end_span(outcome, exc)
        series = self._telemetry.series
        if series is not None:
            series.in_flight.labels(self._kind).dec()
            adapter = self._target if self._target_is_known() else UNKNOWN
            method = method_label(self.mcp_method) if self._http_method == "POST" else method_label(None)
            status = status_class(self.status) if self.status else ("5xx" if exc is not None else "none")
            series.requests.labels(self._kind, adapter, self._http_method, method, status).inc()
            series.duration.labels(self._kind, adapter, self._http_method, method).observe(
                time.perf_counter() - self._started
            )

    def _target_is_known(self) -> bool:
        # A name reaches the labels only when the request proved the adapter exists: it was routed, or it was
        # authenticated and then refused for a reason other than 404 (no such adapter, or session). Anything
        # earlier (bad origin, no credentials) could carry any name an attacker likes.
        return self._kind == "router" or self._routed or (self._authenticated and self.status != 404)

    def _initial_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "http.request.method": self._http_method,
            "mcp.route.kind": self._kind,
            "mcp.adapter": self._target,
        }
        request_id = current_request_id()
        if request_id is not None:
            attributes["mcpgw.request_id"] = request_id
        if self._session_id is not None:
            attributes["mcp.session.id"] = self._telemetry.fingerprint(self._session_id)
        return attributes

    def _end_span(self, outcome: str, exc: BaseException | None) -> None:
        span = self._span
        assert span is not None
        if self.mcp_method is not None:
            span.set_attribute("mcp.method", self.mcp_method[:_MAX_ATTRIBUTE_CHARS])
            span.update_name(f"{self.mcp_method[:_MAX_ATTRIBUTE_CHARS]} {self._target}")
        if self.tool_name is not None:
            span.set_attribute("mcp.tool.name", self.tool_name[:_MAX_ATTRIBUTE_CHARS])
        if self.status:
            span.set_attribute("http.response.status_code", self.status)
        span.set_attribute("mcp.outcome", outcome)
        if exc is not None:
            span.record_exception(exc)
        if outcome == "error":
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        if self._token is not None:
            otel_context.detach(self._token)

    def _read_body(self, body: bytes) -> None:
        try:
            message = json.loads(body)
        except ValueError:
            return
        if isinstance(message, list):
            self.mcp_method = "batch"
            return
        if not isinstance(message, dict):
            return
        method = message.get("method")
        if isinstance(method, str):
            self.mcp_method = method
        elif "result" in message or "error" in message:
            self.mcp_method = "response"
        params = message.get("params")
        if self.tool_name is None and method == "tools/call" and isinstance(params, dict):
            name = params.get("name")
            self.tool_name = name if isinstance(name, str) else None
