"""The bridge against third parties: a remote Streamable HTTP server (MCP_PROXY_URL), the MCP Inspector CLI,
and the conformance suite run through the bridge in front of the stdio build of the conformance fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mcp import Client

from tests.conformance.conftest import start_fixture, stop
from tests.conformance.run_conformance import NodeTools, node_tools, run_conformance
from tests.integration.bridge.conftest import BridgeProcess

pytestmark = pytest.mark.slow
CONFORMANCE_FIXTURE = Path(__file__).resolve().parents[2] / "conformance" / "fixture_server.py"


@pytest.fixture
def remote_url(tmp_path: Path) -> Iterator[str]:
    process, url = start_fixture(tmp_path / "remote.log")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def tools() -> NodeTools:
    try:
        return node_tools()
    except RuntimeError as exc:
        pytest.skip(f"Node test tools unavailable: {exc}")


async def test_the_remote_relay_carries_a_whole_session_to_a_streamable_http_server(
    remote_url: str, start_bridge: Callable[..., BridgeProcess],
) -> None:
    bridge = start_bridge([], env={"MCP_PROXY_URL": remote_url})
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with Client(bridge.url, mode="legacy") as client:
        version = client.protocol_version
        text = await client.call_tool("test_simple_text", {})
        await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    async with Client(bridge.url) as modern:  # mode="auto": the remote speaks 2026-07-28, so no fallback
        modern_version = modern.protocol_version
        prompt = await modern.get_prompt("test_simple_prompt")

    assert version == "2025-11-25"
    assert text.content[0].text == "This is a simple text response for testing."  # type: ignore[union-attr]
    assert progress == [0, 50, 100]  # SSE relayed event by event
    assert modern_version == "2026-07-28"  # Mcp-Method / Mcp-Name headers crossed the relay
    assert prompt.messages[0].content.text == "This is a simple prompt for testing."  # type: ignore[union-attr]


@pytest.mark.node
def test_the_inspector_cli_calls_a_tool_through_the_bridge(bridge: BridgeProcess, tools: NodeTools,
                                                           tmp_path: Path) -> None:
    done = subprocess.run(
        [str(tools.node), str(tools.inspector), "--cli", bridge.url, "--transport", "http",
         "--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=2", "b=40"],
        capture_output=True, text=True, timeout=120, env={**tools.env(), "HOME": str(tmp_path)},
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["structuredContent"] == {"result": 42}


@pytest.mark.node
@pytest.mark.parametrize(("alpha", "suite_args"), [
    (False, ["--suite", "all"]),
    (True, ["--suite", "all", "--spec-version", "2025-11-25"]),
])
def test_every_conformance_scenario_passes_through_the_bridge_to_a_stdio_server(
    alpha: bool, suite_args: list[str], start_bridge: Callable[..., BridgeProcess], tools: NodeTools,
    tmp_path: Path,
) -> None:
    bridge = start_bridge(["--", sys.executable, str(CONFORMANCE_FIXTURE), "--transport", "stdio"])

    result = run_conformance(bridge.url, suite_args, tmp_path / "results", alpha=alpha, tools=tools)

    assert result.failed_scenarios == set(), result.describe_failures()
    assert len(result.scenarios) >= 32
