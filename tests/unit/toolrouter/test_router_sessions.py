"""OpenSessions: who gets tools/list_changed, and how dead sessions leave the list."""

from __future__ import annotations

from typing import Any, cast

from mcp.server.session import ServerSession

from toolrouter.sessions import OpenSessions


class FakeSession:
    def __init__(self, alive: bool = True) -> None:
        self.alive = alive
        self.notified = 0

    async def send_tool_list_changed(self) -> None:
        if not self.alive:
            raise RuntimeError("stream closed")
        self.notified += 1


def as_session(fake: FakeSession) -> Any:
    return cast(ServerSession, fake)


async def test_every_live_session_is_notified_and_dead_ones_are_forgotten() -> None:
    sessions = OpenSessions(max_sessions=10)
    live, dead = FakeSession(), FakeSession(alive=False)
    sessions.remember("live", as_session(live))
    sessions.remember("dead", as_session(dead))
    assert await sessions.notify_tools_changed() == 1
    assert live.notified == 1
    assert len(sessions) == 1


async def test_the_registry_is_bounded_and_drops_the_oldest_session() -> None:
    sessions = OpenSessions(max_sessions=2)
    first, second, third = FakeSession(), FakeSession(), FakeSession()
    for name, fake in (("1", first), ("2", second), ("3", third)):
        sessions.remember(name, as_session(fake))
    await sessions.notify_tools_changed()
    assert (first.notified, second.notified, third.notified) == (0, 1, 1)


async def test_a_forgotten_session_is_not_notified() -> None:
    sessions = OpenSessions(max_sessions=2)
    fake = FakeSession()
    sessions.remember("s", as_session(fake))
    sessions.forget("s")
    assert await sessions.notify_tools_changed() == 0
    assert fake.notified == 0
