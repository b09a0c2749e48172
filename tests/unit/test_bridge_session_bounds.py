"""The bridge's session registry without processes: idle expiry, eviction of the session idle the longest, and
refusal only when every session is busy (an open stream or a request in flight)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bridge.stdio_sessions import RelaySession, SessionRegistry, TooManySessions

REQUEST = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}}


class FakeSession(RelaySession):
    terminated = False

    async def send(self, message: object) -> None:
        return None

    async def terminate(self, grace: float = 2.0) -> None:
        self.closed = self.terminated = True


async def fake(session_id: str, on_exit: Callable[[RelaySession], None]) -> RelaySession:
    return FakeSession(session_id, on_exit)


def at(session: RelaySession, seconds_ago: float) -> RelaySession:
    session.last_active = time.monotonic() - seconds_ago
    return session


async def test_at_the_limit_the_session_idle_the_longest_gives_way() -> None:
    registry = SessionRegistry(fake, ttl=600, max_sessions=3)
    older, oldest, recent = [await registry.create() for _ in range(3)]
    at(older, 20), at(oldest, 30), at(recent, 1)

    newcomer = await registry.create()

    assert isinstance(oldest, FakeSession) and oldest.terminated
    assert registry.get(oldest.id) is None
    assert all(registry.get(s.id) is s for s in (older, recent, newcomer))
    assert len(registry) == 3


async def test_busy_sessions_never_give_way_and_a_new_one_is_refused_when_all_are_busy() -> None:
    registry = SessionRegistry(fake, ttl=600, max_sessions=2)
    streaming, calling = await registry.create(), await registry.create()
    at(streaming, 100), at(calling, 100)
    stream = streaming.open_standalone()  # a GET stream is open
    queue = calling.open_request(1, REQUEST, carries_messages=True)  # a request is in flight

    with pytest.raises(TooManySessions, match="none is idle"):
        await registry.create()
    calling.close_request(1, queue)  # the call is answered: `calling` is idle now, `streaming` still busy
    newcomer = await registry.create()

    assert registry.get(calling.id) is None and registry.get(streaming.id) is streaming
    assert registry.get(newcomer.id) is newcomer
    streaming.close_standalone(stream)


async def test_only_sessions_idle_longer_than_the_timeout_expire() -> None:
    registry = SessionRegistry(fake, ttl=5, max_sessions=10)
    stale, fresh, busy = await registry.create(), await registry.create(), await registry.create()
    at(stale, 6), at(fresh, 1), at(busy, 60)
    busy.open_standalone()

    expired = await registry.expire_idle()

    assert expired == [stale.id]
    assert (registry.ttl, registry.max_sessions, len(registry)) == (5, 10, 2)
