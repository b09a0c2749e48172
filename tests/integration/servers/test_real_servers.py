"""Real third-party MCP servers run as adapters by a real gateway on the local runtime, used through the gateway
with the official SDK client and the MCP Inspector CLI.

* ``@modelcontextprotocol/server-everything`` in its three modes: stdio (the bridge, a process per session),
  SSE (``transport: "sse"``: the bridge starts it once and opens an SSE connection per session; and the same
  server started by the test, registered as a ``url`` with ``transport: "sse"``) and streamable HTTP (run
  directly). Tools, resources, prompts, progress, sampling, elicitation, logging and list_changed.
* ``@modelcontextprotocol/server-filesystem`` (stdio) on a temporary directory.
* ``mcp-server-time`` from PyPI (stdio).
* The bridge fixture serving Streamable HTTP on a custom ``path``.

The Node servers come pinned from scripts/install-node-tools.sh (run from node_modules/.bin, never fetched by npx
at test time). Without them these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conformance.run_conformance import NodeTools, node_tools
from tests.support.gateway_process import GatewayProcess
from tests.support.paths import PYTHON, REPO
from tests.support.ports import free_port
from tests.support.processes import descendants, pid_alive
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.node,
    # Logging is what server-everything offers (session-era); the SDK warns that 2026-07-28 deprecates it.
    pytest.mark.filterwarnings("ignore:The logging capability is deprecated"),
]
FIXTURE = REPO / "tests" / "integration" / "bridge" / "stdio_fixture.py"
IDLE_SECONDS = 2
EVERYTHING = ["everything-stdio", "everything-sse", "everything-sse-url", "everything-http"]


@pytest.fixture(scope="module")
def tools() -> NodeTools:
    try:
        return node_tools()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Node test tools unavailable in CI: {exc}")
        pytest.skip(f"Node test tools unavailable: {exc}")


@pytest.fixture(scope="module")
def everything_sse_url(tools: NodeTools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """server-everything in SSE mode, started by the test: the target of a ``url`` adapter of transport sse."""
    port = free_port()
    log = (tmp_path_factory.mktemp("sse-server") / "server.log").open("ab")
    process = subprocess.Popen([str(tools.bin_dir / "mcp-server-everything"), "sse"],
                               env={**tools.env(), "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/sse"

    def listening() -> bool:
        assert process.poll() is None, "server-everything (sse) exited"
        try:
            with httpx.stream("GET", url, timeout=2) as response:
                return response.status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(listening, 60, what="server-everything in SSE mode")
    yield url
    process.terminate()
    process.wait(10)
    log.close()


@pytest.fixture(scope="module")
def gateway(
    tools: NodeTools, everything_sse_url: str, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    files = tmp_path_factory.mktemp("files")
    (files / "hello.txt").write_text("hello from the filesystem server\n")
    env = {**tools.env(), "MCPGW_RUNTIME__LOCAL__SESSION_IDLE_TIMEOUT_SECONDS": str(IDLE_SECONDS)}
    gateway = GatewayProcess(tmp_path_factory.mktemp("gw"), env=env).start()
    everything = str(tools.bin_dir / "mcp-server-everything")
    adapters: list[dict[str, Any]] = [
        {"name": "everything-stdio", "command": everything, "args": ["stdio"]},
        {"name": "everything-sse", "command": everything, "args": ["sse"], "transport": "sse", "path": "/sse"},
        {"name": "everything-sse-url", "url": everything_sse_url, "transport": "sse"},
        {"name": "everything-http", "command": everything, "args": ["streamableHttp"],
         "transport": "streamable-http"},
        {"name": "filesystem", "command": str(tools.bin_dir / "mcp-server-filesystem"), "args": [str(files)]},
        {"name": "time", "command": "mcp-server-time", "args": ["--local-timezone", "UTC"]},
        {"name": "custom-path", "command": PYTHON, "args": [str(FIXTURE), "http", "/custom/mcp"],
         "transport": "streamable-http", "path": "/custom/mcp"},
    ]
    client = gateway.client(user="carol")
    for adapter in adapters:
        created = client.post("/adapters", json=adapter)
        assert created.status_code == 201, created.text
    for adapter in adapters:
        wait_for(lambda name=adapter["name"]: client.get(f"/adapters/{name}/status").json()["replicaStatus"]
                 == "Healthy", 90, what=f"{adapter['name']} Healthy (log: {gateway.log_path})")
    yield gateway
    gateway.stop()


@contextlib.asynccontextmanager
async def connect(gateway: GatewayProcess, name: str, **callbacks: Any) -> AsyncIterator[Client]:
    """The official SDK client (auto mode: ``server/discover`` first, then fall back) through the gateway."""
    http = httpx2.AsyncClient(headers={"X-Dev-UserId": "carol", "X-Dev-Roles": "mcp.user"},
                              timeout=httpx2.Timeout(30, read=60))
    transport = streamable_http_client(f"{gateway.url}/adapters/{name}/mcp", http_client=http)
    async with http, Client(transport, **callbacks) as client:  # type: ignore[arg-type]
        yield client


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


@pytest.mark.parametrize("name", EVERYTHING)
async def test_server_everything_through_the_gateway(gateway: GatewayProcess, name: str) -> None:
    notifications: list[str] = []
    logs: list[Any] = []
    progress: list[float] = []
    sampled: list[types.CreateMessageRequestParams] = []
    elicited: list[types.ElicitRequestParams] = []

    async def on_message(message: Any) -> None:
        method = getattr(getattr(message, "root", message), "method", None)
        if isinstance(method, str):
            notifications.append(method)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        sampled.append(params)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="pong"),
                                         model="test-model")

    async def on_elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicited.append(params)
        return types.ElicitResult(action="decline")

    async with connect(gateway, name, message_handler=on_message, logging_callback=on_log,
                       sampling_callback=on_sampling, elicitation_callback=on_elicitation) as client:
        version = client.protocol_version
        summed = await client.call_tool("get-sum", {"a": 2, "b": 40})
        resources = await client.list_resources()
        resource = await client.read_resource("demo://resource/dynamic/text/1")
        prompt = await client.get_prompt("simple-prompt")
        await client.call_tool("trigger-long-running-operation", {"duration": 0.3, "steps": 3},
                               progress_callback=on_progress)
        sampling = await client.call_tool("trigger-sampling-request", {"prompt": "ping", "maxTokens": 10})
        elicitation = await client.call_tool("trigger-elicitation-request", {})
        await client.set_logging_level("debug")
        await client.call_tool("toggle-simulated-logging", {})
        for _ in range(100):  # the first simulated log message is sent at once, maybe after the result
            if logs and "notifications/tools/list_changed" in notifications:
                break
            await asyncio.sleep(0.05)
        tool_names = {tool.name for tool in (await client.list_tools()).tools}

    assert version == "2025-11-25" if name == "everything-http" else version in ("2025-11-25", "2025-06-18")
    assert "42" in text_of(summed)
    assert resources.resources and resource.contents
    assert prompt.messages
    assert progress == [1, 2, 3]
    assert "pong" in text_of(sampling) and len(sampled) == 1
    assert "declined" in text_of(elicitation) and len(elicited) == 1
    assert logs, "no log message reached the client"
    # The sampling and elicitation tools are registered once the client said it can answer them: list_changed.
    assert {"trigger-sampling-request", "trigger-elicitation-request"} <= tool_names
    if name != "everything-http":
        # The server sends them right after `initialized`, before the client opens its GET stream: in
        # streamable HTTP mode its transport drops them (nowhere to send); the bridge keeps them in the
        # session's backlog until the GET stream opens.
        assert "notifications/tools/list_changed" in notifications


async def test_server_filesystem_through_the_gateway(gateway: GatewayProcess) -> None:
    async with connect(gateway, "filesystem") as client:
        allowed = await client.call_tool("list_allowed_directories", {})
        directory = text_of(allowed).splitlines()[-1].strip()
        listing = await client.call_tool("list_directory", {"path": directory})
        read = await client.call_tool("read_text_file", {"path": f"{directory}/hello.txt"})
        outside = await client.call_tool("read_text_file", {"path": "/etc/hostname"})

    assert "hello.txt" in text_of(listing)
    assert text_of(read).strip() == "hello from the filesystem server"
    assert outside.is_error  # the server's own sandbox, through the gateway


async def test_mcp_server_time_through_the_gateway(gateway: GatewayProcess) -> None:
    async with connect(gateway, "time") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        now = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})

    assert {"get_current_time", "convert_time"} <= tools
    assert json.loads(text_of(now))["timezone"] == "Europe/Paris"


async def test_an_adapter_served_on_a_custom_path(gateway: GatewayProcess) -> None:
    record = gateway.client(user="carol").get("/adapters/custom-path").json()
    async with connect(gateway, "custom-path") as client:
        added = await client.call_tool("add", {"a": 20, "b": 22})

    assert record["path"] == "/custom/mcp"
    assert added.structured_content == {"result": 42}


def inspector(tools: NodeTools, gateway: GatewayProcess, name: str, *args: str, home: Path) -> Any:
    done = subprocess.run(
        [str(tools.node), str(tools.inspector), "--cli", f"{gateway.url}/adapters/{name}/mcp", "--transport", "http",
         "--header", "X-Dev-UserId: carol", "--header", "X-Dev-Roles: mcp.user", *args],
        capture_output=True, text=True, timeout=120, env={**tools.env(), "HOME": str(home)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def bridge_pid(gateway: GatewayProcess, marker: str) -> int:
    assert gateway.process is not None
    for pid in descendants(gateway.process.pid):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmdline[1:3] == [b"-m", b"bridge"] and marker.encode() in cmdline:  # not its guard
                return pid
    raise AssertionError(f"no bridge process for {marker}")


@pytest.mark.parametrize("name", [*EVERYTHING, "time"])
def test_the_inspector_cli_through_the_gateway(
    gateway: GatewayProcess, tools: NodeTools, tmp_path: Path, name: str,
) -> None:
    listed = inspector(tools, gateway, name, "--method", "tools/list", home=tmp_path)
    names = {tool["name"] for tool in listed["tools"]}
    if name == "time":
        called = inspector(tools, gateway, name, "--method", "tools/call", "--tool-name", "get_current_time",
                           "--tool-arg", "timezone=UTC", home=tmp_path)
        assert json.loads(called["content"][0]["text"])["timezone"] == "UTC"
        return
    called = inspector(tools, gateway, name, "--method", "tools/call", "--tool-name", "echo",
                       "--tool-arg", "message=hi", home=tmp_path)

    assert {"echo", "get-sum"} <= names
    assert "hi" in called["content"][0]["text"]
    if name == "everything-sse":  # one mode is enough for the other methods (a Node start each)
        prompts = inspector(tools, gateway, name, "--method", "prompts/list", home=tmp_path)
        resource = inspector(tools, gateway, name, "--method", "resources/read",
                             "--uri", "demo://resource/dynamic/text/1", home=tmp_path)
        assert "simple-prompt" in {prompt["name"] for prompt in prompts["prompts"]}
        assert resource["contents"]


def test_the_inspector_cli_never_deletes_its_session_and_its_process_goes_after_the_idle_timeout(
    gateway: GatewayProcess, tools: NodeTools, tmp_path: Path,
) -> None:
    bridge = bridge_pid(gateway, "mcp-server-time")
    wait_for(lambda: not descendants(bridge), IDLE_SECONDS * 4, what="no time server process before the call")

    inspector(tools, gateway, "time", "--method", "tools/list", home=tmp_path)
    children = descendants(bridge)
    health = httpx.get(f"http://127.0.0.1:{_bridge_port(bridge)}/healthz", timeout=10).json()

    assert children, "the Inspector's session process is already gone: did it send DELETE?"
    assert health["maxSessions"] == 64 and health["idleTimeoutSeconds"] == IDLE_SECONDS
    wait_for(lambda: not any(pid_alive(pid) for pid in children), IDLE_SECONDS * 4,
             what="the Inspector's stdio process to end after the idle timeout")


def _bridge_port(pid: int) -> int:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(next(entry for entry in environ if entry.startswith(b"PORT="))[5:])
