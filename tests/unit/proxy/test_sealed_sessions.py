"""Sealed session ids (``gateway.proxy.sealed``, issue #22): what a client holds routes itself, opens only for
its user and route, and never needs the session store.

The affinity runs over a session store that fails the test if it is touched, and a fake runtime: sealed mode
must route with no store read at all.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sealed_fakes import Clock, UntouchableStore

from gateway.errors import NotFound
from gateway.proxy.affinity import SESSION_NOT_FOUND, SessionAffinity
from gateway.proxy.replicas import Replicas, Target
from gateway.proxy.sealed import DeniedSessions, SessionSealer, url_digest
from gateway.runtimes.base import Endpoint, WorkloadStatus
from gateway.settings import parse_seal_keys

REPLICA = Endpoint("weather-0", "http://127.0.0.1:40001/mcp")
OTHER = Endpoint("weather-1", "http://127.0.0.1:40002/mcp")
TARGET = Target("weather", is_router=False)
OLD_KEY, NEW_KEY = ("k1", os.urandom(32)), ("k2", os.urandom(32))




class FakeRuntime:
    def __init__(self) -> None:
        self.ready = [REPLICA, OTHER]

    async def endpoints(self, name: str) -> list[Endpoint]:
        return list(self.ready)

    async def url_routable(self, name: str) -> bool:
        return True

    async def status(self, name: str) -> WorkloadStatus:
        raise AssertionError("not needed here")


class Answer:
    def __init__(self, session_id: str | None, status: int = 200) -> None:
        self.status_code = status
        self.headers = {} if session_id is None else {"mcp-session-id": session_id}

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


def affinity_with(keys: list[tuple[str, bytes]], runtime: FakeRuntime, clock: Clock) -> SessionAffinity:
    sealer = SessionSealer(keys, 3600, clock=clock)
    store: Any = UntouchableStore()
    return SessionAffinity(store, Replicas(runtime), sealer, DeniedSessions(clock=clock))


async def issue(affinity: SessionAffinity, endpoint: Endpoint = OTHER) -> str:
    """A session alice opened on the adapter ``weather``, as the client gets its id."""
    sealed = await affinity.bind("alice", "weather", endpoint, Answer("replica-session-1"))  # type: ignore[arg-type]
    assert sealed
    return sealed


async def test_a_sealed_id_routes_to_its_replica_with_the_replicas_own_id(runtime: FakeRuntime, clock: Clock) -> None:
    affinity = affinity_with([NEW_KEY], runtime, clock)
    sealed = await issue(affinity)
    assert "replica-session-1" not in sealed and "weather" not in sealed and "alice" not in sealed
    bound = await affinity.resolve("alice", TARGET, sealed)
    assert bound.endpoint == OTHER and bound.upstream_id == "replica-session-1" and bound.key.session_id == sealed
    # Any gateway replica with the keyring opens it: a second affinity, nothing shared but the keys.
    elsewhere = affinity_with([NEW_KEY], runtime, clock)
    assert (await elsewhere.resolve("alice", TARGET, sealed)).endpoint == OTHER


async def test_another_user_another_route_or_an_expired_id_is_not_found(
    runtime: FakeRuntime, clock: Clock
) -> None:
    affinity = affinity_with([NEW_KEY], runtime, clock)
    sealed = await issue(affinity)
    other_routes = [Target("news", False), Target("toolgateway", True, server="weather")]
    for user, target in [("bob", TARGET), *(("alice", route) for route in other_routes)]:
        with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
            await affinity.resolve(user, target, sealed)
    clock.now += 3601
    with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
        await affinity.resolve("alice", TARGET, sealed)


async def test_a_key_rotation_keeps_old_ids_until_the_old_key_is_retired(runtime: FakeRuntime, clock: Clock) -> None:
    before = await issue(affinity_with([OLD_KEY], runtime, clock))
    rotated = affinity_with([NEW_KEY, OLD_KEY], runtime, clock)  # the new key seals, the old one still opens
    assert (await rotated.resolve("alice", TARGET, before)).upstream_id == "replica-session-1"
    after = await issue(rotated)
    assert (await affinity_with([NEW_KEY], runtime, clock).resolve("alice", TARGET, after)).endpoint == OTHER
    retired = affinity_with([NEW_KEY], runtime, clock)
    with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
        await retired.resolve("alice", TARGET, before)


async def test_a_deleted_session_or_a_gone_replica_is_not_found(runtime: FakeRuntime, clock: Clock) -> None:
    affinity = affinity_with([NEW_KEY], runtime, clock)
    deleted = await issue(affinity)
    bound = await affinity.resolve("alice", TARGET, deleted)
    await affinity.forget(bound.key)
    with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
        await affinity.resolve("alice", TARGET, deleted)
    orphan = await issue(affinity, endpoint=REPLICA)
    runtime.ready = [OTHER]
    with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
        await affinity.resolve("alice", TARGET, orphan)
    runtime.ready = [REPLICA, OTHER]  # a replica back at that URL has not got the session either
    with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
        await affinity.resolve("alice", TARGET, orphan)


async def test_a_malformed_issued_id_or_one_on_a_failed_answer_is_dropped(
    runtime: FakeRuntime, clock: Clock
) -> None:
    affinity = affinity_with([NEW_KEY], runtime, clock)
    assert await affinity.bind("alice", "weather", REPLICA, Answer("bad id")) == ""  # type: ignore[arg-type]
    # An id on a failed answer is bound to nothing, so the client never sees it.
    assert await affinity.bind("alice", "weather", REPLICA, Answer("s", status=500)) == ""  # type: ignore[arg-type]
    assert await affinity.bind("alice", "weather", REPLICA, Answer(None)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "forged", ["", "x", "a" * 2000, "AQJrMg", "AQJrMgAAAAAAAAAAAAAAAAAA", "not base64!", "Ag" * 40]
)
async def test_a_forged_id_is_not_found(runtime: FakeRuntime, clock: Clock, forged: str) -> None:
    with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
        await affinity_with([NEW_KEY], runtime, clock).resolve("alice", TARGET, forged)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_a_sealed_id_makes_it_unusable(position: int, flip: int) -> None:
    clock = Clock()
    sealer = SessionSealer([NEW_KEY], 3600, clock=clock)
    sealed, _ = sealer.seal("alice", "weather", "replica-session-1", OTHER.url)
    raw = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    raw[position % len(raw)] ^= flip
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert sealer.open("alice", "weather", tampered) is None


@settings(max_examples=100, deadline=None)
@given(
    user=st.text(min_size=1, max_size=64),
    scope=st.text(min_size=1, max_size=64),
    upstream=st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True),
)
def test_a_sealed_id_opens_to_what_was_sealed_and_is_a_valid_header(user: str, scope: str, upstream: str) -> None:
    sealer = SessionSealer([NEW_KEY], 3600)
    sealed, _ = sealer.seal(user, scope, upstream, REPLICA.url)
    opened = sealer.open(user, scope, sealed)
    assert opened is not None and (opened.upstream_id, opened.endpoint_digest) == (upstream, url_digest(REPLICA.url))
    assert all(c.isalnum() or c in "-_" for c in sealed) and len(sealed) <= 1024


def test_the_denied_list_is_bounded_and_forgets_what_expired() -> None:
    clock = Clock()
    denied = DeniedSessions(clock=clock, limit=3)
    for i in range(5):
        denied.deny(f"t{i}", clock.now + 10)
    assert not denied.denied("t0") and denied.denied("t4")
    clock.now += 11
    assert not denied.denied("t4")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "at least one"),
        ("k1", "expected 'id:key'"),
        ("bad id:" + "A" * 43, "expected 'id:key'"),
        ("k1:c2hvcnQ", "must be 32 bytes"),
        ("k1:" + "A" * 43 + ",k1:" + "B" * 43, "used twice"),
    ],
)
def test_a_bad_keyring_is_refused_naming_the_problem_not_the_key(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        parse_seal_keys(value)
    assert "A" * 20 not in str(refused.value)


def test_a_keyring_takes_base64_and_base64url_and_the_first_key_seals() -> None:
    key = os.urandom(32)
    ring = parse_seal_keys(f"new:{base64.b64encode(key).decode()}, old:{base64.urlsafe_b64encode(key).decode()}")
    assert ring == [("new", key), ("old", key)]
