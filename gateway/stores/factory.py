"""Builds the stores that settings select; backend modules are imported only when chosen.

Redis and Cosmos DB are extras (``mcp-gateway[redis]``, ``mcp-gateway[azure]``): a setting that selects one
without it raises :class:`~gateway.errors.MissingExtra`, which names the setting and the fix.
"""

from __future__ import annotations

from gateway.errors import MissingExtra
from gateway.settings import GatewaySettings
from gateway.stores.base import MetadataStore, SessionStore
from gateway.stores.recent import RecentRecords

_AZURE = ("azure.cosmos", "azure.core", "azure.identity")


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
    try:
        from gateway.stores.cosmos.records import CosmosMetadataStore
    except ImportError as exc:
        if not MissingExtra.explains(exc, _AZURE):
            raise
        raise MissingExtra(f"MCPGW_STORE__KIND={kind}", "azure") from exc

    cosmos: MetadataStore = CosmosMetadataStore(settings.cosmos)
    return cosmos


def build_session_store(settings: GatewaySettings) -> SessionStore:
    kind = settings.sessions.kind
    if kind == "memory":
        from gateway.stores.memory import MemorySessionStore

        return MemorySessionStore(settings.sessions)
    if kind == "redis":
        try:
            from gateway.stores.redis import RedisSessionStore
        except ImportError as exc:
            if not MissingExtra.explains(exc, ("redis",)):
                raise
            raise MissingExtra(f"MCPGW_SESSIONS__KIND={kind}", "redis") from exc

        redis_store: SessionStore = RedisSessionStore(settings.sessions)
        return redis_store
    try:
        from gateway.stores.cosmos.sessions import CosmosSessionStore
    except ImportError as exc:
        if not MissingExtra.explains(exc, _AZURE):
            raise
        raise MissingExtra(f"MCPGW_SESSIONS__KIND={kind}", "azure") from exc

    cosmos_sessions: SessionStore = CosmosSessionStore(settings.cosmos, settings.sessions)
    return cosmos_sessions
