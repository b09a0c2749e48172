"""A metadata store wrapper that lets the data plane reuse a record it read moments ago.

The proxy checks the adapter record on every MCP request, so a role revoked mid-session takes effect.
On SQLite that point read is a local lookup and stays exact. On Cosmos DB it is a network round trip and a
request unit per MCP call: at a thousand calls a second that is a thousand RU/s spent on authorization
alone, enough to be throttled on a small provisioned account. :class:`RecentRecords` serves the data
plane's reads from memory for ``max_age`` seconds instead, so a change made through another gateway
replica takes effect within ``max_age``. Changes made through this process take effect at once: every
write drops the cached copy. The control plane never reads through the cache (``get`` is always fresh),
so ETags and responses stay exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gateway.stores.base import MetadataStore, ResourceKind, StoredRecord


class RecentRecords:
    """Implements :class:`MetadataStore` by delegation, plus :meth:`recent` for the data plane."""

    def __init__(self, inner: MetadataStore, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.max_age = max_age
        self._clock = clock
        self._cache: dict[tuple[ResourceKind, str], tuple[float, StoredRecord]] = {}
        self._writes = 0
        """Counts writes begun and ended: a read that overlapped one may hold the old record, so it is not
        remembered."""

    async def recent(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        """The record as read at most ``max_age`` seconds ago. A missing record is never remembered, so a
        resource created through another replica is usable at once."""
        if self.max_age <= 0:
            return await self.inner.get(kind, name)  # exact reads: nothing to remember (SQLite, memory)
        cached = self._cache.get((kind, name))
        if cached is not None and self._clock() - cached[0] < self.max_age:
            return cached[1]
        return await self.get(kind, name)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        self._cache.clear()
        await self.inner.close()

    async def check(self) -> None:
        await self.inner.check()

    async def get(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        # The time is taken before the read: a change committed during the read is not hidden for longer
        # than max_age.
        if self.max_age <= 0:
            return await self.inner.get(kind, name)
        read_at, writes = self._clock(), self._writes
        record = await self.inner.get(kind, name)
        if writes == self._writes:
            self._remember(kind, name, record, read_at)
        return record

    async def list(self, kind: ResourceKind) -> list[StoredRecord]:
        return await self.inner.list(kind)

    async def create(self, kind: ResourceKind, name: str, data: dict[str, Any]) -> StoredRecord:
        with self._writing(kind, name):
            return await self.inner.create(kind, name, data)

    async def update(self, kind: ResourceKind, name: str, data: dict[str, Any], expected_version: str) -> StoredRecord:
        with self._writing(kind, name):
            return await self.inner.update(kind, name, data, expected_version)

    async def delete(self, kind: ResourceKind, name: str, expected_version: str | None = None) -> None:
        with self._writing(kind, name):
            await self.inner.delete(kind, name, expected_version)

    def _remember(self, kind: ResourceKind, name: str, record: StoredRecord | None, read_at: float) -> None:
        if record is None:
            self._cache.pop((kind, name), None)
        else:
            self._cache[(kind, name)] = (read_at, record)

    @contextmanager
    def _writing(self, kind: ResourceKind, name: str) -> Iterator[None]:
        # The copy is dropped before and after, and the counter moves both times, so a read that overlaps
        # the write (and may have seen the old record) is not remembered either.
        self._forget(kind, name)
        try:
            yield
        finally:
            self._forget(kind, name)

    def _forget(self, kind: ResourceKind, name: str) -> None:
        self._writes += 1
        self._cache.pop((kind, name), None)
