"""A backend that fails tells the client nothing internal: a generic JSON-RPC or problem+json error with
the request id, while the gateway's log has the details. The backend is a real redis-server that the test
starts and then kills under a running gateway."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import missing_backend
from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.rawhttp import raw_request
from tests.support.gateway_process import GatewayProcess
from tests.support.ports import free_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]

MCP = [("X-Dev-UserId", "alice"), ("Content-Type", "application/json"), ("Accept", "application/json")]
INTERNALS = ("redis", "127.0.0.1", "Connection refused", "Error ", "Traceback")


@pytest.fixture(scope="module")
def doomed_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing_backend("redis-server not found; install it (apt-get install -y redis-server).")
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("doomed-redis")
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    yield process, port
    process.kill()
    process.wait(10)


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, doomed_redis: tuple[subprocess.Popen[bytes], int]
) -> Iterator[GatewayProcess]:
    _, port = doomed_redis
    # Store-mapped session ids: sealed ones (the default) never read the store on the data plane.
    env = {
        "MCPGW_SESSIONS__SEALED": "false",
        "MCPGW_SESSIONS__KIND": "redis",
        "MCPGW_SESSIONS__REDIS_URL": f"redis://127.0.0.1:{port}/0",
    }
    started = GatewayProcess(tmp_path_factory.mktemp("backend-errors"), env=env).start()
    yield started
    started.stop()


def _assert_nothing_internal(text: str) -> None:
    for word in INTERNALS:
        assert word.lower() not in text.lower(), word


def test_a_dead_session_store_is_a_generic_error_with_the_request_id(
    gateway: GatewayProcess, doomed_redis: tuple[subprocess.Popen[bytes], int]
) -> None:
    probe = UpstreamProbe().start()
    try:
        adapter = {"name": "probe", "url": probe.url}
        assert gateway.client(user="alice", roles="mcp.admin").post("/adapters", json=adapter).status_code == 201
        process, _ = doomed_redis
        process.kill()
        process.wait(10)

        session_call = MCP + [("Mcp-Session-Id", "abc123"), ("X-Request-Id", "req-backend-1")]
        body = b'{"jsonrpc":"2.0","id":7,"method":"tools/list"}'
        response = raw_request(gateway.port, "POST", "/adapters/probe/mcp", session_call, body)
        assert response.status == 502
        error = response.json()["error"]
        assert error["code"] == -32000
        assert error["data"] == {"requestId": "req-backend-1"}
        _assert_nothing_internal(response.body.decode())

        ready = raw_request(gateway.port, "GET", "/readyz", [("X-Request-Id", "req-backend-2")])
        assert ready.status == 503
        problem = ready.json()
        assert problem["detail"] == "The session store is not usable."
        assert problem["requestId"] == "req-backend-2"
        _assert_nothing_internal(ready.body.decode())
    finally:
        probe.stop()

    # The operator still learns what happened, under the same request ids.
    log = gateway.log_path
    wait_for(lambda: "req-backend-1" in log.read_text() and "Redis at" in log.read_text(), timeout=10, what="log")
    lines = [line for line in log.read_text().splitlines() if "Redis at" in line]
    assert lines, log.read_text()
