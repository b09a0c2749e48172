"""Local runtime (the embedded default): each adapter or tool runs as ``replicas`` child processes.

Sources: ``command`` (``streamable-http``: the process serves on ``$PORT``; ``stdio``: the project's
bridge, ``python -m bridge``, serves it over Streamable HTTP) and ``url`` (nothing to run).
Container images need a container runtime, so they are refused with a 400 that says so.

Children inherit the gateway's environment minus its own ``MCPGW_*`` settings (which hold secrets),
plus the resource's ``environmentVariables``, with the directory of the gateway's own interpreter first on
``PATH``. They run in the gateway's working directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from gateway.errors import Conflict, NotFound, UnsupportedOnRuntime
from gateway.netguard import ConnectGuard
from gateway.runtimes.base import Endpoint, WorkloadKind, WorkloadSpec, WorkloadStatus
from gateway.runtimes.local.replica import Replica
from gateway.runtimes.phase import most_relevant_error, workload_phase
from gateway.runtimes.remote_probe import RemoteProbes
from gateway.settings import LocalRuntimeSettings

log = logging.getLogger(__name__)

PROBE_SYNC_SECONDS = 1.0
"""How often the set of probed ``url`` adapters is matched to the workloads (reads match it at once too)."""


@dataclass
class _Workload:
    spec: WorkloadSpec
    generation: int = 1
    replicas: list[Replica] = field(default_factory=list)
    """The replicas in service, by index."""
    spawned: set[Replica] = field(default_factory=set)
    """Every replica started and not yet stopped, including a rollout's replacement that is not in service
    yet: stopping the workload stops all of these, so a delete during a rollout leaves no process behind."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rollout: asyncio.Task[None] | None = None


def child_environment(spec_env: dict[str, str] | None = None) -> dict[str, str]:
    """What a child process gets; a ``PATH`` in ``environmentVariables`` is used exactly as given."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MCPGW_")}
    inherited["PATH"] = gateway_interpreter_first(inherited.get("PATH", os.defpath))
    return {**inherited, "PYTHONUNBUFFERED": "1", **(spec_env or {})}


def gateway_interpreter_first(path: str) -> str:
    """``path`` with the directory of the interpreter running the gateway in front.

    A command such as ``python3 server.py`` then runs on the gateway's own Python with its packages (``mcp``,
    ``uvicorn``, ...), which is what a user of ``make run`` expects: ``make run`` starts the gateway from
    ``.venv`` without activating it, so the shell's ``python3`` is usually another Python without them.
    """
    if not sys.executable:  # an embedded interpreter that cannot tell: leave PATH alone
        return path
    # Not resolved: a virtual environment's python is a symlink to the base interpreter's directory.
    own = os.path.dirname(sys.executable)
    rest = [entry for entry in path.split(os.pathsep) if entry != own] if path else []
    return os.pathsep.join([own, *rest])


class LocalRuntime:
    kind = "local"

    def __init__(self, settings: LocalRuntimeSettings, url_guard: ConnectGuard | None = None) -> None:
        self._settings = settings
        self._workloads: dict[str, _Workload] = {}
        self._http = httpx.AsyncClient(trust_env=False)
        self._remote = RemoteProbes(url_guard)
        """Background MCP probes of ``url`` adapters, through the data plane's SSRF guard."""
        self._probe_sync: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._probe_sync is None:
            self._probe_sync = asyncio.create_task(self._sync_probes_forever(), name="url probes")

    async def close(self) -> None:
        if self._probe_sync is not None:
            self._probe_sync.cancel()
            self._probe_sync = None
        await self._remote.close()
        workloads = list(self._workloads.values())
        self._workloads.clear()
        await asyncio.gather(*(self._stop_workload(w) for w in workloads))
        await self._http.aclose()

    async def check(self) -> None:
        return None

    def validate(self, spec: WorkloadSpec) -> None:
        if spec.url is not None or (spec.command is None and spec.sse_upstream is not None):
            return  # nothing to look up: a remote server, or the bridge in front of a remote HTTP+SSE one
        if spec.command is None:
            raise UnsupportedOnRuntime(
                f"'{spec.name}' names only a container image, which needs the Kubernetes runtime "
                "(MCPGW_RUNTIME__KIND=kubernetes). On the local runtime give a command (and args) or a url."
            )
        # Looked up on the PATH the replicas will get, so what is accepted here is what they run.
        if shutil.which(spec.command, path=child_environment(dict(spec.env)).get("PATH")) is None:
            raise UnsupportedOnRuntime(
                f"The command '{spec.command}' was not found on the PATH of the gateway's child processes "
                "(the directory of the gateway's Python, then the gateway's PATH)."
            )

    async def ensure(self, spec: WorkloadSpec) -> None:
        """Start what is missing, roll out a changed spec, leave an unchanged workload alone. At start-up
        nothing is running: local processes die with the gateway that started them (the process guard)."""
        workload = self._workloads.get(spec.name)
        if workload is None:
            await self.deploy(spec)
        elif workload.spec != spec:
            await self.update(spec)

    async def workloads(self) -> set[str]:
        return set(self._workloads)

    async def restart(self, name: str) -> None:
        """A rolling restart with the same spec (a ``url`` source runs nothing, so there is nothing to do)."""
        workload = self._get(name)
        if workload.spec.url is None:
            self._start_rollout(workload)

    async def deploy(self, spec: WorkloadSpec) -> None:
        self.validate(spec)
        if spec.name in self._workloads:
            raise Conflict(f"A local workload named '{spec.name}' is already running.")
        workload = _Workload(spec)
        self._workloads[spec.name] = workload
        if spec.url is None:
            workload.replicas = [self._spawn(workload, spec, i, workload.generation) for i in range(spec.replicas)]

    async def update(self, spec: WorkloadSpec) -> None:
        """Rolling restart in the background: each replica is replaced by a new one once that is ready."""
        self.validate(spec)
        workload = self._workloads.get(spec.name)
        if workload is None:
            await self.deploy(spec)
            return
        workload.spec = spec
        self._start_rollout(workload)

    def _start_rollout(self, workload: _Workload) -> None:
        """Supersede any rollout in progress: its replacement replica is stopped (it is in ``spawned``)."""
        if workload.rollout is not None:
            workload.rollout.cancel()
        workload.generation += 1
        workload.rollout = asyncio.create_task(self._roll_out(workload, workload.generation))

    async def _roll_out(self, workload: _Workload, generation: int) -> None:
        async with workload.lock:
            spec = workload.spec
            if spec.url is not None:
                old, workload.replicas = workload.replicas, []
                await self._stop_replicas(workload, old)
                return
            for index in range(spec.replicas):
                replacement = self._spawn(workload, spec, index, generation)
                try:
                    ready = await replacement.wait_ready(self._settings.ready_timeout_seconds)
                except asyncio.CancelledError:
                    # Superseded by a newer rollout or a delete: this replica never entered service.
                    await asyncio.shield(self._stop_replicas(workload, [replacement]))
                    raise
                if not ready:
                    log.warning("replica %s not ready after rollout timeout; replacing anyway", replacement.id)
                if index < len(workload.replicas):
                    old_replica, workload.replicas[index] = workload.replicas[index], replacement
                    await asyncio.shield(self._stop_replicas(workload, [old_replica]))
                else:
                    workload.replicas.append(replacement)
            extra, workload.replicas = workload.replicas[spec.replicas :], workload.replicas[: spec.replicas]
            await asyncio.shield(self._stop_replicas(workload, extra))

    async def delete(self, name: str) -> None:
        workload = self._workloads.pop(name, None)
        if workload is not None:
            await self._stop_workload(workload)

    async def _stop_workload(self, workload: _Workload) -> None:
        if workload.rollout is not None:
            workload.rollout.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await workload.rollout
        workload.replicas = []
        await self._stop_replicas(workload, list(workload.spawned))

    def _spawn(self, workload: _Workload, spec: WorkloadSpec, index: int, generation: int) -> Replica:
        replica = self._new_replica(spec, index, generation)
        workload.spawned.add(replica)
        replica.start()
        return replica

    @staticmethod
    async def _stop_replicas(workload: _Workload, replicas: list[Replica]) -> None:
        await asyncio.gather(*(replica.stop() for replica in replicas))
        workload.spawned.difference_update(replicas)

    async def status(self, name: str) -> WorkloadStatus:
        workload = self._get(name)
        spec = workload.spec
        if spec.url is not None:
            if spec.kind == WorkloadKind.ADAPTER:
                self._sync_probes()
                return self._remote.status(name, spec.url)
            return WorkloadStatus(desired=1, ready=1, updated=1, available=1, image=spec.url, phase="Ready")
        in_service = list(workload.replicas)
        # A rollout's replacement that is not in service yet explains a rollout that does not progress.
        pending = sorted((r for r in workload.spawned if r not in in_service and not r.stopped), key=lambda r: r.id)
        await asyncio.gather(*(r.refresh_sessions() for r in in_service))
        states = tuple(r.state() for r in [*in_service, *pending])
        ready = sum(1 for r in in_service if r.ready)
        updated = sum(1 for r in in_service if r.generation == workload.generation)
        rolling = workload.rollout is not None and not workload.rollout.done()
        culprit = most_relevant_error(states)
        public = next((r.public_error for r in [*in_service, *pending] if culprit and r.id == culprit.id), None)
        return WorkloadStatus(
            desired=spec.replicas,
            ready=ready,
            updated=updated,
            available=ready,
            image=_describe(spec),
            phase=workload_phase(spec.replicas, ready, updated, states, rolling=rolling or updated < spec.replicas),
            last_error=culprit.last_error if culprit else None,
            public_error=public,
            replicas=states,
        )

    async def logs(self, name: str, instance: int, tail: int = 1000, since: datetime | None = None) -> str:
        lines = [line async for line in self._log_lines(name, instance, tail, since, follow=False)]
        return "".join(f"{line}\n" for line in lines)

    def follow_logs(
        self, name: str, instance: int, tail: int = 1000, since: datetime | None = None
    ) -> AsyncIterator[str]:
        return self._log_lines(name, instance, tail, since, follow=True)

    async def _log_lines(
        self, name: str, instance: int, tail: int, since: datetime | None, follow: bool
    ) -> AsyncIterator[str]:
        workload = self._get(name)
        if spec_url := workload.spec.url:
            yield f"'{name}' is a remote server at {spec_url}; the gateway runs no process for it."
            return
        if not 0 <= instance < len(workload.replicas):
            raise NotFound(f"'{name}' has no instance {instance} (it has {len(workload.replicas)}).")
        replica = workload.replicas[instance]
        if not follow:
            for line in replica.tail(tail, since):
                yield line
            return
        async for line in replica.follow(tail, since):
            yield line

    async def endpoints(self, name: str) -> list[Endpoint]:
        workload = self._workloads.get(name)
        if workload is None:
            return []
        if workload.spec.url is not None:
            return [Endpoint(id=name, url=workload.spec.url)] if await self.url_routable(name) else []
        return [Endpoint(id=r.id, url=r.url) for r in workload.replicas if r.ready]

    async def url_routable(self, name: str) -> bool:
        # On the data plane's path: no sync here (the background loop and the reads keep the probes current).
        workload = self._workloads.get(name)
        if workload is None or workload.spec.url is None:
            return True
        return self._remote.routable(name, workload.spec.url)

    def _sync_probes(self) -> None:
        """Probe exactly the ``url`` adapters that exist (called on every read and by the start-up loop)."""
        self._remote.sync(
            {
                name: w.spec.url
                for name, w in self._workloads.items()
                if w.spec.url is not None and w.spec.kind == WorkloadKind.ADAPTER
            }
        )

    async def _sync_probes_forever(self) -> None:
        while True:
            self._sync_probes()
            await asyncio.sleep(PROBE_SYNC_SECONDS)

    async def tool_url(self, spec: WorkloadSpec) -> str | None:
        ready = await self.endpoints(spec.name)
        return ready[0].url if ready else None

    def _get(self, name: str) -> _Workload:
        workload = self._workloads.get(name)
        if workload is None:
            raise NotFound(f"No local workload named '{name}' is running.")
        return workload

    def _new_replica(self, spec: WorkloadSpec, index: int, generation: int) -> Replica:
        return Replica(
            replica_id=f"{spec.name}-{index}",
            argv=_argv(spec, self._settings),
            env=child_environment(dict(spec.env)),
            path=spec.path,
            settings=self._settings,
            http=self._http,
            generation=generation,
            mcp=spec.kind == WorkloadKind.ADAPTER,
            bridge=spec.transport in ("stdio", "sse"),
        )


def _argv(spec: WorkloadSpec, settings: LocalRuntimeSettings) -> list[str]:
    """``stdio`` and ``sse`` run the bridge (it listens on $PORT, which the replica sets for every run, and
    serves /mcp); ``streamable-http`` runs the command itself."""
    if spec.transport not in ("stdio", "sse"):
        assert spec.command is not None
        return [spec.command, *spec.args]
    bridge = [
        sys.executable, "-m", "bridge", "--host", "127.0.0.1",
        "--session-ttl", f"{settings.session_idle_timeout_seconds:g}",
        "--max-sessions", str(settings.max_sessions_per_replica),
    ]
    if spec.transport == "sse":
        assert spec.sse_upstream is not None
        bridge += ["--transport", "sse", "--sse-url", spec.sse_upstream]
    return bridge + (["--", spec.command, *spec.args] if spec.command is not None else [])


def _describe(spec: WorkloadSpec) -> str:
    if spec.command is not None:
        return " ".join([spec.command, *spec.args])
    return spec.image or spec.url or spec.sse_upstream or "Unknown"
