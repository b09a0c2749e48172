"""The Kubernetes runtime against a real kube-apiserver, kube-controller-manager and etcd (see conftest).

The runtime runs as a user whose Role is exactly ``RBAC_RULES``; a FakeNode plays kubelet.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
from conftest import create_namespace, eventually, grant_runtime_role, runtime_settings, unreachable_settings
from k8s_control_plane import ControlPlane
from k8s_fake_node import FakeNode, log_lines

from gateway.errors import BackendError, Conflict, InvalidRequest, NotFound, Unavailable
from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.runtimes.kubernetes import manifests as k8s_manifests
from gateway.runtimes.kubernetes.runtime import KubernetesRuntime

pytestmark = [pytest.mark.k8s, pytest.mark.slow]

ADAPTER = WorkloadSpec(
    name="weather",
    kind=WorkloadKind.ADAPTER,
    replicas=2,
    image_name="mcp/weather",
    image_version="1.0.0",
    env={"KEEP": "1", "DROP": "2"},
)
TOOL = WorkloadSpec(name="forecast", kind=WorkloadKind.TOOL, image_name="tools/forecast", image_version="1", port=9090)


async def get(kube: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
    response = await kube.get(path)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def statefulset(kube: httpx.AsyncClient, ns: str, name: str) -> dict[str, Any] | None:
    return await get(kube, f"/apis/apps/v1/namespaces/{ns}/statefulsets/{name}")


async def service(kube: httpx.AsyncClient, ns: str, name: str) -> dict[str, Any] | None:
    return await get(kube, f"/api/v1/namespaces/{ns}/services/{name}-service")


async def pods(kube: httpx.AsyncClient, ns: str, name: str) -> list[dict[str, Any]]:
    body = await get(kube, f"/api/v1/namespaces/{ns}/pods?labelSelector=adapter/name={name}") or {}
    return list(body.get("items", []))


def container_of(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]["template"]["spec"] if "template" in obj["spec"] else obj["spec"]
    (container,) = spec["containers"]
    return container  # type: ignore[no-any-return]


async def test_an_adapter_runs_two_replicas_is_discovered_updated_in_place_and_deleted_without_leftovers(
    runtime: KubernetesRuntime,
    kube: httpx.AsyncClient,
    namespace: str,
    sent_objects: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await runtime.deploy(ADAPTER)

    async def two_pods_created_by_the_statefulset_controller() -> list[str]:
        # The controller creates them one after the other (OrderedReady): wait for both, not the first.
        names = sorted(p["metadata"]["name"] for p in await pods(kube, namespace, "weather"))
        return names if len(names) >= 2 else []

    assert await eventually(two_pods_created_by_the_statefulset_controller, "2 pods") == [
        "weather-0",
        "weather-1",
    ]

    async def healthy() -> bool:
        status = await runtime.status("weather")
        return status.desired == 2 and status.ready == 2

    await eventually(healthy, "status 2/2 ready")
    assert (await runtime.status("weather")).image == "registry.test/mcp/weather:1.0.0"

    await eventually(lambda: _ready(runtime, "weather", 2), "2 endpoints")
    assert [e.url for e in await runtime.endpoints("weather")] == [
        f"http://weather-{i}.weather-service.{namespace}.svc.cluster.local:8000/mcp" for i in (0, 1)
    ]

    updated = replace(ADAPTER, replicas=3, image_version="2.0.0", env={"KEEP": "1", "NEW": "3"})
    await runtime.update(updated)
    template_container = container_of(await statefulset(kube, namespace, "weather") or {})
    assert template_container["env"] == [{"name": "KEEP", "value": "1"}, {"name": "NEW", "value": "3"}]
    assert template_container["image"] == "registry.test/mcp/weather:2.0.0"

    async def rolled_out() -> bool:
        current = await pods(kube, namespace, "weather")
        images = {container_of(p)["image"] for p in current if not p["metadata"].get("deletionTimestamp")}
        status = await runtime.status("weather")
        return len(current) == 3 and images == {"registry.test/mcp/weather:2.0.0"} and status.ready == 3

    await eventually(rolled_out, "3 pods on the new image")
    await eventually(lambda: _ready(runtime, "weather", 3), "3 endpoints")
    assert [e.id for e in await runtime.endpoints("weather")] == ["weather-0", "weather-1", "weather-2"]

    await runtime.delete("weather")

    async def nothing_left() -> bool:
        return await statefulset(kube, namespace, "weather") is None and not await pods(kube, namespace, "weather")

    await eventually(nothing_left, "no StatefulSet and no pods")
    assert await service(kube, namespace, "weather") is None
    await eventually(lambda: _ready(runtime, "weather", 0), "no endpoints")
    for obj in sent_objects:
        kubernetes_validate.validate(obj, "1.30.0", strict=True)
    assert {o["kind"] for o in sent_objects} == {"StatefulSet", "Service"}
    # Discovery followed all of this through one healthy watch (a failing watch only degrades to relists).
    assert not [r.getMessage() for r in caplog.records if r.name == "gateway.runtimes.kubernetes.discovery"]


async def test_logs_return_the_last_1000_lines_of_the_instance_pod(
    runtime: KubernetesRuntime, kube: httpx.AsyncClient, namespace: str
) -> None:
    await runtime.deploy(replace(ADAPTER, replicas=1))
    await eventually(lambda: _ready(runtime, "weather", 1), "a ready replica")

    text = await runtime.logs("weather", 0)

    assert text.splitlines() == log_lines("weather-0")[-1000:]


async def test_logs_of_a_starting_adapter_or_tool_say_they_are_not_yet_available(
    runtime: KubernetesRuntime, kube: httpx.AsyncClient, namespace: str, fake_node: FakeNode
) -> None:
    fake_node.starting.update({"slow-adapter", "slow-tool"})
    await runtime.deploy(replace(ADAPTER, name="slow-adapter", replicas=1))
    await runtime.deploy(replace(TOOL, name="slow-tool"))
    for name in ("slow-adapter", "slow-tool"):

        async def pending(name: str = name) -> bool:
            return any(p["status"].get("containerStatuses") for p in await pods(kube, namespace, name))

        await eventually(pending, f"{name}-0 to be starting")
        text = await runtime.logs(name, 0)
        assert text == "Logs are not yet available for instance 0 (pod is starting). Try again in a few seconds."
    fake_node.starting.clear()


async def test_unknown_workloads_and_instances_are_not_found(runtime: KubernetesRuntime) -> None:
    with pytest.raises(NotFound):
        await runtime.status("ghost")
    with pytest.raises(NotFound):
        await runtime.update(replace(ADAPTER, name="ghost"))
    with pytest.raises(NotFound, match="no instance 5"):
        await runtime.logs("ghost", 5)
    assert await runtime.endpoints("ghost") == []


async def test_deploying_a_name_twice_is_a_conflict(runtime: KubernetesRuntime) -> None:
    await runtime.deploy(replace(ADAPTER, replicas=0))
    with pytest.raises(Conflict, match="already exists"):
        await runtime.deploy(replace(ADAPTER, replicas=0))


async def test_objects_not_created_by_the_gateway_are_never_taken_over(
    runtime: KubernetesRuntime, kube: httpx.AsyncClient, namespace: str
) -> None:
    foreign = {"metadata": {"name": "weather-service"}, "spec": {"ports": [{"port": 80}]}}
    (await kube.post(f"/api/v1/namespaces/{namespace}/services", json=foreign)).raise_for_status()

    with pytest.raises(Conflict, match="not managed by the gateway"):
        await runtime.deploy(ADAPTER)

    assert await statefulset(kube, namespace, "weather") is None


async def test_an_object_the_api_server_rejects_becomes_an_invalid_request_with_its_reason(
    runtime: KubernetesRuntime,
) -> None:
    with pytest.raises(InvalidRequest, match=r"spec.replicas: Invalid value: -1"):
        await runtime.deploy(replace(ADAPTER, replicas=-1))


@pytest.mark.parametrize("stale_patches", [1, 2])
async def test_an_update_racing_another_writer_is_retried_once_then_reported_as_a_conflict(
    runtime: KubernetesRuntime, monkeypatch: pytest.MonkeyPatch, stale_patches: int
) -> None:
    await runtime.deploy(replace(ADAPTER, replicas=0))
    original = k8s_manifests.statefulset_patch
    calls = 0

    def stale(*args: Any) -> dict[str, Any]:
        """The first ``stale_patches`` patches carry an outdated resourceVersion: another writer won."""
        nonlocal calls
        calls += 1
        patch = original(*args)
        if calls <= stale_patches:
            patch["metadata"]["resourceVersion"] = "1"
        return patch

    monkeypatch.setattr(k8s_manifests, "statefulset_patch", stale)
    update = replace(ADAPTER, replicas=0, image_version="3.0.0")
    if stale_patches == 1:
        await runtime.update(update)
        assert (await runtime.status("weather")).image == "registry.test/mcp/weather:3.0.0"
    else:
        with pytest.raises(Conflict, match="changed by someone else"):
            await runtime.update(update)
    assert calls == 2


async def test_delete_is_idempotent_and_removes_a_service_whose_statefulset_is_already_gone(
    runtime: KubernetesRuntime, kube: httpx.AsyncClient, namespace: str
) -> None:
    await runtime.deploy(replace(ADAPTER, replicas=0))
    (await kube.delete(f"/apis/apps/v1/namespaces/{namespace}/statefulsets/weather")).raise_for_status()

    await runtime.delete("weather")
    await runtime.delete("weather")

    assert await service(kube, namespace, "weather") is None


async def test_a_tool_gets_a_cluster_ip_service_reached_through_its_dns_name_and_is_not_routed_directly(
    runtime: KubernetesRuntime, kube: httpx.AsyncClient, namespace: str
) -> None:
    await runtime.deploy(TOOL)
    await eventually(lambda: _ready_in_status(runtime, "forecast", 1), "the tool ready")

    assert (await service(kube, namespace, "forecast") or {})["spec"]["clusterIP"] not in ("None", "", None)
    assert await runtime.tool_url(TOOL) == f"http://forecast-service.{namespace}.svc.cluster.local:9090/mcp"
    assert await runtime.endpoints("forecast") == []


async def test_a_url_source_creates_no_objects_and_routes_to_its_url(
    runtime: KubernetesRuntime, kube: httpx.AsyncClient, namespace: str
) -> None:
    remote = WorkloadSpec(name="remote", kind=WorkloadKind.ADAPTER, url="https://mcp.example.com/mcp")
    await runtime.deploy(remote)

    assert [e.url for e in await runtime.endpoints("remote")] == ["https://mcp.example.com/mcp"]
    assert (await runtime.status("remote")).image == "https://mcp.example.com/mcp"
    assert await statefulset(kube, namespace, "remote") is None
    await runtime.delete("remote")
    with pytest.raises(NotFound):
        await runtime.status("remote")


async def test_discovery_drops_a_replica_that_stops_being_ready(
    runtime: KubernetesRuntime, kube: httpx.AsyncClient, namespace: str
) -> None:
    await runtime.deploy(replace(ADAPTER, replicas=1))
    await eventually(lambda: _ready(runtime, "weather", 1), "a ready replica")

    unready = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    response = await kube.patch(
        f"/api/v1/namespaces/{namespace}/pods/weather-0/status",
        content=json.dumps(unready),
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    response.raise_for_status()

    await eventually(lambda: _ready(runtime, "weather", 0), "no ready replica")


async def test_a_forbidding_api_gives_an_rbac_hint_and_discovery_recovers_once_access_is_granted(
    control_plane: ControlPlane, admin: httpx.Client, fake_node: FakeNode, tmp_path: Path
) -> None:
    namespace = await asyncio.to_thread(create_namespace, admin)  # no RoleBinding yet: all calls forbidden
    runtime = KubernetesRuntime(runtime_settings(control_plane, namespace, tmp_path), sync_timeout=0.5)
    await runtime.start()
    try:
        with pytest.raises(BackendError, match="refused get statefulset weather.*RBAC"):
            await runtime.deploy(ADAPTER)
        with pytest.raises(Unavailable, match="403"):
            await runtime.endpoints("weather")

        await asyncio.to_thread(grant_runtime_role, admin, control_plane, namespace)
        await runtime.deploy(replace(ADAPTER, replicas=1))

        async def relisted_with_one_ready_replica() -> bool:
            try:
                return await _ready(runtime, "weather", 1)
            except Unavailable:
                return False  # still backing off after the 403s

        await eventually(relisted_with_one_ready_replica, "discovery to relist after the 403s")
    finally:
        await runtime.close()


async def test_an_unreachable_api_gives_a_clear_error_and_lookups_do_not_hang(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    runtime = KubernetesRuntime(unreachable_settings(control_plane, tmp_path), sync_timeout=0.5)
    await runtime.start()
    try:
        with pytest.raises(BackendError, match="unreachable at https://127.0.0.1"):
            await runtime.deploy(ADAPTER)
        with pytest.raises(BackendError, match="unreachable"):
            await runtime.check()
        with pytest.raises(Unavailable, match="not synced"):
            await runtime.endpoints("weather")
    finally:
        await runtime.close()


async def _ready(runtime: KubernetesRuntime, name: str, count: int) -> bool:
    return len(await runtime.endpoints(name)) == count


async def _ready_in_status(runtime: KubernetesRuntime, name: str, count: int) -> bool:
    return (await runtime.status(name)).ready == count
