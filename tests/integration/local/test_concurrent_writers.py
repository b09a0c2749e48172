"""Two gateway processes writing the same records through one SQLite file never lose an update."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess

pytestmark = pytest.mark.slow
WRITES_PER_GATEWAY = 15


async def append_marks(base_url: str, mark: str) -> int:
    """Read-modify-write with If-Match, retrying on 412, like a careful client."""
    retries = 0
    headers = {"X-Dev-UserId": "alice"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        for i in range(WRITES_PER_GATEWAY):
            while True:
                current = await client.get("/adapters/shared")
                body = current.json()
                body["description"] += f"{mark}{i},"
                for field in ("id", "createdBy", "createdAt", "lastUpdatedAt"):
                    body.pop(field)
                written = await client.put("/adapters/shared", json=body, headers={"If-Match": current.headers["etag"]})
                if written.status_code == 200:
                    break
                assert written.status_code == 412, written.text
                retries += 1
    return retries


def test_two_gateways_sharing_sqlite_never_lose_an_update(tmp_path: Path) -> None:
    # One SQLite file, two gateways: each has its own data directory (a data directory belongs to one
    # gateway, gateway.exclusive) and both point MCPGW_STORE__SQLITE_PATH at the same database.
    shared = {"MCPGW_STORE__SQLITE_PATH": str(tmp_path / "shared.db")}
    first = GatewayProcess(tmp_path / "gw1", env=shared).start()
    second = GatewayProcess(tmp_path / "gw2", env=shared).start()
    try:
        created = first.client().post("/adapters", json={"name": "shared", "url": "http://127.0.0.1:9/mcp"})
        assert created.status_code == 201

        async def both() -> list[int]:
            return await asyncio.gather(append_marks(first.url, "a"), append_marks(second.url, "b"))

        asyncio.run(both())
        description = first.client().get("/adapters/shared").json()["description"]
        marks = [m for m in description.split(",") if m]
        assert sorted(marks) == sorted(
            [f"a{i}" for i in range(WRITES_PER_GATEWAY)] + [f"b{i}" for i in range(WRITES_PER_GATEWAY)]
        )
    finally:
        first.stop()
        second.stop()
