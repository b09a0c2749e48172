"""Redis-specific behaviour beyond the shared contract: key layout, key expiry and error messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway.errors import BackendError
from gateway.settings import SessionSettings
from gateway.stores.base import SessionKey, SessionRoute
from gateway.stores.redis import RedisSessionStore, redacted
from tests.support.ports import free_port

KEY = SessionKey("user:with/colon", "weather", "s1")
ROUTE = SessionRoute("weather-0", "http://10.0.0.7:8000")


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def settings(url: str, **overrides: object) -> SessionSettings:
    return SessionSettings.model_validate({"kind": "redis", "redis_url": url, "key_prefix": "layout", **overrides})


@pytest.mark.redis
async def test_sessions_live_under_the_prefix_with_the_idle_timeout_as_key_expiry(
    redis_url: str, raw: aioredis.Redis
) -> None:
    now = [1_000.0]
    store = RedisSessionStore(
        settings(redis_url, idle_timeout_seconds=600, max_lifetime_seconds=900), clock=lambda: now[0]
    )
    await store.open()
    try:
        await store.put(KEY, ROUTE)
        name = f"layout:session:{KEY.render()}"
        value = json.loads(str(await raw.get(name)))
        first_ttl = await raw.pttl(name)
        now[0] += 500  # 400 s of lifetime left: the refresh may not extend past it
        assert await store.get(KEY) == ROUTE
        refreshed_ttl = await raw.pttl(name)
    finally:
        await store.close()

    assert value == {"url": ROUTE.url, "endpointId": ROUTE.endpoint_id, "createdAt": 1000.0, "expiresAt": 1900.0}
    assert 599_000 < first_ttl <= 600_000
    assert 399_000 < refreshed_ttl <= 400_000


@pytest.mark.redis
async def test_a_session_past_its_lifetime_is_removed_on_read(redis_url: str, raw: aioredis.Redis) -> None:
    now = [1_000.0]
    store = RedisSessionStore(
        settings(redis_url, idle_timeout_seconds=600, max_lifetime_seconds=900), clock=lambda: now[0]
    )
    await store.open()
    try:
        await store.put(KEY, ROUTE)
        now[0] += 900

        assert await store.get(KEY) is None
        assert await raw.exists(f"layout:session:{KEY.render()}") == 0
    finally:
        await store.close()


async def test_an_unreachable_server_is_a_backend_error_without_the_password() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    store = RedisSessionStore(settings(url))

    with pytest.raises(BackendError, match="MCPGW_SESSIONS__REDIS_URL") as caught:
        await store.open()

    assert f"127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}" in caught.value.internal_detail
    assert "s3cret" not in caught.value.internal_detail
    assert "127.0.0.1" not in caught.value.detail  # the operator's log has the address; clients do not


def test_redacted_urls_keep_everything_but_the_password() -> None:
    assert redacted("rediss://user:pw@cache.example.com:6380/2") == "rediss://user:***@cache.example.com:6380/2"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_store_without_a_url_says_what_to_set() -> None:
    with pytest.raises(BackendError, match="MCPGW_SESSIONS__REDIS_URL"):
        RedisSessionStore(SessionSettings(kind="redis"))
