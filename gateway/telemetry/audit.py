"""Audit events: who did what, the decision, and how long it took.

Every event is one structured record on the ``mcpgw.audit`` logger (JSON when logs are JSON; a file
too when ``MCPGW_TELEMETRY__AUDIT_FILE`` is set) and is handed to in-process listeners, which is how
tests, and any future sink, read them. Arguments of tool calls are recorded only when configured.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.request_context import current_client_address, current_request_id

log = logging.getLogger("mcpgw.audit")

Decision = Literal["allowed", "denied", "failed"]
AuditListener = Callable[["AuditEvent"], None]


@dataclass(frozen=True)
class AuditEvent:
    """One audited action. ``action`` is ``<kind>.<verb>`` (``adapter.create``, ``tool.call``)."""

    actor: str
    action: str
    resource: str
    decision: Decision
    status: int
    latency_ms: float
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    request_id: str | None = field(default_factory=current_request_id)
    client: str | None = field(default_factory=current_client_address)
    """The client's address: the TCP peer, or what a trusted proxy forwarded (``gateway.edge``)."""
    trace_id: str | None = None
    detail: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


_listeners: list[AuditListener] = []
_lock = threading.Lock()


def subscribe(listener: AuditListener) -> Callable[[], None]:
    """Call ``listener`` with every later event; returns the function that unsubscribes it."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def emit(event: AuditEvent) -> None:
    """Log ``event`` and hand it to the listeners; a failing listener never fails the audited action."""
    if event.trace_id is None:
        event = _with_trace_id(event)
    log.info(
        "audit %s %s by %s: %s (%d) in %.1f ms",
        event.action,
        event.resource,
        event.actor,
        event.decision,
        event.status,
        event.latency_ms,
        extra={"audit": event.to_json()},
    )
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            log.exception("audit listener failed")


def decision_for(status: int) -> Decision:
    if status in (401, 403):
        return "denied"
    return "allowed" if status < 400 else "failed"


@contextmanager
def audited(actor: str, action: str, resource: str, success_status: int = 200) -> Iterator[None]:
    """Emit one event for the block: allowed on success, denied/failed by the exception's ``status``."""
    started = time.perf_counter()
    status = success_status
    try:
        yield
    except BaseException as exc:
        status = getattr(exc, "status", 500)
        raise
    finally:
        latency = round((time.perf_counter() - started) * 1000, 3)
        emit(AuditEvent(actor, action, resource, decision_for(status), status, latency))


def _with_trace_id(event: AuditEvent) -> AuditEvent:
    from dataclasses import replace

    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return replace(event, trace_id=format(context.trace_id, "032x")) if context.is_valid else event
