"""Fixtures for the conformance legs: the Node tools and the fixture MCP server on a free port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.run_conformance import NodeTools, node_tools
from tests.support.ports import free_port
from tests.support.waiting import wait_for

FIXTURE = Path(__file__).with_name("fixture_server.py")


def start_fixture(log_path: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start the fixture server; returns the process and its ``/mcp`` URL once it answers."""
    port = port or free_port()
    log = log_path.open("ab")
    process = subprocess.Popen([sys.executable, str(FIXTURE), "--port", str(port)], stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/mcp"

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"fixture exited with {process.returncode}:\n{log_path.read_text()}")
        try:  # any HTTP answer (a 4xx to this bare GET) means it is listening
            return httpx.get(url, timeout=1).status_code > 0
        except httpx.HTTPError:
            return False

    wait_for(answers, 30, what=f"conformance fixture on {url}")
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def tools() -> NodeTools:
    try:
        return node_tools()
    except RuntimeError as exc:
        pytest.skip(f"Node test tools unavailable: {exc}")


@pytest.fixture(scope="module")
def fixture_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The conformance fixture server, shared by the legs of one module."""
    process, url = start_fixture(tmp_path_factory.mktemp("fixture") / "fixture.log")
    yield url
    stop(process)
