"""The local runtime with real child processes: replicas, status, logs, updates, crashes and shutdown."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.paths import MCP_EXAMPLE, PYTHON
from tests.support.processes import descendants, pid_alive, processes_running
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def mcp_example(name: str = "mcp-example", replicas: int = 2) -> dict[str, object]:
    return {
        "name": name,
        "command": PYTHON,
        "args": [str(MCP_EXAMPLE)],
        "transport": "streamable-http",
        "replicaCount": replicas,
    }


def status_of(client: httpx.Client, name: str) -> dict[str, object]:
    response = client.get(f"/adapters/{name}/status")
    assert response.status_code == 200, response.text
    return dict(response.json())


def healthy(client: httpx.Client, name: str, replicas: int) -> bool:
    status = status_of(client, name)
    return (
        status["replicaStatus"] == "Healthy"
        and status["readyReplicas"] == replicas
        and status["updatedReplicas"] == replicas
    )


def replica_pids(gateway: GatewayProcess) -> list[int]:
    """The sample servers themselves (not their guards)."""
    assert gateway.process is not None
    pids = []
    for pid in descendants(gateway.process.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        except OSError:
            continue
        if str(MCP_EXAMPLE) in cmdline and "gateway.runtimes.local.guard" not in cmdline:
            pids.append(pid)
    return pids


def test_an_adapter_lives_its_whole_life_on_the_local_runtime(gateway_process: GatewayProcess) -> None:
    client = gateway_process.client()
    assert client.post("/adapters", json=mcp_example(replicas=2)).status_code == 201
    wait_for(lambda: healthy(client, "mcp-example", 2), what="Healthy 2/2")

    logs = client.get("/adapters/mcp-example/logs", params={"instance": 1})
    assert logs.status_code == 200 and "MCP Example Server listening" in logs.text
    assert client.get("/adapters/mcp-example/logs", params={"instance": 5}).status_code == 404

    assert client.put("/adapters/mcp-example", json=mcp_example(replicas=3)).status_code == 200
    wait_for(lambda: healthy(client, "mcp-example", 3), what="Healthy 3/3 after the update")
    wait_for(lambda: len(replica_pids(gateway_process)) == 3, what="exactly three replica processes")

    victim = replica_pids(gateway_process)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: not pid_alive(victim), what="the killed replica to die")
    wait_for(
        lambda: (
            healthy(client, "mcp-example", 3)
            and victim not in replica_pids(gateway_process)
            and len(replica_pids(gateway_process)) == 3
        ),
        what="the killed replica to come back",
    )
    assert "restarting" in "".join(
        client.get("/adapters/mcp-example/logs", params={"instance": i}).text for i in range(3)
    )

    assert client.delete("/adapters/mcp-example").status_code == 204
    wait_for(lambda: replica_pids(gateway_process) == [], what="no replica process after delete")
    assert client.get("/adapters/mcp-example").status_code == 404


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_child_outlives_the_gateway(tmp_path: Path, sig: int) -> None:
    gateway = GatewayProcess(tmp_path / "gw").start()
    client = gateway.client()
    assert client.post("/adapters", json=mcp_example(name="orphan-check", replicas=2)).status_code == 201
    wait_for(lambda: healthy(client, "orphan-check", 2), what="Healthy 2/2")
    assert gateway.process is not None
    children = descendants(gateway.process.pid)
    assert len(children) >= 4  # two guards and two servers
    gateway.stop(sig)
    wait_for(lambda: not any(pid_alive(p) for p in children), timeout=20, what="every child to exit")
    assert processes_running(f"--data-dir {tmp_path / 'gw'}") == []


def test_records_survive_a_restart_and_their_processes_come_back(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "gw").start()
    client = gateway.client()
    assert client.post("/adapters", json=mcp_example(name="durable", replicas=1)).status_code == 201
    tool = {
        "name": "weather",
        "url": "http://127.0.0.1:9/score",
        "toolDefinition": {"tool": {"name": "weather", "inputSchema": {"type": "object"}}},
    }
    assert client.post("/tools", json=tool).status_code == 201
    wait_for(lambda: healthy(client, "durable", 1), what="Healthy 1/1")
    gateway.stop()

    restarted = GatewayProcess(tmp_path / "gw", port=gateway.port).start()
    try:
        again = restarted.client()
        assert again.get("/adapters/durable").json()["createdBy"] == "alice"
        assert again.get("/tools/weather").status_code == 200
        wait_for(lambda: healthy(again, "durable", 1), what="the stored adapter to run again")
    finally:
        restarted.stop()


def test_a_missing_command_is_refused_before_anything_is_stored(gateway_process: GatewayProcess) -> None:
    client = gateway_process.client()
    response = client.post("/adapters", json={"name": "nope", "command": "definitely-not-a-command-xyz"})
    assert response.status_code == 400 and "not found" in response.json()["detail"]
    assert client.get("/adapters/nope").status_code == 404


def test_python3_in_a_command_is_the_gateways_own_python(tmp_path: Path) -> None:
    """``make run`` does not activate .venv, so the gateway's PATH may find a python3 without ``mcp`` first."""
    impostor = tmp_path / "bin" / "python3"
    impostor.parent.mkdir()
    impostor.write_text("#!/bin/sh\necho 'not the gateway Python' >&2\nexit 3\n")
    impostor.chmod(0o755)
    gateway = GatewayProcess(tmp_path / "gw", env={"PATH": f"{impostor.parent}:{os.environ['PATH']}"}).start()
    try:
        client = gateway.client()
        # The sample server, after saying which interpreter runs it.
        say_and_serve = (
            "import runpy, sys; print('python:', sys.executable, flush=True); "
            f"runpy.run_path({str(MCP_EXAMPLE)!r}, run_name='__main__')"
        )
        adapter = {"name": "own-python", "command": "python3", "args": ["-c", say_and_serve]}
        adapter["transport"] = "streamable-http"
        assert client.post("/adapters", json=adapter).status_code == 201
        wait_for(lambda: healthy(client, "own-python", 1), what="the sample server on the gateway's python3")
        logs = client.get("/adapters/own-python/logs", params={"instance": 0}).text
        assert f"python: {Path(PYTHON).parent / 'python3'}\n" in logs

        # A PATH of the adapter's own replaces the inherited one, and is the one the command is looked up on.
        elsewhere = {**adapter, "name": "own-path", "environmentVariables": {"PATH": str(tmp_path / "empty")}}
        refused = client.post("/adapters", json=elsewhere)
        assert refused.status_code == 400 and "not found" in refused.json()["detail"]
    finally:
        gateway.stop()
