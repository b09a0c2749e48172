"""Session affinity (``gateway.proxy.affinity``) over the real in-memory session store and a fake runtime: the
store-mapped ids (``MCPGW_SESSIONS__SEALED=false``); sealed ids are in test_sealed_sessions.py."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import NotFound
from gateway.names import ROUTER_WORKLOAD
from gateway.proxy.affinity import SESSION_NOT_FOUND, SessionAffinity
from gateway.proxy.replicas import Replicas, Target
from gateway.runtimes.base import Endpoint, WorkloadStatus
from gateway.settings import SessionSettings
from gateway.stores.base import SessionKey, SessionRoute
from gateway.stores.memory import MemorySessionStore

REPLICA = Endpoint("weather-0", "http://127.0.0.1:40001/mcp")
OTHER = Endpoint("weather-1", "http://127.0.0.1:40002/mcp")
TARGET = Target("weather", is_router=False)


class FakeRuntime:
    def __init__(self) -> None:
        self.ready = [REPLICA, OTHER]
        self.endpoint_reads = 0

    async def endpoints(self, name: str) -> list[Endpoint]:
        self.endpoint_reads += 1
        return list(self.ready)

    async def url_routable(self, name: str) -> bool:
        return True

    async def status(self, name: str) -> WorkloadStatus:
        raise AssertionError("not needed here")


class Answer:
    """The part of an ``UpstreamResponse`` that affinity reads."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status_code = status
        self.headers = headers

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


@pytest.fixture
def sessions() -> MemorySessionStore:
    return MemorySessionStore(SessionSettings())


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def affinity(sessions: MemorySessionStore, runtime: FakeRuntime) -> SessionAffinity:
    return SessionAffinity(sessions, Replicas(runtime))


def answer(status: int = 200, session_id: str | None = None) -> Any:
    return Answer(status, {} if session_id is None else {"mcp-session-id": session_id})


async def test_a_bound_session_resolves_to_its_replica(affinity: SessionAffinity) -> None:
    assert await affinity.bind("alice", "weather", OTHER, answer(session_id="s-1")) is None
    bound = await affinity.resolve("alice", TARGET, "s-1")
    assert bound.key == SessionKey("alice", "weather", "s-1")
    assert bound.endpoint == OTHER
    assert bound.upstream_id == "s-1"


@pytest.mark.parametrize("session_id", ["", "a b", "a/b", "x" * 129, "ok\n"])
async def test_a_malformed_id_is_not_found_without_a_lookup(
    affinity: SessionAffinity, runtime: FakeRuntime, session_id: str
) -> None:
    with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
        await affinity.resolve("alice", TARGET, session_id)
    assert runtime.endpoint_reads == 0


async def test_an_unknown_or_another_users_session_is_not_found(
    affinity: SessionAffinity, runtime: FakeRuntime
) -> None:
    await affinity.bind("alice", "weather", REPLICA, answer(session_id="s-1"))
    strangers = [("bob", TARGET, "s-1"), ("alice", Target("news", False), "s-1"), ("alice", TARGET, "s-2")]
    for user, target, session_id in strangers:
        with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
            await affinity.resolve(user, target, session_id)
    assert runtime.endpoint_reads == 0  # the runtime is asked only about a known session


async def test_a_session_whose_replica_is_gone_is_forgotten(
    affinity: SessionAffinity, sessions: MemorySessionStore, runtime: FakeRuntime
) -> None:
    await affinity.bind("alice", "weather", REPLICA, answer(session_id="s-1"))
    runtime.ready = [OTHER]
    with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
        await affinity.resolve("alice", TARGET, "s-1")
    runtime.ready = [REPLICA, OTHER]  # even when it comes back, the session is gone
    assert await sessions.get(SessionKey("alice", "weather", "s-1")) is None


async def test_only_a_successful_answers_well_formed_id_is_bound(
    affinity: SessionAffinity, sessions: MemorySessionStore
) -> None:
    assert await affinity.bind("alice", "weather", REPLICA, answer()) is None
    assert await affinity.bind("alice", "weather", REPLICA, answer(400, session_id="s-1")) == ""  # dropped
    assert await sessions.get(SessionKey("alice", "weather", "s-1")) is None
    # A malformed id is reported, so its header is dropped, and never stored.
    assert await affinity.bind("alice", "weather", REPLICA, answer(session_id="bad id")) == ""
    assert await sessions.count() == 0


async def test_forget_removes_the_route(affinity: SessionAffinity, sessions: MemorySessionStore) -> None:
    key = SessionKey("alice", "weather", "s-1")
    await sessions.put(key, SessionRoute(REPLICA.id, REPLICA.url))
    await affinity.forget(key)
    assert await sessions.get(key) is None


async def test_a_virtual_servers_sessions_are_its_own_though_the_router_serves_them(affinity: SessionAffinity) -> None:
    alpha = Target(ROUTER_WORKLOAD, is_router=True, server="alpha")
    beta = Target(ROUTER_WORKLOAD, is_router=True, server="beta")
    router = Target(ROUTER_WORKLOAD, is_router=True)
    assert (alpha.name, alpha.scope, alpha.kind, alpha.label) == (ROUTER_WORKLOAD, "servers/alpha", "server", "alpha")
    assert (router.scope, router.kind) == (ROUTER_WORKLOAD, "router")

    await affinity.bind("alice", alpha.scope, REPLICA, answer(session_id="s-1"))

    bound = await affinity.resolve("alice", alpha, "s-1")
    key, endpoint = bound.key, bound.endpoint
    assert key == SessionKey("alice", "servers/alpha", "s-1") and endpoint == REPLICA
    for other in (beta, router, Target("alpha", is_router=False)):
        with pytest.raises(NotFound, match=SESSION_NOT_FOUND):
            await affinity.resolve("alice", other, "s-1")
