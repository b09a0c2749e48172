"""Session routes in a Cosmos DB container, shared by every gateway replica.

One item per session: ``{"id", "url", "endpointId", "createdAt", "lastUsedAt", "expiresAt", "ttl"}``.
Expiry is decided here from the stored times, so a session is gone the moment its idle timeout or absolute
lifetime passes; the per-item Cosmos ``ttl`` (the container has ``default_ttl=-1``, which enables TTL
without expiring anything by default) only garbage-collects items afterwards, since Cosmos deletes
expired items in the background. Times are wall-clock seconds, so replicas' clocks must agree (NTP).

``get`` refreshes the idle timer with an ETag-conditional replace, never past ``expiresAt``. To keep a busy
session from costing a write per request, the refresh is skipped while the last one is younger than
:data:`REFRESH_FRACTION` of the idle timeout (at most :data:`MAX_REFRESH_INTERVAL` seconds); a session
therefore expires at the earliest that much before ``idle_timeout`` after its last use.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosHttpResponseError

from gateway.errors import BackendError
from gateway.settings import CosmosSettings, SessionSettings
from gateway.stores.base import SessionKey, SessionRoute
from gateway.stores.cosmos.account import CosmosAccount

REFRESH_FRACTION = 0.05
MAX_REFRESH_INTERVAL = 60.0
MAX_ID_LENGTH = 255


def item_id(key: SessionKey) -> str:
    """The Cosmos id for a key: ids may not contain '/', '\\\\', '?' or '#' and are at most 255 characters.

    ``quote`` with '%' unsafe is injective, so distinct keys keep distinct ids; over-long ids are hashed.
    """
    encoded = quote(key.render(), safe=":@!$&'()*+,;=-._~")
    if len(encoded) > MAX_ID_LENGTH:
        return "sha256-" + hashlib.sha256(encoded.encode()).hexdigest()
    return encoded


class CosmosSessionStore:
    """The session-routing table in the Cosmos sessions container (partition key ``/id``)."""

    def __init__(
        self,
        settings: CosmosSettings,
        sessions: SessionSettings,
        account: CosmosAccount | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._account = account or CosmosAccount(settings)
        self._container_name = settings.sessions_container
        self._idle = float(sessions.idle_timeout_seconds)
        self._lifetime = float(sessions.max_lifetime_seconds)
        self._refresh_after = min(MAX_REFRESH_INTERVAL, self._idle * REFRESH_FRACTION)
        self._clock = clock
        self._container: ContainerProxy | None = None

    async def open(self) -> None:
        proxies = await self._account.open({self._container_name: -1})
        self._container = proxies[self._container_name]

    async def close(self) -> None:
        self._container = None
        await self._account.close()

    async def check(self) -> None:
        await self._account.call("read the sessions container", self._proxy().read)

    async def put(self, key: SessionKey, route: SessionRoute) -> None:
        now = self._clock()
        expires_at = now + self._lifetime
        body = {
            "id": item_id(key),
            "url": route.url,
            "endpointId": route.endpoint_id,
            "createdAt": now,
            "lastUsedAt": now,
            "expiresAt": expires_at,
            "ttl": _ttl(min(self._idle, expires_at - now)),
        }
        await self._account.call("store a session", lambda: self._proxy().upsert_item(body))

    async def get(self, key: SessionKey) -> SessionRoute | None:
        ident = item_id(key)
        try:
            item: dict[str, Any] = await self._account.call(
                "read a session", lambda: self._proxy().read_item(ident, partition_key=ident)
            )
        except CosmosHttpResponseError as exc:
            if exc.status_code == 404:
                return None
            raise
        now = self._clock()
        if now - float(item["lastUsedAt"]) > self._idle or now >= float(item["expiresAt"]):
            await self._delete_if_unchanged(item)
            return None
        if now - float(item["lastUsedAt"]) >= self._refresh_after and not await self._refresh(item, now):
            return None
        return SessionRoute(endpoint_id=str(item["endpointId"]), url=str(item["url"]))

    async def _refresh(self, item: dict[str, Any], now: float) -> bool:
        """Restart the idle timer; False when the session was deleted meanwhile."""
        body = {k: v for k, v in item.items() if not k.startswith("_")}
        body["lastUsedAt"] = now
        body["ttl"] = _ttl(min(self._idle, float(item["expiresAt"]) - now))
        try:
            await self._account.call(
                "refresh a session",
                lambda: self._proxy().replace_item(
                    item["id"], body, etag=item["_etag"], match_condition=MatchConditions.IfNotModified
                ),
            )
        except CosmosHttpResponseError as exc:
            if exc.status_code == 404:
                return False
            if exc.status_code != 412:  # 412: another replica refreshed or re-put it first, which is as good
                raise
        return True

    async def _delete_if_unchanged(self, item: dict[str, Any]) -> None:
        # Tidies expired items at once (the emulator has no TTL); the ETag keeps a fresh re-put safe.
        try:
            await self._account.call(
                "delete an expired session",
                lambda: self._proxy().delete_item(
                    item["id"],
                    partition_key=item["id"],
                    etag=item["_etag"],
                    match_condition=MatchConditions.IfNotModified,
                ),
            )
        except CosmosHttpResponseError as exc:
            if exc.status_code not in (404, 412):
                raise

    async def delete(self, key: SessionKey) -> None:
        ident = item_id(key)
        try:
            await self._account.call("delete a session", lambda: self._proxy().delete_item(ident, partition_key=ident))
        except CosmosHttpResponseError as exc:
            if exc.status_code != 404:
                raise

    async def count(self) -> int | None:
        # A cross-partition COUNT costs RUs proportional to the table; not worth it for a metric.
        return None

    def _proxy(self) -> ContainerProxy:
        if self._container is None:
            raise BackendError("the Cosmos session store is not open")
        return self._container


def _ttl(seconds: float) -> int:
    """Cosmos wants a whole number of seconds >= 1; round up so Cosmos never deletes a live session."""
    return max(1, math.ceil(seconds))
