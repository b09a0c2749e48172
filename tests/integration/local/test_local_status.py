"""Status tells the truth on the local runtime, with real processes: each bad server shape reaches a
non-Ready phase with a lastError naming the cause within 10 s, probes do not flood a server's log, and
logs support tail, since and follow."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.netguard import ConnectGuard
from gateway.netpolicy import AddressPolicy
from gateway.runtimes.base import WorkloadKind, WorkloadSpec, WorkloadStatus
from gateway.runtimes.local import replica as local_replica
from gateway.runtimes.local.runtime import LocalRuntime
from gateway.settings import LocalRuntimeSettings
from tests.support.paths import MCP_EXAMPLE, PYTHON, REPO
from tests.support.ports import free_port
from tests.support.waiting import async_wait_for

pytestmark = pytest.mark.slow

SHAPES = Path(__file__).with_name("shapes.py")
EXIT_AT_ONCE = "import sys; print('boom: OPENAI_API_KEY is not set', file=sys.stderr, flush=True); sys.exit(3)"


def adapter(name: str, *args: str, command: str = PYTHON, **changes: object) -> WorkloadSpec:
    spec = WorkloadSpec(name=name, kind=WorkloadKind.ADAPTER, command=command, args=args, transport="streamable-http")
    return replace(spec, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def runtime() -> AsyncIterator[LocalRuntime]:
    settings = LocalRuntimeSettings(health_interval_seconds=0.2, max_restart_backoff_seconds=4)
    local = LocalRuntime(settings, ConnectGuard(AddressPolicy(allow_loopback=True)))
    await local.start()
    yield local
    await local.close()


async def reaches(
    runtime: LocalRuntime, name: str, phases: set[str], cause: str, within: float = 10.0
) -> WorkloadStatus:
    async def check() -> WorkloadStatus | None:
        status = await runtime.status(name)
        return status if status.phase in phases and cause in (status.last_error or "") else None

    return await async_wait_for(check, timeout=within, what=f"{name} in {phases} with lastError containing {cause!r}")


async def test_a_healthy_adapter_is_ready_with_its_replicas_and_no_error(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("good", str(MCP_EXAMPLE), replicas=2))
    status = await reaches(runtime, "good", {"Ready"}, "")
    assert (status.ready, status.desired, status.last_error, status.public_error) == (2, 2, None, None)
    assert [r.id for r in status.replicas] == ["good-0", "good-1"]
    for replica in status.replicas:
        assert replica.ready and replica.last_error is None and replica.restarts == 0
        assert replica.since is not None and replica.since <= datetime.now(UTC)
    assert len(await runtime.endpoints("good")) == 2


async def test_a_process_that_exits_at_once_is_failing_with_its_exit_code_and_output(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("crashes", "-c", EXIT_AT_ONCE))
    status = await reaches(runtime, "crashes", {"Failing"}, "exited with code 3")
    assert status.last_error is not None and "boom: OPENAI_API_KEY is not set" in status.last_error
    assert "restarting in" in status.last_error and "(restart " in status.last_error
    assert status.public_error is not None and status.public_error.startswith("exited with code 3; restarting in")
    assert "OPENAI" not in status.public_error  # output never reaches the public cause
    (replica,) = status.replicas
    assert (replica.ready, replica.last_exit_code) == (False, 3) and replica.restarts >= 1
    assert await runtime.endpoints("crashes") == []

    # It backs off and keeps saying so: the restart count grows and the delay doubles.
    later = await reaches(runtime, "crashes", {"Failing"}, "(restart 3)", within=15)
    assert "restarting in 4s" in (later.last_error or "")


async def test_a_last_error_keeps_only_about_a_kilobyte_of_output(runtime: LocalRuntime) -> None:
    noisy = "import sys\nfor i in range(500): print('line', i, 'x' * 40)\nsys.exit(1)"
    await runtime.deploy(adapter("noisy", "-c", noisy))
    status = await reaches(runtime, "noisy", {"Failing"}, "exited with code 1")
    assert status.last_error is not None and len(status.last_error.encode()) < 1200
    assert "line 499" in status.last_error  # the last lines, not the first


async def test_a_stdio_server_that_exits_at_once_is_never_ready_and_says_why(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("stdio-crash", "-c", EXIT_AT_ONCE, transport="stdio"))
    status = await reaches(runtime, "stdio-crash", {"Failing"}, "JSON-RPC error")
    assert status.ready == 0 and await runtime.endpoints("stdio-crash") == []
    assert "OPENAI_API_KEY is not set" in (status.last_error or "")


async def test_a_stdio_adapter_shows_its_live_and_maximum_sessions(runtime: LocalRuntime) -> None:
    stdio_server = REPO / "tests" / "integration" / "bridge" / "stdio_fixture.py"
    await runtime.deploy(adapter("stdio-ok", str(stdio_server), transport="stdio"))
    # Two Python processes start (the bridge, then the stdio server it spawns): slow on a busy machine.
    status = await reaches(runtime, "stdio-ok", {"Ready"}, "", within=30.0)
    (replica,) = status.replicas
    # The readiness probe ended its session (DELETE), so none is live; the bound is the bridge's.
    assert (replica.sessions, replica.max_sessions) == (0, runtime._settings.max_sessions_per_replica)


async def test_a_server_that_never_listens_is_not_ready_and_the_port_is_named(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("silent", str(SHAPES), "silent"))
    status = await reaches(runtime, "silent", {"Starting", "Failing"}, "connection refused on 127.0.0.1:")
    assert status.ready == 0 and status.public_error == "not listening"


async def test_a_wrong_path_is_failing_with_the_http_status(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("wrong-path", str(MCP_EXAMPLE), path="/nope"))
    status = await reaches(runtime, "wrong-path", {"Failing"}, "answered HTTP 404 at /nope")
    assert status.ready == 0


async def test_a_web_site_is_not_an_mcp_server(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("website", str(SHAPES), "html"))
    await reaches(runtime, "website", {"Failing"}, "answered text/html, not MCP")


async def test_replica_count_zero_is_stopped(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("idle", str(MCP_EXAMPLE), replicas=0))
    status = await runtime.status("idle")
    assert (status.phase, status.replicas) == ("Stopped", ())




async def test_url_adapters_are_routable_until_a_probe_fails_then_say_why(
    runtime: LocalRuntime, html_site: str
) -> None:
    port = free_port()  # nothing listens on it
    refusing = WorkloadSpec(name="refusing", kind=WorkloadKind.ADAPTER, url=f"http://127.0.0.1:{port}/mcp")
    website = WorkloadSpec(name="website-url", kind=WorkloadKind.ADAPTER, url=html_site)
    await runtime.deploy(refusing)
    await runtime.deploy(website)
    # Optimistic at first: a client may call it before the first probe.
    assert [e.url for e in await runtime.endpoints("refusing")] == [refusing.url]
    assert (await runtime.status("refusing")).phase == "Starting"

    status = await reaches(runtime, "refusing", {"Failing"}, f"connection refused on 127.0.0.1:{port}")
    assert (status.ready, status.public_error) == (0, "connection refused")
    assert await runtime.endpoints("refusing") == [] and not await runtime.url_routable("refusing")
    await reaches(runtime, "website-url", {"Failing"}, "answered text/html, not MCP")
    assert not await runtime.url_routable("website-url")

    await runtime.delete("refusing")
    assert await runtime.url_routable("refusing")  # unknown again: nothing is probed for it


async def test_a_url_adapter_that_answers_mcp_is_ready(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("upstream", str(MCP_EXAMPLE)))
    (endpoint,) = await async_wait_for(lambda: runtime.endpoints("upstream"), timeout=10, what="the upstream ready")
    await runtime.deploy(WorkloadSpec(name="remote", kind=WorkloadKind.ADAPTER, url=endpoint.url))
    status = await reaches(runtime, "remote", {"Ready"}, "")
    assert (status.ready, status.replicas[0].ready, status.last_error) == (1, True, None)


async def test_probes_do_not_flood_a_servers_request_log(runtime: LocalRuntime) -> None:
    await runtime.deploy(adapter("chatty", str(SHAPES), "mcp"))
    await reaches(runtime, "chatty", {"Ready"}, "")

    def requests_logged() -> int:
        return sum(1 for line in runtime._get("chatty").replicas[0].logs if line.startswith("request "))

    assert requests_logged() >= 1  # the readiness probe: the server does log every request
    before = requests_logged()
    await asyncio.sleep(3)  # 15 health intervals: liveness only (TCP connect), no request
    assert requests_logged() == before
    assert (await runtime.status("chatty")).phase == "Ready"


async def test_a_reprobe_happens_at_most_once_per_interval(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_replica, "REPROBE_SECONDS", 1.0)
    await runtime.deploy(adapter("chatty", str(SHAPES), "mcp"))
    await reaches(runtime, "chatty", {"Ready"}, "")
    logs = runtime._get("chatty").replicas[0].logs
    before = sum(1 for line in logs if line == "request POST /mcp")
    await asyncio.sleep(3.1)
    after = sum(1 for line in runtime._get("chatty").replicas[0].logs if line == "request POST /mcp")
    assert 2 <= after - before <= 4


async def test_logs_tail_since_and_follow(runtime: LocalRuntime) -> None:
    script = "import time\nfor i in range(5): print('early', i, flush=True)\ntime.sleep(1.5)\n" + (
        "for i in range(3): print('late', i, flush=True)\n"
        f"import runpy; runpy.run_path({str(MCP_EXAMPLE)!r}, run_name='__main__')"
    )
    await runtime.deploy(adapter("talker", "-c", script))
    await async_wait_for(lambda: _has(runtime, "talker", "early 4"), timeout=10, what="the early lines")
    cut = datetime.now(UTC)
    await reaches(runtime, "talker", {"Ready"}, "")

    assert (await runtime.logs("talker", 0, tail=2)).splitlines()[-2:] == (
        await runtime.logs("talker", 0)
    ).splitlines()[-2:]
    assert len((await runtime.logs("talker", 0, tail=2)).splitlines()) == 2
    recent = (await runtime.logs("talker", 0, since=cut)).splitlines()
    assert "late 0" in recent and not any(line.startswith("early") for line in recent)
    assert await runtime.logs("talker", 0, since=datetime.now(UTC) + timedelta(hours=1)) == ""

    followed: list[str] = []

    async def follow() -> None:
        async for line in runtime.follow_logs("talker", 0, tail=1):
            followed.append(line)

    reader = asyncio.create_task(follow())
    await async_wait_for(lambda: len(followed) == 1, timeout=10, what="the tail line")
    await runtime.update(adapter("talker", "-c", script))  # a rollout replaces the followed replica
    await asyncio.wait_for(reader, 30)  # the stream ends when its replica stops
    assert len(followed) >= 1

    await runtime.delete("talker")


async def _has(runtime: LocalRuntime, name: str, text: str) -> bool:
    return text in await runtime.logs(name, 0)


async def test_follow_sees_new_lines_and_ends_when_the_workload_is_deleted(runtime: LocalRuntime) -> None:
    ticker = "import time, itertools\nfor i in itertools.count(): print('tick', i, flush=True); time.sleep(0.1)"
    await runtime.deploy(adapter("ticker", "-c", ticker))
    await async_wait_for(lambda: _has(runtime, "ticker", "tick 2"), timeout=10, what="ticks")
    lines: list[str] = []

    async def follow() -> None:
        async for line in runtime.follow_logs("ticker", 0, tail=1):
            lines.append(line)

    reader = asyncio.create_task(follow())
    await async_wait_for(lambda: len(lines) >= 5, timeout=10, what="five followed lines")
    numbers = [int(line.split()[1]) for line in lines if line.startswith("tick ")]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # in order, none lost or doubled
    await runtime.delete("ticker")
    await asyncio.wait_for(reader, 10)


def test_the_shapes_script_runs_on_this_python() -> None:
    assert sys.executable == PYTHON
