"""Audit events carry who, what, the decision and the latency; metric labels stay bounded."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from gateway.errors import Forbidden, InvalidRequest
from gateway.telemetry import audit
from gateway.telemetry.metrics import GatewayMetrics, Series, method_label, status_class


@pytest.fixture
def events() -> list[audit.AuditEvent]:
    seen: list[audit.AuditEvent] = []
    unsubscribe = audit.subscribe(seen.append)
    yield seen
    unsubscribe()


def test_a_successful_block_is_audited_as_allowed_with_its_latency(events: list[audit.AuditEvent]) -> None:
    with audit.audited("alice", "adapter.create", "calc", success_status=201):
        pass
    (event,) = events
    assert (event.actor, event.action, event.resource, event.decision, event.status) == (
        "alice",
        "adapter.create",
        "calc",
        "allowed",
        201,
    )
    assert event.latency_ms >= 0


def test_a_forbidden_action_is_denied_and_a_bad_request_failed(events: list[audit.AuditEvent]) -> None:
    with pytest.raises(Forbidden), audit.audited("mallory", "tool.delete", "weather"):
        raise Forbidden("no")
    with pytest.raises(InvalidRequest), audit.audited("alice", "tool.update", "weather"):
        raise InvalidRequest("bad")
    assert [(e.decision, e.status) for e in events] == [("denied", 403), ("failed", 400)]


def test_a_failing_listener_does_not_fail_the_audited_action(events: list[audit.AuditEvent]) -> None:
    def broken(_: audit.AuditEvent) -> None:
        raise RuntimeError("sink down")

    unsubscribe = audit.subscribe(broken)
    try:
        with audit.audited("alice", "adapter.delete", "calc", success_status=204):
            pass
    finally:
        unsubscribe()
    assert events[-1].decision == "allowed"


@pytest.mark.parametrize(
    ("method", "label"),
    [("tools/call", "tools/call"), ("initialize", "initialize"), ("x/" + "a" * 500, "other"), (None, "none")],
)
def test_mcp_method_labels_come_from_an_allow_list(method: str | None, label: str) -> None:
    assert method_label(method) == label


def test_status_codes_are_labelled_by_class() -> None:
    assert [status_class(s) for s in (200, 204, 404, 502, 999)] == ["2xx", "2xx", "4xx", "5xx", "other"]


def test_a_series_hands_out_the_metrics_own_children() -> None:
    metrics = GatewayMetrics()
    requests = Series(metrics.mcp_requests)
    child = requests.labels("adapter", "weather", "POST", "tools/call", "2xx")
    assert child is metrics.mcp_requests.labels("adapter", "weather", "POST", "tools/call", "2xx")
    assert requests.labels("adapter", "weather", "POST", "tools/call", "2xx") is child
    child.inc()
    assert 'mcpgw_mcp_requests_total{adapter="weather"' in generate_latest(metrics.registry).decode()
