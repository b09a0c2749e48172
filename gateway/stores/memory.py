"""In-memory stores: the metadata store for tests and throwaway runs, the default session store."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gateway.errors import Conflict, NotFound
from gateway.settings import SessionSettings
from gateway.stores.base import ResourceKind, SessionKey, SessionRoute, StoredRecord, a_kind


class MemoryMetadataStore:
    """Records in a dict; nothing survives the process."""

    def __init__(self) -> None:
        self._records: dict[str, StoredRecord] = {}
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def get(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        record = self._records.get(name)
        return record if record is not None and record.kind == kind else None

    async def list(self, kind: ResourceKind) -> list[StoredRecord]:
        return sorted((r for r in self._records.values() if r.kind == kind), key=lambda r: r.name)

    async def create(self, kind: ResourceKind, name: str, data: dict[str, Any]) -> StoredRecord:
        async with self._lock:
            existing = self._records.get(name)
            if existing is not None:
                raise Conflict(f"The name '{name}' is already used by {a_kind(existing.kind)}.")
            record = StoredRecord(kind, name, dict(data), uuid.uuid4().hex)
            self._records[name] = record
            return record

    async def update(self, kind: ResourceKind, name: str, data: dict[str, Any], expected_version: str) -> StoredRecord:
        async with self._lock:
            self._current(kind, name, expected_version)
            record = StoredRecord(kind, name, dict(data), uuid.uuid4().hex)
            self._records[name] = record
            return record

    async def delete(self, kind: ResourceKind, name: str, expected_version: str | None = None) -> None:
        async with self._lock:
            self._current(kind, name, expected_version)
            del self._records[name]

    def _current(self, kind: ResourceKind, name: str, expected_version: str | None) -> StoredRecord:
        record = self._records.get(name)
        if record is None or record.kind != kind:
            raise NotFound(f"The {kind} '{name}' does not exist.")
        if expected_version is not None and record.version != expected_version:
            raise Conflict(f"The {kind} '{name}' was changed by someone else; re-read it and retry.")
        return record


@dataclass
class _Entry:
    route: SessionRoute
    created: float
    last_used: float


class MemorySessionStore:
    """Session routes in an LRU dict with idle and absolute expiry and a size bound.

    Single gateway process only: another replica cannot see these sessions (use redis or cosmos).
    When full, the least recently used session is evicted (its client gets 404 and re-initializes).
    """

    def __init__(self, settings: SessionSettings, clock: Any = time.monotonic) -> None:
        self._idle = settings.idle_timeout_seconds
        self._lifetime = settings.max_lifetime_seconds
        self._max = settings.max_sessions
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()

    async def check(self) -> None:
        return None

    async def put(self, key: SessionKey, route: SessionRoute) -> None:
        now = self._clock()
        rendered = key.render()
        self._entries[rendered] = _Entry(route, now, now)
        self._entries.move_to_end(rendered)
        self._purge_expired(now)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def _purge_expired(self, now: float) -> None:
        # Entries are kept in last-use order, so idle-expired ones sit at the front.
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if now - oldest.last_used <= self._idle:
                break
            self._entries.popitem(last=False)

    async def get(self, key: SessionKey) -> SessionRoute | None:
        rendered = key.render()
        entry = self._entries.get(rendered)
        if entry is None:
            return None
        now = self._clock()
        if now - entry.last_used > self._idle or now - entry.created > self._lifetime:
            del self._entries[rendered]
            return None
        entry.last_used = now
        self._entries.move_to_end(rendered)
        return entry.route

    async def delete(self, key: SessionKey) -> None:
        self._entries.pop(key.render(), None)

    async def count(self) -> int | None:
        return len(self._entries)
