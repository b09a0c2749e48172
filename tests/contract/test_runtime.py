"""The Runtime contract: the same lifecycle, restart, race and crash scenarios on the local runtime (real child
processes) and the Kubernetes runtime (a real kube-apiserver and kube-controller-manager; tests/kube.py).

Every scenario drives the control plane's services (store, reconciler, runtime), as the REST API does, and
asserts on what really runs: the process table for the local runtime, the StatefulSets, Services and pods
in the API server for Kubernetes; never only on return values. On Kubernetes each scenario runs two gateway
replicas (two runtimes and reconcilers) over one shared store, as several gateway pods do.

The random interleavings are bounded (a fixed number of rounds and operations, seeded per round so a failure
names the seed that reproduces it: ``CONTRACT_SEED=<n>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from gateway.auth.principal import Principal
from gateway.errors import Conflict, GatewayError, NotFound
from gateway.models import AdapterData, AdapterResource
from gateway.netguard import ConnectGuard
from gateway.runtimes.base import Runtime
from gateway.runtimes.local.runtime import LocalRuntime
from gateway.services.reconcile import Reconciler
from gateway.services.resources import ResourceService
from gateway.services.ssrf import UrlGuard
from gateway.settings import LocalRuntimeSettings
from gateway.stores.base import MetadataStore
from gateway.stores.memory import MemoryMetadataStore
from tests.support.paths import PYTHON
from tests.support.waiting import async_wait_for

pytestmark = pytest.mark.slow

TINY_SERVER = Path(__file__).with_name("tiny_mcp_server.py")
ADMIN = Principal(user_id="contract-admin", roles=frozenset({"mcp.admin"}))
SETTLE_SECONDS = 60.0
ROUNDS = int(os.environ.get("CONTRACT_ROUNDS", "20"))
"""Each round is a fresh randomized scenario: the suite runs the race 20 times on each runtime."""


# ----- one gateway replica's control plane, in process ---------------------------------------------------------


@dataclass
class GatewayReplica:
    runtime: Runtime
    reconciler: Reconciler
    adapters: ResourceService[AdapterData, AdapterResource]


def gateway_replica(store: MetadataStore, runtime: Runtime) -> GatewayReplica:
    services: dict[str, ResourceService[Any, Any]] = {}
    reconciler = Reconciler(store, runtime, lambda record: services[record.kind].spec_of_record(record), ())
    guard = UrlGuard(ConnectGuard.from_settings(_proxy_settings(), "development"))
    adapters: ResourceService[AdapterData, AdapterResource] = ResourceService(
        "adapter", AdapterResource, store, runtime, reconciler, [], guard
    )
    services["adapter"] = adapters
    return GatewayReplica(runtime, reconciler, adapters)


def _proxy_settings() -> Any:
    from gateway.settings import ProxySettings

    return ProxySettings()


# ----- what runs, per runtime -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    """What a runtime really runs for one name: the mark (spec version) of each replica, and objects."""

    marks: tuple[str, ...]
    """One entry per live replica process (local) or per pod (Kubernetes), sorted."""
    objects: tuple[str, ...] = ()
    """Kubernetes: the kinds of API objects of that name (``StatefulSet``, ``Service``)."""
    detail: str = field(default="", compare=False)
    """What was seen besides (the StatefulSet's status, each pod): for failure messages, not compared."""


class Harness(Protocol):
    store: MetadataStore
    replicas: list[GatewayReplica]

    def body(self, name: str, mark: str, replicas: int) -> AdapterData: ...

    async def running(self, name: str) -> Running: ...

    async def restarted_since(self, name: str, before: Running, token: object) -> bool: ...

    async def restart_token(self, name: str) -> object: ...

    async def fresh_replica(self) -> GatewayReplica:
        """A new gateway replica over the same store (the next start after a crash)."""
        ...


def _env(name: str, mark: str) -> dict[str, str]:
    return {"CONTRACT_NAME": name, "CONTRACT_MARK": mark}


class LocalHarness:
    def __init__(self) -> None:
        self.store: MetadataStore = MemoryMetadataStore()
        self.settings = LocalRuntimeSettings(
            health_interval_seconds=0.2, ready_timeout_seconds=15, stop_grace_seconds=2
        )
        self.replicas = [gateway_replica(self.store, LocalRuntime(self.settings))]

    def body(self, name: str, mark: str, replicas: int) -> AdapterData:
        return AdapterData.model_validate(
            {
                "name": name,
                "command": PYTHON,
                "args": [str(TINY_SERVER)],
                "transport": "streamable-http",
                "replicaCount": replicas,
                "environmentVariables": _env(name, mark),
            }
        )

    async def running(self, name: str) -> Running:
        return Running(marks=tuple(sorted(mark for _, mark in server_processes(name))))

    async def restart_token(self, name: str) -> object:
        return {pid for pid, _ in server_processes(name)}

    async def restarted_since(self, name: str, before: Running, token: object) -> bool:
        now = {pid for pid, _ in server_processes(name)}
        assert isinstance(token, set)
        return len(now) == len(token) and not (now & token)

    async def fresh_replica(self) -> GatewayReplica:
        replica = gateway_replica(self.store, LocalRuntime(self.settings))
        self.replicas.append(replica)
        return replica


def server_processes(name: str) -> list[tuple[int, str]]:
    """(pid, mark) of every live tiny server process started for ``name`` (not their process guards)."""
    found = []
    needle = f"CONTRACT_NAME={name}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle not in environ or b"gateway.runtimes.local.guard" in cmdline or state == "Z":
            continue
        marks = [v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"CONTRACT_MARK=")]
        found.append((int(entry), marks[0] if marks else ""))
    return found


class KubernetesHarness:
    def __init__(self, kube: httpx.AsyncClient, namespace: str, settings: Any) -> None:
        self.store: MetadataStore = MemoryMetadataStore()
        self.kube = kube
        self.namespace = namespace
        self.settings = settings
        self.replicas: list[GatewayReplica] = []
        self.control_plane_logs: Callable[[], str] = lambda: ""
        """The control plane's log tails, for a failure message (the fixture sets it)."""

    async def start(self) -> None:
        for _ in range(2):  # two gateway pods sharing one store
            await self.fresh_replica()

    async def fresh_replica(self) -> GatewayReplica:
        from gateway.runtimes.kubernetes.runtime import KubernetesRuntime

        runtime = KubernetesRuntime(self.settings)
        await runtime.start()
        replica = gateway_replica(self.store, runtime)
        self.replicas.append(replica)
        return replica

    def body(self, name: str, mark: str, replicas: int) -> AdapterData:
        return AdapterData.model_validate(
            {
                "name": name,
                "imageName": "tiny",
                "imageVersion": "1",
                "replicaCount": replicas,
                "environmentVariables": _env(name, mark),
            }
        )

    async def running(self, name: str) -> Running:
        base = f"/api/v1/namespaces/{self.namespace}"
        apps = f"/apis/apps/v1/namespaces/{self.namespace}"
        objects, detail, marks = [], "", []
        statefulset = await self.kube.get(f"{apps}/statefulsets/{name}")
        if statefulset.status_code == 200:
            objects.append("StatefulSet")
            body = statefulset.json()
            status = body.get("status", {})
            detail = (
                f"replicas={body['spec'].get('replicas')} ready={status.get('readyReplicas')} "
                f"updated={status.get('updatedReplicas')} "
                f"rev={status.get('currentRevision')}/{status.get('updateRevision')}"
            )
        if (await self.kube.get(f"{base}/services/{name}-service")).status_code == 200:
            objects.append("Service")
        pods = await self.kube.get(f"{base}/pods", params={"labelSelector": f"adapter/name={name}"})
        for pod in pods.json().get("items", []):
            meta = pod["metadata"]
            detail += (
                f" pod {meta['name']} uid={meta['uid'][:8]}"
                f" rev={meta.get('labels', {}).get('controller-revision-hash')}"
                f" ready={_pod_ready(pod)}{' deleting' if meta.get('deletionTimestamp') else ''};"
            )
            if meta.get("deletionTimestamp"):
                continue
            env = pod["spec"]["containers"][0].get("env", [])
            marks.append(next((e.get("value", "") for e in env if e["name"] == "CONTRACT_MARK"), ""))
        return Running(marks=tuple(sorted(marks)), objects=tuple(objects), detail=detail)

    async def restart_token(self, name: str) -> object:
        return await self._pod_uids(name)

    async def restarted_since(self, name: str, before: Running, token: object) -> bool:
        now = await self._pod_uids(name)
        assert isinstance(token, set)
        return len(now) == len(token) and not (now & token)

    async def _pod_uids(self, name: str) -> set[str]:
        pods = await self.kube.get(
            f"/api/v1/namespaces/{self.namespace}/pods", params={"labelSelector": f"adapter/name={name}"}
        )
        return {
            p["metadata"]["uid"]
            for p in pods.json().get("items", [])
            if not p["metadata"].get("deletionTimestamp") and _pod_ready(p)
        }


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@pytest.fixture(params=["local", pytest.param("kubernetes", marks=pytest.mark.k8s)])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "local":
        local = LocalHarness()
        try:
            yield local
        finally:
            for replica in local.replicas:
                await replica.runtime.close()
        return
    from tests.kube import runtime_settings

    control_plane = request.getfixturevalue("control_plane")
    namespace = request.getfixturevalue("namespace")
    async with control_plane.async_admin() as kube:
        k8s = KubernetesHarness(kube, namespace, runtime_settings(control_plane, namespace, tmp_path))
        k8s.control_plane_logs = control_plane.logs
        await k8s.start()
        try:
            yield k8s
        finally:
            for replica in k8s.replicas:
                await replica.runtime.close()


# ----- expectations -----------------------------------------------------------------------------------------------


async def expected(harness: Harness, name: str) -> Running:
    """What must run for ``name`` once everything settled: exactly the stored record's replicas and mark."""
    record = await harness.store.get("adapter", name)
    if record is None:
        return Running(marks=())
    count = int(record.data["replicaCount"])
    mark = record.data["environmentVariables"]["CONTRACT_MARK"]
    objects = ("StatefulSet", "Service") if isinstance(harness, KubernetesHarness) else ()
    return Running(marks=(mark,) * count, objects=objects)


async def settled(harness: Harness, name: str, within: float = SETTLE_SECONDS) -> Running:
    """Wait until what runs is what the store asks for; fail with both when it never is."""
    last: list[Running] = []

    async def converged() -> Running | None:
        want, have = await expected(harness, name), await harness.running(name)
        last[:] = [want, have]
        return have if have.marks == want.marks and have.objects == want.objects else None

    def diverged() -> str:
        return f"{name} to converge: want {last[0]}, running {last[1]}"

    return await async_wait_for(converged, timeout=within, interval=0.2, what=diverged)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# ----- lifecycle --------------------------------------------------------------------------------------------------


async def test_create_update_scale_restart_and_delete_leave_exactly_what_the_record_says(harness: Harness) -> None:
    gateway = harness.replicas[0]
    name = unique("life")
    await gateway.adapters.create(ADMIN, harness.body(name, "v1", 2))
    assert (await settled(harness, name)).marks == ("v1", "v1")

    await gateway.adapters.update(ADMIN, name, harness.body(name, "v2", 2))  # a rolling update
    assert (await settled(harness, name)).marks == ("v2", "v2")

    await gateway.adapters.update(ADMIN, name, harness.body(name, "v2", 1))  # scale down
    assert (await settled(harness, name)).marks == ("v2",)

    before, token = await harness.running(name), await harness.restart_token(name)
    await gateway.adapters.restart(ADMIN, name)
    seen: list[Running] = []

    async def replaced() -> bool:
        seen[:] = [await harness.running(name)]
        return await harness.restarted_since(name, before, token)

    await async_wait_for(
        replaced,
        # The real StatefulSet controller replaces pods one at a time and requeues a failed sync with back-off:
        # on a loaded CI machine a restart has taken over a minute (seconds when the machine is quiet).
        timeout=2 * SETTLE_SECONDS,
        interval=0.2,
        what=lambda: (
            f"every replica replaced by the restart (before: {before}; now: {seen[0] if seen else '?'})"
            + (f"\n{harness.control_plane_logs()}" if isinstance(harness, KubernetesHarness) else "")
        ),
    )
    assert (await settled(harness, name)).marks == ("v2",)

    await gateway.adapters.update(ADMIN, name, harness.body(name, "v2", 0))  # scale to zero: nothing runs
    assert (await settled(harness, name)).marks == ()

    await gateway.adapters.delete(ADMIN, name)
    assert await settled(harness, name) == Running(marks=())
    assert name not in await gateway.runtime.workloads()


async def test_restart_of_an_unknown_name_is_not_found_and_starts_nothing(harness: Harness) -> None:
    name = unique("ghost")
    with pytest.raises(NotFound):
        await harness.replicas[0].adapters.restart(ADMIN, name)
    assert await harness.running(name) == Running(marks=())


async def test_a_delete_during_a_rolling_update_stops_the_new_replicas_too(harness: Harness) -> None:
    gateway = harness.replicas[0]
    name = unique("roll")
    await gateway.adapters.create(ADMIN, harness.body(name, "v1", 2))
    await settled(harness, name)
    await gateway.adapters.update(ADMIN, name, harness.body(name, "v2", 2))
    await asyncio.sleep(0.1)  # the rollout has started a replacement
    await gateway.adapters.delete(ADMIN, name)
    assert await settled(harness, name) == Running(marks=())
    await asyncio.sleep(1.0)  # and nothing comes back afterwards
    assert await harness.running(name) == Running(marks=())


async def test_concurrent_creates_of_one_name_make_one_resource_and_one_workload(harness: Harness) -> None:
    name = unique("twin")
    attempts = [
        harness.replicas[i % len(harness.replicas)].adapters.create(ADMIN, harness.body(name, f"m{i}", 1))
        for i in range(4)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1, results
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException)), results
    assert (await settled(harness, name)).marks == (created[0].environment_variables["CONTRACT_MARK"],)
    await harness.replicas[0].adapters.delete(ADMIN, name)
    await settled(harness, name)


# ----- random interleavings ---------------------------------------------------------------------------------------


async def random_client(harness: Harness, rng: random.Random, names: list[str], client: int, steps: int) -> None:
    """One client's bounded sequence of random operations; expected refusals are part of the game."""
    for step in range(steps):
        gateway = rng.choice(harness.replicas)
        name = rng.choice(names)
        operation = rng.choice(["create", "update", "scale", "restart", "delete"])
        mark = f"c{client}s{step}"
        await asyncio.sleep(rng.uniform(0, 0.15))
        with contextlib.suppress(Conflict, NotFound):
            if operation == "create":
                await gateway.adapters.create(ADMIN, harness.body(name, mark, rng.randint(1, 2)))
            elif operation == "update":
                await gateway.adapters.update(ADMIN, name, harness.body(name, mark, rng.randint(1, 2)))
            elif operation == "scale":
                current = await gateway.adapters.get(ADMIN, name)
                replicas = rng.choice([0, 1, 2])
                await gateway.adapters.update(ADMIN, name, current.model_copy(update={"replica_count": replicas}))
            elif operation == "restart":
                await gateway.adapters.restart(ADMIN, name)
            else:
                await gateway.adapters.delete(ADMIN, name)


async def test_random_interleavings_of_operations_from_several_clients_converge(harness: Harness) -> None:
    base_seed = int(os.environ.get("CONTRACT_SEED", str(random.SystemRandom().randrange(1 << 30))))
    for round_number in range(ROUNDS):
        seed = base_seed + round_number
        rng = random.Random(seed)
        names = [unique(f"race{round_number}a"), unique(f"race{round_number}b")]
        clients = [random_client(harness, random.Random(rng.random()), names, c, steps=4) for c in range(3)]
        try:
            await asyncio.gather(*clients)
            for name in names:
                await settled(harness, name)
        except BaseException as exc:
            raise AssertionError(f"round {round_number} failed; reproduce with CONTRACT_SEED={seed}") from exc
        for name in names:  # clean up for the next round, and check that delete really removes
            with contextlib.suppress(NotFound):
                await harness.replicas[0].adapters.delete(ADMIN, name)
            assert await settled(harness, name) == Running(marks=())


# ----- crash recovery ---------------------------------------------------------------------------------------------


async def test_the_next_start_creates_a_stored_workload_that_a_crash_left_unstarted(harness: Harness) -> None:
    name = unique("unstarted")
    # The crash came between the store write and the runtime: the record exists, nothing runs.
    data = harness.body(name, "v1", 1)
    resource = AdapterResource.model_validate(
        {**data.model_dump(by_alias=True), "id": name, "createdBy": ADMIN.user_id,
         "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z"}
    )
    await harness.store.create("adapter", name, resource.model_dump(mode="json", by_alias=True))
    assert await harness.running(name) == Running(marks=())
    restarted = await harness.fresh_replica()
    await restarted.reconciler.reconcile_all()
    assert (await settled(harness, name)).marks == ("v1",)
    await restarted.adapters.delete(ADMIN, name)
    await settled(harness, name)


async def test_the_next_start_removes_a_workload_whose_record_a_crash_deleted(harness: Harness) -> None:
    gateway = harness.replicas[0]
    name = unique("orphan")
    await gateway.adapters.create(ADMIN, harness.body(name, "v1", 1))
    await settled(harness, name)
    # The crash came between the store delete and the runtime: the record is gone, the workload runs on.
    record = await harness.store.get("adapter", name)
    assert record is not None
    await harness.store.delete("adapter", name, record.version)
    if isinstance(harness, LocalHarness):
        # Local processes die with their gateway (the process guard): the orphan is the old runtime's.
        assert (await harness.running(name)).marks == ("v1",)
        await gateway.reconciler.reconcile_all()  # the periodic sweep of the same gateway removes it
    else:
        await (await harness.fresh_replica()).reconciler.reconcile_all()
    assert await settled(harness, name) == Running(marks=())


async def test_the_next_start_rolls_out_a_spec_that_was_stored_but_not_applied(harness: Harness) -> None:
    gateway = harness.replicas[0]
    name = unique("stale")
    await gateway.adapters.create(ADMIN, harness.body(name, "v1", 1))
    await settled(harness, name)
    record = await harness.store.get("adapter", name)
    assert record is not None
    changed = {**record.data, "environmentVariables": _env(name, "v2")}
    await harness.store.update("adapter", name, changed, record.version)  # the crash: stored, not applied
    assert (await harness.running(name)).marks == ("v1",)
    await gateway.reconciler.reconcile_all()
    assert (await settled(harness, name)).marks == ("v2",)
    await gateway.adapters.delete(ADMIN, name)
    await settled(harness, name)


async def test_a_failed_create_leaves_neither_record_nor_workload(harness: Harness) -> None:
    gateway = harness.replicas[0]
    name = unique("fails")

    async def refusing_ensure(spec: Any) -> None:
        raise Conflict("the platform refused it")

    original = gateway.runtime.ensure
    gateway.runtime.ensure = refusing_ensure  # type: ignore[method-assign]
    try:
        with pytest.raises(GatewayError):
            await gateway.adapters.create(ADMIN, harness.body(name, "v1", 1))
    finally:
        gateway.runtime.ensure = original  # type: ignore[method-assign]
    assert await harness.store.get("adapter", name) is None
    assert await settled(harness, name) == Running(marks=())
