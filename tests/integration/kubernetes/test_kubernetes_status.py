"""Status and logs on the Kubernetes runtime, against the real kube-apiserver: the phase and each replica
from the StatefulSet and its pods (the FakeNode reports crash loops and pull errors as a kubelet would), and
pod logs with tail, since and follow."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import eventually
from k8s_control_plane import ControlPlane
from k8s_fake_node import FakeNode, crash_loop, image_pull_error, log_lines

from gateway.netguard import ConnectGuard
from gateway.netpolicy import AddressPolicy
from gateway.runtimes.base import WorkloadKind, WorkloadSpec, WorkloadStatus
from gateway.runtimes.kubernetes.runtime import KubernetesRuntime
from tests.kube import runtime_settings
from tests.support.ports import free_port

pytestmark = [pytest.mark.k8s, pytest.mark.slow]

ADAPTER = WorkloadSpec(
    name="weather", kind=WorkloadKind.ADAPTER, replicas=1, image_name="mcp/weather", image_version="1.0.0"
)


async def phase_of(runtime: KubernetesRuntime, name: str, phase: str, cause: str = "") -> WorkloadStatus | None:
    status = await runtime.status(name)
    return status if status.phase == phase and cause in (status.last_error or "") else None


async def test_a_running_adapter_is_ready_with_one_entry_per_pod(runtime: KubernetesRuntime) -> None:
    await runtime.deploy(replace(ADAPTER, replicas=2))
    status = await eventually(lambda: phase_of(runtime, "weather", "Ready"), "Ready", within=30)
    assert (status.ready, status.desired, status.last_error, status.public_error) == (2, 2, None, None)
    assert [(r.id, r.ready, r.restarts, r.last_exit_code, r.last_error) for r in status.replicas] == [
        ("weather-0", True, 0, None, None),
        ("weather-1", True, 0, None, None),
    ]
    for replica in status.replicas:
        assert replica.since is not None and replica.since <= datetime.now(UTC) + timedelta(seconds=1)


async def test_a_crash_looping_pod_is_failing_with_its_exit_code_and_message(
    runtime: KubernetesRuntime, fake_node: FakeNode
) -> None:
    fake_node.failing["crashy"] = crash_loop(exit_code=2, message="boom: OPENAI_API_KEY is not set", restarts=5)
    try:
        await runtime.deploy(replace(ADAPTER, name="crashy"))
        status = await eventually(
            lambda: phase_of(runtime, "crashy", "Failing", "CrashLoopBackOff"), "Failing with CrashLoopBackOff", 10
        )
        assert status.last_error is not None
        assert "last exit code 2" in status.last_error and "boom: OPENAI_API_KEY is not set" in status.last_error
        assert status.public_error == "CrashLoopBackOff (last exit code 2)"  # no pod names, no messages
        (replica,) = status.replicas
        assert (replica.id, replica.ready, replica.restarts, replica.last_exit_code) == ("crashy-0", False, 5, 2)
        assert await runtime.endpoints("crashy") == []
    finally:
        fake_node.failing.pop("crashy", None)
    # Fixed (the kubelet reports it running and ready): Ready again, and the error is gone.
    recovered = await eventually(lambda: phase_of(runtime, "crashy", "Ready"), "Ready again", 10)
    assert recovered.last_error is None and recovered.replicas[0].last_error is None


async def test_an_image_that_cannot_be_pulled_is_failing_and_says_so(
    runtime: KubernetesRuntime, fake_node: FakeNode
) -> None:
    fake_node.failing["unpullable"] = image_pull_error("registry.test/mcp/weather:9.9.9")
    try:
        await runtime.deploy(replace(ADAPTER, name="unpullable", image_version="9.9.9"))
        status = await eventually(
            lambda: phase_of(runtime, "unpullable", "Failing", "ErrImagePull"), "ErrImagePull", 10
        )
        assert "failed to pull and unpack image" in (status.last_error or "")
        assert status.public_error == "ErrImagePull"
    finally:
        fake_node.failing.pop("unpullable", None)


async def test_a_starting_pod_is_starting_and_zero_replicas_is_stopped(
    runtime: KubernetesRuntime, fake_node: FakeNode
) -> None:
    fake_node.starting.add("slow")
    try:
        await runtime.deploy(replace(ADAPTER, name="slow"))
        status = await eventually(lambda: phase_of(runtime, "slow", "Starting", "ContainerCreating"), "Starting", 10)
        assert status.replicas[0].failed is False
    finally:
        fake_node.starting.discard("slow")
    await runtime.deploy(replace(ADAPTER, name="idle", replicas=0))
    stopped = await runtime.status("idle")
    assert (stopped.phase, stopped.replicas) == ("Stopped", ())


async def test_logs_take_tail_and_since(runtime: KubernetesRuntime, fake_node: FakeNode, namespace: str) -> None:
    await runtime.deploy(ADAPTER)
    await eventually(lambda: phase_of(runtime, "weather", "Ready"), "Ready", within=30)

    assert (await runtime.logs("weather", 0, tail=5)).splitlines() == log_lines("weather-0")[-5:]
    fake_node.write_log(namespace, "weather-0", "fresh line")
    recent = await runtime.logs("weather", 0, since=datetime.now(UTC) - timedelta(seconds=60))
    assert recent.splitlines() == ["fresh line"]


async def test_follow_streams_new_lines_and_ends_when_the_pod_goes(
    runtime: KubernetesRuntime, fake_node: FakeNode, namespace: str
) -> None:
    await runtime.deploy(ADAPTER)
    await eventually(lambda: phase_of(runtime, "weather", "Ready"), "Ready", within=30)
    lines: list[str] = []

    async def follow() -> None:
        async for line in runtime.follow_logs("weather", 0, tail=2):
            lines.append(line)

    reader = asyncio.create_task(follow())

    async def seen(count: int) -> bool:
        return len(lines) >= count

    await eventually(lambda: seen(2), "the tail")
    assert lines[:2] == log_lines("weather-0")[-2:]
    for i in range(3):
        fake_node.write_log(namespace, "weather-0", f"new {i}")
    await eventually(lambda: seen(5), "three new lines")
    assert lines[2:5] == ["new 0", "new 1", "new 2"]

    await runtime.delete("weather")
    await asyncio.wait_for(reader, 20)


async def test_following_a_missing_instance_is_not_found(runtime: KubernetesRuntime) -> None:
    from gateway.errors import NotFound

    with pytest.raises(NotFound, match="no instance 3"):
        async for _ in runtime.follow_logs("ghost", 3):
            pass


async def test_a_url_adapter_whose_host_refuses_is_failing_and_not_routed(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens on it
    guard = ConnectGuard(AddressPolicy(allow_loopback=True))
    runtime = KubernetesRuntime(runtime_settings(control_plane, namespace, tmp_path), url_guard=guard)
    await runtime.start()
    try:
        remote = WorkloadSpec(name="remote", kind=WorkloadKind.ADAPTER, url=f"http://127.0.0.1:{port}/mcp")
        await runtime.deploy(remote)
        assert [e.url for e in await runtime.endpoints("remote")] == [remote.url]  # optimistic at first
        status = await eventually(
            lambda: phase_of(runtime, "remote", "Failing", f"connection refused on 127.0.0.1:{port}"), "Failing", 10
        )
        assert status.public_error == "connection refused" and status.ready == 0
        assert await runtime.endpoints("remote") == [] and not await runtime.url_routable("remote")
    finally:
        await runtime.close()


async def test_a_rollout_in_progress_is_updating(runtime: KubernetesRuntime, fake_node: FakeNode) -> None:
    await runtime.deploy(replace(ADAPTER, replicas=2))
    await eventually(lambda: phase_of(runtime, "weather", "Ready"), "Ready", within=30)
    fake_node.starting.add("weather")  # the new revision's pods stay in ContainerCreating
    try:
        await runtime.update(replace(ADAPTER, replicas=2, image_version="2.0.0"))
        await eventually(lambda: phase_of(runtime, "weather", "Updating"), "Updating", within=10)
    finally:
        fake_node.starting.discard("weather")
    done = await eventually(lambda: phase_of(runtime, "weather", "Ready"), "Ready on 2.0.0", within=60)
    assert done.image == "registry.test/mcp/weather:2.0.0"
