"""A damaged record already in the SQLite store never breaks listings, the tool catalog or start-up.

The rows are written straight into the gateway's database file, as an older version or a hand edit could
have left them: text that cannot be encoded (a lone surrogate), JSON that does not parse, bytes that are
not UTF-8, a schema nested too deep. The gateway skips each one with a log line that holds no secrets,
keeps serving every other record, and a damaged record can still be deleted.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess

pytestmark = pytest.mark.slow

ADMIN = {"X-Dev-UserId": "root", "X-Dev-Roles": "mcp.admin"}
ROUTER_SECRET = "router-secret-for-the-damaged-records-test"
SECRET_VALUE = "s3cr3t-api-key-that-must-not-be-logged"


def adapter_record(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "url": "http://127.0.0.1:9/mcp",
        "createdBy": "alice",
        "createdAt": "2026-01-01T00:00:00Z",
        "lastUpdatedAt": "2026-01-01T00:00:00Z",
        **fields,
    }


def tool_record(name: str, input_schema: dict[str, Any]) -> dict[str, Any]:
    return adapter_record(name, toolDefinition={"tool": {"name": name, "inputSchema": input_schema}})


def deep_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


# (kind, name, the text stored in the data column). json.dumps writes a lone surrogate as the escape
# "\ud800", which is how a Python writer gets one into the file; it reads back as an unencodable string.
DAMAGED_ROWS = [
    ("adapter", "bad-role", json.dumps(adapter_record("bad-role", requiredRoles=["ops\ud800"]))),
    (
        "adapter",
        "bad-env",
        json.dumps(adapter_record("bad-env", environmentVariables={"API_KEY": SECRET_VALUE, "X": "\x00"})),
    ),
    ("adapter", "bad-type", json.dumps(adapter_record("bad-type", replicaCount=True))),
    ("adapter", "not-json", '{"name": "not-json", '),
    ("adapter", "not-an-object", "[]"),
    ("tool", "bad-schema", json.dumps(tool_record("bad-schema", {"type": "object", "description": "\udfff"}))),
    ("tool", "deep-schema", json.dumps(tool_record("deep-schema", deep_schema(200)))),
    ("tool", "nan-schema", json.dumps(tool_record("nan-schema", {"type": "object", "maximum": float("nan")}))),
]


def write_damaged_rows(database: Path) -> None:
    with sqlite3.connect(database) as conn:
        for kind, name, data in DAMAGED_ROWS:
            conn.execute(
                "INSERT INTO resources (name, kind, data, version) VALUES (?, ?, ?, ?)",
                (name, kind, data, uuid.uuid4().hex),
            )
        # Text that is not UTF-8 at all: sqlite3 itself fails to read such a column as a Python str.
        conn.execute(
            "INSERT INTO resources (name, kind, data, version) VALUES (?, 'adapter', CAST(x'7bff22' AS TEXT), ?)",
            ("not-utf8", uuid.uuid4().hex),
        )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    data_dir = tmp_path_factory.mktemp("damaged") / "gw"
    env = {"MCPGW_ROUTER__SECRET": ROUTER_SECRET}
    first = GatewayProcess(data_dir, env=env).start()
    try:
        with first.client("root", "mcp.admin") as http:
            assert http.post("/adapters", json={"name": "good", "url": "http://127.0.0.1:9/mcp"}).status_code == 201
            good_tool = {
                "name": "good-tool",
                "url": "http://127.0.0.1:9/score",
                "toolDefinition": {"tool": {"name": "good-tool", "inputSchema": {"type": "object"}}},
            }
            assert http.post("/tools", json=good_tool).status_code == 201
    finally:
        first.stop()
    write_damaged_rows(data_dir / "gateway.db")
    # The second start reconciles the runtime with every record, the damaged ones included.
    second = GatewayProcess(data_dir, env=env, log_level="info").start()
    yield second
    second.stop()


def test_listings_skip_damaged_records_and_show_the_others(gateway: GatewayProcess) -> None:
    with gateway.client("root", "mcp.admin") as http:
        adapters = http.get("/adapters")
        tools = http.get("/tools")
    assert adapters.status_code == 200 and [a["name"] for a in adapters.json()] == ["good"]
    assert tools.status_code == 200 and [t["name"] for t in tools.json()] == ["good-tool"]


def test_the_tool_catalog_skips_damaged_tools(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.url}/internal/tool-catalog", headers={"X-Gateway-Secret": ROUTER_SECRET})
    assert response.status_code == 200
    assert [entry["name"] for entry in response.json()["tools"]] == ["good-tool"]


@pytest.mark.parametrize("name", ["bad-role", "not-json", "not-utf8"])
def test_reading_a_damaged_record_is_a_502_that_says_so(gateway: GatewayProcess, name: str) -> None:
    with gateway.client("root", "mcp.admin") as http:
        response = http.get(f"/adapters/{name}")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "damaged" in response.json()["detail"]


def test_a_damaged_record_can_still_be_deleted(gateway: GatewayProcess) -> None:
    with gateway.client("alice") as creator, gateway.client("mallory") as stranger:
        assert stranger.delete("/adapters/bad-type").status_code == 403
        assert creator.delete("/adapters/bad-type").status_code == 204
        assert creator.get("/adapters/bad-type").status_code == 404


def test_skipped_records_are_logged_without_their_content(gateway: GatewayProcess) -> None:
    with gateway.client("root", "mcp.admin") as http:
        http.get("/adapters")
    log = gateway.log_path.read_text(errors="replace")
    assert "bad-env" in log and "damaged" in log
    assert "not-utf8" in log
    assert SECRET_VALUE not in log
