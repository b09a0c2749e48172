"""``call`` and ``tools-of`` through a real gateway with the official SDK client, in both protocol eras: an
adapter, the tool router (``/mcp``) and a virtual server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.paths import MCP_EXAMPLE, PYTHON
from tests.support.waiting import wait_for

from .conftest import Cli, one_error_line

pytestmark = pytest.mark.slow

ERAS = ["2025-11-25", "2026-07-28"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway with its tool router, and the sample adapter (dev's) Ready."""
    started = GatewayProcess(tmp_path_factory.mktemp("cli-mcp"), env={"MCPGW_ROUTER__REPLICAS": "1"}).start()
    client = started.client(user="dev")
    adapter = {"name": "calc", "command": PYTHON, "args": [str(MCP_EXAMPLE)], "transport": "streamable-http"}
    assert client.post("/adapters", json=adapter).status_code == 201
    server = {"name": "sums", "members": [{"adapter": "calc", "overrides": {"add": {"alias": "sum"}}}]}
    assert client.post("/servers", json=server).status_code == 201
    wait_for(lambda: client.get("/adapters/calc/status").json()["phase"] == "Ready", 30, what="calc Ready")
    yield started
    started.stop()


@pytest.fixture
def cli(gateway: GatewayProcess, tmp_path: Path) -> Cli:
    return Cli(gateway.url, tmp_path / "config")


@pytest.mark.parametrize("era", ERAS)
def test_call_an_adapter_in_each_era(cli: Cli, era: str) -> None:
    assert cli.ok("call", "calc", "add", "--arg", "a=2", "--arg", "b=40", "--protocol", era).stdout == "42\n"
    result = cli.json("call", "adapters/calc", "add", "--json", '{"a": 1, "b": 1}', "--arg", "b=2",
                      "--protocol", era)
    assert result["structuredContent"] == {"result": 3} and result["isError"] is False
    tools = cli.json("tools-of", "calc", "--protocol", era)
    assert [tool["name"] for tool in tools] == ["add"]
    assert cli.ok("tools-of", "calc", "--protocol", era).stdout.splitlines() == [
        "TOOL  TITLE  DESCRIPTION",
        "add   -      Add two numbers",
    ]


@pytest.mark.parametrize("era", ERAS)
def test_call_through_the_tool_router_and_a_virtual_server(cli: Cli, era: str) -> None:
    def router_lists_calc() -> bool:
        listed = cli.run("tools-of", "/mcp", "--protocol", era, "-o", "json")
        return listed.returncode == 0 and "calc__add" in listed.stdout

    wait_for(router_lists_calc, 30, interval=0.5, what="the router listing calc__add")
    assert cli.ok("call", "/mcp", "calc__add", "--arg", "a=20", "--arg", "b=22", "--protocol", era).stdout == "42\n"
    assert [t["name"] for t in cli.json("tools-of", "servers/sums", "--protocol", era)] == ["sum"]
    assert cli.ok("call", "servers/sums", "sum", "--arg", "a=1", "--arg", "b=2", "--protocol", era).stdout == "3\n"


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (("call", "nosuch", "add"), 3, "mcp-gateway: Not found: The adapter 'nosuch' does not exist."),
        (("call", "calc", "add", "--user", "mallory"), 4,
         "mcp-gateway: Forbidden: You do not have permission to perform the operation."),
        (("call", "calc", "nosuch", "--arg", "a=1"), 3,
         "mcp-gateway: {gateway}/adapters/calc/mcp has no tool 'nosuch' (tools: add)"),
        (("call", "calc", "add", "--json", "[1]"), 2, "mcp-gateway: --json: expected a JSON object of arguments"),
        (("call", "calc", "add", "--arg", "a"), 2, "mcp-gateway: --arg 'a': expected KEY=VALUE"),
        (("call", "bad/target/x", "add"), 2,
         "mcp-gateway: target 'bad/target/x': expected NAME or adapters/NAME (an adapter), servers/NAME (a virtual "
         "server), /mcp (the tool router) or a URL"),
    ],
    ids=["unknown-adapter", "forbidden", "unknown-tool", "json-not-object", "arg-without-value", "bad-target"],
)
def test_call_failures_are_one_line(cli: Cli, args: tuple[str, ...], code: int, line: str) -> None:
    result = cli.run(*args)
    assert result.returncode == code, result.stderr
    assert one_error_line(result) == line.format(gateway=cli.gateway)


def test_a_tool_error_result_exits_1_after_printing_it(cli: Cli) -> None:
    result = cli.run("call", "calc", "add", "--arg", "a=x", "--arg", "b=1", "-o", "json")
    assert result.returncode == 1
    assert '"isError": true' in result.stdout
    assert one_error_line(result) == "mcp-gateway: the tool add reported an error"
