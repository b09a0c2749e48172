"""The CLI run as a user runs it: ``python -m gateway ...`` as a child process, against a real gateway, with a
configuration directory of its own (``XDG_CONFIG_HOME``) so no test reads or writes the user's."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer

from tests.support.gateway_process import GatewayProcess
from tests.support.paths import PYTHON, REPO
from tests.support.servers import UvicornThread


@dataclass
class Cli:
    """``mcp-gateway`` against ``gateway`` (as ``MCPGW_URL``), configured under ``home``."""

    gateway: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("MCPGW_") and k != "NO_COLOR"}
        return {**base, "XDG_CONFIG_HOME": str(self.home), "MCPGW_URL": self.gateway, **self.env, **extra}

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, "-m", "gateway", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=self.environment(**env),
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, "-o", "json", **kwargs).stdout)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error a failed command printed: exactly one line on stderr, starting ``mcp-gateway: ``."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcp-gateway: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def remote_mcp() -> Iterator[str]:
    """The URL of an MCP server that already runs (for ``url`` adapters): one tool, ``echo``."""
    server = MCPServer(name="remote", version="1.0.0")

    @server.tool()
    def echo(text: str) -> str:
        """Answers with its argument."""
        return text

    app = server.streamable_http_app(stateless_http=True, json_response=True)
    with UvicornThread(app, lifespan="on", loop="asyncio") as running:
        yield f"{running.url}/mcp"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    started = GatewayProcess(tmp_path_factory.mktemp("cli-gateway")).start()
    yield started
    started.stop()


@pytest.fixture
def cli(gateway: GatewayProcess, tmp_path: Path) -> Cli:
    return Cli(gateway.url, tmp_path / "config")
