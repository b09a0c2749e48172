"""OpenTelemetry tracing: where spans go, and how trace context crosses process boundaries.

Spans are exported to Application Insights when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set, to an
OTLP/HTTP collector when an endpoint is configured, and nowhere by default. "Nowhere" means no SDK
provider is installed at all: the API's no-op tracer then costs a few hundred nanoseconds per request,
and the proxy skips its span work entirely (see :func:`tracing_active`). A provider installed by someone
else (``opentelemetry-instrument``, a test) is respected and used.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Mapping, MutableMapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.errors import MissingExtra

log = logging.getLogger(__name__)

APPINSIGHTS_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
_EXPORTER_PACKAGES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp", "azure.monitor.opentelemetry.exporter")
"""What the ``otel`` extra installs; the API (``opentelemetry.trace``) is a base dependency."""
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# W3C trace context only: baggage is caller-controlled data we do not want to carry to upstreams.
_propagator = TraceContextTextMapPropagator()
_configured_lock = threading.Lock()
_configured = False

_tracer_for: tuple[trace.TracerProvider | None, trace.Tracer | None] = (None, None)


def get_tracer() -> trace.Tracer:
    """The tracer of the provider installed now (the API's proxy tracer would stick to the first one)."""
    global _tracer_for
    provider = trace.get_tracer_provider()
    cached_provider, cached = _tracer_for
    if cached is None or cached_provider is not provider:
        cached = provider.get_tracer("mcp-gateway")
        _tracer_for = (provider, cached)
    return cached


def configure_tracing(service_name: str, otlp_endpoint: str | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Install an SDK tracer provider with the configured exporters, once per process.

    Returns True when this call installed one. Does nothing when no exporter is configured or when a
    provider is already installed. The SDK and exporters are imported only here, so a gateway without the
    ``otel`` extra runs fine as long as nothing asks for an exporter; when something does, this raises
    :class:`~gateway.errors.MissingExtra` naming the setting.
    """
    global _configured
    connection_string = environ.get(APPINSIGHTS_ENV) or None
    if not (connection_string or otlp_endpoint):
        return False
    with _configured_lock:
        if _configured or tracing_active():
            return False
        try:
            provider = _sdk_provider(service_name, connection_string, otlp_endpoint)
        except ImportError as exc:
            if not MissingExtra.explains(exc, _EXPORTER_PACKAGES):
                raise
            for_azure = (exc.name or "").startswith("azure") or not otlp_endpoint
            setting = APPINSIGHTS_ENV if connection_string and for_azure else "MCPGW_TELEMETRY__OTLP_ENDPOINT"
            raise MissingExtra(setting, "otel") from exc
        trace.set_tracer_provider(provider)
        _configured = True
    log.info(
        "exporting traces as %s to %s",
        service_name,
        " and ".join(n for n, on in (("Application Insights", connection_string), ("OTLP", otlp_endpoint)) if on),
    )
    return True


def _sdk_provider(service_name: str, connection_string: str | None, otlp_endpoint: str | None) -> trace.TracerProvider:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if connection_string:
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

        provider.add_span_processor(BatchSpanProcessor(AzureMonitorTraceExporter(connection_string=connection_string)))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    return provider


def tracing_active() -> bool:
    """True when spans go somewhere: some SDK provider (not the API's proxy or no-op one) is installed."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def extract_context(headers: Mapping[str, str]) -> Context:
    """The caller's trace context from lower-case ``traceparent``/``tracestate`` headers (empty if none)."""
    return _propagator.extract(headers)


def inject_context(carrier: MutableMapping[str, str]) -> None:
    """Write the current span's ``traceparent`` (and ``tracestate``) into ``carrier``."""
    _propagator.inject(carrier)


def with_trace_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with the caller's trace headers replaced by the current span's context."""
    carrier: dict[str, str] = {}
    inject_context(carrier)
    if not carrier:
        return headers
    kept = [(n, v) for n, v in headers if n not in (TRACEPARENT, TRACESTATE)]
    return kept + list(carrier.items())


def session_fingerprint(session_id: str, key: bytes) -> str:
    """A stable, non-reversible stand-in for a session id in spans.

    Session ids are bearer-like: whoever holds one can use the session, so they never go into telemetry.
    The keyed hash (the key is the router secret, the same on every gateway replica) still lets an
    operator group one session's spans, and cannot be brute-forced from the exported data.
    """
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()[:16]
