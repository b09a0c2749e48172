"""Issue 9 acceptance: traces across gateway, router and tool; /metrics; audit records; no secret in logs."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client.parser import text_string_to_metric_families

from gateway.names import ROUTER_WORKLOAD
from gateway.telemetry import audit
from tests.integration.telemetry.stack import ROUTER_SECRET, Stack, tool_body
from tests.support.mcp_client import sdk_client as mcp_client
from tests.support.ports import free_port
from tests.support.waiting import async_wait_for, wait_for

pytestmark = pytest.mark.slow

ADAPTER, TOOL = "calc", "echo"


def _traceparent() -> tuple[dict[str, str], int]:
    """Headers carrying a fresh client span's context, and that trace's id."""
    with trace.get_tracer("tests").start_as_current_span("client") as root:
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        return carrier, root.get_span_context().trace_id


def _span(spans: Sequence[ReadableSpan], predicate: Callable[[ReadableSpan], bool]) -> ReadableSpan | None:
    return next((s for s in spans if predicate(s)), None)


def _attr(span: ReadableSpan, key: str) -> object:
    return (span.attributes or {}).get(key)


@pytest.fixture(scope="module")
def provisioned(stack: Stack) -> Stack:
    """The adapter and the tool, created once; the router has listed the tool."""
    with stack.client() as alice:
        assert alice.post("/adapters", json={"name": ADAPTER, "url": stack.mcp_server_url}).status_code == 201
        assert alice.post("/tools", json=tool_body(TOOL, stack.tool_url)).status_code == 201

    async def listed() -> bool:
        async with mcp_client(f"{stack.gateway.url}/mcp", user="alice") as client:
            return TOOL in {t.name for t in (await client.list_tools()).tools}

    wait_for(lambda: asyncio.run(listed()), timeout=30, what="the router to list the tool")
    return stack


async def test_a_control_plane_call_a_proxied_call_and_a_routed_tool_call_continue_the_callers_trace(
    provisioned: Stack, exporter: InMemorySpanExporter
) -> None:
    stack = provisioned
    headers, trace_id = _traceparent()
    with stack.client(**headers) as alice:
        assert alice.get(f"/adapters/{ADAPTER}").status_code == 200
    async with mcp_client(f"{stack.gateway.url}/adapters/{ADAPTER}/mcp", user="alice", extra_headers=headers) as c:
        assert (await c.call_tool("add", {"a": 2, "b": 40})).structured_content == {"result": 42}
    async with mcp_client(f"{stack.gateway.url}/mcp", user="alice", extra_headers=headers) as c:
        assert not (await c.call_tool(TOOL, {"text": "hi"})).is_error

    def ours() -> list[ReadableSpan]:
        return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]

    def complete() -> bool:
        names = {s.name for s in ours()}
        return {"GET /adapters/{name}", f"tools/call {ADAPTER}", f"tools/call {ROUTER_WORKLOAD}", "POST tool"} <= names

    await async_wait_for(
        complete,
        timeout=15,
        interval=0.05,
        what=lambda: f"the spans of all three calls: {sorted({s.name for s in ours()})}",
    )
    spans = ours()
    control = _span(spans, lambda s: s.name == "GET /adapters/{name}")
    assert control is not None and _attr(control, "http.response.status_code") == 200

    proxied = _span(spans, lambda s: _attr(s, "mcp.adapter") == ADAPTER and _attr(s, "mcp.method") == "tools/call")
    assert proxied is not None
    assert _attr(proxied, "mcp.tool.name") == "add" and _attr(proxied, "mcp.outcome") == "ok"
    fingerprint = _attr(proxied, "mcp.session.id")
    assert isinstance(fingerprint, str) and len(fingerprint) == 16  # a keyed hash, never the id itself

    gateway = _span(spans, lambda s: s.name == f"tools/call {ROUTER_WORKLOAD}")
    assert gateway is not None and _attr(gateway, "mcp.tool.name") == TOOL
    router_http = _span(spans, lambda s: s.parent is not None and s.parent.span_id == gateway.context.span_id)
    assert router_http is not None and router_http.name == "POST /mcp"
    routed = _span(spans, lambda s: s.name == f"tools/call {TOOL}")
    assert routed is not None and routed.parent is not None and routed.parent.span_id == router_http.context.span_id
    assert _attr(routed, "mcp.outcome") == "allowed"
    tool_http = _span(spans, lambda s: s.name == "POST tool")
    assert tool_http is not None and tool_http.parent is not None
    assert tool_http.parent.span_id == routed.context.span_id
    # The tool itself received the trace context of that client span.
    traceparent = stack.tool.received[-1]["traceparent"]
    assert traceparent.split("-")[1:3] == [format(trace_id, "032x"), format(tool_http.context.span_id, "016x")]


async def test_metrics_after_traffic_show_requests_latency_sessions_and_upstream_errors(provisioned: Stack) -> None:
    stack = provisioned
    async with mcp_client(f"{stack.gateway.url}/adapters/{ADAPTER}/mcp", user="alice") as client:
        await client.call_tool("add", {"a": 1, "b": 1})
        async with httpx.AsyncClient() as raw:
            scrape_during = (await raw.get(f"{stack.gateway.url}/metrics")).text
    with stack.client() as alice:
        alice.post("/adapters", json={"name": "gone", "url": f"http://127.0.0.1:{free_port()}/mcp"})
        dead = alice.post("/adapters/gone/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert dead.status_code == 502
        assert alice.post("/adapters/no-such-adapter-xyz/mcp", json={"jsonrpc": "2.0", "id": 1}).status_code == 404
        text = alice.get("/metrics").text

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    ok = {"kind": "adapter", "adapter": ADAPTER, "http_method": "POST", "mcp_method": "tools/call"}
    assert value("mcpgw_mcp_requests_total", **ok, status_class="2xx") >= 1
    assert value("mcpgw_mcp_request_duration_seconds_count", **ok) >= 1
    assert value("mcpgw_mcp_requests_total", kind="router", adapter=ROUTER_WORKLOAD, http_method="POST",
                 mcp_method="tools/list", status_class="2xx") >= 1  # fmt: skip
    assert value("mcpgw_upstream_errors_total", kind="adapter", adapter="gone", error="connect") >= 1
    assert value("mcpgw_http_requests_total", route="/adapters", method="POST", status_class="2xx") >= 1
    assert value("mcpgw_http_request_duration_seconds_count", route="/adapters", method="POST") >= 1
    assert ("mcpgw_mcp_requests_in_flight", (("kind", "adapter"),)) in samples
    assert "no-such-adapter-xyz" not in text  # unknown names are never labels
    assert value("mcpgw_mcp_requests_total", kind="adapter", adapter="unknown", http_method="POST",
                 mcp_method="none", status_class="4xx") >= 1  # fmt: skip
    # While a session was open, it had been counted as opened (sealed ids, the default, are counted nowhere
    # else: the store's gauge is NaN then).
    during = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(scrape_during) for s in f.samples}
    assert during[("mcpgw_mcp_sessions_opened_total", (("kind", "adapter"),))] >= 1
    assert math.isnan(during[("mcpgw_mcp_sessions_active", ())])
    async with httpx.AsyncClient() as raw:
        router_metrics = (await raw.get(f"{stack.router.url}/metrics")).text
    assert 'mcpgw_router_tool_calls_total{decision="allowed",tool="echo"}' in router_metrics


async def test_creates_updates_deletes_and_tool_calls_are_audited(
    provisioned: Stack, audit_events: list[audit.AuditEvent]
) -> None:
    stack = provisioned
    body = {"name": "audited", "url": stack.mcp_server_url}
    with stack.client() as alice, stack.client(user="mallory") as mallory:
        assert alice.post("/adapters", json=body).status_code == 201
        assert alice.put("/adapters/audited", json={**body, "description": "v2"}).status_code == 200
        assert mallory.delete("/adapters/audited").status_code == 403
        assert alice.delete("/adapters/audited").status_code == 204
    async with mcp_client(f"{stack.gateway.url}/mcp", user="alice") as client:
        await client.call_tool(TOOL, {"text": "private words"})
        await client.call_tool("not-a-tool", {})

    await async_wait_for(
        lambda: len([e for e in audit_events if e.action == "tool.call"]) >= 2,
        timeout=15,
        interval=0.05,
        what="tool audits",
    )
    seen = [(e.actor, e.action, e.resource, e.decision, e.status) for e in audit_events]
    assert seen[:4] == [
        ("alice", "adapter.create", "audited", "allowed", 201),
        ("alice", "adapter.update", "audited", "allowed", 200),
        ("mallory", "adapter.delete", "audited", "denied", 403),
        ("alice", "adapter.delete", "audited", "allowed", 204),
    ]
    assert ("alice", "tool.call", TOOL, "allowed", 200) in seen
    assert ("alice", "tool.call", "not-a-tool", "denied", 403) in seen
    assert all(e.latency_ms >= 0 and e.time for e in audit_events)
    assert all(e.detail is None for e in audit_events)  # arguments are not recorded by default


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLWZvci10ZXN0cw"


async def test_no_token_secret_or_session_id_appears_in_any_log_line(
    provisioned: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = provisioned
    caplog.set_level(logging.DEBUG)
    secret_headers = {"Authorization": f"Bearer {JWT}", "X-Gateway-Secret": ROUTER_SECRET}
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    with stack.client(**secret_headers, **accept) as alice:
        session = alice.post("/mcp", json=init).headers["mcp-session-id"]
        headers = {"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}
        alice.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        alice.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers)
        alice.post(f"/adapters/{ADAPTER}/mcp", json=init, headers={"Mcp-Session-Id": "forged-session-0123"})
        alice.delete("/mcp", headers=headers)
    # Libraries do log such things at DEBUG; this one proves the capture would have seen them.
    logging.getLogger("httpx").debug("request headers: [('authorization', 'Bearer %s')]", JWT)
    logging.getLogger("toolrouter").info("Created new transport with session ID: %s", session)

    lines = [record.getMessage() for record in caplog.records] + caplog.text.splitlines()
    assert any("[REDACTED]" in line for line in lines)
    for needle in (JWT, ROUTER_SECRET, session):
        leaked = [line for line in lines if needle in line]
        assert not leaked, f"{needle[:8]}... appears in {leaked[:3]}"
