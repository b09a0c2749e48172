"""Runtime seam: where adapters, tools and the tool router actually run.

A runtime turns a :class:`WorkloadSpec` into running replicas, reports their status and logs, and tells
the data plane which replicas are ready (:meth:`Runtime.endpoints`). Implementations raise only
:mod:`gateway.errors` types: ``UnsupportedOnRuntime`` for a spec it cannot run, ``NotFound`` for an
unknown workload, ``Conflict`` when objects of that name exist but are not ours, ``BackendError`` when the
platform fails or refuses (with the reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol


class WorkloadKind(StrEnum):
    ADAPTER = "adapter"
    TOOL = "tool"
    ROUTER = "router"


ROUTER_WORKLOAD = "toolgateway"
"""Name of the tool router workload, on every runtime."""


@dataclass(frozen=True)
class WorkloadSpec:
    """Everything a runtime needs to run one adapter, tool or the router. Exactly one source is set:
    ``image_name``/``image_version``, ``command`` or ``url``."""

    name: str
    kind: WorkloadKind
    replicas: int = 1
    image_name: str | None = None
    image_version: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    transport: Literal["stdio", "streamable-http"] | None = None
    url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = 8000
    """The port the workload serves on inside its container (tools: the definition's port)."""
    path: str = "/mcp"
    """The HTTP path it serves: the MCP endpoint for adapters and the router, the tool path for tools."""
    use_workload_identity: bool = False

    @property
    def image(self) -> str | None:
        if self.image_name is None or self.image_version is None:
            return None
        return f"{self.image_name}:{self.image_version}"


@dataclass(frozen=True)
class Endpoint:
    """A ready replica: a stable id (``name-0``) and the full URL to send requests to
    (``http://127.0.0.1:41234/mcp``; for a ``url`` source, that URL)."""

    id: str
    url: str


@dataclass(frozen=True)
class WorkloadStatus:
    """Replica counts in the original status shape; ``desired`` feeds ``replicaStatus``."""

    desired: int | None
    ready: int | None
    updated: int | None
    available: int | None
    image: str


class Runtime(Protocol):
    """Runs workloads. All methods are async and safe to call concurrently for different names."""

    kind: str

    async def start(self) -> None:
        """Connect, start watches and background supervision."""

    async def close(self) -> None:
        """Stop background work. The local runtime also stops every replica it started."""

    async def check(self) -> None:
        """Raise ``BackendError`` unless the runtime can act (used by ``/readyz``)."""

    def validate(self, spec: WorkloadSpec) -> None:
        """Raise ``UnsupportedOnRuntime`` (a 400) before anything is stored or started."""

    async def deploy(self, spec: WorkloadSpec) -> None:
        """Create the workload. ``Conflict`` when something of that name already exists."""

    async def update(self, spec: WorkloadSpec) -> None:
        """Apply a changed spec (replicas, source, env): a rolling restart."""

    async def delete(self, name: str) -> None:
        """Stop and remove the workload. Idempotent: a missing workload is not an error."""

    async def status(self, name: str) -> WorkloadStatus:
        """Replica counts; ``NotFound`` when the workload does not exist."""

    async def logs(self, name: str, instance: int) -> str:
        """The last lines (up to 1000) of replica ``instance``; ``NotFound`` for an unknown replica."""

    async def endpoints(self, name: str) -> list[Endpoint]:
        """Ready replicas of an adapter or of the router, for the data plane. Empty when none is ready."""

    async def tool_url(self, spec: WorkloadSpec) -> str | None:
        """Full URL (with the tool's path) the tool router POSTs to, or None when nothing is ready.
        Kubernetes: the tool Service's DNS name; local: a ready replica; ``url`` source: that URL."""
