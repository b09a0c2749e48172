"""The connect-time SSRF guard (gateway.netguard) with real parts: a DNS server whose answers the test
changes, a listener that counts connections, and the gateway's and the router's own HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from gateway.errors import InvalidRequest
from gateway.netguard import ConnectGuard, is_address_refusal
from gateway.netpolicy import AddressPolicy
from gateway.proxy.upstream import UpstreamAddressRefused, UpstreamClient
from gateway.services.ssrf import UrlGuard
from tests.ssrf_targets import CountingListener, ProgrammableZone, counting_listener, dns_server
from toolrouter.catalog import CatalogEntry, parse_catalog
from toolrouter.executor import ToolExecutor

PUBLIC = "93.184.215.14"
STRICT = AddressPolicy()
LOOPBACK_OK = AddressPolicy(allow_loopback=True)


@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[ProgrammableZone, str]]:
    with dns_server() as running:
        yield running


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    with counting_listener() as running:
        yield running


def guard(dns: tuple[ProgrammableZone, str], policy: AddressPolicy) -> ConnectGuard:
    return ConnectGuard(policy, (dns[1],))


@pytest.fixture
async def sessions() -> AsyncIterator[list[aiohttp.ClientSession]]:
    made: list[aiohttp.ClientSession] = []
    yield made
    for session in made:
        await session.close()


async def post(sessions: list[aiohttp.ClientSession], connect_guard: ConnectGuard, url: str) -> object:
    """POST through a client built on the guard's connector; the reply's JSON."""
    session = aiohttp.ClientSession(connector=connect_guard.connector())
    sessions.append(session)
    async with session.post(url, json={}) as response:
        return await response.json()


async def refused(sessions: list[aiohttp.ClientSession], connect_guard: ConnectGuard, url: str) -> str:
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await post(sessions, connect_guard, url)
    assert is_address_refusal(caught.value), caught.value
    return str(caught.value.os_error)


async def test_a_name_resolving_to_a_refused_address_is_refused_and_nothing_connects(
    dns: tuple[ProgrammableZone, str], listener: CountingListener, sessions: list[aiohttp.ClientSession]
) -> None:
    zone, _ = dns
    zone.set("lo.ssrf.test", "127.0.0.1")
    url = f"http://lo.ssrf.test:{listener.port}/run"
    message = await refused(sessions, guard(dns, STRICT), url)
    assert "127.0.0.1 (loopback)" in message
    assert listener.connections == 0
    # The same name, the same listener, a policy that allows loopback: the request arrives.
    assert await post(sessions, guard(dns, LOOPBACK_OK), url) == {"reached": True}
    assert listener.connections == 1


async def test_a_rebind_after_the_create_time_lookup_is_caught_on_connect(
    dns: tuple[ProgrammableZone, str], listener: CountingListener, sessions: list[aiohttp.ClientSession]
) -> None:
    zone, _ = dns
    connect_guard = guard(dns, STRICT)
    zone.set("rebind.ssrf.test", PUBLIC)
    assert [str(a) for a in await connect_guard.lookup("rebind.ssrf.test")] == [PUBLIC]
    await UrlGuard(connect_guard).check(f"http://rebind.ssrf.test:{listener.port}/run")  # create time: fine
    zone.set("rebind.ssrf.test", "127.0.0.1")
    await refused(sessions, connect_guard, f"http://rebind.ssrf.test:{listener.port}/run")
    zone.set("rebind.ssrf.test", "169.254.169.254")
    assert "cloud-metadata" in await refused(sessions, connect_guard, f"http://rebind.ssrf.test:{listener.port}/")
    assert listener.connections == 0


async def test_of_several_answers_only_permitted_ones_are_connected_to(
    dns: tuple[ProgrammableZone, str], listener: CountingListener, sessions: list[aiohttp.ClientSession]
) -> None:
    zone, _ = dns
    zone.set("mixed.ssrf.test", "169.254.169.254", "127.0.0.1")
    assert await post(sessions, guard(dns, LOOPBACK_OK), f"http://mixed.ssrf.test:{listener.port}/") == {
        "reached": True
    }
    assert listener.connections == 1


async def test_ip_literals_are_checked_on_the_socket_address(
    dns: tuple[ProgrammableZone, str], listener: CountingListener, sessions: list[aiohttp.ClientSession]
) -> None:
    # aiohttp never asks a resolver about a literal; the socket factory still sees the address.
    message = await refused(sessions, guard(dns, STRICT), f"http://127.0.0.1:{listener.port}/")
    assert "loopback" in message
    assert listener.connections == 0
    assert await post(sessions, guard(dns, LOOPBACK_OK), f"http://127.0.0.1:{listener.port}/") == {"reached": True}


async def test_metadata_host_names_are_refused_without_asking_dns(
    dns: tuple[ProgrammableZone, str], sessions: list[aiohttp.ClientSession]
) -> None:
    zone, _ = dns
    zone.set("metadata.google.internal", PUBLIC)
    await refused(sessions, guard(dns, AddressPolicy(True, True)), "http://metadata.google.internal/computeMetadata/")
    assert not any(name == "metadata.google.internal" for name, _ in zone.queries)


async def test_the_proxy_guards_url_adapters_but_never_the_runtimes_own_replicas(
    dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    zone, _ = dns
    zone.set("adapter.ssrf.test", "127.0.0.1")
    client = UpstreamClient(2.0, 5.0, guard(dns, STRICT))
    try:
        with pytest.raises(UpstreamAddressRefused):
            await client.send("POST", f"http://adapter.ssrf.test:{listener.port}/mcp", [], b"{}", 5.0, guarded=True)
        assert listener.connections == 0
        own_replica = await client.send("POST", f"http://127.0.0.1:{listener.port}/mcp", [], b"{}", 5.0)
        assert own_replica.status_code == 200
        own_replica.close()
        assert listener.connections == 1
    finally:
        await client.aclose()


def tool_entry(url: str, *, remote: bool) -> CatalogEntry:
    item = {"name": "t", "tool": {"name": "t", "inputSchema": {"type": "object"}}, "urls": [url], "remote": remote}
    entry = parse_catalog({"tools": [item]}).get("t")
    assert entry is not None
    return entry


async def test_the_router_guards_url_tools_but_never_the_gateways_own_tool_replicas(
    dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    zone, _ = dns
    zone.set("tool.ssrf.test", "127.0.0.1")
    executor = ToolExecutor(default_timeout_seconds=5, max_response_bytes=4096, guard=guard(dns, STRICT))
    try:
        result = await executor.call(tool_entry(f"http://tool.ssrf.test:{listener.port}/run", remote=True), {})
        assert result.is_error
        assert "not allowed" in result.content[0].text  # type: ignore[union-attr]
        assert listener.connections == 0
        own = await executor.call(tool_entry(f"http://127.0.0.1:{listener.port}/run", remote=False), {})
        assert not own.is_error and own.structured_content == {"reached": True}
        assert listener.connections == 1
    finally:
        await executor.aclose()


@pytest.mark.parametrize(
    ("name", "address", "expected"),
    [
        ("meta.ssrf.test", "169.254.169.254", "cloud-metadata"),
        ("ten.ssrf.test", "10.1.2.3", "MCPGW_PROXY__ALLOW_PRIVATE_URLS"),
        ("lo6.ssrf.test", "::1", "MCPGW_PROXY__ALLOW_LOOPBACK_URLS"),
    ],
)
async def test_the_create_time_check_names_the_field_and_the_setting(
    dns: tuple[ProgrammableZone, str], name: str, address: str, expected: str
) -> None:
    zone, _ = dns
    zone.set(name, address)
    with pytest.raises(InvalidRequest) as caught:
        await UrlGuard(guard(dns, STRICT)).check(f"http://{name}/mcp", field="url")
    assert [p.field for p in caught.value.problems] == ["url"]
    assert expected in caught.value.detail
    assert address not in caught.value.detail  # the internal address is logged, not shown


async def test_the_create_time_check_refuses_literals_and_lets_unresolvable_names_pass(
    dns: tuple[ProgrammableZone, str],
) -> None:
    url_guard = UrlGuard(guard(dns, STRICT))
    with pytest.raises(InvalidRequest, match="cloud-metadata"):
        await url_guard.check("http://[::ffff:169.254.169.254]/")
    with pytest.raises(InvalidRequest, match="ambiguous numeric host"):
        await url_guard.check("http://0xa9fea9fe/")
    # Not resolvable yet: accepted here, and checked on every connect anyway.
    await url_guard.check("http://not-yet.ssrf.test/mcp")
