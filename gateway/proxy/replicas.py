"""Where a request may go: the ready replicas of its target, and why there are none.

A ``url`` adapter has one endpoint, its URL, known from the record on any gateway; every other target's
replicas come from the runtime. When none is ready the proxy answers 503 naming the cause from the
runtime's status, which on Kubernetes is a StatefulSet read and a pod list: the cause is remembered for
:data:`CAUSE_MAX_AGE_SECONDS` per target, so a burst of requests to a down adapter costs one status read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.proxy.deps import ReplicaSource
from gateway.runtimes.base import Endpoint

log = logging.getLogger(__name__)

CAUSE_MAX_AGE_SECONDS = 5.0
"""How long the cause of "no replica is ready" is reused for a target before the status is read again."""
CAUSE_CACHE_SIZE = 1024
"""At most this many targets' causes are remembered (only existing adapters, which the caller may read)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What one request addresses, once it is authorized: whose replicas serve it (``name``), and what its
    sessions and bulkhead are keyed by (``scope``), which differ for a virtual server."""

    name: str
    """The workload whose replicas serve the request: the adapter's name, or the tool router's workload name
    (for ``/mcp`` and for every virtual server)."""
    is_router: bool
    remote_url: str | None = None
    """An adapter whose source is a ``url``: its only endpoint, known from the record on any gateway."""
    server: str | None = None
    """The virtual server of ``/servers/{server}/mcp``, served by the tool router's replicas."""

    @property
    def scope(self) -> str:
        """What sessions (and the in-flight bulkhead) belong to: the adapter, the tool router (``/mcp``), or
        ``servers/{name}`` for a virtual server. A ``/`` never occurs in an adapter's name or in the router's,
        so a session opened on one of them is unknown on every other."""
        return self.name if self.server is None else f"servers/{self.server}"

    @property
    def kind(self) -> str:
        """The route kind, as telemetry labels it."""
        if self.server is not None:
            return "server"
        return "router" if self.is_router else "adapter"

    @property
    def label(self) -> str:
        """The route's name as telemetry labels it: the adapter's, the router workload's, or the server's."""
        return self.server if self.server is not None else self.name

    @property
    def description(self) -> str:
        """How messages to the client name it."""
        if self.server is not None:
            return f"tool router (virtual server '{self.server}')"
        return "tool router" if self.is_router else f"adapter '{self.name}'"


class Replicas:
    """The ready endpoints of a target, and the cause when there are none."""

    def __init__(self, runtime: ReplicaSource, clock: Callable[[], float] = time.monotonic) -> None:
        self._runtime = runtime
        self._clock = clock
        self._causes: dict[str, tuple[float, asyncio.Task[str]]] = {}
        """Per target: when its status read began, and that read (shared by every request that needs the
        cause meanwhile, so a burst arriving together also costs one read)."""

    async def ready(self, target: Target) -> list[Endpoint]:
        if target.remote_url is not None:
            # Routable until the gateway's background probe of the URL has failed (see remote_probe).
            if not await self._runtime.url_routable(target.name):
                return []
            return [Endpoint(target.name, target.remote_url)]
        return await self._runtime.endpoints(target.name)

    async def why_not_ready(self, name: str) -> str:
        """`` (Failing: exited with code 1; ...)`` from the runtime's status: the phase and the public cause,
        never process output or internal addresses. Empty when the status cannot be read. At most
        :data:`CAUSE_MAX_AGE_SECONDS` old."""
        now = self._clock()
        cached = self._causes.get(name)
        if cached is None or now - cached[0] >= CAUSE_MAX_AGE_SECONDS or cached[1].cancelled():
            # Re-inserted, so the dict stays in the order the reads began (the oldest is evicted first).
            self._causes.pop(name, None)
            if len(self._causes) >= CAUSE_CACHE_SIZE:
                self._evict(now)
            cached = (now, asyncio.get_running_loop().create_task(self._read_cause(name)))
            self._causes[name] = cached
        # Shielded: a request that is cancelled (its client left) does not cancel the read the others await.
        return await asyncio.shield(cached[1])

    def _evict(self, now: float) -> None:
        for name in [n for n, (began, _) in self._causes.items() if now - began >= CAUSE_MAX_AGE_SECONDS]:
            del self._causes[name]
        while len(self._causes) >= CAUSE_CACHE_SIZE:
            del self._causes[next(iter(self._causes))]

    async def _read_cause(self, name: str) -> str:
        try:
            status = await self._runtime.status(name)
        except Exception as exc:  # the error is about routing; a failing status read must not replace it
            log.debug("no status for %s: %s", name, exc)
            return ""
        phase = status.phase or ("Stopped" if not status.desired else None)
        cause = status.public_error
        if phase and cause:
            return f" ({phase}: {cause})"
        return f" ({phase})" if phase else ""
