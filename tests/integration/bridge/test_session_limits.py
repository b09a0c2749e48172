"""The bridge's session bounds (idle timeout, limit with eviction of the oldest idle session, /healthz) and its
``sse`` mode (a command started once, or a URL) against the fixture's HTTP+SSE build, with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from mcp import Client

from tests.integration.bridge.conftest import FIXTURE_COMMAND, STDIO_FIXTURE, BridgeProcess
from tests.integration.bridge.test_stdio_bridge import INITIALIZE, JSON_AND_SSE, call, initialize, sse_messages
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def child_pid(http: httpx.Client, url: str, session_id: str) -> int:
    pid = sse_messages(call(http, url, session_id, "whoami", {}).text)[-1]["result"]["structuredContent"]["result"]
    assert isinstance(pid, int)
    return pid


def test_healthz_reports_the_live_sessions_the_limit_and_the_idle_timeout(
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge(["--", *FIXTURE_COMMAND], env={"MCP_SESSION_TTL": "42", "MCP_MAX_SESSIONS": "7"})
    health_url = bridge.url.replace("/mcp", "/healthz")
    with httpx.Client(timeout=30) as http:
        before = http.get(health_url).json()
        initialize(http, bridge.url)
        after = http.get(health_url).json()

    assert before == {"status": "ok", "sessions": 0, "maxSessions": 7, "idleTimeoutSeconds": 42}
    assert after["sessions"] == 1


def test_the_default_idle_timeout_is_minutes_not_an_hour(bridge: BridgeProcess) -> None:
    health = httpx.get(bridge.url.replace("/mcp", "/healthz"), timeout=10).json()

    assert health["idleTimeoutSeconds"] == 600


def test_a_client_that_never_deletes_its_session_loses_its_process_after_the_idle_timeout(
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge(["--session-ttl", "1", "--", *FIXTURE_COMMAND])
    with httpx.Client(timeout=30) as http:  # like the Inspector CLI: initialize, one call, gone without DELETE
        session_id = initialize(http, bridge.url)
        pid = child_pid(http, bridge.url, session_id)
    assert pid_alive(pid)

    wait_for(lambda: not pid_alive(pid), 10, what="the idle session's process to exit")
    assert descendants(bridge.pid) == []
    assert httpx.get(bridge.url.replace("/mcp", "/healthz"), timeout=10).json()["sessions"] == 0


def test_at_the_limit_the_oldest_idle_session_gives_way_to_a_new_one(
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge(["--max-sessions", "2", "--", *FIXTURE_COMMAND])
    with httpx.Client(timeout=30) as http:
        oldest = initialize(http, bridge.url)
        oldest_pid = child_pid(http, bridge.url, oldest)
        newer = initialize(http, bridge.url)
        newer_pid = child_pid(http, bridge.url, newer)
        call(http, bridge.url, oldest, "add", {"a": 1, "b": 1}, rid=5)  # now `newer` is the idle one the longest
        third = initialize(http, bridge.url)

        wait_for(lambda: not pid_alive(newer_pid), 10, what="the evicted session's process to exit")
        evicted = call(http, bridge.url, newer, "add", {"a": 1, "b": 2}, rid=3)
        kept = call(http, bridge.url, oldest, "add", {"a": 2, "b": 2}, rid=4)
        third_call = call(http, bridge.url, third, "add", {"a": 3, "b": 3}, rid=3)

    assert evicted.status_code == 404
    assert kept.status_code == 200 and sse_messages(kept.text)[-1]["result"]["structuredContent"] == {"result": 4}
    assert sse_messages(third_call.text)[-1]["result"]["structuredContent"] == {"result": 6}
    assert pid_alive(oldest_pid)
    assert len(descendants(bridge.pid)) == 2


def test_a_busy_session_is_not_evicted_and_a_new_one_is_refused_until_one_is_idle(
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge(["--max-sessions", "1", "--", *FIXTURE_COMMAND])
    opened, release = threading.Event(), threading.Event()

    def hold_get_stream(session_id: str) -> None:  # an open GET stream is activity: the session is busy
        headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
        with httpx.Client(timeout=30) as http, http.stream("GET", bridge.url, headers=headers) as response:
            assert response.status_code == 200
            opened.set()
            release.wait(30)

    with httpx.Client(timeout=30) as http:
        busy = initialize(http, bridge.url)
        busy_pid = child_pid(http, bridge.url, busy)
        holder = threading.Thread(target=hold_get_stream, args=(busy,))
        holder.start()
        try:
            assert opened.wait(10)
            refused = http.post(bridge.url, json={**_initialize(), "id": 9}, headers=JSON_AND_SSE)
            still_there = call(http, bridge.url, busy, "add", {"a": 1, "b": 1}, rid=7)
        finally:
            release.set()
            holder.join(30)
        # The stream is closed: the session is idle now, so it gives way to the next initialize.
        accepted = wait_for(lambda: _try_initialize(http, bridge.url), 10, what="a new session once idle")

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert "none is idle" in refused.json()["error"]["message"]
    assert still_there.status_code == 200
    assert accepted.status_code == 200
    wait_for(lambda: not pid_alive(busy_pid), 10, what="the evicted session's process to exit")


def _initialize() -> dict[str, object]:
    return dict(INITIALIZE)


def _try_initialize(http: httpx.Client, url: str) -> httpx.Response | None:
    response = http.post(url, json=_initialize(), headers=JSON_AND_SSE)
    return response if response.status_code == 200 else None


# ----- transport sse ---------------------------------------------------------------------------------------
SSE_COMMAND = [sys.executable, str(STDIO_FIXTURE), "sse"]


@pytest.fixture
def sse_server(tmp_path: Path) -> Iterator[str]:
    """The fixture's HTTP+SSE build on its own port; yields its SSE URL."""
    port = free_port()
    with (tmp_path / "sse-server.log").open("ab") as log:
        process = subprocess.Popen([*SSE_COMMAND, "/events"], env={**os.environ, "PORT": str(port)},
                                   stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}/events"

    def up() -> bool:
        try:
            with httpx.stream("GET", url, timeout=1) as response:
                return response.status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30, what="the HTTP+SSE fixture")
    yield url
    process.terminate()
    process.wait(10)


async def _exercise(url: str) -> tuple[str | None, object, list[float], list[object]]:
    progress: list[float] = []
    logs: list[object] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_log(params: object) -> None:
        logs.append(getattr(params, "data", None))

    async with Client(url, logging_callback=on_log) as client:  # auto: server/discover refused, falls back
        version = client.protocol_version
        added = await client.call_tool("add", {"a": 20, "b": 22})
        await client.call_tool("count_with_progress", {"steps": 3}, progress_callback=on_progress)
        await client.call_tool("shout_log", {"text": "over sse"})
    return version, added.structured_content, progress, logs


async def test_an_sse_command_is_started_once_and_each_session_gets_its_own_sse_connection(
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge(["--transport", "sse", "--", *SSE_COMMAND])
    server_pids = descendants(bridge.pid)

    first = await _exercise(bridge.url)
    second = await _exercise(bridge.url)

    assert first == second == ("2025-11-25", {"result": 42}, [1, 2, 3], ["over sse"])
    assert len(server_pids) == 1  # one server process per bridge, not per session
    assert descendants(bridge.pid) == server_pids
    assert (await asyncio.to_thread(live_sessions, bridge)) == 0  # each client's DELETE closed its connection


async def test_an_sse_url_is_bridged_with_an_sse_connection_per_session(
    sse_server: str, start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge(["--transport", "sse", "--sse-url", sse_server, "--session-ttl", "1"])

    result = await _exercise(bridge.url)
    await asyncio.to_thread(_abandon_a_session, bridge)

    assert result == ("2025-11-25", {"result": 42}, [1, 2, 3], ["over sse"])


def live_sessions(bridge: BridgeProcess) -> int:
    sessions = httpx.get(bridge.url.replace("/mcp", "/healthz"), timeout=10).json()["sessions"]
    assert isinstance(sessions, int)
    return sessions


def _abandon_a_session(bridge: BridgeProcess) -> None:
    """Initialize and never DELETE: the idle timeout must close the session's SSE connection."""
    with httpx.Client(timeout=30) as http:
        initialize(http, bridge.url)
    assert live_sessions(bridge) == 1
    wait_for(lambda: live_sessions(bridge) == 0, 10, what="the idle SSE session to end")


def test_an_unreachable_sse_url_fails_initialize_with_a_502_that_says_why(
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge(["--transport", "sse", "--sse-url", f"http://127.0.0.1:{free_port()}/sse"])

    response = httpx.post(bridge.url, json=_initialize(), headers=JSON_AND_SSE, timeout=30)

    assert response.status_code == 502
    assert "cannot connect to the MCP server's SSE endpoint" in response.json()["error"]["message"]


def test_an_sse_command_that_never_listens_stops_the_bridge_with_a_nonzero_exit(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--port", str(free_port()), "--transport", "sse", "--",
         sys.executable, "-c", "import sys; sys.exit(4)"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )

    assert done.returncode != 0
    assert "exited with code 4 before listening" in done.stderr


def test_when_the_sse_command_dies_the_bridge_exits_nonzero_so_the_runtime_restarts_the_replica(
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge(["--transport", "sse", "--", *SSE_COMMAND])
    (server,) = descendants(bridge.pid)

    os.kill(server, signal.SIGKILL)

    assert bridge.process is not None
    assert bridge.process.wait(30) == 1
    assert "the MCP server exited" in bridge.log()
