"""Where the proxy may send a request (``gateway.proxy.replicas``), over a fake runtime.

The 503 "no replica is ready" names its cause from ``Runtime.status``, which on Kubernetes is a
StatefulSet read and a pod list: the cause is remembered per target for a few seconds, so a burst of
refused requests costs one status read. The clock is injected; nothing here sleeps.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.proxy.replicas import CAUSE_CACHE_SIZE, CAUSE_MAX_AGE_SECONDS, Replicas, Target
from gateway.runtimes.base import Endpoint, WorkloadStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeRuntime:
    """The runtime's endpoint side, counting status reads; ``gate`` holds every read until it is set."""

    def __init__(self) -> None:
        self.status_calls: list[str] = []
        self.ready: dict[str, list[Endpoint]] = {}
        self.routable = True
        self.failing = False
        self.gate: asyncio.Event | None = None

    async def endpoints(self, name: str) -> list[Endpoint]:
        return self.ready.get(name, [])

    async def url_routable(self, name: str) -> bool:
        return self.routable

    async def status(self, name: str) -> WorkloadStatus:
        self.status_calls.append(name)
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise RuntimeError("the API server is down")
        return WorkloadStatus(
            desired=1, ready=0, updated=1, available=0, image="x", phase="Failing", public_error="exited with code 1"
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def replicas(runtime: FakeRuntime, clock: Clock) -> Replicas:
    return Replicas(runtime, clock)


async def test_the_cause_is_read_once_for_a_burst_and_again_once_it_is_old(
    replicas: Replicas, runtime: FakeRuntime, clock: Clock
) -> None:
    for _ in range(50):
        assert await replicas.why_not_ready("down") == " (Failing: exited with code 1)"
    assert runtime.status_calls == ["down"]

    clock.now += CAUSE_MAX_AGE_SECONDS - 0.01
    await replicas.why_not_ready("down")
    assert runtime.status_calls == ["down"]

    clock.now += 0.02
    await replicas.why_not_ready("down")
    assert runtime.status_calls == ["down", "down"]


async def test_requests_arriving_together_share_one_read(replicas: Replicas, runtime: FakeRuntime) -> None:
    runtime.gate = asyncio.Event()
    waiting = [asyncio.create_task(replicas.why_not_ready("down")) for _ in range(20)]
    await asyncio.sleep(0)
    runtime.gate.set()
    assert set(await asyncio.gather(*waiting)) == {" (Failing: exited with code 1)"}
    assert runtime.status_calls == ["down"]


async def test_a_request_that_is_cancelled_does_not_cancel_the_shared_read(
    replicas: Replicas, runtime: FakeRuntime
) -> None:
    runtime.gate = asyncio.Event()
    first = asyncio.create_task(replicas.why_not_ready("down"))
    second = asyncio.create_task(replicas.why_not_ready("down"))
    await asyncio.sleep(0)
    first.cancel()  # its client went away
    runtime.gate.set()
    assert await second == " (Failing: exited with code 1)"
    assert first.cancelled()
    assert runtime.status_calls == ["down"]


async def test_each_target_has_its_own_cause(replicas: Replicas, runtime: FakeRuntime) -> None:
    await replicas.why_not_ready("a")
    await replicas.why_not_ready("b")
    await replicas.why_not_ready("a")
    assert runtime.status_calls == ["a", "b"]


async def test_a_failing_status_read_is_no_cause_and_is_not_retried_at_once(
    replicas: Replicas, runtime: FakeRuntime, clock: Clock
) -> None:
    runtime.failing = True
    assert await replicas.why_not_ready("down") == ""
    assert await replicas.why_not_ready("down") == ""
    assert runtime.status_calls == ["down"]
    runtime.failing = False
    clock.now += CAUSE_MAX_AGE_SECONDS
    assert await replicas.why_not_ready("down") == " (Failing: exited with code 1)"


async def test_the_remembered_causes_are_bounded(replicas: Replicas, runtime: FakeRuntime, clock: Clock) -> None:
    for i in range(CAUSE_CACHE_SIZE + 10):
        clock.now += 0.001
        await replicas.why_not_ready(f"a{i}")
    assert len(replicas._causes) <= CAUSE_CACHE_SIZE
    # The newest are kept, the oldest went first.
    await replicas.why_not_ready(f"a{CAUSE_CACHE_SIZE + 9}")
    await replicas.why_not_ready("a0")
    assert runtime.status_calls.count(f"a{CAUSE_CACHE_SIZE + 9}") == 1
    assert runtime.status_calls.count("a0") == 2


async def test_ready_endpoints_come_from_the_runtime_or_the_url(replicas: Replicas, runtime: FakeRuntime) -> None:
    replica = Endpoint("a-0", "http://127.0.0.1:1/mcp")
    runtime.ready["a"] = [replica]
    assert await replicas.ready(Target("a", is_router=False)) == [replica]

    remote = Target("r", is_router=False, remote_url="https://mcp.example.com/mcp")
    assert await replicas.ready(remote) == [Endpoint("r", "https://mcp.example.com/mcp")]
    runtime.routable = False  # the gateway's probe of the URL failed
    assert await replicas.ready(remote) == []
