"""The resource commands against a real gateway process: create, list, get, status, logs, restart and delete,
``--wait`` until Ready, failing, or timing out, and every failure as one line with its exit code."""

from __future__ import annotations

import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.paths import MCP_EXAMPLE, PYTHON, TOOL_EXAMPLE
from tests.support.ports import free_port

from .conftest import Cli, one_error_line

pytestmark = pytest.mark.slow

EXIT_AT_ONCE = "import sys; print('boom: OPENAI_API_KEY is not set', file=sys.stderr, flush=True); sys.exit(3)"
NEVER_LISTENS = "import time; time.sleep(600)"


def test_an_adapter_from_create_to_delete(cli: Cli) -> None:
    created = cli.run("adapters", "create", "calc", "--transport", "streamable-http", "--replicas", "2",
                      "--description", "adds numbers", "--wait", "--", PYTHON, str(MCP_EXAMPLE))
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "adapter/calc created"
    assert "adapter/calc: Ready, 2/2 ready" in created.stderr  # the last progress line, not a terminal: plain

    listed = cli.json("adapters", "list")
    assert [(a["name"], a["replicaCount"], a["createdBy"]) for a in listed] == [("calc", 2, "dev")]
    table = cli.ok("adapters", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "READY", "TRANSPORT", "SOURCE", "CREATED", "BY", "AGE"]
    assert table[1].split()[:4] == ["calc", "Ready", "2/2", "streamable-http"]

    resource = cli.json("adapters", "get", "calc")
    assert resource["description"] == "adds numbers" and resource["args"] == [str(MCP_EXAMPLE)]
    assert "Replicas:" in cli.ok("adapters", "get", "calc").stdout

    status = cli.json("adapters", "status", "calc")
    assert status["phase"] == "Ready" and status["readyReplicas"] == 2
    assert "calc-1" in cli.ok("adapters", "status", "calc").stdout

    logs = cli.ok("adapters", "logs", "calc", "--instance", "1", "--tail", "5").stdout
    assert "listening on http://127.0.0.1:" in logs

    restarted = cli.run("adapters", "restart", "calc", "--wait", "-o", "json")
    assert restarted.returncode == 0, restarted.stderr
    assert '"phase": "Ready"' in restarted.stdout and "adapter/calc: Ready, 2/2 ready" in restarted.stderr

    assert cli.ok("adapters", "delete", "calc").stdout.strip() == "adapter/calc deleted"
    gone = cli.run("adapters", "get", "calc")
    assert gone.returncode == 3
    assert one_error_line(gone) == "mcp-gateway: Not found: The adapter 'calc' does not exist."
    assert cli.ok("adapters", "delete", "calc", "--ignore-not-found").stdout == ""


def test_a_tool_and_a_virtual_server(cli: Cli) -> None:
    cli.ok("adapters", "create", "sums", "--transport", "streamable-http", "--", PYTHON, str(MCP_EXAMPLE))
    created = cli.run(
        "tools", "create", "weather", "--transport", "streamable-http", "--port", "8000", "--endpoint-path", "/score",
        "--tool-description", "Current weather",
        "--input-schema", '{"type":"object","properties":{"location":{"type":"string"}}}',
        "--wait", "--", PYTHON, str(TOOL_EXAMPLE),
    )
    assert created.returncode == 0, created.stderr
    tool = cli.json("tools", "get", "weather")
    assert tool["toolDefinition"]["tool"]["description"] == "Current weather"
    assert cli.ok("tools", "list").stdout.splitlines()[1].split()[:4] == ["weather", "Ready", "1/1", ":8000/score"]

    server = cli.json("servers", "create", "everyday", "--member", "adapter:sums=add", "--member", "tool:weather")
    assert server["members"] == [{"adapter": "sums", "include": ["add"], "exclude": [], "readOnly": False,
                                  "overrides": {}}, {"tool": "weather", "include": [], "exclude": [],
                                                     "readOnly": False, "overrides": {}}]
    assert "adapter:sums,tool:weather" in cli.ok("servers", "list").stdout
    cli.ok("servers", "delete", "everyday")
    cli.ok("tools", "delete", "weather")
    cli.ok("adapters", "delete", "sums")


def test_wait_reports_the_last_error_of_an_adapter_that_fails(cli: Cli) -> None:
    result = cli.run("adapters", "create", "crashes", "--transport", "streamable-http", "--wait", "--timeout", "60",
                     "--", PYTHON, "-c", EXIT_AT_ONCE)
    assert result.returncode == 1
    assert "exited with code 3" in result.stderr and "boom: OPENAI_API_KEY is not set" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("mcp-gateway: adapter/crashes is Failing: exited with code 3")
    cli.ok("adapters", "delete", "crashes")


def test_wait_gives_up_at_the_timeout_with_exit_code_124(cli: Cli) -> None:
    result = cli.run("adapters", "create", "sleeper", "--transport", "streamable-http", "--wait", "--timeout", "2",
                     "--", PYTHON, "-c", NEVER_LISTENS)
    assert result.returncode == 124, result.stderr
    assert "timed out after 2s waiting for adapter/sleeper to be Ready (Starting, 0/1 ready" in result.stderr
    cli.ok("adapters", "delete", "sleeper")


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (
            ("adapters", "create", "Bad_Name", "--env", "1x=2", "--", "python3"),
            1,
            "mcp-gateway: Invalid request: name: must contain only lowercase letters, numbers and dashes, start "
            "with a letter and not end with a dash; environmentVariables: has invalid variable names (1x): a name "
            "is at most 256 characters of letters, digits, '-', '.' and '_', and does not start with a digit",
        ),
        (("adapters", "create", "twice", "--url", "http://127.0.0.1:9/mcp"), 5,
         "mcp-gateway: Conflict: The name 'twice' is already used by an adapter."),
        (("adapters", "status", "nope"), 3, "mcp-gateway: Not found: The adapter 'nope' does not exist."),
        (("adapters", "create", "nosource"), 2,
         "mcp-gateway: give exactly one source: a command line after the name (-- python3 server.py), "
         "--image NAME:TAG or --url URL"),
        (("adapters", "delete", "twice", "--user", "mallory"), 4,
         "mcp-gateway: Forbidden: You do not have permission to perform the operation."),
    ],
    ids=["invalid-fields", "conflict", "not-found", "usage", "forbidden"],
)
def test_failures_are_one_line_with_a_meaningful_exit_code(
    gateway: GatewayProcess, cli: Cli, args: tuple[str, ...], code: int, line: str
) -> None:
    gateway.client(user="dev").post("/adapters", json={"name": "twice", "url": "http://127.0.0.1:9/mcp"})
    result = cli.run(*args)
    assert result.returncode == code, result.stderr
    assert one_error_line(result) == line


def test_an_unreachable_gateway_and_a_bad_url_are_one_line(cli: Cli) -> None:
    port = free_port()
    unreachable = cli.run("adapters", "list", "--gateway", f"http://127.0.0.1:{port}")
    assert unreachable.returncode == 6
    assert one_error_line(unreachable).startswith(f"mcp-gateway: cannot reach the gateway at http://127.0.0.1:{port}")
    bad = cli.run("adapters", "list", MCPGW_URL="localhost:8000")
    assert bad.returncode == 2
    assert one_error_line(bad) == (
        "mcp-gateway: MCPGW_URL: expected the gateway's base URL such as http://127.0.0.1:8000, got 'localhost:8000'"
    )
