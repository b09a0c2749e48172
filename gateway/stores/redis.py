"""Session routes in Redis, shared by every gateway replica (``MCPGW_SESSIONS__KIND=redis``).

One string key per session, ``{key_prefix}:session:{rendered SessionKey}``, holding JSON
``{"url", "endpointId", "createdAt", "expiresAt"}``. The key's own Redis expiry is the idle timer: ``put``
sets it to the idle timeout and every ``get`` pushes it out again, never past ``expiresAt`` (the absolute
lifetime). ``get`` is one Lua script, so reading, checking the lifetime and refreshing are atomic and cost
one round trip. Times are the gateway's wall clock (replicas' clocks must agree, e.g. NTP).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.errors import BackendError
from gateway.settings import SessionSettings
from gateway.stores.base import SessionKey, SessionRoute

T = TypeVar("T")

# KEYS[1]: the session key. ARGV[1]: now (epoch seconds). ARGV[2]: idle timeout (ms).
# Returns the value after restarting its idle timer, or nil when missing or past its absolute lifetime.
_GET_AND_REFRESH = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
local remaining = tonumber(cjson.decode(value)['expiresAt']) - tonumber(ARGV[1])
if remaining <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.ceil(math.min(tonumber(ARGV[2]), remaining * 1000)))
return value
"""


def redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisSessionStore:
    """The session-routing table in Redis with idle and absolute expiry."""

    def __init__(self, sessions: SessionSettings, clock: Callable[[], float] = time.time) -> None:
        if sessions.redis_url is None:
            raise BackendError("MCPGW_SESSIONS__KIND=redis needs MCPGW_SESSIONS__REDIS_URL (redis://host:6379/0).")
        self._url = sessions.redis_url.get_secret_value()
        self._prefix = sessions.key_prefix
        self._idle_ms = sessions.idle_timeout_seconds * 1000
        self._lifetime = float(sessions.max_lifetime_seconds)
        self._clock = clock
        self._client: aioredis.Redis | None = None
        self._get_script: Any = None

    async def open(self) -> None:
        client = aioredis.Redis.from_url(self._url, decode_responses=True)
        try:
            await self._call("connect", client.ping)
        except BackendError:
            await client.aclose()
            raise
        self._client = client
        self._get_script = client.register_script(_GET_AND_REFRESH)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def check(self) -> None:
        await self._call("ping", self._redis().ping)

    def key(self, key: SessionKey) -> str:
        """The Redis key of a session (namespaced so several gateways can share one database)."""
        return f"{self._prefix}:session:{key.render()}"

    async def put(self, key: SessionKey, route: SessionRoute) -> None:
        now = self._clock()
        value = json.dumps(
            {"url": route.url, "endpointId": route.endpoint_id, "createdAt": now, "expiresAt": now + self._lifetime}
        )
        ttl_ms = int(min(self._idle_ms, self._lifetime * 1000))
        await self._call("store a session", lambda: self._redis().set(self.key(key), value, px=ttl_ms))

    async def get(self, key: SessionKey) -> SessionRoute | None:
        script = self._get_script
        if script is None:
            raise BackendError("the Redis session store is not open")
        value = await self._call(
            "read a session", lambda: script(keys=[self.key(key)], args=[repr(self._clock()), self._idle_ms])
        )
        if value is None:
            return None
        stored = json.loads(value)
        return SessionRoute(endpoint_id=str(stored["endpointId"]), url=str(stored["url"]))

    async def delete(self, key: SessionKey) -> None:
        await self._call("delete a session", lambda: self._redis().delete(self.key(key)))

    async def count(self) -> int | None:
        # Counting would need a SCAN over the whole keyspace; the gateway only wants this for a metric.
        return None

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            raise BackendError("the Redis session store is not open")
        return self._client

    async def _call(self, action: str, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            raise BackendError(
                f"Redis at {redacted(self._url)} failed to {action}: {exc}; check MCPGW_SESSIONS__REDIS_URL, "
                "the password and that the server is reachable."
            ) from exc
