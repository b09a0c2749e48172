"""An observed proxied request leaves no reference cycle behind: its objects are freed when it ends, not by
the cycle collector (whose passes, one every few dozen requests, cost about 3 % of the gateway's CPU per call
when each request left its scope, task and response cycle in a cycle)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import pytest

from gateway.proxy.mcp_proxy import McpProxy
from gateway.telemetry.mcp import McpObservation, McpTelemetry
from gateway.telemetry.metrics import GatewayMetrics
from tests.unit.proxy.test_proxy_pipeline import FakeRuntime, Replica, call, proxy_deps


@pytest.fixture
async def observed_proxy() -> AsyncIterator[tuple[McpProxy, FakeRuntime]]:
    runtime = FakeRuntime()
    deps = proxy_deps(runtime=runtime)
    proxy = McpProxy(deps, McpTelemetry(GatewayMetrics(), b"secret"))
    yield proxy, runtime
    await proxy.aclose()


async def test_an_observed_request_is_freed_without_the_cycle_collector(
    observed_proxy: tuple[McpProxy, FakeRuntime],
) -> None:
    proxy, runtime = observed_proxy
    replica = Replica("weather-0")
    await replica.start()
    try:
        runtime.ready = [replica.endpoint]
        assert (await call(proxy)).status == 200  # warm: the pool's connection, the metric series
        gc.collect()
        debug = gc.get_debug()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable stays in gc.garbage
        try:
            for _ in range(3):
                assert (await call(proxy)).status == 200
            gc.collect()
            left = [type(o).__name__ for o in gc.garbage if isinstance(o, McpObservation)]
        finally:
            gc.set_debug(debug)
            gc.garbage.clear()
        assert left == []
    finally:
        await replica.stop()
