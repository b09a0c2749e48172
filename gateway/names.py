"""Names the deployment itself uses, which no adapter or tool may take, and the length limit of a name.

No imports: the models, the services, the runtimes, the settings and the infrastructure all read them here.
"""

from __future__ import annotations

ROUTER_WORKLOAD = "toolgateway"
"""Name of the tool router workload, on every runtime (its StatefulSet on Kubernetes)."""
GATEWAY_WORKLOAD = "mcpgateway"
"""The gateway's own Deployment on Kubernetes."""
REDIS_WORKLOAD = "redis"
"""The session store's StatefulSet on Kubernetes."""
WORKLOAD_SERVICE_ACCOUNT = "workload-sa"
"""The service account of adapters and tools that use workload identity."""

RESERVED_NAMES = frozenset(
    {ROUTER_WORKLOAD, GATEWAY_WORKLOAD, REDIS_WORKLOAD, WORKLOAD_SERVICE_ACCOUNT, "gateway", "toolrouter", "kubernetes"}
)
"""No adapter or tool may be named like one of these: a record could adopt someone else's objects."""

MAX_NAME_LENGTH = 52
"""Kubernetes names: ``{name}-service`` fits 63, and StatefulSet pods carry the label
``controller-revision-hash: {name}-{10-char hash}``, a label value capped at 63."""
