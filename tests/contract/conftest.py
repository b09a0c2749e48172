"""Contract-suite fixtures: every store implementation behind one factory, against real servers.

``redis_url`` starts our own ``redis-server`` on a free loopback port (never the machine's 6379) and
``cosmos_endpoint`` starts the Cosmos DB emulator (``scripts/cosmos-emulator.js``). Both live for the test
session; tests are isolated by a fresh Cosmos database or Redis key prefix each. When a server's binary is
missing the tests that need it are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import CosmosSettings, SessionSettings
from gateway.stores.base import MetadataStore, SessionStore
from tests.backends import EMULATOR_KEY

METADATA_KINDS = ["memory", "sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)]
SESSION_KINDS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("cosmos", marks=pytest.mark.cosmos),
]




def cosmos_settings(endpoint: str, database: str, **overrides: Any) -> CosmosSettings:
    return CosmosSettings.model_validate({"endpoint": endpoint, "key": EMULATOR_KEY, "database": database, **overrides})


class StoreOpener:
    """Opens stores of one kind on one backend; each call is another client (another gateway replica).

    The memory stores live in one process, so calls there return the same instance (per settings).
    """

    def __init__(self, kind: str, build: Callable[[dict[str, Any]], Any]) -> None:
        self.kind = kind
        self.shared = kind != "memory"
        self._build = build
        self._opened: dict[str, Any] = {}
        self._instances: list[Any] = []

    async def open(self, **overrides: Any) -> Any:
        fingerprint = repr(sorted(overrides.items()))
        if not self.shared and fingerprint in self._opened:
            return self._opened[fingerprint]
        store = self._build(overrides)
        await store.open()
        self._opened[fingerprint] = store
        self._instances.append(store)
        return store

    async def close_all(self) -> None:
        for store in self._instances:
            await store.close()


@pytest.fixture(params=METADATA_KINDS)
async def metadata_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreOpener]:
    kind: str = request.param
    database = f"contract-{uuid.uuid4().hex[:12]}"
    endpoint = request.getfixturevalue("cosmos_endpoint") if kind == "cosmos" else ""
    opener = StoreOpener(kind, lambda _: _new_metadata_store(kind, tmp_path / "gateway.db", endpoint, database))
    yield opener
    await opener.close_all()


def _new_metadata_store(kind: str, sqlite_path: Path, endpoint: str, database: str) -> MetadataStore:
    # Implementations are imported lazily so one backend's missing module cannot break the others.
    if kind == "memory":
        from gateway.stores.memory import MemoryMetadataStore

        return MemoryMetadataStore()
    if kind == "sqlite":
        from gateway.stores.sqlite import SqliteMetadataStore

        return SqliteMetadataStore(sqlite_path)
    from gateway.stores.cosmos.records import CosmosMetadataStore

    return CosmosMetadataStore(cosmos_settings(endpoint, database))


@pytest.fixture
async def metadata_store(metadata_stores: StoreOpener) -> MetadataStore:
    store: MetadataStore = await metadata_stores.open()
    return store


@pytest.fixture(params=SESSION_KINDS)
async def session_stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreOpener]:
    """``await session_stores.open(idle_timeout_seconds=1, ...)``: a session store with those settings."""
    kind: str = request.param
    namespace = f"contract-{uuid.uuid4().hex[:12]}"
    backend = {"redis": "redis_url", "cosmos": "cosmos_endpoint"}.get(kind)
    location = request.getfixturevalue(backend) if backend else ""

    def build(overrides: dict[str, Any]) -> SessionStore:
        fields: dict[str, Any] = {"kind": kind, "key_prefix": namespace, **overrides}
        if kind == "redis":
            fields["redis_url"] = location
        return _new_session_store(kind, SessionSettings.model_validate(fields), location, namespace)

    opener = StoreOpener(kind, build)
    yield opener
    await opener.close_all()


@pytest.fixture
async def session_store(session_stores: StoreOpener) -> SessionStore:
    store: SessionStore = await session_stores.open()
    return store


def _new_session_store(kind: str, settings: SessionSettings, location: str, namespace: str) -> SessionStore:
    if kind == "memory":
        from gateway.stores.memory import MemorySessionStore

        return MemorySessionStore(settings)
    if kind == "redis":
        from gateway.stores.redis import RedisSessionStore

        return RedisSessionStore(settings)
    from gateway.stores.cosmos.sessions import CosmosSessionStore

    return CosmosSessionStore(cosmos_settings(location, namespace), settings)
