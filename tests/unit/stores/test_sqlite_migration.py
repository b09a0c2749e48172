"""The SQLite store's schema migrates on open: a version-1 file (adapters and tools only) keeps its records and
takes virtual servers afterwards."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from gateway.errors import Conflict
from gateway.stores.sqlite import _MIGRATIONS, SCHEMA_VERSION, SqliteMetadataStore


def _version_1_file(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in filter(str.strip, _MIGRATIONS[1].split(";")):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute(
        "INSERT INTO resources (name, kind, data, version) VALUES (?, 'adapter', ?, 'v-1')",
        ("weather", json.dumps({"name": "weather", "url": "http://127.0.0.1:9/mcp"})),
    )
    with pytest.raises(sqlite3.IntegrityError):  # what version 1 refuses
        conn.execute("INSERT INTO resources (name, kind, data, version) VALUES ('s', 'server', '{}', 'v')")
    conn.close()


async def test_a_version_1_store_keeps_its_records_and_takes_virtual_servers(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    _version_1_file(path)

    store = SqliteMetadataStore(path)
    await store.open()
    try:
        adapter = await store.get("adapter", "weather")
        assert adapter is not None and adapter.version == "v-1" and adapter.data["url"] == "http://127.0.0.1:9/mcp"
        await store.create("server", "dev-tools", {"name": "dev-tools", "members": []})
        assert [r.name for r in await store.list("server")] == ["dev-tools"]
        with pytest.raises(Conflict, match="already used by an adapter"):
            await store.create("server", "weather", {})
    finally:
        await store.close()

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "resources_by_kind" in indexes
        with pytest.raises(sqlite3.IntegrityError):  # the kind is still checked
            conn.execute("INSERT INTO resources (name, kind, data, version) VALUES ('x', 'other', '{}', 'v')")
    finally:
        conn.close()
