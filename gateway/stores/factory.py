"""Builds the stores that settings select; backend modules are imported only when chosen."""

from __future__ import annotations

from gateway.settings import GatewaySettings
from gateway.stores.base import MetadataStore, SessionStore


def build_metadata_store(settings: GatewaySettings) -> MetadataStore:
    kind = settings.store.kind
    if kind == "memory":
        from gateway.stores.memory import MemoryMetadataStore

        return MemoryMetadataStore()
    if kind == "sqlite":
        from gateway.stores.sqlite import SqliteMetadataStore

        return SqliteMetadataStore(settings.sqlite_path)
    from gateway.stores.cosmos import CosmosMetadataStore

    return CosmosMetadataStore(settings.cosmos)


def build_session_store(settings: GatewaySettings) -> SessionStore:
    kind = settings.sessions.kind
    if kind == "memory":
        from gateway.stores.memory import MemorySessionStore

        return MemorySessionStore(settings.sessions)
    if kind == "redis":
        from gateway.stores.redis import RedisSessionStore

        return RedisSessionStore(settings.sessions)
    from gateway.stores.cosmos import CosmosSessionStore

    return CosmosSessionStore(settings.cosmos, settings.sessions)
