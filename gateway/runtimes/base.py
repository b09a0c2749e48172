"""Runtime seam: where adapters, tools and the tool router actually run.

A runtime turns a :class:`WorkloadSpec` into running replicas, reports their status and logs, and tells
the data plane which replicas are ready (:meth:`Runtime.endpoints`). Implementations raise only
:mod:`gateway.errors` types: ``UnsupportedOnRuntime`` for a spec it cannot run, ``NotFound`` for an
unknown workload, ``Conflict`` when objects of that name exist but are not ours, ``BackendError`` when the
platform fails or refuses (with the reason).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol


class WorkloadKind(StrEnum):
    ADAPTER = "adapter"
    TOOL = "tool"
    ROUTER = "router"


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
    transport: Literal["stdio", "streamable-http", "sse"] | None = None
    url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = 8000
    """The port the workload serves on inside its container (tools: the definition's port)."""
    path: str = "/mcp"
    """The HTTP path it serves: the MCP endpoint for adapters and the router, the tool path for tools."""
    use_workload_identity: bool = False
    sse_upstream: str | None = None
    """Transport ``sse``: the bridge serves the workload and connects each session to this HTTP+SSE endpoint,
    a path on the port of ``command`` (which it starts once per replica) or, with no command, a URL (an adapter
    whose ``url`` speaks only HTTP+SSE: ``url`` is then None, since the gateway runs bridge replicas for it)."""

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


Phase = Literal["Starting", "Ready", "Updating", "Degraded", "Failing", "Stopped"]
"""What a workload is doing as a whole (rules in :mod:`gateway.runtimes.phase`)."""


@dataclass(frozen=True)
class ReplicaState:
    """One replica as the runtime sees it. ``last_error`` names the cause when it does not serve (a probe
    failure, an exit code with the last output lines, a waiting reason); ``since`` is when ``ready`` last
    changed. ``sessions``/``max_sessions``: live and maximum stdio sessions of a bridge-run replica."""

    id: str
    ready: bool
    restarts: int = 0
    last_exit_code: int | None = None
    last_error: str | None = None
    since: datetime | None = None
    failed: bool = False
    """It has failed rather than still starting: exited, crash-looping, or its probe failing for a while."""
    sessions: int | None = None
    max_sessions: int | None = None


@dataclass(frozen=True)
class WorkloadStatus:
    """Replica counts in the original status shape (``desired`` feeds ``replicaStatus``), plus the phase
    and, per replica, why it does or does not serve."""

    desired: int | None
    ready: int | None
    updated: int | None
    available: int | None
    image: str
    phase: Phase | None = None
    """None: derived from the counts and replicas by :func:`gateway.runtimes.phase.workload_phase`."""
    last_error: str | None = None
    """The most relevant replica error (operators: may hold process output), or None."""
    public_error: str | None = None
    """A short cause safe to show any caller of the adapter (no output lines, no internal addresses)."""
    replicas: tuple[ReplicaState, ...] = ()


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

    async def ensure(self, spec: WorkloadSpec) -> None:
        """Make the workload run ``spec``: create what is missing, roll out a changed spec, leave an
        unchanged one alone, adopt our own leftovers of that name. Idempotent, so the reconciler can call it
        as often as it likes. ``Conflict`` when objects of that name exist that the gateway did not create."""

    async def workloads(self) -> set[str]:
        """Names of every workload the runtime runs or has objects for (the reconciler removes those no
        record owns)."""

    async def restart(self, name: str) -> None:
        """Replace every replica with a fresh one, one at a time (no spec change). ``NotFound`` when unknown."""

    async def deploy(self, spec: WorkloadSpec) -> None:
        """Create the workload. ``Conflict`` when something of that name already exists."""

    async def update(self, spec: WorkloadSpec) -> None:
        """Apply a changed spec (replicas, source, env): a rolling restart."""

    async def delete(self, name: str) -> None:
        """Stop and remove the workload. Idempotent: a missing workload is not an error."""

    async def status(self, name: str) -> WorkloadStatus:
        """Replica counts, phase and per-replica state; ``NotFound`` when the workload does not exist."""

    async def logs(self, name: str, instance: int, tail: int = 1000, since: datetime | None = None) -> str:
        """The last ``tail`` lines of replica ``instance`` (only those written at or after ``since``);
        ``NotFound`` for an unknown replica."""

    def follow_logs(
        self, name: str, instance: int, tail: int = 1000, since: datetime | None = None
    ) -> AsyncIterator[str]:
        """Like :meth:`logs`, then every new line as it is written, one line per item (no newline). Ends
        when the replica stops or the workload is deleted. ``NotFound`` (on the first ``anext``) as logs."""

    async def endpoints(self, name: str) -> list[Endpoint]:
        """Ready replicas of an adapter or of the router, for the data plane. Empty when none is ready."""

    async def url_routable(self, name: str) -> bool:
        """Whether the ``url`` adapter ``name`` may be routed to: False only once the gateway's background
        probe of its URL has failed (until one succeeds again); True before the first probe and for names
        this runtime does not probe (an adapter created through another gateway replica)."""

    async def tool_url(self, spec: WorkloadSpec) -> str | None:
        """Full URL (with the tool's path) the tool router POSTs to, or None when nothing is ready.
        Kubernetes: the tool Service's DNS name; local: a ready replica; ``url`` source: that URL."""
