"""Local runtime (the embedded default): each adapter or tool runs as ``replicas`` child processes.

Sources: ``command`` (``streamable-http``: the process serves on ``$PORT``; ``stdio``: the project's
bridge, ``python -m gateway.bridge``, serves it over Streamable HTTP) and ``url`` (nothing to run).
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
from dataclasses import dataclass, field

import httpx

from gateway.errors import Conflict, NotFound, UnsupportedOnRuntime
from gateway.runtimes.base import Endpoint, WorkloadSpec, WorkloadStatus
from gateway.runtimes.local_replica import Replica
from gateway.settings import LocalRuntimeSettings

log = logging.getLogger(__name__)


@dataclass
class _Workload:
    spec: WorkloadSpec
    generation: int = 1
    replicas: list[Replica] = field(default_factory=list)
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

    def __init__(self, settings: LocalRuntimeSettings) -> None:
        self._settings = settings
        self._workloads: dict[str, _Workload] = {}
        self._http = httpx.AsyncClient(trust_env=False)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        workloads = list(self._workloads.values())
        self._workloads.clear()
        await asyncio.gather(*(self._stop_workload(w) for w in workloads))
        await self._http.aclose()

    async def check(self) -> None:
        return None

    def validate(self, spec: WorkloadSpec) -> None:
        if spec.url is not None:
            return
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

    async def register(self, spec: WorkloadSpec) -> None:
        """Adopt a stored workload at start-up: local processes died with the previous gateway."""
        if spec.name not in self._workloads:
            await self.deploy(spec)

    async def deploy(self, spec: WorkloadSpec) -> None:
        self.validate(spec)
        if spec.name in self._workloads:
            raise Conflict(f"A local workload named '{spec.name}' is already running.")
        workload = _Workload(spec)
        self._workloads[spec.name] = workload
        if spec.url is None:
            workload.replicas = [self._new_replica(spec, i, workload.generation) for i in range(spec.replicas)]
            for replica in workload.replicas:
                replica.start()

    async def update(self, spec: WorkloadSpec) -> None:
        """Rolling restart in the background: each replica is replaced by a new one once that is ready."""
        self.validate(spec)
        workload = self._workloads.get(spec.name)
        if workload is None:
            await self.deploy(spec)
            return
        if workload.rollout is not None:
            workload.rollout.cancel()
        workload.spec = spec
        workload.generation += 1
        workload.rollout = asyncio.create_task(self._roll_out(workload, workload.generation))

    async def _roll_out(self, workload: _Workload, generation: int) -> None:
        async with workload.lock:
            spec = workload.spec
            if spec.url is not None:
                old, workload.replicas = workload.replicas, []
                await asyncio.gather(*(r.stop() for r in old))
                return
            for index in range(spec.replicas):
                replacement = self._new_replica(spec, index, generation)
                replacement.start()
                if not await replacement.wait_ready(self._settings.ready_timeout_seconds):
                    log.warning("replica %s not ready after rollout timeout; replacing anyway", replacement.id)
                if index < len(workload.replicas):
                    old_replica, workload.replicas[index] = workload.replicas[index], replacement
                    await old_replica.stop()
                else:
                    workload.replicas.append(replacement)
            extra, workload.replicas = workload.replicas[spec.replicas :], workload.replicas[: spec.replicas]
            await asyncio.gather(*(r.stop() for r in extra))

    async def delete(self, name: str) -> None:
        workload = self._workloads.pop(name, None)
        if workload is not None:
            await self._stop_workload(workload)

    async def _stop_workload(self, workload: _Workload) -> None:
        if workload.rollout is not None:
            workload.rollout.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await workload.rollout
        await asyncio.gather(*(r.stop() for r in workload.replicas))

    async def status(self, name: str) -> WorkloadStatus:
        workload = self._get(name)
        spec = workload.spec
        if spec.url is not None:
            return WorkloadStatus(desired=1, ready=1, updated=1, available=1, image=spec.url)
        ready = sum(1 for r in workload.replicas if r.ready)
        updated = sum(1 for r in workload.replicas if r.generation == workload.generation)
        return WorkloadStatus(
            desired=spec.replicas, ready=ready, updated=updated, available=ready, image=_describe(spec)
        )

    async def logs(self, name: str, instance: int) -> str:
        workload = self._get(name)
        if spec_url := workload.spec.url:
            return f"'{name}' is a remote server at {spec_url}; the gateway runs no process for it.\n"
        if not 0 <= instance < len(workload.replicas):
            raise NotFound(f"'{name}' has no instance {instance} (it has {len(workload.replicas)}).")
        lines = list(workload.replicas[instance].logs)
        return "\n".join(lines) + ("\n" if lines else "")

    async def endpoints(self, name: str) -> list[Endpoint]:
        workload = self._workloads.get(name)
        if workload is None:
            return []
        if workload.spec.url is not None:
            return [Endpoint(id=name, url=workload.spec.url)]
        return [Endpoint(id=r.id, url=r.url) for r in workload.replicas if r.ready]

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
            argv=_argv(spec),
            env=child_environment(dict(spec.env)),
            path=spec.path,
            settings=self._settings,
            http=self._http,
            generation=generation,
        )


def _argv(spec: WorkloadSpec) -> list[str]:
    assert spec.command is not None
    if spec.transport == "stdio":
        # The bridge listens on $PORT, which the replica sets for every run.
        return [sys.executable, "-m", "gateway.bridge", "--host", "127.0.0.1", "--", spec.command, *spec.args]
    return [spec.command, *spec.args]


def _describe(spec: WorkloadSpec) -> str:
    if spec.command is not None:
        return " ".join([spec.command, *spec.args])
    return spec.image or spec.url or "Unknown"
