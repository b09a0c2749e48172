"""Through a real gateway process: a bad adapter is reported with its phase and cause in status, a client
calling it gets a JSON-RPC error naming the adapter and the cause, and /logs takes tail, since and follow."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.paths import MCP_EXAMPLE, PYTHON
from tests.support.ports import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

EXIT_AT_ONCE = "import sys; print('boom: OPENAI_API_KEY is not set', file=sys.stderr, flush=True); sys.exit(3)"
TICKER = "import time, itertools; [(print('tick', i, flush=True), time.sleep(0.2)) for i in itertools.count()]"
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    started = GatewayProcess(tmp_path_factory.mktemp("status")).start()
    yield started
    started.stop()


def status_when(client: httpx.Client, name: str, phase: str, cause: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get(f"/adapters/{name}/status").json()
        return status if status["phase"] == phase and cause in (status.get("lastError") or "") else None

    return wait_for(check, timeout=10, what=f"{name} {phase} with {cause!r}")


@pytest.mark.parametrize(
    ("name", "source", "phase", "cause", "public"),
    [
        (
            "crashes",
            {"command": PYTHON, "args": ["-c", EXIT_AT_ONCE], "transport": "streamable-http"},
            "Failing",
            "exited with code 3",
            "Failing: exited with code 3; restarting in",
        ),
        (
            "stdio-crashes",
            {"command": PYTHON, "args": ["-c", EXIT_AT_ONCE], "transport": "stdio"},
            "Failing",
            "The MCP server process exited (code 3)",
            "Failing: JSON-RPC error -32603",
        ),
        ("refuses", {"url": "REFUSING"}, "Failing", "connection refused on 127.0.0.1:", "Failing: connection refused"),
        ("website", {"url": "HTML"}, "Failing", "answered text/html, not MCP", "Failing: answered text/html, not MCP"),
    ],
)
def test_a_bad_adapter_says_why_in_status_and_to_its_callers(
    gateway: GatewayProcess, html_site: str, name: str, source: dict[str, Any], phase: str, cause: str, public: str
) -> None:
    client = gateway.client()
    if source.get("url") == "REFUSING":
        source = {"url": f"http://127.0.0.1:{free_port()}/mcp"}
    elif source.get("url") == "HTML":
        source = {"url": html_site}
    assert client.post("/adapters", json={"name": name, **source}).status_code == 201

    status = status_when(client, name, phase, cause)
    assert status["replicaStatus"] == "Degraded: 0/1 ready" and status["readyReplicas"] == 0
    (replica,) = status["replicas"]
    assert replica["ready"] is False and cause in replica["lastError"] and replica["since"]

    answer = client.post(f"/adapters/{name}/mcp", json=CALL, headers=MCP_HEADERS)
    assert answer.status_code == 503
    message = answer.json()["error"]["message"]
    assert f"adapter '{name}'" in message and public in message, message
    assert "127.0.0.1" not in message and "OPENAI" not in message  # no addresses, no process output
    client.delete(f"/adapters/{name}")


def test_a_healthy_adapter_has_phase_ready_and_per_replica_state(gateway: GatewayProcess) -> None:
    client = gateway.client()
    adapter = {"name": "fine", "command": PYTHON, "args": [str(MCP_EXAMPLE)], "transport": "streamable-http"}
    assert client.post("/adapters", json={**adapter, "replicaCount": 2}).status_code == 201
    status = wait_for(lambda: _phase(client, "fine", "Ready"), timeout=30, what="fine Ready")
    assert status["replicaStatus"] == "Healthy" and status["lastError"] is None
    assert [(r["id"], r["ready"], r["restarts"], r["lastError"]) for r in status["replicas"]] == [
        ("fine-0", True, 0, None),
        ("fine-1", True, 0, None),
    ]
    assert client.put("/adapters/fine", json={**adapter, "replicaCount": 0}).status_code == 200
    wait_for(lambda: _phase(client, "fine", "Stopped"), timeout=30, what="fine Stopped")
    client.delete("/adapters/fine")


def _phase(client: httpx.Client, name: str, phase: str) -> dict[str, Any] | None:
    status: dict[str, Any] = client.get(f"/adapters/{name}/status").json()
    return status if status["phase"] == phase else None


def test_logs_take_tail_and_since_and_refuse_bad_values(gateway: GatewayProcess) -> None:
    client = gateway.client()
    adapter = {"name": "ticker", "command": PYTHON, "args": ["-c", TICKER], "transport": "streamable-http"}
    assert client.post("/adapters", json=adapter).status_code == 201
    wait_for(lambda: "tick 10" in client.get("/adapters/ticker/logs").text, timeout=20, what="ten ticks")

    tail = client.get("/adapters/ticker/logs", params={"tail": 3})
    assert tail.status_code == 200 and len(tail.text.splitlines()) == 3
    recent = client.get("/adapters/ticker/logs", params={"since": "1"}).text.splitlines()
    assert 1 <= len(recent) <= 10 and "tick 0" not in recent
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert client.get("/adapters/ticker/logs", params={"since": future}).text == ""
    past = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3600))
    assert "tick 0" in client.get("/adapters/ticker/logs", params={"since": past}).text

    for params, field in (
        ({"tail": 0}, "tail"),
        ({"tail": 10001}, "tail"),
        ({"since": "yesterday"}, "since"),
        ({"since": "-5"}, "since"),
        ({"since": "2026-01-31T10:00:00"}, "since"),  # no offset: ambiguous
        ({"follow": "maybe"}, "follow"),
    ):
        refused = client.get("/adapters/ticker/logs", params=params)
        assert refused.status_code == 400, (params, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert any(field in e["field"] for e in refused.json()["errors"]), refused.json()


def test_follow_streams_lines_as_server_sent_events_until_the_adapter_is_deleted(gateway: GatewayProcess) -> None:
    client = gateway.client()
    adapter = {"name": "follow-me", "command": PYTHON, "args": ["-c", TICKER], "transport": "streamable-http"}
    assert client.post("/adapters", json=adapter).status_code == 201
    wait_for(lambda: "tick 2" in client.get("/adapters/follow-me/logs").text, timeout=20, what="ticks")
    assert client.get("/adapters/follow-me/logs", params={"follow": "true", "instance": 3}).status_code == 404

    events: list[str] = []
    params = {"follow": "true", "tail": 1}
    with (
        httpx.Client(base_url=gateway.url, headers={"X-Dev-UserId": "alice"}, timeout=30) as streamer,
        streamer.stream("GET", "/adapters/follow-me/logs", params=params) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        deleter = None
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
            if len(events) == 5 and deleter is None:
                deleter = threading.Thread(target=lambda: client.delete("/adapters/follow-me"))
                deleter.start()
        # The loop ends: the stream closes when the adapter (and so its replica) is gone.
        assert deleter is not None
        deleter.join(20)
    ticks = [int(e.split()[1]) for e in events if e.startswith("tick ")]
    assert len(ticks) >= 5 and ticks == list(range(ticks[0], ticks[0] + len(ticks)))
