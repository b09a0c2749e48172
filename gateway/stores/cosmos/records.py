"""Azure Cosmos DB (NoSQL) records: adapters, tools and virtual servers here; session routes in ``sessions.py``.

One item per record, ``{"id": name, "kind": kind, "data": {...}}``, in the adapters, tools or servers
container (partition key ``/id``, so every point read and write touches one logical partition). The record's
version is the item's ``_etag``; updates and deletes send it with If-Match, so a concurrent change makes
Cosmos answer 412 and the writer gets ``Conflict`` instead of silently overwriting.

Names are unique across kinds although they live in three containers, and Cosmos has no cross-container
transaction. ``create`` therefore checks the other containers, creates, then checks the other containers
again and deletes its own item when a twin appeared meanwhile. Two simultaneous creators of the same name
in different kinds both back out (both get ``Conflict``); neither wins silently. Between a creator's insert
and its rollback a reader may briefly see both items, and a process that dies inside that window leaves
the duplicate behind (the later of the two can be deleted by hand).
"""

from __future__ import annotations

import logging
from typing import Any

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosHttpResponseError

from gateway.errors import BackendError, Conflict, NotFound
from gateway.settings import CosmosSettings
from gateway.stores.base import RESOURCE_KINDS, ResourceKind, StoredRecord, a_kind
from gateway.stores.cosmos.account import CosmosAccount

log = logging.getLogger(__name__)


class CosmosMetadataStore:
    """Adapter, tool and virtual server records in a Cosmos container per kind, with ETag-based optimistic
    concurrency."""

    def __init__(self, settings: CosmosSettings, account: CosmosAccount | None = None) -> None:
        self._account = account or CosmosAccount(settings)
        self._container_names: dict[ResourceKind, str] = {
            "adapter": settings.adapters_container,
            "tool": settings.tools_container,
            "server": settings.servers_container,
        }
        self._containers: dict[ResourceKind, ContainerProxy] = {}

    async def open(self) -> None:
        proxies = await self._account.open({name: None for name in self._container_names.values()})
        self._containers = {kind: proxies[name] for kind, name in self._container_names.items()}

    async def close(self) -> None:
        self._containers = {}
        await self._account.close()

    async def check(self) -> None:
        for kind in RESOURCE_KINDS:
            await self._account.call(f"read the {kind}s container", self._container(kind).read)

    async def get(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        item = await self._read(kind, name)
        return _record(kind, item) if item is not None else None

    async def list(self, kind: ResourceKind) -> list[StoredRecord]:
        container = self._container(kind)

        async def read_all() -> list[dict[str, Any]]:
            return [item async for item in container.read_all_items()]

        items = await self._account.call(f"list the {kind}s", read_all)
        # Sorted here, not by ORDER BY: code-point order like the other stores, and no index policy needed.
        return sorted((_record(kind, item) for item in items if _holds_object(kind, item)), key=lambda r: r.name)

    async def create(self, kind: ResourceKind, name: str, data: dict[str, Any]) -> StoredRecord:
        others = [other for other in RESOURCE_KINDS if other != kind]
        for other in others:
            await self._refuse_if_taken(other, name)
        body = {"id": name, "kind": kind, "data": data}
        try:
            item = await self._account.call(
                f"create the {kind} '{name}'", lambda: self._container(kind).create_item(body)
            )
        except CosmosHttpResponseError as exc:
            if exc.status_code == 409:
                raise Conflict(f"The name '{name}' is already used by {a_kind(kind)}.") from exc
            raise
        for other in others:
            if await self._read(other, name) is not None:
                await self._roll_back(kind, name, item["_etag"])
                raise Conflict(f"The name '{name}' is already used by {a_kind(other)}.")
        return _record(kind, item)

    async def update(self, kind: ResourceKind, name: str, data: dict[str, Any], expected_version: str) -> StoredRecord:
        body = {"id": name, "kind": kind, "data": data}
        try:
            item = await self._account.call(
                f"update the {kind} '{name}'",
                lambda: self._container(kind).replace_item(
                    name, body, etag=expected_version, match_condition=MatchConditions.IfNotModified
                ),
            )
        except CosmosHttpResponseError as exc:
            raise _meaning(exc, kind, name) from exc
        return _record(kind, item)

    async def delete(self, kind: ResourceKind, name: str, expected_version: str | None = None) -> None:
        conditions: dict[str, Any] = {}
        if expected_version is not None:
            conditions = {"etag": expected_version, "match_condition": MatchConditions.IfNotModified}
        try:
            await self._account.call(
                f"delete the {kind} '{name}'",
                lambda: self._container(kind).delete_item(name, partition_key=name, **conditions),
            )
        except CosmosHttpResponseError as exc:
            raise _meaning(exc, kind, name) from exc

    async def _read(self, kind: ResourceKind, name: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] = await self._account.call(
                f"read the {kind} '{name}'", lambda: self._container(kind).read_item(name, partition_key=name)
            )
        except CosmosHttpResponseError as exc:
            if exc.status_code == 404:
                return None
            raise
        return item

    async def _refuse_if_taken(self, kind: ResourceKind, name: str) -> None:
        if await self._read(kind, name) is not None:
            raise Conflict(f"The name '{name}' is already used by {a_kind(kind)}.")

    async def _roll_back(self, kind: ResourceKind, name: str, etag: str) -> None:
        try:
            await self._account.call(
                f"roll back the {kind} '{name}'",
                lambda: self._container(kind).delete_item(
                    name, partition_key=name, etag=etag, match_condition=MatchConditions.IfNotModified
                ),
            )
        except CosmosHttpResponseError as exc:
            # Gone or changed already: someone else owns the item now, so it is not ours to remove.
            if exc.status_code not in (404, 412):
                raise

    def _container(self, kind: ResourceKind) -> ContainerProxy:
        container = self._containers.get(kind)
        if container is None:
            raise BackendError("the Cosmos metadata store is not open")
        return container


def _meaning(exc: CosmosHttpResponseError, kind: ResourceKind, name: str) -> Exception:
    if exc.status_code == 404:
        return NotFound(f"The {kind} '{name}' does not exist.")
    if exc.status_code == 412:
        return Conflict(f"The {kind} '{name}' was changed by someone else; re-read it and retry.")
    return exc


def _holds_object(kind: ResourceKind, item: dict[str, Any]) -> bool:
    """False (logged) for an item edited by hand into something that is no record: it must not fail a listing."""
    if isinstance(item.get("data"), dict) and isinstance(item.get("id"), str):
        return True
    log.warning("the Cosmos %s item %r holds no record; skipped", kind, item.get("id"))
    return False


def _record(kind: ResourceKind, item: dict[str, Any]) -> StoredRecord:
    return StoredRecord(kind, str(item["id"]), dict(item.get("data") or {}), str(item["_etag"]))
