"""SSRF at connect time, from the attacker's side, against real gateway processes.

A real DNS server (dnslib, UDP on 127.0.0.1) is the gateway's name server (``MCPGW_PROXY__DNS_SERVERS``).
The attacker registers a ``url`` adapter or tool whose name resolves to a public address while the gateway
checks it, then rebinds the name. 169.254.169.254 cannot be bound here, so a listener on 127.0.0.1 stands
in for the target, in a gateway whose policy refuses loopback: it must see zero connections. The same
steps against a gateway that allows loopback do reach it, which shows the zero means something.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import GatewayProcess
from tests.integration.dataplane.conftest import mcp_client
from tests.ssrf_targets import CountingListener, ProgrammableZone, counting_listener, dns_server

pytestmark = pytest.mark.slow

PUBLIC = "93.184.215.14"
"""What every attacker name resolves to while the gateway checks it at create time."""
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"X-Dev-UserId": "mallory", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[ProgrammableZone, str]]:
    with dns_server() as running:
        yield running


def _gateway(tmp: pytest.TempPathFactory, name_server: str, allow_loopback: bool) -> GatewayProcess:
    env = {
        "MCPGW_PROXY__ALLOW_LOOPBACK_URLS": str(allow_loopback).lower(),
        "MCPGW_PROXY__ALLOW_PRIVATE_URLS": "false",
        "MCPGW_PROXY__DNS_SERVERS": json.dumps([name_server]),
        "MCPGW_ROUTER__REPLICAS": "1",
    }
    return GatewayProcess(tmp.mktemp("ssrf"), env=env).start()


@pytest.fixture(scope="module")
def strict_gateway(
    tmp_path_factory: pytest.TempPathFactory, dns: tuple[ProgrammableZone, str]
) -> Iterator[GatewayProcess]:
    """Loopback and private targets refused: the listener on 127.0.0.1 is out of bounds."""
    gateway = _gateway(tmp_path_factory, dns[1], allow_loopback=False)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def loopback_gateway(
    tmp_path_factory: pytest.TempPathFactory, dns: tuple[ProgrammableZone, str]
) -> Iterator[GatewayProcess]:
    """Loopback allowed, private refused: the control group."""
    gateway = _gateway(tmp_path_factory, dns[1], allow_loopback=True)
    yield gateway
    gateway.stop()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    with counting_listener() as running:
        yield running


def register_adapter(gateway: GatewayProcess, zone: ProgrammableZone, name: str, url: str) -> None:
    """Create a url adapter while its host name resolves to a public address."""
    zone.set(f"{name}.ssrf.test", PUBLIC)
    response = gateway.client(user="mallory").post("/adapters", json={"name": name, "url": url})
    assert response.status_code == 201, response.text


def call_adapter(gateway: GatewayProcess, name: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/adapters/{name}/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=30)


def assert_refused_as_jsonrpc_error(response: httpx.Response) -> None:
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == -32000
    assert "is not allowed" in error["message"], error


# ----- create time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "hint"),
    [("169.254.169.254", "never allowed"), ("10.0.0.7", "ALLOW_PRIVATE_URLS"), ("127.0.0.1", "ALLOW_LOOPBACK_URLS")],
)
def test_a_name_resolving_to_a_refused_address_is_a_400_naming_url(
    strict_gateway: GatewayProcess, dns: tuple[ProgrammableZone, str], address: str, hint: str
) -> None:
    zone, _ = dns
    name = f"direct-{address.replace('.', '-')}"
    zone.set(f"{name}.ssrf.test", address)
    response = strict_gateway.client(user="mallory").post(
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


def test_an_adapter_rebound_to_the_metadata_address_is_refused_with_a_jsonrpc_error(
    strict_gateway: GatewayProcess, dns: tuple[ProgrammableZone, str]
) -> None:
    zone, _ = dns
    register_adapter(strict_gateway, zone, "rebind-meta", "http://rebind-meta.ssrf.test/latest/meta-data/")
    zone.set("rebind-meta.ssrf.test", "169.254.169.254")
    assert_refused_as_jsonrpc_error(call_adapter(strict_gateway, "rebind-meta"))


def test_an_adapter_rebound_to_a_refused_address_never_reaches_it(
    strict_gateway: GatewayProcess, dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    zone, _ = dns
    register_adapter(strict_gateway, zone, "rebind-lo", f"http://rebind-lo.ssrf.test:{listener.port}/mcp")
    zone.set("rebind-lo.ssrf.test", "127.0.0.1")
    for _ in range(3):  # no connection is pooled or cached into a later success
        assert_refused_as_jsonrpc_error(call_adapter(strict_gateway, "rebind-lo"))
    assert listener.connections == 0


def test_where_loopback_is_allowed_the_same_rebind_reaches_the_listener_but_private_ones_do_not(
    loopback_gateway: GatewayProcess, dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    zone, _ = dns
    register_adapter(loopback_gateway, zone, "control-lo", f"http://control-lo.ssrf.test:{listener.port}/mcp")
    zone.set("control-lo.ssrf.test", "127.0.0.1")
    reached = call_adapter(loopback_gateway, "control-lo")
    assert reached.status_code == 200 and reached.json() == {"reached": True}
    assert listener.connections >= 1
    for name, address in (("control-ten", "10.0.0.7"), ("control-meta", "169.254.169.254")):
        register_adapter(loopback_gateway, zone, name, f"http://{name}.ssrf.test:{listener.port}/mcp")
        zone.set(f"{name}.ssrf.test", address)
        assert_refused_as_jsonrpc_error(call_adapter(loopback_gateway, name))


# ----- connect time: url tools through the tool router -------------------------------------------------


def tool_body(name: str, url: str) -> dict[str, object]:
    return {"name": name, "url": url, "toolDefinition": {"tool": {"name": name, "inputSchema": {"type": "object"}}}}


async def call_tool_when_listed(gateway: GatewayProcess, name: str) -> tuple[bool, str]:
    """``tools/call`` through the gateway's ``/mcp`` once the router lists the tool: (isError, text)."""
    deadline = time.monotonic() + 30  # the router starts with the gateway and polls the catalog every second
    last: object = None
    while time.monotonic() < deadline:
        try:
            async with mcp_client(f"{gateway.url}/mcp", user="mallory", roles="") as client:
                listed = {t.name for t in (await client.list_tools()).tools}
                if name in listed:
                    result = await client.call_tool(name, {})
                    return bool(result.is_error), result.content[0].text  # type: ignore[union-attr]
                last = listed
        except Exception as exc:  # the router may still be starting
            last = exc
        await asyncio.sleep(0.3)
    raise AssertionError(f"the router never listed {name} (last: {last!r})")


async def test_a_url_tool_rebound_to_a_refused_address_is_an_error_result_and_never_reaches_it(
    strict_gateway: GatewayProcess, dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    # The gateway reaches its own router on 127.0.0.1 although loopback is refused: only user URLs are guarded.
    zone, _ = dns
    zone.set("rebind-tool.ssrf.test", PUBLIC)
    body = tool_body("rebind-tool", f"http://rebind-tool.ssrf.test:{listener.port}/run")
    assert strict_gateway.client(user="mallory").post("/tools", json=body).status_code == 201
    zone.set("rebind-tool.ssrf.test", "127.0.0.1")
    is_error, text = await call_tool_when_listed(strict_gateway, "rebind-tool")
    assert is_error and "not allowed" in text, text
    assert listener.connections == 0


async def test_where_loopback_is_allowed_the_same_url_tool_reaches_the_listener(
    loopback_gateway: GatewayProcess, dns: tuple[ProgrammableZone, str], listener: CountingListener
) -> None:
    zone, _ = dns
    zone.set("control-tool.ssrf.test", PUBLIC)
    body = tool_body("control-tool", f"http://control-tool.ssrf.test:{listener.port}/run")
    assert loopback_gateway.client(user="mallory").post("/tools", json=body).status_code == 201
    zone.set("control-tool.ssrf.test", "127.0.0.1")
    is_error, text = await call_tool_when_listed(loopback_gateway, "control-tool")
    assert not is_error and json.loads(text) == {"reached": True}, text
    assert listener.connections >= 1
