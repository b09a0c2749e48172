"""SSRF at connect time, from the attacker's side, against real gateways.

A real DNS server (dnslib, UDP on 127.0.0.1) is the gateway's name server (``MCPGW_PROXY__DNS_SERVERS``).
The attacker registers a ``url`` adapter or tool whose name resolves to a public address while the gateway
checks it, then rebinds the name. 169.254.169.254 cannot be bound here, so a listener on 127.0.0.1 stands
in for the target, in a gateway whose policy refuses loopback: it must see zero connections. The same
steps against a gateway that allows loopback do reach it, which shows the zero means something.

In process (tests/support/inprocess.py): each gateway is the app in this module's event loop, its data
plane's aiohttp client connecting for real; its tool router is the real router app on a thread, configured
by the environment the local runtime gives a router process (the same SSRF policy and name servers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from tests.ssrf_targets import CountingListener, ProgrammableZone, counting_listener, dns_server
from tests.support.inprocess import InProcessGateway, in_process_gateway

PUBLIC = "93.184.215.14"
"""What every attacker name resolves to while the gateway checks it at create time."""
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"X-Dev-UserId": "mallory", "Accept": "application/json, text/event-stream"}
in_module_loop = pytest.mark.asyncio(loop_scope="module")
"""The tests of the two module-wide gateways share their event loop."""


@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[ProgrammableZone, str]]:
    with dns_server() as running:
        yield running


def _gateway(name_server: str, allow_loopback: bool) -> contextlib.AbstractAsyncContextManager[InProcessGateway]:
    proxy = {"allow_loopback_urls": allow_loopback, "allow_private_urls": False, "dns_servers": [name_server]}
    return in_process_gateway({"proxy": proxy}, router=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def strict_gateway(dns: tuple[ProgrammableZone, str]) -> AsyncIterator[InProcessGateway]:
    """Loopback and private targets refused: the listener on 127.0.0.1 is out of bounds."""
    async with _gateway(dns[1], allow_loopback=False) as gateway:
        yield gateway


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def loopback_gateway(dns: tuple[ProgrammableZone, str]) -> AsyncIterator[InProcessGateway]:
    """Loopback allowed, private refused: the control group."""
    async with _gateway(dns[1], allow_loopback=True) as gateway:
        yield gateway


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    with counting_listener() as running:
        yield running


async def register_adapter(gateway: InProcessGateway, zone: ProgrammableZone, name: str, url: str) -> None:
    """Create a url adapter while its host name resolves to a public address."""
    zone.set(f"{name}.ssrf.test", PUBLIC)
    response = await gateway.client(user="mallory").post("/adapters", json={"name": name, "url": url})
    assert response.status_code == 201, response.text


async def call_adapter(gateway: InProcessGateway, name: str) -> httpx.Response:
    return await gateway.client(None).post(f"/adapters/{name}/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=30)


def assert_refused_as_jsonrpc_error(response: httpx.Response) -> None:
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == -32000
    assert "is not allowed" in error["message"], error


# ----- create time -----------------------------------------------------------------------------------


@in_module_loop
@pytest.mark.parametrize(
    ("address", "hint"),
    [("169.254.169.254", "never allowed"), ("10.0.0.7", "ALLOW_PRIVATE_URLS"), ("127.0.0.1", "ALLOW_LOOPBACK_URLS")],
)
async def test_a_name_resolving_to_a_refused_address_is_a_400_naming_url(
    strict_gateway: InProcessGateway, dns: tuple[ProgrammableZone, str], address: str, hint: str
) -> None:
    zone, _ = dns
    name = f"direct-{address.replace('.', '-')}"
    zone.set(f"{name}.ssrf.test", address)
    response = await strict_gateway.client(user="mallory").post(
        "/adapters", json={"name": name, "url": f"http://{name}.ssrf.test/mcp"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["url"]
    assert hint in response.json()["detail"]


MALFORMED = [
    "http://example.com\\@169.254.169.254/",
    "http://exa mple.com/",
    "http://example.com/\t",
    "http://user:pass@example.com/",
    "http://example.com:99999/",
    "http://example.com:abc/",
    "http://[fe80::1%25eth0]/",
    "http://0x7f.1/",
    "http://2130706433/",
    "http://017700000001/",
    "http:///mcp",
    "ftp://example.com/",
    "http://example.com/mcp#fragment",
]


@pytest.mark.parametrize("url", MALFORMED)
async def test_urls_that_do_not_parse_cleanly_are_a_400_naming_url(app_client: httpx.AsyncClient, url: str) -> None:
    headers = {"X-Dev-UserId": "mallory"}
    for kind, extra in (("adapters", {}), ("tools", {"toolDefinition": {"tool": {"name": "bad"}}})):
        response = await app_client.post(f"/{kind}", json={"name": "bad", "url": url, **extra}, headers=headers)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "url" in [e["field"] for e in response.json()["errors"]], response.json()


# ----- connect time: url adapters ----------------------------------------------------------------------


@in_module_loop
async def test_an_adapter_rebound_to_the_metadata_address_is_refused_with_a_jsonrpc_error(
    strict_gateway: InProcessGateway, dns: tuple[ProgrammableZone, str]
) -> None:
    zone, _ = dns
    await register_adapter(strict_gateway, zone, "rebind-meta", "http://rebind-meta.ssrf.test/latest/meta-data/")
    zone.set("rebind-meta.ssrf.test", "169.254.169.254")
    assert_refused_as_jsonrpc_error(await call_adapter(strict_gateway, "rebind-meta"))


@in_module_loop
async def test_an_adapter_rebound_to_a_refused_address_never_reaches_it(
    strict_gateway: InProcessGateway, dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    zone, _ = dns
    await register_adapter(strict_gateway, zone, "rebind-lo", f"http://rebind-lo.ssrf.test:{listener.port}/mcp")
    zone.set("rebind-lo.ssrf.test", "127.0.0.1")
    for _ in range(3):  # no connection is pooled or cached into a later success
        assert_refused_as_jsonrpc_error(await call_adapter(strict_gateway, "rebind-lo"))
    assert listener.connections == 0


@in_module_loop
async def test_where_loopback_is_allowed_the_same_rebind_reaches_the_listener_but_private_ones_do_not(
    loopback_gateway: InProcessGateway, dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    zone, _ = dns
    await register_adapter(loopback_gateway, zone, "control-lo", f"http://control-lo.ssrf.test:{listener.port}/mcp")
    zone.set("control-lo.ssrf.test", "127.0.0.1")
    reached = await call_adapter(loopback_gateway, "control-lo")
    assert reached.status_code == 200 and reached.json() == {"reached": True}
    assert listener.connections >= 1
    for name, address in (("control-ten", "10.0.0.7"), ("control-meta", "169.254.169.254")):
        await register_adapter(loopback_gateway, zone, name, f"http://{name}.ssrf.test:{listener.port}/mcp")
        zone.set(f"{name}.ssrf.test", address)
        assert_refused_as_jsonrpc_error(await call_adapter(loopback_gateway, name))


# ----- connect time: url tools through the tool router -------------------------------------------------


def tool_body(name: str, url: str) -> dict[str, object]:
    return {"name": name, "url": url, "toolDefinition": {"tool": {"name": name, "inputSchema": {"type": "object"}}}}


async def call_tool_when_listed(gateway: InProcessGateway, name: str) -> tuple[bool, str]:
    """``tools/call`` through the gateway's ``/mcp`` once the router lists the tool: (isError, text)."""
    deadline = time.monotonic() + 30  # the router polls the catalog every second
    last: object = None
    while time.monotonic() < deadline:
        try:
            async with gateway.mcp_client("/mcp", user="mallory", roles="") as client:
                listed = {t.name for t in (await client.list_tools()).tools}
                if name in listed:
                    result = await client.call_tool(name, {})
                    return bool(result.is_error), result.content[0].text  # type: ignore[union-attr]
                last = listed
        except Exception as exc:  # the router may still be starting
            last = exc
        await asyncio.sleep(0.3)
    raise AssertionError(f"the router never listed {name} (last: {last!r})")


@in_module_loop
async def test_a_url_tool_rebound_to_a_refused_address_is_an_error_result_and_never_reaches_it(
    strict_gateway: InProcessGateway, dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    # The gateway reaches its own router on 127.0.0.1 although loopback is refused: only user URLs are guarded.
    zone, _ = dns
    zone.set("rebind-tool.ssrf.test", PUBLIC)
    body = tool_body("rebind-tool", f"http://rebind-tool.ssrf.test:{listener.port}/run")
    assert (await strict_gateway.client(user="mallory").post("/tools", json=body)).status_code == 201
    zone.set("rebind-tool.ssrf.test", "127.0.0.1")
    is_error, text = await call_tool_when_listed(strict_gateway, "rebind-tool")
    assert is_error and "not allowed" in text, text
    assert listener.connections == 0


@in_module_loop
async def test_where_loopback_is_allowed_the_same_url_tool_reaches_the_listener(
    loopback_gateway: InProcessGateway, dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    zone, _ = dns
    zone.set("control-tool.ssrf.test", PUBLIC)
    body = tool_body("control-tool", f"http://control-tool.ssrf.test:{listener.port}/run")
    assert (await loopback_gateway.client(user="mallory").post("/tools", json=body)).status_code == 201
    zone.set("control-tool.ssrf.test", "127.0.0.1")
    is_error, text = await call_tool_when_listed(loopback_gateway, "control-tool")
    assert not is_error and json.loads(text) == {"reached": True}, text
    assert listener.connections >= 1
