"""Adversarial cases for the lean path (``toolrouter/lean/``): requests where it once answered otherwise than the
SDK's path. Same method as ``test_router_lean_path.py``: two routers, lean on and off, the same raw requests,
and the answers must agree."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from router_harness import Adapter, FakeCatalog, ToolServer, gateway_headers
from test_router_lean_path import (  # noqa: F401  (pair: a fixture, used by name)
    ALICE,
    LEGACY,
    MODERN,
    Answer,
    Pair,
    Side,
    _modern,
    _routers,
    pair,
    request,
    synced,
)

from tests.support.waiting import async_wait_for


@pytest.fixture
async def unbound_pair(
    catalog: FakeCatalog, catalog_server: str, tool_server: ToolServer, issues_adapter: Adapter
) -> AsyncIterator[Pair]:
    """As ``pair``, on a non-loopback bind (a pod): no DNS-rebinding settings (``_transport_security`` is None)."""
    catalog.put("echo", [f"{tool_server.url}/ok"], description="Echoes.", required_roles=["mcp.user"])
    catalog.put_adapter("issues", [issues_adapter.url], required_roles=["mcp.user"])
    async with _routers(catalog_server, host="0.0.0.0") as both:
        await synced(both, catalog)
        yield both


@pytest.mark.parametrize("era", [LEGACY, MODERN])
@pytest.mark.parametrize("content_type", ["text/plain, application/json", "x/y,application/json"])
async def test_without_dns_rebinding_settings_the_sdks_content_type_check_still_applies(
    unbound_pair: Pair, era: str, content_type: str
) -> None:
    """The SDK's transports build their TransportSecurityMiddleware even without settings: its Content-Type rule
    (``application/json`` first) still refuses with 400. The lean path skipped the whole middleware then (its
    own rule accepts ``application/json`` anywhere in a list), so on every non-loopback bind it served what the
    SDK refuses."""
    call = request("tools/call", {"name": "echo", "arguments": {"n": 1}})
    before = unbound_pair.lean.answered
    answer = await unbound_pair.agree(era, call, headers={"Content-Type": content_type})
    assert answer.status == 400 and unbound_pair.lean.answered == before
    # The ordinary request is still the lean path's.
    await unbound_pair.agree(era, call)
    assert unbound_pair.lean.answered == before + 1


@pytest.mark.parametrize("era", [LEGACY, MODERN])
async def test_a_content_length_of_non_ascii_digits_gets_the_sdks_answer_not_a_crash(
    pair: Pair,  # noqa: F811
    era: str,
) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` raises: the lean path's body limit crashed (an unhandled
    ValueError, a 500) on a header the SDK's limit middleware ignores. (h11 and httptools refuse such a header
    before the app; an ASGI server that does not, or a proxy in front, would have let it through.)"""
    body = json.dumps(_modern(request("tools/list", {})) if era == MODERN else request("tools/list", {})).encode()
    answers = []
    for side in (pair.lean, pair.sdk):
        headers = {
            **gateway_headers(*ALICE),
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": era,
        }
        session_id = None
        if era == LEGACY:
            session_id = await side.open_session(*ALICE)
            headers["Mcp-Session-Id"] = session_id
        else:
            headers["Mcp-Method"] = "tools/list"
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()] + [(b"content-length", b"\xb2")]
        try:
            response = await side.http.post("/mcp", content=body, headers=raw)
        except ValueError as exc:  # the in-process transport re-raises what the app raised
            pytest.fail(f"the app crashed: {exc!r}")
        answers.append(Answer.of(response, session_id))
    assert answers[0] == answers[1]


async def test_a_call_in_flight_when_its_session_is_deleted_ends_as_on_the_sdk(
    pair: Pair,  # noqa: F811
    catalog: FakeCatalog,
    tool_server: ToolServer,
) -> None:
    """The SDK ends a session's requests with it (DELETE terminates the transport; the in-flight request is
    answered with an error). The lean path runs the handler in the request's own task, outside the session: it
    went on and answered as if the session were alive."""
    catalog.put("slow", [f"{tool_server.url}/slow"], required_roles=["mcp.user"])
    await synced(pair, catalog)
    body = json.dumps(request("tools/call", {"name": "slow", "arguments": {}})).encode()
    answers: list[Answer] = []
    try:
        for side in (pair.lean, pair.sdk):
            session_id = await side.open_session(*ALICE)
            headers = {**gateway_headers(*ALICE), "Mcp-Session-Id": session_id, "Mcp-Protocol-Version": LEGACY}
            tool_server.release_slow.clear()
            got: list[httpx.Response] = []

            async def call(
                side: Side = side, headers: dict[str, str] = headers, got: list[httpx.Response] = got
            ) -> None:
                extra = {"Content-Type": "application/json", "Accept": "application/json"}
                got.append(await side.http.post("/mcp", content=body, headers={**headers, **extra}))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call)
                # The call reached the slow tool: one of the router's pooled connections is taken.
                await async_wait_for(lambda side=side: _calls_out(side) == 1, timeout=10, interval=0.02)
                deleted = await side.http.delete("/mcp", headers=headers)
                assert deleted.status_code == 200
                tool_server.release_slow.set()
            answers.append(Answer.of(got[0], session_id))
    finally:
        tool_server.release_slow.set()
    assert answers[0] == answers[1], f"lean {answers[0]}\nsdk  {answers[1]}"


def _calls_out(side: Side) -> int:
    """Connections the router's executor has out to tools right now (both of its pools)."""
    executor = side.app.state.executor
    return sum(len(executor.pool(guarded=guarded).connector._acquired) for guarded in (True, False))
