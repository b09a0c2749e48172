"""Cosmos-specific behaviour beyond the shared contracts: item layout, TTL, retries and error messages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.cosmos import PartitionKey
from azure.cosmos.aio import CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError

from gateway.errors import BackendError
from gateway.settings import CosmosSettings, SessionSettings
from gateway.stores.base import SessionKey, SessionRoute
from gateway.stores.cosmos.account import CosmosAccount, RetryPolicy
from gateway.stores.cosmos.records import CosmosMetadataStore
from gateway.stores.cosmos.sessions import CosmosSessionStore, item_id
from tests.contract.conftest import EMULATOR_KEY, cosmos_settings
from tests.support.ports import free_port

ENDPOINT = "https://example.documents.azure.com:443/"


def http_error(status: int, headers: dict[str, str] | None = None) -> CosmosHttpResponseError:
    error = CosmosHttpResponseError(status_code=status, message=f"status {status}")  # type: ignore[no-untyped-call]
    error.headers = headers or {}
    return error


class Recorder:
    """An operation that fails with the given errors first, then succeeds; and a sleep that records."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.sleeps: list[float] = []

    async def operation(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def account(recorder: Recorder, attempts: int = 5) -> CosmosAccount:
    settings = cosmos_settings(ENDPOINT, "db")
    return CosmosAccount(settings, RetryPolicy(attempts=attempts, base_delay=0.1, max_delay=2.0), recorder.sleep)


async def test_throttling_is_retried_after_the_delay_the_server_asks_for() -> None:
    recorder = Recorder(http_error(429, {"x-ms-retry-after-ms": "750"}), http_error(429, {"x-ms-retry-after-ms": "20"}))

    assert await account(recorder).call("read", recorder.operation) == "done"

    assert recorder.calls == 3
    assert recorder.sleeps == [0.75, 0.02]


async def test_unavailability_is_retried_with_bounded_exponential_back_off() -> None:
    recorder = Recorder(*(http_error(503) for _ in range(3)))

    assert await account(recorder).call("read", recorder.operation) == "done"

    assert len(recorder.sleeps) == 3
    assert all(0 <= delay <= bound for delay, bound in zip(recorder.sleeps, (0.1, 0.2, 0.4), strict=True))


async def test_retries_stop_after_the_last_attempt_with_a_backend_error() -> None:
    recorder = Recorder(*(http_error(429, {"x-ms-retry-after-ms": "10000"}) for _ in range(5)))

    with pytest.raises(BackendError, match="throttling or unavailable") as caught:
        await account(recorder, attempts=3).call("read the adapters", recorder.operation)

    assert recorder.calls == 3
    assert recorder.sleeps == [2.0, 2.0]  # the server's hint, capped by max_delay
    assert ENDPOINT in caught.value.internal_detail


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_identity_names_the_endpoint_and_the_role_to_assign(status: int) -> None:
    recorder = Recorder(http_error(status))

    with pytest.raises(BackendError) as caught:
        await account(recorder).call("read the adapters", recorder.operation)

    assert recorder.calls == 1
    assert ENDPOINT in caught.value.internal_detail
    assert "Cosmos DB Built-in Data Contributor" in caught.value.internal_detail
    assert "MCPGW_COSMOS__KEY" in caught.value.internal_detail


@pytest.mark.parametrize("status", [404, 409, 412])
async def test_missing_taken_and_stale_pass_through_for_the_store_to_interpret(status: int) -> None:
    recorder = Recorder(http_error(status))

    with pytest.raises(CosmosHttpResponseError):
        await account(recorder).call("read", recorder.operation)
    assert recorder.calls == 1


async def test_an_unreachable_account_is_a_backend_error_naming_the_endpoint() -> None:
    endpoint = f"https://127.0.0.1:{free_port()}/"
    store = CosmosMetadataStore(cosmos_settings(endpoint, "db"))

    with pytest.raises(BackendError, match="cannot reach Cosmos DB") as caught:
        await store.open()

    assert endpoint in caught.value.internal_detail
    assert endpoint not in caught.value.detail  # what a client would be told names no address
    await store.close()


def test_a_store_without_an_endpoint_says_what_to_set() -> None:
    with pytest.raises(BackendError, match="MCPGW_COSMOS__ENDPOINT"):
        CosmosMetadataStore(CosmosSettings())


@pytest.mark.cosmos
async def test_missing_containers_are_reported_when_creation_is_off(cosmos_endpoint: str) -> None:
    store = CosmosMetadataStore(
        cosmos_settings(cosmos_endpoint, f"absent-{uuid.uuid4().hex[:8]}", create_if_missing=False)
    )

    with pytest.raises(BackendError, match="MCPGW_COSMOS__CREATE_IF_MISSING=true"):
        await store.open()
    await store.close()


@pytest.mark.cosmos
async def test_existing_containers_are_used_when_creation_is_off(cosmos_endpoint: str) -> None:
    database = f"existing-{uuid.uuid4().hex[:8]}"
    creator = CosmosMetadataStore(cosmos_settings(cosmos_endpoint, database))
    await creator.open()
    await creator.create("adapter", "weather", {"v": 1})
    await creator.close()

    reader = CosmosMetadataStore(cosmos_settings(cosmos_endpoint, database, create_if_missing=False))
    await reader.open()
    try:
        await reader.check()
        assert [r.name for r in await reader.list("adapter")] == ["weather"]
    finally:
        await reader.close()


@pytest.mark.cosmos
async def test_records_are_one_item_per_name_with_the_etag_as_version(cosmos_endpoint: str) -> None:
    database = f"layout-{uuid.uuid4().hex[:8]}"
    store = CosmosMetadataStore(cosmos_settings(cosmos_endpoint, database))
    await store.open()
    try:
        record = await store.create("tool", "weather", {"name": "weather"})
        item = await _raw_item(cosmos_endpoint, database, "tools", "weather")
    finally:
        await store.close()

    assert item["id"] == "weather" and item["kind"] == "tool" and item["data"] == {"name": "weather"}
    assert item["_etag"] == record.version


@pytest.mark.cosmos
async def test_virtual_servers_live_in_a_container_of_their_own(cosmos_endpoint: str) -> None:
    database = f"servers-{uuid.uuid4().hex[:8]}"
    store = CosmosMetadataStore(cosmos_settings(cosmos_endpoint, database, servers_container="virtual"))
    await store.open()
    try:
        record = await store.create("server", "dev-tools", {"name": "dev-tools", "members": []})
        item = await _raw_item(cosmos_endpoint, database, "virtual", "dev-tools")
    finally:
        await store.close()

    assert item["kind"] == "server" and item["data"] == {"name": "dev-tools", "members": []}
    assert item["_etag"] == record.version


@pytest.mark.cosmos
async def test_a_database_without_the_servers_container_is_refused_naming_it_when_creation_is_off(
    cosmos_endpoint: str,
) -> None:
    # A database provisioned before virtual servers existed: the infrastructure must create the container.
    database = f"older-{uuid.uuid4().hex[:8]}"
    async with CosmosClient(cosmos_endpoint, EMULATOR_KEY) as client:
        created = await client.create_database(database)
        for container in ("adapters", "tools"):
            await created.create_container(container, PartitionKey(path="/id"))
    store = CosmosMetadataStore(cosmos_settings(cosmos_endpoint, database, create_if_missing=False))

    with pytest.raises(BackendError, match=f"'{database}/servers' does not exist"):
        await store.open()
    await store.close()


@pytest.mark.cosmos
async def test_session_items_carry_a_cosmos_ttl_that_get_refreshes_within_the_lifetime(cosmos_endpoint: str) -> None:
    database = f"ttl-{uuid.uuid4().hex[:8]}"
    now = [1_000.0]
    sessions = SessionSettings(idle_timeout_seconds=600, max_lifetime_seconds=900)
    store = CosmosSessionStore(cosmos_settings(cosmos_endpoint, database), sessions, clock=lambda: now[0])
    key = SessionKey("alice", "weather", "s1")
    await store.open()
    try:
        await store.put(key, SessionRoute("weather-0", "http://10.0.0.7:8000"))
        stored = await _raw_item(cosmos_endpoint, database, "sessions", item_id(key))
        now[0] += 500  # idle timer would end at 1600, the lifetime ends at 1900
        assert await store.get(key) is not None
        refreshed = await _raw_item(cosmos_endpoint, database, "sessions", item_id(key))
        container = await _raw_container(cosmos_endpoint, database, "sessions")
    finally:
        await store.close()

    assert stored["ttl"] == 600 and stored["createdAt"] == 1000 and stored["expiresAt"] == 1900
    assert refreshed["ttl"] == 400 and refreshed["lastUsedAt"] == 1500  # capped by the remaining lifetime
    assert container["defaultTtl"] == -1


def test_session_item_ids_avoid_the_characters_cosmos_forbids_and_stay_short() -> None:
    keys = [
        SessionKey("https://issuer/x", "weather", "a/b\\c?d#e"),
        SessionKey("alice", "weather", "z" * 400),
    ]
    ids = [item_id(key) for key in keys]

    assert all(not set("/\\?#") & set(ident) and len(ident) <= 255 for ident in ids)
    assert item_id(SessionKey("a", "t", "x/y")) != item_id(SessionKey("a", "t", "x%2Fy"))


async def _raw_item(endpoint: str, database: str, container: str, ident: str) -> dict[str, Any]:
    async with CosmosClient(endpoint, EMULATOR_KEY) as client:
        proxy = client.get_database_client(database).get_container_client(container)
        item: dict[str, Any] = await proxy.read_item(ident, partition_key=ident)
        return item


async def _raw_container(endpoint: str, database: str, container: str) -> dict[str, Any]:
    async with CosmosClient(endpoint, EMULATOR_KEY) as client:
        properties: dict[str, Any] = await client.get_database_client(database).get_container_client(container).read()
        return properties
