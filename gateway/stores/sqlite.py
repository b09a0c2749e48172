"""SQLite metadata store: the embedded default, one file in the data directory.

WAL journaling lets readers run beside a writer; every write is one ``BEGIN IMMEDIATE`` transaction, so
a crash leaves the old or the new record and concurrent writers (threads or processes) serialize instead
of losing updates. The schema version lives in ``PRAGMA user_version`` and is migrated on open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gateway.errors import BackendError, Conflict, NotFound
from gateway.stores.base import ResourceKind, StoredRecord, a_kind

SCHEMA_VERSION = 2
_MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE resources (
            name    TEXT PRIMARY KEY,
            kind    TEXT NOT NULL CHECK (kind IN ('adapter', 'tool')),
            data    TEXT NOT NULL,
            version TEXT NOT NULL
        );
        CREATE INDEX resources_by_kind ON resources (kind, name);
    """,
    # Virtual servers: a third kind. SQLite cannot change a CHECK constraint, so the table is rebuilt (in the
    # migration's one transaction, so a crash leaves version 1 intact).
    2: """
        CREATE TABLE resources_v2 (
            name    TEXT PRIMARY KEY,
            kind    TEXT NOT NULL CHECK (kind IN ('adapter', 'tool', 'server')),
            data    TEXT NOT NULL,
            version TEXT NOT NULL
        );
        INSERT INTO resources_v2 (name, kind, data, version) SELECT name, kind, data, version FROM resources;
        DROP TABLE resources;
        ALTER TABLE resources_v2 RENAME TO resources;
        CREATE INDEX resources_by_kind ON resources (kind, name);
    """,
}

T = TypeVar("T")

log = logging.getLogger(__name__)

# ``data`` is read as bytes and decoded here: a row written by hand with invalid UTF-8 would otherwise make
# sqlite3 fail the whole query, and with it every listing.
_COLUMNS = "kind, name, CAST(data AS BLOB), version"


class SqliteMetadataStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._reported: set[tuple[str, str]] = set()
        """(name, version) of unreadable rows already logged: listings run every second (the tool catalog)."""

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._migrate(conn)
            # Point reads (the data plane checks an adapter on every request) run on the event loop through
            # their own connection: in WAL mode a reader never waits for a writer, and a thread hop per
            # request would be a large share of the proxy's CPU (docs/benchmarks.md). A query-only connection
            # cannot take a write lock.
            reader = sqlite3.connect(self._path, timeout=1, isolation_level=None, check_same_thread=False)
            reader.execute("PRAGMA query_only=ON")
        except (sqlite3.Error, OSError) as exc:
            raise BackendError(f"cannot open the SQLite store at {self._path}: {exc}") from exc
        self._conn, self._reader = conn, reader

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise BackendError(
                    f"the SQLite store has schema version {current}, newer than this gateway's "
                    f"{SCHEMA_VERSION}; upgrade the gateway or use another MCPGW_STORE__SQLITE_PATH."
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in filter(str.strip, _MIGRATIONS[version].split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)

    async def check(self) -> None:
        await self._run(lambda c: c.execute("SELECT 1").fetchone())

    async def get(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        if self._reader is None:
            raise BackendError("the SQLite store is not open")
        try:
            row = self._reader.execute(
                f"SELECT {_COLUMNS} FROM resources WHERE name = ? AND kind = ?", (name, kind)
            ).fetchone()
        except sqlite3.Error as exc:
            raise BackendError(f"SQLite store error at {self._path}: {exc}") from exc
        if row is None:
            return None
        try:
            return _record(row)
        except _Unreadable as exc:
            raise BackendError(
                f"the {kind} '{name}' in {self._path} {exc}",
                public=f"The stored {kind} '{name}' is damaged and cannot be read; repair or remove it in the store.",
            ) from None

    async def list(self, kind: ResourceKind) -> list[StoredRecord]:
        rows = await self._run(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM resources WHERE kind = ? ORDER BY name", (kind,)
            ).fetchall()
        )
        records = []
        for row in rows:
            try:
                records.append(_record(row))
            except _Unreadable as exc:
                self._report_unreadable(row, exc)
        return records

    def _report_unreadable(self, row: tuple[str, str, bytes, str], problem: _Unreadable) -> None:
        kind, name, _, version = row
        first_time = (name, version) not in self._reported
        self._reported.add((name, version))
        (log.warning if first_time else log.debug)("the stored %s %r %s; skipped", kind, name, problem)

    async def create(self, kind: ResourceKind, name: str, data: dict[str, Any]) -> StoredRecord:
        version = uuid.uuid4().hex

        def insert(conn: sqlite3.Connection) -> None:
            existing = conn.execute("SELECT kind FROM resources WHERE name = ?", (name,)).fetchone()
            if existing:
                raise Conflict(f"The name '{name}' is already used by {a_kind(existing[0])}.")
            conn.execute(
                "INSERT INTO resources (name, kind, data, version) VALUES (?, ?, ?, ?)",
                (name, kind, json.dumps(data), version),
            )

        await self._write(insert)
        return StoredRecord(kind, name, data, version)

    async def update(self, kind: ResourceKind, name: str, data: dict[str, Any], expected_version: str) -> StoredRecord:
        version = uuid.uuid4().hex

        def replace(conn: sqlite3.Connection) -> None:
            _check_version(conn, kind, name, expected_version)
            conn.execute("UPDATE resources SET data = ?, version = ? WHERE name = ?", (json.dumps(data), version, name))

        await self._write(replace)
        return StoredRecord(kind, name, data, version)

    async def delete(self, kind: ResourceKind, name: str, expected_version: str | None = None) -> None:
        def remove(conn: sqlite3.Connection) -> None:
            _check_version(conn, kind, name, expected_version)
            conn.execute("DELETE FROM resources WHERE name = ?", (name,))

        await self._write(remove)

    async def _write(self, change: Callable[[sqlite3.Connection], None]) -> None:
        def transaction(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                change(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._run(transaction)

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                if self._conn is None:
                    raise BackendError("the SQLite store is not open")
                try:
                    return operation(self._conn)
                except sqlite3.Error as exc:
                    raise BackendError(f"SQLite store error at {self._path}: {exc}") from exc

        return await asyncio.to_thread(locked)


def _check_version(conn: sqlite3.Connection, kind: ResourceKind, name: str, expected: str | None) -> None:
    row = conn.execute("SELECT version FROM resources WHERE name = ? AND kind = ?", (name, kind)).fetchone()
    if row is None:
        raise NotFound(f"The {kind} '{name}' does not exist.")
    if expected is not None and row[0] != expected:
        raise Conflict(f"The {kind} '{name}' was changed by someone else; re-read it and retry.")


class _Unreadable(Exception):
    """A row whose ``data`` is not a JSON object; the message says why, never what it holds."""


def _record(row: tuple[str, str, bytes, str]) -> StoredRecord:
    kind, name, data, version = row
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as exc:  # ValueError covers bad JSON and bad UTF-8
        raise _Unreadable(f"is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(parsed, dict):
        raise _Unreadable("is not a JSON object")
    return StoredRecord(kind, name, parsed, version)  # type: ignore[arg-type]
