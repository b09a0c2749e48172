"""The stdio bridge with real clients over real sockets: mcp 2.3.0 ``Client`` and raw HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.integration.bridge.conftest import FIXTURE_COMMAND, BridgeProcess
from tests.support.paths import REPO
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

JSON_AND_SSE = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "raw-test", "version": "0"}},
}


def sse_messages(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in body.splitlines() if line.startswith("data: ")]


def initialize(http: httpx.Client, url: str) -> str:
    """A raw initialize + initialized; returns the session id."""
    response = http.post(url, json=INITIALIZE, headers=JSON_AND_SSE)
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    assert sse_messages(response.text)[-1]["result"]["serverInfo"]["name"] == "bridge-stdio-fixture"
    notified = http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                         headers={**JSON_AND_SSE, "Mcp-Session-Id": session_id})
    assert notified.status_code == 202
    return session_id


def call(
    http: httpx.Client, url: str, session_id: str, tool: str, args: dict[str, Any], rid: int = 2,
) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    return http.post(url, json=body, headers={**JSON_AND_SSE, "Mcp-Session-Id": session_id})


async def test_a_legacy_client_lists_and_calls_the_stdio_servers_tools(bridge: BridgeProcess) -> None:
    async with Client(bridge.url, mode="legacy") as client:
        version = client.protocol_version
        tools = await client.list_tools()
        result = await client.call_tool("add", {"a": 2, "b": 40})

    assert version == "2025-11-25"
    assert {"add", "count_with_progress", "shout_log"} <= {t.name for t in tools.tools}
    assert result.structured_content == {"result": 42}


async def test_an_auto_mode_client_falls_back_to_initialize_and_works(bridge: BridgeProcess) -> None:
    async with Client(bridge.url) as client:  # mode="auto": server/discover first, then initialize
        version = client.protocol_version
        result = await client.call_tool("add", {"a": 1, "b": 1})

    assert version == "2025-11-25"
    assert result.structured_content == {"result": 2}


async def test_progress_and_log_notifications_reach_the_client_during_the_call(bridge: BridgeProcess) -> None:
    progress: list[tuple[float, float | None]] = []
    logs: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    async with Client(bridge.url, mode="legacy", logging_callback=on_log) as client:
        counted = await client.call_tool("count_with_progress", {"steps": 3}, progress_callback=on_progress)
        shouted = await client.call_tool("shout_log", {"text": "over the bridge"})

    assert counted.content[0].text == "counted 3"  # type: ignore[union-attr]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert shouted.content[0].text == "over the bridge"  # type: ignore[union-attr]
    assert logs == ["over the bridge"]  # delivered on the call's own stream, before its result


def test_delete_kills_the_child_and_the_session_id_then_gets_404(bridge: BridgeProcess) -> None:
    with httpx.Client(timeout=30) as http:
        session_id = initialize(http, bridge.url)
        child_pid = sse_messages(call(http, bridge.url, session_id, "whoami", {}).text)[-1]["result"]
        child_pid = child_pid["structuredContent"]["result"]
        assert pid_alive(child_pid)

        deleted = http.delete(bridge.url, headers={"Mcp-Session-Id": session_id})
        after = call(http, bridge.url, session_id, "add", {"a": 1, "b": 2}, rid=3)
        deleted_again = http.delete(bridge.url, headers={"Mcp-Session-Id": session_id})

    assert deleted.status_code == 200
    assert after.status_code == 404
    assert after.json()["error"] == {"code": -32001, "message": "Session not found"}
    assert deleted_again.status_code == 404
    wait_for(lambda: not pid_alive(child_pid), 10, what="the session's child to exit")


async def test_two_concurrent_sessions_run_in_separate_isolated_children(bridge: BridgeProcess) -> None:
    async with Client(bridge.url, mode="legacy") as first, Client(bridge.url, mode="legacy") as second:
        pids = await asyncio.gather(first.call_tool("whoami", {}), second.call_tool("whoami", {}))
        first_pid, second_pid = (r.structured_content["result"] for r in pids)  # type: ignore[index]
        children = set(descendants(bridge.pid))
        with pytest.raises(MCPError, match="exited"):
            await first.call_tool("crash", {})  # ends the first session's child only
        survivor = await second.call_tool("add", {"a": 3, "b": 4})

    assert first_pid != second_pid
    assert {first_pid, second_pid} <= children
    assert survivor.structured_content == {"result": 7}


def test_a_crashing_child_fails_its_pending_request_and_ends_the_session(bridge: BridgeProcess) -> None:
    with httpx.Client(timeout=30) as http:
        session_id = initialize(http, bridge.url)
        other = initialize(http, bridge.url)
        crashed = call(http, bridge.url, session_id, "crash", {})
        after = call(http, bridge.url, session_id, "add", {"a": 1, "b": 2}, rid=3)
        survivor = call(http, bridge.url, other, "add", {"a": 1, "b": 2}, rid=3)

    error = sse_messages(crashed.text)[-1]["error"]
    assert error["code"] == -32603 and "exited" in error["message"]
    assert after.status_code == 404
    assert sse_messages(survivor.text)[-1]["result"]["structuredContent"] == {"result": 3}


def test_sigkill_of_the_bridge_leaves_no_child_process(bridge: BridgeProcess) -> None:
    with httpx.Client(timeout=30) as http:
        initialize(http, bridge.url)
        initialize(http, bridge.url)
    children = wait_for(lambda: descendants(bridge.pid), 10, what="two session children")
    assert len(children) >= 2

    bridge.stop(signal.SIGKILL)  # no cleanup code runs: PR_SET_PDEATHSIG must do it

    wait_for(lambda: not any(pid_alive(p) for p in children), 10, what="children to die with the bridge")


def test_sigterm_of_the_bridge_ends_open_streams_and_children(bridge: BridgeProcess) -> None:
    with httpx.Client(timeout=30) as http:
        session_id = initialize(http, bridge.url)
        children = wait_for(lambda: descendants(bridge.pid), 10, what="the session child")
        with http.stream("GET", bridge.url, headers={"Accept": "text/event-stream",
                                                     "Mcp-Session-Id": session_id}) as stream:
            assert stream.status_code == 200
            bridge.stop(signal.SIGTERM)
            # uvicorn re-raises the signal after a graceful shutdown (-15); -9 would mean stop() had to kill it.
            assert bridge.process is not None and bridge.process.returncode in (0, -signal.SIGTERM)

    wait_for(lambda: not any(pid_alive(p) for p in children), 10, what="children to exit")


def test_the_standalone_get_stream_carries_messages_sent_outside_a_request(bridge: BridgeProcess) -> None:
    with httpx.Client(timeout=30) as http:
        session_id = initialize(http, bridge.url)
        headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
        with http.stream("GET", bridge.url, headers=headers) as stream:
            second = http.get(bridge.url, headers=headers)
            assert stream.status_code == 200 and second.status_code == 409
            # A ping from the client is answered on its own POST stream, never on the GET stream.
            ping = http.post(bridge.url, json={"jsonrpc": "2.0", "id": 9, "method": "ping"},
                             headers={**JSON_AND_SSE, "Mcp-Session-Id": session_id})
            assert sse_messages(ping.text) == [{"jsonrpc": "2.0", "id": 9, "result": {}}]


def test_idle_sessions_expire_and_their_children_exit(start_bridge: Callable[..., BridgeProcess]) -> None:
    bridge = start_bridge(["--session-ttl", "0.5", "--", *FIXTURE_COMMAND])
    with httpx.Client(timeout=30) as http:
        session_id = initialize(http, bridge.url)
        children = wait_for(lambda: descendants(bridge.pid), 10, what="the session child")

        wait_for(lambda: call(http, bridge.url, session_id, "add", {"a": 1, "b": 1}).status_code == 404
                 if not any(pid_alive(p) for p in children) else False, 15, what="the idle session to expire")


def test_the_http_layer_enforces_the_streamable_http_rules(bridge: BridgeProcess) -> None:
    url = bridge.url
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    with httpx.Client(timeout=30) as http:
        session_id = initialize(http, url)
        in_session = {**JSON_AND_SSE, "Mcp-Session-Id": session_id}
        no_session = http.post(url, json=ping, headers=JSON_AND_SSE)
        unknown = http.post(url, json=ping, headers={**JSON_AND_SSE, "Mcp-Session-Id": "no-such-session"})
        wrong_accept = http.post(url, json=ping, headers={**in_session, "Accept": "text/html"})
        wrong_type = http.post(url, content=b"{}", headers={**in_session, "Content-Type": "text/plain"})
        too_big = http.post(url, content=b" " * (4 * 1024 * 1024 + 1), headers=in_session)
        not_json = http.post(url, content=b"{nope", headers=in_session)
        json_only = http.post(url, json=ping, headers={**in_session, "Accept": "application/json"})
        evil_host = http.post(url, json=ping, headers={**in_session, "Host": "evil.example.com"})
        evil_origin = http.post(url, json=ping, headers={**in_session, "Origin": "http://evil.example.com"})
        old_version = http.post(url, json=ping, headers={**in_session, "Mcp-Protocol-Version": "1999-01-01"})

    assert no_session.status_code == 400
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32001
    assert wrong_accept.status_code == 406
    assert wrong_type.status_code == 415
    assert too_big.status_code == 413
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == -32700
    assert json_only.status_code == 200 and json_only.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert json_only.headers["content-type"].startswith("application/json")
    assert evil_host.status_code == 421
    assert evil_origin.status_code == 403
    assert old_version.status_code == 400


def test_server_discover_is_refused_with_400_so_clients_fall_back(bridge: BridgeProcess) -> None:
    discover = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}
    headers = {**JSON_AND_SSE, "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}
    response = httpx.post(bridge.url, json=discover, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32022
    assert "2025-11-25" in response.json()["error"]["data"]["supported"]
    assert descendants(bridge.pid) == []  # no child was spawned for the probe


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MCP_COMMAND": "echo\nrm -rf /"}, "must not contain NUL, CR or LF"),
        ({"MCP_COMMAND": "python3", "MCP_ARGS": " ".join(["x"] * 65)}, "at most 64 arguments"),
        ({"MCP_COMMAND": "python3", "MCP_ARGS": "'unterminated"}, "not valid shell syntax"),
        ({"MCP_COMMAND": "definitely-not-a-command-4711"}, "was not found"),
        ({}, "Must set either MCP_PROXY_URL or MCP_COMMAND"),
        ({"MCP_PROXY_URL": "ftp://example.com/mcp"}, "http:// or https://"),
        ({"MCP_PROXY_URL": "not a url"}, "MCP_PROXY_URL"),
    ],
)
def test_a_bad_configuration_exits_1_with_a_message(env: dict[str, str], message: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    done = subprocess.run([sys.executable, "-m", "bridge", "--port", "1"], env={**clean, **env},
                          capture_output=True, text=True, timeout=30, cwd=REPO)

    assert done.returncode == 1
    assert message in done.stderr
    assert done.stderr.startswith("mcp-bridge: ")
