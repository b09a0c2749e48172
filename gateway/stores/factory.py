"""Builds the stores that settings select; backend modules are imported only when chosen."""

from __future__ import annotations

from gateway.settings import GatewaySettings
from gateway.stores.base import MetadataStore, SessionStore
from gateway.stores.recent import RecentRecords


def build_metadata_store(settings: GatewaySettings) -> RecentRecords:
    return RecentRecords(_backend_metadata_store(settings), settings.store.record_max_age)


def _backend_metadata_store(settings: GatewaySettings) -> MetadataStore:
    kind = settings.store.kind
    if kind == "memory":
        from gateway.stores.memory import MemoryMetadataStore

        return MemoryMetadataStore()
    if kind == "sqlite":
        from gateway.stores.sqlite import SqliteMetadataStore

        return SqliteMetadataStore(settings.sqlite_path)
    from gateway.stores.cosmos.records import CosmosMetadataStore

    cosmos: MetadataStore = CosmosMetadataStore(settings.cosmos)
    return cosmos


def build_session_store(settings: GatewaySettings) -> SessionStore:
    kind = settings.sessions.kind
    if kind == "memory":
        from gateway.stores.memory import MemorySessionStore

        return MemorySessionStore(settings.sessions)
    if kind == "redis":
        from gateway.stores.redis import RedisSessionStore

        redis_store: SessionStore = RedisSessionStore(settings.sessions)
        return redis_store
    from gateway.stores.cosmos.sessions import CosmosSessionStore

    cosmos_sessions: SessionStore = CosmosSessionStore(settings.cosmos, settings.sessions)
    return cosmos_sessions
