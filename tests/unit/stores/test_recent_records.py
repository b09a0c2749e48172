"""The data plane's short-lived record cache (``gateway.stores.recent``), over the real in-memory store.

The clock is injected so that ages are exact; nothing here sleeps.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import Conflict
from gateway.settings import StoreSettings
from gateway.stores.base import ResourceKind, StoredRecord
from gateway.stores.memory import MemoryMetadataStore
from gateway.stores.recent import RecentRecords


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryMetadataStore):
    """The real memory store, counting point reads so a test can tell a cache hit from a read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        self.reads += 1
        return await super().get(kind, name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backend() -> CountingStore:
    return CountingStore()


async def roles(records: RecentRecords, name: str = "a") -> list[str] | None:
    record = await records.recent("adapter", name)
    return None if record is None else list(record.data["requiredRoles"])


async def test_a_record_is_reused_until_it_is_max_age_old(backend: CountingStore, clock: Clock) -> None:
    records = RecentRecords(backend, max_age=2.0, clock=clock)
    created = await records.create("adapter", "a", {"requiredRoles": ["r1"]})
    assert await roles(records) == ["r1"] and backend.reads == 1
    # Another replica changes the record behind this process's back (straight into the backend).
    await backend.update("adapter", "a", {"requiredRoles": ["r2"]}, created.version)
    clock.now += 1.9
    assert await roles(records) == ["r1"] and backend.reads == 1
    clock.now += 0.1
    assert await roles(records) == ["r2"] and backend.reads == 2


async def test_max_age_zero_reads_every_time(backend: CountingStore, clock: Clock) -> None:
    records = RecentRecords(backend, max_age=0.0, clock=clock)
    await records.create("adapter", "a", {"requiredRoles": ["r1"]})
    for _ in range(3):
        assert await roles(records) == ["r1"]
    assert backend.reads == 3


async def test_writes_through_this_process_take_effect_at_once(backend: CountingStore, clock: Clock) -> None:
    records = RecentRecords(backend, max_age=60.0, clock=clock)
    created = await records.create("adapter", "a", {"requiredRoles": ["r1"]})
    assert await roles(records) == ["r1"]
    await records.update("adapter", "a", {"requiredRoles": ["r2"]}, created.version)
    assert await roles(records) == ["r2"]
    await records.delete("adapter", "a")
    assert await roles(records) is None


async def test_a_missing_record_is_not_remembered(backend: CountingStore, clock: Clock) -> None:
    records = RecentRecords(backend, max_age=60.0, clock=clock)
    assert await roles(records) is None
    await backend.create("adapter", "a", {"requiredRoles": ["r1"]})  # created through another replica
    assert await roles(records) == ["r1"]


async def test_the_control_plane_read_is_always_fresh(backend: CountingStore, clock: Clock) -> None:
    records = RecentRecords(backend, max_age=60.0, clock=clock)
    created = await records.create("adapter", "a", {"requiredRoles": ["r1"]})
    assert await roles(records) == ["r1"]
    changed = await backend.update("adapter", "a", {"requiredRoles": ["r2"]}, created.version)
    fresh = await records.get("adapter", "a")
    assert fresh is not None and fresh.version == changed.version
    assert await roles(records) == ["r2"]  # and the fresh read refreshed the data plane's copy


async def test_a_failed_write_still_drops_the_copy(backend: CountingStore, clock: Clock) -> None:
    records = RecentRecords(backend, max_age=60.0, clock=clock)
    await records.create("adapter", "a", {"requiredRoles": ["r1"]})
    assert await roles(records) == ["r1"]
    with pytest.raises(Conflict):
        await records.update("adapter", "a", {"requiredRoles": ["r2"]}, "stale-version")
    reads = backend.reads
    assert await roles(records) == ["r1"] and backend.reads == reads + 1


class SlowReadStore(CountingStore):
    """Holds each read until released, to interleave a read with a write deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.reading = asyncio.Event()

    async def get(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        record = await super().get(kind, name)  # reads the record as it is now...
        self.reading.set()
        await self.release.wait()  # ...and answers later, after a write
        return record


async def test_a_read_that_overlaps_a_write_is_not_remembered(clock: Clock) -> None:
    backend = SlowReadStore()
    records = RecentRecords(backend, max_age=60.0, clock=clock)
    created = await records.create("adapter", "a", {"requiredRoles": ["r1"]})
    stale_read = asyncio.create_task(roles(records))
    await backend.reading.wait()
    await records.update("adapter", "a", {"requiredRoles": ["r2"]}, created.version)
    backend.release.set()
    assert await stale_read == ["r1"]  # that request saw the record of its time
    assert await roles(records) == ["r2"]  # but the old record was not kept for the next one


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ({"kind": "sqlite"}, 0.0),
        ({"kind": "memory"}, 0.0),
        ({"kind": "cosmos"}, 2.0),
        ({"kind": "cosmos", "record_cache_seconds": 0}, 0.0),
        ({"kind": "sqlite", "record_cache_seconds": 5}, 5.0),
    ],
)
def test_the_default_max_age_follows_the_backend(store: dict[str, object], expected: float) -> None:
    assert StoreSettings.model_validate(store).record_max_age == expected
