"""Fixtures: an in-memory span exporter installed as the global tracer provider, the in-process stack,
and the audit events emitted meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from gateway.app import create_app
from gateway.telemetry import audit
from tests.integration.telemetry.stack import (
    Stack,
    ToolEndpoint,
    gateway_settings,
    loop_server,
    register_router,
    router_settings,
    start_mcp_server,
)
from toolrouter import create_router_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of every component in this process, read back in memory.

    OpenTelemetry lets a process set its provider once; the private reset afterwards keeps the rest of
    the test session as it was (tracing off), exactly as OpenTelemetry's own test utilities do.
    """
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    yield memory
    provider.shutdown()
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def stack(exporter: InMemorySpanExporter) -> Iterator[Stack]:
    mcp_process, mcp_url = start_mcp_server()
    tool = ToolEndpoint()
    app = create_app(gateway_settings())
    try:
        with loop_server(tool.app()) as _tool_server, loop_server(app) as gateway:
            router_app = create_router_app(router_settings(f"{gateway.url}/internal/tool-catalog"))
            with loop_server(router_app) as router:
                register_router(gateway, app, router.url)
                yield Stack(gateway, router, tool, mcp_url, f"{_tool_server.url}/echo")
    finally:
        mcp_process.terminate()
        mcp_process.wait(timeout=10)


@pytest.fixture
def audit_events() -> Iterator[list[audit.AuditEvent]]:
    seen: list[audit.AuditEvent] = []
    unsubscribe = audit.subscribe(seen.append)
    yield seen
    unsubscribe()
