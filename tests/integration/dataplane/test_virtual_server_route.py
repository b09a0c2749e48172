"""``/servers/{name}/mcp``: authorized by the virtual server's record, routed to the tool router's replicas
with the router's secret and ``X-Mcp-Virtual-Server``, and with sessions of its own.

In process (tests/support/inprocess.py): the gateway app in the test's event loop; the tool router is a
recording stand-in on a thread, run as the router workload (``gateway.names.ROUTER_WORKLOAD``) the way
``InProcessGateway.start_router`` runs the real one. It answers ``initialize`` with a fresh session id.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from gateway.names import ROUTER_WORKLOAD
from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from tests.support.inprocess import InProcessGateway, in_process_gateway, serve

CAROL = {"X-Dev-UserId": "carol", "X-Dev-Roles": "mcp.user,team.blue"}
DAVE = {"X-Dev-UserId": "dave", "X-Dev-Roles": "mcp.user"}
MALLORY = {"X-Dev-UserId": "mallory", "X-Dev-Roles": "mcp.guest"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
STATELESS = {"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}


class FakeRouter:
    """Records what reaches it (method, path, headers in order) and answers like an MCP server would."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        with self._lock:
            self.requests.append({"method": scope["method"], "path": scope["path"], "raw": raw, "headers": dict(raw)})
        headers = [(b"content-type", b"application/json")]
        if body and json.loads(body).get("method") == "initialize":
            issued = f"vs-{next(self._ids)}"
            headers.append((b"mcp-session-id", issued.encode()))
            with self._lock:
                self.requests[-1]["issued"] = issued
        elif "mcp-session-id" in dict(raw):
            # As SDK servers do: every answer in a session repeats its id.
            headers.append((b"mcp-session-id", dict(raw)["mcp-session-id"].encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"jsonrpc":"2.0","id":1,"result":{}}'})

    def last(self) -> dict[str, Any]:
        with self._lock:
            return self.requests[-1]

    def count(self) -> int:
        with self._lock:
            return len(self.requests)


@pytest.fixture(scope="module")
def fake_router() -> Iterator[tuple[FakeRouter, str]]:
    router = FakeRouter()
    with serve(router, lifespan="off", interface="asgi3") as server:
        yield router, f"{server.url}/mcp"


@pytest.fixture
async def gateway(fake_router: tuple[FakeRouter, str]) -> AsyncIterator[InProcessGateway]:
    _, url = fake_router
    async with in_process_gateway() as gateway:
        await gateway.ctx.runtime.ensure(WorkloadSpec(name=ROUTER_WORKLOAD, kind=WorkloadKind.ROUTER, url=url))
        # An adapter (the same stand-in behind a url) whose sessions must stay apart from the servers'.
        await gateway.add_adapter("echo", url, roles=["mcp.user"])
        for name in ("alpha", "beta"):
            await add_server(gateway, name, roles=["mcp.user"])
        yield gateway


async def add_server(gateway: InProcessGateway, name: str, roles: list[str], owner: str = "owner") -> None:
    response = await gateway.client(owner).post(
        "/servers", json={"name": name, "requiredRoles": roles, "members": [{"adapter": "echo"}]}
    )
    assert response.status_code == 201, response.text


async def initialize(gateway: InProcessGateway, path: str, who: dict[str, str] = CAROL) -> str:
    response = await gateway.client(None).post(path, json=INITIALIZE, headers=who)
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


async def test_the_router_hears_which_server_who_calls_and_the_secret_and_nothing_a_client_forged(
    gateway: InProcessGateway, fake_router: tuple[FakeRouter, str]
) -> None:
    router, _ = fake_router
    forged = {
        "X-Mcp-Virtual-Server": "beta",
        "X-Mcp-UserId": "admin",
        "X-Mcp-Roles": "mcp.admin",
        "X-Gateway-Secret": "guess",
        "Authorization": "Bearer token",
    }
    response = await gateway.client(None).post("/servers/alpha/mcp", json=PING, headers={**CAROL, **forged})

    assert response.status_code == 200, response.text
    seen = router.last()
    assert seen["path"] == "/mcp"
    names = [name for name, _ in seen["raw"]]
    assert names.count("x-mcp-virtual-server") == 1 and names.count("x-gateway-secret") == 1
    headers = seen["headers"]
    assert headers["x-mcp-virtual-server"] == "alpha"
    assert headers["x-mcp-userid"] == "carol" and headers["x-mcp-roles"] == "mcp.user,team.blue"
    assert headers["x-gateway-secret"] == gateway.ctx.router_secret
    assert "authorization" not in headers and "x-dev-userid" not in headers
    # After the identity headers, which the router reads together.
    assert names.index("x-mcp-virtual-server") == names.index("x-mcp-roles") + 1 == names.index("x-mcp-userid") + 2

    plain = await gateway.client(None).post("/mcp", json=PING, headers={**CAROL, "X-Mcp-Virtual-Server": "alpha"})
    assert plain.status_code == 200
    assert "x-mcp-virtual-server" not in router.last()["headers"]
    assert router.last()["headers"]["x-gateway-secret"] == gateway.ctx.router_secret
    adapter = await gateway.client(None).post("/adapters/echo/mcp", json=PING, headers={**CAROL, **forged})
    assert adapter.status_code == 200
    assert "x-mcp-virtual-server" not in router.last()["headers"]
    assert "x-gateway-secret" not in router.last()["headers"]


@pytest.mark.parametrize("era", ["session", "stateless"])
@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
async def test_unknown_and_unreadable_servers_are_json_rpc_404_and_403_with_or_without_a_session(
    gateway: InProcessGateway, fake_router: tuple[FakeRouter, str], era: str, method: str
) -> None:
    router, _ = fake_router
    session = await initialize(gateway, "/servers/alpha/mcp")
    extra = {"Mcp-Session-Id": session} if era == "session" else STATELESS
    before = router.count()
    http = gateway.client(None)
    body = json.dumps(PING) if method == "POST" else None
    content_type = {"Content-Type": "application/json"} if method == "POST" else {}

    carol = {**CAROL, **extra, **content_type}
    missing = await http.request(method, "/servers/ghost/mcp", content=body, headers=carol)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "The virtual server 'ghost' does not exist."
    assert missing.json()["error"]["code"] == -32001
    mallory = {**MALLORY, **extra, **content_type}
    forbidden = await http.request(method, "/servers/alpha/mcp", content=body, headers=mallory)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["message"] == "You do not have permission to use this virtual server."
    assert forbidden.headers["content-type"] == "application/json"
    assert router.count() == before, "a refused request reached the router"


async def test_a_session_belongs_to_its_virtual_server_and_its_user(
    gateway: InProcessGateway, fake_router: tuple[FakeRouter, str]
) -> None:
    router, _ = fake_router
    http = gateway.client(None)
    alpha = await initialize(gateway, "/servers/alpha/mcp")

    issued = router.last()["issued"]
    same = await http.post("/servers/alpha/mcp", json=PING, headers={**CAROL, "Mcp-Session-Id": alpha})
    assert same.status_code == 200
    # The client holds a sealed id; the router is sent the id it issued, which never reaches the client.
    assert alpha != issued and router.last()["headers"]["mcp-session-id"] == issued
    assert same.headers["mcp-session-id"] == alpha
    assert router.last()["headers"]["x-mcp-virtual-server"] == "alpha"
    for path in ("/servers/beta/mcp", "/mcp", "/adapters/echo/mcp"):
        elsewhere = await http.post(path, json=PING, headers={**CAROL, "Mcp-Session-Id": alpha})
        assert elsewhere.status_code == 404, path
        assert elsewhere.json()["error"]["code"] == -32001
    stranger = await http.post("/servers/alpha/mcp", json=PING, headers={**DAVE, "Mcp-Session-Id": alpha})
    assert stranger.status_code == 404

    # And the other way: the router's own (/mcp) and an adapter's sessions are unknown on a virtual server.
    for path in ("/mcp", "/adapters/echo/mcp"):
        other = await initialize(gateway, path)
        replayed = await http.post("/servers/alpha/mcp", json=PING, headers={**CAROL, "Mcp-Session-Id": other})
        assert replayed.status_code == 404, path

    ended = await http.delete("/servers/alpha/mcp", headers={**CAROL, "Mcp-Session-Id": alpha})
    assert ended.status_code == 200
    after = await http.post("/servers/alpha/mcp", json=PING, headers={**CAROL, "Mcp-Session-Id": alpha})
    assert after.status_code == 404


async def test_revoking_a_role_ends_access_mid_session(gateway: InProcessGateway) -> None:
    http = gateway.client(None)
    session = await initialize(gateway, "/servers/alpha/mcp")
    owner = gateway.client("owner")
    changed = await owner.put("/servers/alpha", json={"name": "alpha", "requiredRoles": ["team.red"]})
    assert changed.status_code == 200, changed.text

    for extra in ({"Mcp-Session-Id": session}, STATELESS):
        refused = await http.post("/servers/alpha/mcp", json=PING, headers={**CAROL, **extra})
        assert refused.status_code == 403, extra


async def test_without_a_ready_router_the_503_names_the_virtual_server(gateway: InProcessGateway) -> None:
    await gateway.ctx.runtime.delete(ROUTER_WORKLOAD)
    response = await gateway.client(None).post("/servers/alpha/mcp", json=PING, headers=CAROL)
    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith(
        "No replica of the tool router (virtual server 'alpha') is ready"
    )


async def test_metrics_label_the_route_kind_server_with_the_servers_name(gateway: InProcessGateway) -> None:
    assert (await gateway.client(None).post("/servers/alpha/mcp", json=PING, headers=CAROL)).status_code == 200
    assert (await gateway.client(None).post("/servers/ghost/mcp", json=PING, headers=CAROL)).status_code == 404

    metrics = (await gateway.client(None).get("/metrics")).text
    served = [line for line in metrics.splitlines() if line.startswith("mcpgw_mcp_requests_total{")]
    alpha = [line for line in served if 'kind="server"' in line and 'adapter="alpha"' in line]
    assert any('status_class="2xx"' in line for line in alpha), served
    assert not any('adapter="ghost"' in line for line in served), "an unknown name must not become a label"
