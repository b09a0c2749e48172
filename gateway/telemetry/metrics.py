"""The gateway's Prometheus metrics, in a registry of its own (one per app, so tests can build many).

Label values are bounded by construction: route kind (``adapter``/``router``/``control``), adapter names
only once the request proved the adapter exists (else ``unknown``), MCP methods from an allow-list (else
``other``), HTTP status classes. User ids and session ids are never labels.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

MCP_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "subscriptions/listen",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "roots/list",
        "sampling/createMessage",
        "elicitation/create",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/cancel",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
    }
)
"""Methods a client sends to a server; anything else is labelled ``other``."""

UNKNOWN = "unknown"
NO_METHOD = "none"
"""GET (the server stream) and DELETE (end of session) carry no JSON-RPC method."""

# Control-plane calls are fast; MCP calls include tool runs and, for GET, whole SSE streams.
_CONTROL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_MCP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


_PSEUDO_METHODS = frozenset({"batch", "response"})
"""What the proxy reports for a JSON-RPC batch and for a client's answer to a server request."""


def method_label(method: str | None) -> str:
    if method is None:
        return NO_METHOD
    return method if method in MCP_METHODS or method in _PSEUDO_METHODS else "other"


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


class GatewayMetrics:
    """Every series the gateway exports; ``render`` output is what ``GET /metrics`` serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "mcpgw_http_requests", "Control-plane HTTP requests", ["route", "method", "status_class"], registry=r
        )
        self.http_duration = Histogram(
            "mcpgw_http_request_duration_seconds",
            "Control-plane request latency",
            ["route", "method"],
            buckets=_CONTROL_BUCKETS,
            registry=r,
        )
        self.mcp_requests = Counter(
            "mcpgw_mcp_requests",
            "MCP requests through the proxy",
            ["kind", "adapter", "http_method", "mcp_method", "status_class"],
            registry=r,
        )
        self.mcp_duration = Histogram(
            "mcpgw_mcp_request_duration_seconds",
            "MCP request latency until the response ends (for GET: the stream's lifetime)",
            ["kind", "adapter", "http_method", "mcp_method"],
            buckets=_MCP_BUCKETS,
            registry=r,
        )
        self.mcp_in_flight = Gauge("mcpgw_mcp_requests_in_flight", "MCP requests being served", ["kind"], registry=r)
        self.upstream_errors = Counter(
            "mcpgw_upstream_errors", "Replica requests that failed", ["kind", "adapter", "error"], registry=r
        )
        self.active_sessions = Gauge(
            "mcpgw_mcp_sessions_active",
            "MCP sessions in the session store (NaN when it cannot count cheaply, and with sealed session ids)",
            registry=r,
        )
        self.sessions_opened = Counter(
            "mcpgw_mcp_sessions_opened", "MCP sessions this gateway replica handed an id for", ["kind"], registry=r
        )
        self.sessions_ended = Counter(
            "mcpgw_mcp_sessions_ended", "MCP sessions ended by a DELETE through this gateway replica", ["kind"],
            registry=r,
        )


M = TypeVar("M", bound=MetricWrapperBase)


class Series(Generic[M]):
    """The children of one labelled metric, remembered by their label values (strings).

    ``labels()`` converts, validates and locks on every call (2-3 µs; the proxy makes four such calls per
    request); a dict lookup does not. The map is bounded as the label values are (see above). Nothing may
    ``remove()`` a series of a metric used through this: a child remembered here would go on being updated
    without being exported (the gateway removes none)."""

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child
