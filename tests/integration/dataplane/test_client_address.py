"""Who the client is: forwarding headers count only from a configured proxy. The gateway trusts
127.0.0.1 here; 127.0.0.2 (another loopback address on Linux) plays a client that connects directly and
forges the headers. The access log, the audit trail and the ``Forwarded`` header sent upstream must all
name the same client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.dataplane.upstream_probe import UpstreamProbe
from tests.rawhttp import raw_request
from tests.support.gateway_process import GatewayProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

ADMIN = [("X-Dev-UserId", "owner"), ("X-Dev-Roles", "mcp.admin"), ("Content-Type", "application/json")]
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    data = tmp_path_factory.mktemp("behind-proxy")
    env = {
        "MCPGW_SERVER__TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "MCPGW_TELEMETRY__AUDIT_FILE": str(data / "audit.jsonl"),
    }
    gateway = GatewayProcess(data, env=env, log_level="info").start()
    yield gateway
    gateway.stop()


def _audit(gateway: GatewayProcess, resource: str) -> dict[str, object]:
    path = Path(gateway.data_dir) / "audit.jsonl"

    def event() -> dict[str, object] | None:
        lines = path.read_text().splitlines() if path.exists() else []
        events = [json.loads(line)["audit"] for line in lines]
        return next((e for e in events if e.get("resource") == resource), None)

    return wait_for(event, timeout=10, what=f"an audit event for {resource}")


def test_a_trusted_proxy_names_the_client_everywhere(behind_proxy: GatewayProcess, probe: UpstreamProbe) -> None:
    forwarded = [("X-Forwarded-For", "203.0.113.50"), ("X-Forwarded-Proto", "https")]
    adapter = json.dumps({"name": "via-proxy", "url": probe.url}).encode()
    created = raw_request(behind_proxy.port, "POST", "/adapters", ADMIN + forwarded, adapter)
    assert created.status == 201, created.body
    assert _audit(behind_proxy, "via-proxy")["client"] == "203.0.113.50"

    mcp = [("X-Dev-UserId", "owner"), ("Content-Type", "application/json"), ("Accept", "application/json")]
    response = raw_request(behind_proxy.port, "POST", "/adapters/via-proxy/mcp", mcp + forwarded, PING)
    assert response.status == 200
    sent = [v for n, v in probe.requests[-1]["raw_headers"] if n == "forwarded"]
    assert sent == [f'for=203.0.113.50;proto=https;host="127.0.0.1:{behind_proxy.port}"']
    access_line = '203.0.113.50:0 - "POST /adapters/via-proxy/mcp'
    wait_for(lambda: access_line in behind_proxy.log_path.read_text(), timeout=10, what="the access log line")


def test_only_the_nearest_untrusted_hop_counts(behind_proxy: GatewayProcess, probe: UpstreamProbe) -> None:
    # The client wrote the left part itself; the trusted proxy appended what it saw (the client's address).
    chain = [("X-Forwarded-For", "10.9.9.9, 198.51.100.23"), ("X-Forwarded-For", "127.0.0.1")]
    adapter = json.dumps({"name": "chain", "url": probe.url}).encode()
    assert raw_request(behind_proxy.port, "POST", "/adapters", ADMIN + chain, adapter).status == 201
    assert _audit(behind_proxy, "chain")["client"] == "198.51.100.23"


def test_a_direct_client_cannot_forge_its_address(behind_proxy: GatewayProcess, probe: UpstreamProbe) -> None:
    forged = [("X-Forwarded-For", "203.0.113.66"), ("X-Forwarded-Proto", "https")]
    adapter = json.dumps({"name": "forged", "url": probe.url}).encode()
    created = raw_request(behind_proxy.port, "POST", "/adapters", ADMIN + forged, adapter, source="127.0.0.2")
    assert created.status == 201, created.body
    assert _audit(behind_proxy, "forged")["client"] == "127.0.0.2"

    mcp = [("X-Dev-UserId", "owner"), ("Content-Type", "application/json"), ("Accept", "application/json")]
    response = raw_request(behind_proxy.port, "POST", "/adapters/forged/mcp", mcp + forged, PING, source="127.0.0.2")
    assert response.status == 200
    sent = [v for n, v in probe.requests[-1]["raw_headers"] if n == "forwarded"]
    assert sent == [f'for=127.0.0.2;proto=http;host="127.0.0.1:{behind_proxy.port}"']


def test_a_forwarded_hop_that_is_not_a_plain_address_is_not_believed(
    behind_proxy: GatewayProcess, probe: UpstreamProbe
) -> None:
    # A zone id is free text: it must not become the client, a log field or part of the Forwarded header.
    sneaky = [("X-Forwarded-For", 'fe80::1%x";proto=https;by="evil')]
    mcp = [("X-Dev-UserId", "owner"), ("Content-Type", "application/json"), ("Accept", "application/json")]
    raw_request(behind_proxy.port, "POST", "/adapters", ADMIN, json.dumps({"name": "zone", "url": probe.url}).encode())
    response = raw_request(behind_proxy.port, "POST", "/adapters/zone/mcp", mcp + sneaky, PING)
    assert response.status == 200
    sent = [v for n, v in probe.requests[-1]["raw_headers"] if n == "forwarded"]
    assert sent == [f'for=127.0.0.1;proto=http;host="127.0.0.1:{behind_proxy.port}"']


@pytest.mark.parametrize("path", ["/metrics", "/%6Detrics", "/internal/tool-catalog", "/%69nternal/tool-catalog"])
def test_cluster_only_endpoints_are_not_served_through_the_public_edge(behind_proxy: GatewayProcess, path: str) -> None:
    # The App Gateway's path rules match the raw path; the gateway decodes it. Whatever the spelling, a request
    # relayed by the trusted proxy never reaches them, while a caller inside the cluster (here: 127.0.0.2,
    # not a proxy) still does.
    relayed = raw_request(behind_proxy.port, "GET", path, [("X-Forwarded-For", "203.0.113.9")])
    assert relayed.status == 404
    assert relayed.header("content-type") == "application/problem+json"
    direct = raw_request(behind_proxy.port, "GET", path, [], source="127.0.0.2")
    assert direct.status != 404
