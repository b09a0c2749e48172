"""Several REST clients racing create, update, scale, restart and delete on the same names of one real gateway
(``mcp-gateway serve``, local runtime): afterwards exactly the stored resources run, with their stored spec, and
a crash-free gateway stop leaves no process at all. Asserted on the process table, not only on HTTP codes."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import httpx
import pytest

from tests.contract.test_runtime import TINY_SERVER, server_processes
from tests.support.gateway_process import GatewayProcess
from tests.support.paths import PYTHON
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
CLIENTS = 4
STEPS = 8


def body(name: str, mark: str, replicas: int) -> dict[str, object]:
    return {
        "name": name,
        "command": PYTHON,
        "args": [str(TINY_SERVER)],
        "transport": "streamable-http",
        "replicaCount": replicas,
        "environmentVariables": {"CONTRACT_NAME": name, "CONTRACT_MARK": mark},
    }


async def racing_client(url: str, names: list[str], seed: int, client: int) -> list[int]:
    rng = random.Random(seed)
    codes = []
    async with httpx.AsyncClient(base_url=url, headers={"X-Dev-UserId": "alice"}, timeout=60) as http:
        for step in range(STEPS):
            name, mark = rng.choice(names), f"c{client}s{step}"
            operation = rng.choice(["create", "update", "restart", "delete"])
            await asyncio.sleep(rng.uniform(0, 0.1))
            if operation == "create":
                response = await http.post("/adapters", json=body(name, mark, rng.randint(1, 2)))
            elif operation == "update":
                response = await http.put(f"/adapters/{name}", json=body(name, mark, rng.randint(0, 2)))
            elif operation == "restart":
                response = await http.post(f"/adapters/{name}/restart")
            else:
                response = await http.delete(f"/adapters/{name}")
            assert response.status_code in (200, 201, 202, 204, 404, 409), response.text
            codes.append(response.status_code)
    return codes


def converged(client: httpx.Client, name: str) -> bool:
    stored = client.get(f"/adapters/{name}")
    running = sorted(mark for _, mark in server_processes(name))
    if stored.status_code == 404:
        return running == []
    record = stored.json()
    return running == [record["environmentVariables"]["CONTRACT_MARK"]] * record["replicaCount"]


def test_racing_rest_clients_leave_exactly_the_stored_resources_running(tmp_path: Path) -> None:
    seed = int(os.environ.get("CONTRACT_SEED", str(random.SystemRandom().randrange(1 << 30))))
    gateway = GatewayProcess(tmp_path / "gw").start()
    names = [f"race-{seed % 1000}-a", f"race-{seed % 1000}-b"]
    try:
        async def race() -> list[list[int]]:
            return await asyncio.gather(
                *(racing_client(gateway.url, names, seed + c, c) for c in range(CLIENTS))
            )

        codes = asyncio.run(race())
        assert any(code in (200, 201) for run in codes for code in run), f"nothing succeeded (seed {seed})"
        client = gateway.client()
        for name in names:
            wait_for(lambda name=name: converged(client, name), 60, what=f"{name} to converge (seed {seed})")
    finally:
        gateway.stop()
    wait_for(lambda: not any(server_processes(name) for name in names), 10, what="no process to outlive the gateway")
