"""Real backend servers for tests: our own redis-server and the Cosmos DB emulator, on free loopback ports.

Both live for the test session. When a server's binary is missing, tests that need it are skipped, except in
CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.paths import REPO, node_tools_dir
from tests.support.ports import free_port
from tests.support.waiting import wait_for

# Any base64 string: the emulator does not check signatures.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
NODE_TOOLS = node_tools_dir()

def missing_backend(message: str) -> None:
    """Skip locally; fail in CI, which must run every contract test rather than skip it silently."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing_backend("redis-server not found; install it (apt-get install -y redis-server).")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(workdir), "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _redis_answers(port) or process.poll() is not None, timeout=10, what="redis-server")
        if process.poll() is not None:
            raise AssertionError(f"redis-server exited with {process.returncode}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _redis_answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def cosmos_endpoint() -> Iterator[str]:
    node = shutil.which("node")
    package = NODE_TOOLS / "node_modules" / "@vercel" / "cosmosdb-server"
    if node is None or not package.is_dir():
        missing_backend(f"the Cosmos DB emulator needs node and {package}; run: bash scripts/install-node-tools.sh")
    process = subprocess.Popen(
        [str(node), str(REPO / "scripts" / "cosmos-emulator.js"), "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MCPGW_NODE_TOOLS": str(NODE_TOOLS)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the emulator prints READY <port> within ~0.2 s, or exits
        if not line.startswith("READY "):
            raise AssertionError(f"the Cosmos emulator did not start (exit {process.poll()}): {line!r}")
        yield f"https://127.0.0.1:{int(line.split()[1])}/"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


