"""The SessionStore contract (gateway/stores/base.py), run against every implementation.

Expiry tests use 1-2 s timeouts on real clocks (Redis expires keys itself). Any ``get`` counts as use and
restarts the idle timer, so idle expiry cannot be observed by polling: that one test waits past the
timeout once and then looks. Everything else polls with a deadline.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.stores.base import SessionKey, SessionRoute, SessionStore
from tests.contract.conftest import StoreOpener

KEY = SessionKey(user_id="alice", target="weather", session_id="3f2a9c1e")
ROUTE = SessionRoute(endpoint_id="weather-0", url="http://10.0.0.7:8000")


async def test_a_stored_session_routes_to_its_replica(session_store: SessionStore) -> None:
    await session_store.put(KEY, ROUTE)

    assert await session_store.get(KEY) == ROUTE


async def test_an_unknown_session_misses(session_store: SessionStore) -> None:
    assert await session_store.get(KEY) is None


async def test_another_users_or_another_targets_key_misses(session_store: SessionStore) -> None:
    await session_store.put(KEY, ROUTE)

    assert await session_store.get(SessionKey("mallory", KEY.target, KEY.session_id)) is None
    assert await session_store.get(SessionKey(KEY.user_id, "other-adapter", KEY.session_id)) is None
    # user ids may contain ':'; escaping keeps "a:b" + "c" apart from "a" + "b:c"
    await session_store.put(SessionKey("a:b", "c", "s"), ROUTE)
    assert await session_store.get(SessionKey("a", "b:c", "s")) is None


async def test_put_overwrites_an_existing_route(session_store: SessionStore) -> None:
    await session_store.put(KEY, ROUTE)
    moved = SessionRoute(endpoint_id="weather-1", url="http://10.0.0.8:8000")

    await session_store.put(KEY, moved)

    assert await session_store.get(KEY) == moved


async def test_a_deleted_session_misses_and_deleting_twice_is_harmless(session_store: SessionStore) -> None:
    await session_store.put(KEY, ROUTE)
    other = SessionKey(KEY.user_id, KEY.target, "another-session")
    await session_store.put(other, ROUTE)

    await session_store.delete(KEY)
    await session_store.delete(KEY)

    assert await session_store.get(KEY) is None
    assert await session_store.get(other) == ROUTE


async def test_keys_with_path_and_query_characters_work(session_store: SessionStore) -> None:
    # Cosmos ids may not contain / \\ ? #, and MCP session ids are any visible ASCII.
    odd = SessionKey(user_id="https://issuer/ x#1", target="weather", session_id="a/b\\c?d#e%2F" + "x" * 300)
    near = SessionKey(user_id="https://issuer/ x#1", target="weather", session_id="a/b\\c?d#e/" + "x" * 300)

    await session_store.put(odd, ROUTE)

    assert await session_store.get(odd) == ROUTE
    assert await session_store.get(near) is None


async def test_a_session_put_by_one_replica_routes_on_another(session_stores: StoreOpener) -> None:
    if not session_stores.shared:
        pytest.skip("the memory store is per process, by design")
    first, second = await session_stores.open(), await session_stores.open()

    await first.put(KEY, ROUTE)

    assert await second.get(KEY) == ROUTE
    await second.delete(KEY)
    assert await first.get(KEY) is None


async def test_an_idle_session_expires_after_the_idle_timeout(session_stores: StoreOpener) -> None:
    store = await session_stores.open(idle_timeout_seconds=1, max_lifetime_seconds=60)
    await store.put(KEY, ROUTE)

    await asyncio.sleep(1.3)  # any get would restart the timer, so wait past it once instead of polling

    assert await store.get(KEY) is None


async def test_use_keeps_a_session_alive_past_the_idle_timeout(session_stores: StoreOpener) -> None:
    store = await session_stores.open(idle_timeout_seconds=1, max_lifetime_seconds=60)
    await store.put(KEY, ROUTE)
    started = time.monotonic()

    while time.monotonic() - started < 2.5:  # 2.5 idle timeouts, used every 0.3 s
        assert await store.get(KEY) == ROUTE, f"expired after {time.monotonic() - started:.2f}s despite use"
        await asyncio.sleep(0.3)


async def test_a_used_session_still_ends_at_its_maximum_lifetime(session_stores: StoreOpener) -> None:
    store = await session_stores.open(idle_timeout_seconds=1, max_lifetime_seconds=2)
    await store.put(KEY, ROUTE)
    started = time.monotonic()

    while await store.get(KEY) == ROUTE:
        assert time.monotonic() - started < 4, "the session outlived its maximum lifetime"
        await asyncio.sleep(0.2)

    lived = time.monotonic() - started
    assert lived >= 1.8, f"ended after {lived:.2f}s, before its lifetime (2 s)"
    assert await store.get(KEY) is None


async def test_count_is_the_number_of_live_sessions_or_none(session_store: SessionStore) -> None:
    await session_store.put(KEY, ROUTE)
    await session_store.put(SessionKey("bob", "weather", "s2"), ROUTE)

    count = await session_store.count()

    assert count in (2, None)


async def test_check_passes_on_an_open_store(session_store: SessionStore) -> None:
    await session_store.check()


async def test_the_memory_table_is_bounded_and_evicts_the_least_recently_used(session_stores: StoreOpener) -> None:
    if session_stores.kind != "memory":
        pytest.skip("shared stores are bounded by their backend (Redis maxmemory, Cosmos TTL), not by count")
    store = await session_stores.open(max_sessions=3)
    keys = [SessionKey("alice", "weather", f"s{i}") for i in range(4)]
    for key in keys[:3]:
        await store.put(key, ROUTE)
    await store.get(keys[0])  # used: s1 is now the least recently used

    await store.put(keys[3], ROUTE)

    assert await store.count() == 3
    assert await store.get(keys[1]) is None
    assert [await store.get(k) for k in (keys[0], keys[2], keys[3])] == [ROUTE] * 3
