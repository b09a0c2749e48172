"""The MetadataStore contract (gateway/stores/base.py), run against every implementation.

Each test gets an empty store (memory, a fresh SQLite file, a fresh Cosmos database on the emulator).
``metadata_stores.open()`` opens a second client on the same data, as a second gateway would.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.errors import Conflict, NotFound
from gateway.stores.base import RESOURCE_KINDS, MetadataStore, ResourceKind
from tests.contract.conftest import StoreOpener

ADAPTER = {"name": "weather", "imageName": "weather", "imageVersion": "1.0", "replicaCount": 1}
SERVER = {
    "name": "dev-tools",
    "members": [{"adapter": "weather", "include": ["get_*"], "overrides": {"get_forecast": {"alias": "now"}}}],
    "toolSearch": "beside",
}


async def test_a_created_record_reads_back_with_its_data_and_a_version(metadata_store: MetadataStore) -> None:
    created = await metadata_store.create("adapter", "weather", ADAPTER)

    read = await metadata_store.get("adapter", "weather")

    assert read is not None
    assert (read.kind, read.name, read.data) == ("adapter", "weather", ADAPTER)
    assert read.version == created.version and created.version


async def test_nested_unicode_data_round_trips_unchanged(metadata_store: MetadataStore) -> None:
    data: dict[str, Any] = {
        "description": "Météo ☀ 天气",
        "toolDefinition": {"tool": {"name": "w", "inputSchema": {"type": "object", "required": ["city"]}}},
        "environmentVariables": {"A": "1"},
        "requiredRoles": [],
        "replicaCount": 2,
        "enabled": True,
        "nothing": None,
    }
    await metadata_store.create("tool", "weather-tool", data)

    read = await metadata_store.get("tool", "weather-tool")

    assert read is not None and read.data == data


async def test_a_missing_name_or_the_wrong_kind_reads_as_none(metadata_store: MetadataStore) -> None:
    await metadata_store.create("adapter", "weather", ADAPTER)

    assert await metadata_store.get("adapter", "nothing-here") is None
    assert await metadata_store.get("tool", "weather") is None
    assert await metadata_store.get("server", "weather") is None


async def test_a_virtual_server_is_a_kind_of_its_own(metadata_store: MetadataStore) -> None:
    created = await metadata_store.create("server", "dev-tools", SERVER)
    await metadata_store.create("adapter", "weather", ADAPTER)

    read = await metadata_store.get("server", "dev-tools")
    assert read is not None and (read.kind, read.data, read.version) == ("server", SERVER, created.version)
    assert [r.name for r in await metadata_store.list("server")] == ["dev-tools"]
    assert [r.name for r in await metadata_store.list("adapter")] == ["weather"]
    assert await metadata_store.get("adapter", "dev-tools") is None
    updated = await metadata_store.update("server", "dev-tools", {**SERVER, "toolSearch": "off"}, created.version)
    with pytest.raises(Conflict):
        await metadata_store.delete("server", "dev-tools", created.version)
    with pytest.raises(NotFound):
        await metadata_store.delete("adapter", "dev-tools")
    await metadata_store.delete("server", "dev-tools", updated.version)
    assert await metadata_store.list("server") == []


async def test_list_returns_only_that_kind_ordered_by_name(metadata_store: MetadataStore) -> None:
    for name in ("charlie", "alpha", "bravo"):
        await metadata_store.create("adapter", name, {"name": name})
    await metadata_store.create("tool", "aaa-tool", {"name": "aaa-tool"})

    adapters = await metadata_store.list("adapter")
    tools = await metadata_store.list("tool")

    assert [r.name for r in adapters] == ["alpha", "bravo", "charlie"]
    assert [r.data["name"] for r in adapters] == ["alpha", "bravo", "charlie"]
    assert [r.name for r in tools] == ["aaa-tool"]


async def test_listing_an_empty_store_gives_an_empty_list(metadata_store: MetadataStore) -> None:
    for kind in RESOURCE_KINDS:
        assert await metadata_store.list(kind) == []


@pytest.mark.parametrize(("first", "second"), [(a, b) for a in RESOURCE_KINDS for b in RESOURCE_KINDS])
async def test_a_name_taken_by_any_kind_cannot_be_created_again(
    metadata_store: MetadataStore, first: ResourceKind, second: ResourceKind
) -> None:
    await metadata_store.create(first, "shared-name", {"v": 1})

    with pytest.raises(Conflict):
        await metadata_store.create(second, "shared-name", {"v": 2})

    survivor = await metadata_store.get(first, "shared-name")
    assert survivor is not None and survivor.data == {"v": 1}
    if second != first:
        assert await metadata_store.get(second, "shared-name") is None


async def test_a_deleted_name_is_free_for_the_other_kind(metadata_store: MetadataStore) -> None:
    await metadata_store.create("adapter", "reused", {"v": 1})
    await metadata_store.delete("adapter", "reused")

    await metadata_store.create("tool", "reused", {"v": 2})

    assert await metadata_store.get("adapter", "reused") is None
    tool = await metadata_store.get("tool", "reused")
    assert tool is not None and tool.data == {"v": 2}

    await metadata_store.delete("tool", "reused", tool.version)
    await metadata_store.create("server", "reused", {"v": 3})
    server = await metadata_store.get("server", "reused")
    assert server is not None and server.data == {"v": 3}


async def test_update_with_the_current_version_replaces_data_and_changes_the_version(
    metadata_store: MetadataStore,
) -> None:
    created = await metadata_store.create("adapter", "weather", ADAPTER)

    updated = await metadata_store.update("adapter", "weather", {**ADAPTER, "replicaCount": 3}, created.version)

    assert updated.version != created.version
    read = await metadata_store.get("adapter", "weather")
    assert read is not None and read.data["replicaCount"] == 3 and read.version == updated.version


async def test_update_with_a_stale_version_is_a_conflict_and_keeps_the_newer_data(
    metadata_store: MetadataStore,
) -> None:
    created = await metadata_store.create("adapter", "weather", ADAPTER)
    await metadata_store.update("adapter", "weather", {**ADAPTER, "replicaCount": 2}, created.version)

    with pytest.raises(Conflict):
        await metadata_store.update("adapter", "weather", {**ADAPTER, "replicaCount": 9}, created.version)

    read = await metadata_store.get("adapter", "weather")
    assert read is not None and read.data["replicaCount"] == 2


async def test_update_of_a_missing_record_is_not_found(metadata_store: MetadataStore) -> None:
    created = await metadata_store.create("tool", "only-a-tool", {"v": 1})

    with pytest.raises(NotFound):
        await metadata_store.update("adapter", "never-created", {"v": 1}, created.version)
    with pytest.raises(NotFound):
        await metadata_store.update("adapter", "only-a-tool", {"v": 2}, created.version)


async def test_delete_of_a_missing_record_is_not_found(metadata_store: MetadataStore) -> None:
    with pytest.raises(NotFound):
        await metadata_store.delete("adapter", "never-created")


async def test_delete_with_a_stale_version_is_a_conflict_and_keeps_the_record(metadata_store: MetadataStore) -> None:
    created = await metadata_store.create("adapter", "weather", ADAPTER)
    await metadata_store.update("adapter", "weather", {**ADAPTER, "replicaCount": 2}, created.version)

    with pytest.raises(Conflict):
        await metadata_store.delete("adapter", "weather", created.version)

    assert await metadata_store.get("adapter", "weather") is not None


async def test_delete_with_the_current_version_or_none_removes_the_record(metadata_store: MetadataStore) -> None:
    first = await metadata_store.create("adapter", "first", {"v": 1})
    await metadata_store.create("adapter", "second", {"v": 1})

    await metadata_store.delete("adapter", "first", first.version)
    await metadata_store.delete("adapter", "second")

    assert await metadata_store.list("adapter") == []


async def test_concurrent_read_modify_write_increments_never_lose_an_update(metadata_stores: StoreOpener) -> None:
    # Two clients (two gateways where the backend is shared) and ten writers racing on one record.
    clients: list[MetadataStore] = [await metadata_stores.open(), await metadata_stores.open()]
    await clients[0].create("tool", "counter", {"count": 0})
    conflicts = 0

    async def increment(store: MetadataStore) -> None:
        nonlocal conflicts
        for _ in range(200):
            current = await store.get("tool", "counter")
            assert current is not None
            await asyncio.sleep(0)  # let the other writers read the same version
            try:
                await store.update("tool", "counter", {"count": current.data["count"] + 1}, current.version)
                return
            except Conflict:
                conflicts += 1
        raise AssertionError("a writer never got its increment in")

    await asyncio.gather(*(increment(clients[i % 2]) for i in range(10)))

    final = await clients[1].get("tool", "counter")
    assert final is not None and final.data["count"] == 10
    assert conflicts > 0, "the writers never raced, so this test proved nothing"


async def test_concurrent_creates_of_one_name_let_exactly_one_writer_win(metadata_stores: StoreOpener) -> None:
    clients: list[MetadataStore] = [await metadata_stores.open(), await metadata_stores.open()]

    results = await asyncio.gather(
        *(clients[i % 2].create("adapter", "contested", {"writer": i}) for i in range(6)), return_exceptions=True
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    stored = await clients[0].get("adapter", "contested")
    assert stored is not None and stored.data == winners[0].data


async def test_concurrent_creates_of_one_name_in_two_kinds_never_leave_both(metadata_stores: StoreOpener) -> None:
    clients: list[MetadataStore] = [await metadata_stores.open(), await metadata_stores.open()]
    for round_ in range(5):
        name = f"contested-{round_}"

        adapter, tool = await asyncio.gather(
            clients[0].create("adapter", name, {"kind": "adapter"}),
            clients[1].create("tool", name, {"kind": "tool"}),
            return_exceptions=True,
        )

        succeeded = [r for r in (adapter, tool) if not isinstance(r, BaseException)]
        assert len(succeeded) <= 1, f"both kinds were created under '{name}'"
        assert all(isinstance(r, Conflict) for r in (adapter, tool) if isinstance(r, BaseException))
        present = [kind for kind in RESOURCE_KINDS if await clients[0].get(kind, name) is not None]
        assert present == [r.kind for r in succeeded]


async def test_concurrent_creates_of_one_name_in_all_three_kinds_leave_at_most_one(
    metadata_stores: StoreOpener,
) -> None:
    clients: list[MetadataStore] = [await metadata_stores.open() for _ in range(3)]
    for round_ in range(5):
        name = f"three-way-{round_}"

        results = await asyncio.gather(
            *(client.create(kind, name, {"kind": kind}) for client, kind in zip(clients, RESOURCE_KINDS, strict=True)),
            return_exceptions=True,
        )

        succeeded = [r for r in results if not isinstance(r, BaseException)]
        assert len(succeeded) <= 1, f"more than one kind was created under '{name}': {succeeded}"
        assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
        present = [kind for kind in RESOURCE_KINDS if await clients[0].get(kind, name) is not None]
        assert present == [r.kind for r in succeeded]


async def test_records_survive_closing_and_reopening_the_store(metadata_stores: StoreOpener) -> None:
    if not metadata_stores.shared:
        pytest.skip("the memory store keeps nothing once closed, by design")
    first = await metadata_stores.open()
    created = await first.create("adapter", "durable", ADAPTER)
    await first.close()

    second = await metadata_stores.open()

    read = await second.get("adapter", "durable")
    assert read is not None and read.data == ADAPTER and read.version == created.version
