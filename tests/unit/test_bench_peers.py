"""The pure parts of the peer benchmark (``python -m bench.peers``): ContextForge's settings, the aggregation
and the report, the install marker, the client's headers. Nothing here installs or starts a peer."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench import peers
from bench.load import SESSION_ERA, STATELESS_ERA


def _row(target: str, rps: float, *, era: str = SESSION_ERA, c: int = 1, rep: int = 0, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "target": target,
        "era": era,
        "concurrency": c,
        "rep": rep,
        "calls": 100,
        "errors": 0,
        "first_error": None,
        "rps": rps,
        "p50_ms": 1000 / rps,
        "p99_ms": 2000 / rps,
        "cpu_ms_per_call": {"target": 0.5, "upstream": 0.25},
    }
    row.update(extra)
    return row


def test_contextforge_runs_measured_not_throttled_on_loopback(tmp_path: Path) -> None:
    env = peers.contextforge_env(tmp_path, 4444, stateful=False, secret="s" * 64)
    assert env["RATE_LIMITING_ENABLED"] == "false"
    assert env["PLUGINS_ENABLED"] == "false"
    assert env["HOST"] == "127.0.0.1"
    assert env["SSRF_ALLOW_LOCALHOST"] == "true"  # the upstream is on 127.0.0.1
    assert env["AUTH_REQUIRED"] == "true"
    assert env["USE_STATEFUL_SESSIONS"] == "false"
    assert env["DATABASE_URL"] == f"sqlite:///{tmp_path / 'contextforge.db'}"
    assert peers.contextforge_env(tmp_path, 4444, stateful=True, secret="x")["USE_STATEFUL_SESSIONS"] == "true"
    # Generated per run, and none of them among the settings the report shows.
    other = peers.contextforge_env(tmp_path, 4444, stateful=False, secret="s" * 64)
    assert env["AUTH_ENCRYPTION_SECRET"] != other["AUTH_ENCRYPTION_SECRET"]
    secret_keys = {"JWT_SECRET_KEY", "AUTH_ENCRYPTION_SECRET", "BASIC_AUTH_PASSWORD", "PLATFORM_ADMIN_PASSWORD"}
    assert not secret_keys & set(peers.CONTEXTFORGE_SHOWN)
    assert set(peers.CONTEXTFORGE_SHOWN) <= set(env)


def test_peers_are_pinned() -> None:
    for spec in peers.PEERS.values():
        assert "==" in spec.requirement
        assert spec.requirement.split("==")[0] == spec.versions_of[0]


def test_aggregate_medians_ratio_to_direct_and_order() -> None:
    rows = [
        _row("direct", 1000, rep=0),
        _row("direct", 800, rep=1),
        _row("direct", 1200, rep=2),
        _row("fastmcp shared", 300, rep=0),
        _row("fastmcp shared", 100, rep=1),
        _row("fastmcp shared", 200, rep=2),
        _row("gateway", 500, rep=0),
        _row("direct", 2000, c=8),
        _row("gateway", 1000, c=8),
    ]
    summary = peers.aggregate(rows, ["direct", "gateway", "fastmcp shared"])
    assert [(s["concurrency"], s["target"]) for s in summary] == [
        (1, "direct"),
        (1, "gateway"),
        (1, "fastmcp shared"),
        (8, "direct"),
        (8, "gateway"),
    ]
    shared = summary[2]
    assert shared["rps"] == 200
    assert shared["rps_range"] == [100, 300]
    assert shared["ratio"] == 0.2
    assert shared["p50_ms"] == 5.0
    assert shared["target_cpu_ms_per_call"] == 0.5
    assert summary[0]["ratio"] == 1.0
    assert summary[4]["ratio"] == 0.5


def test_aggregate_keeps_runs_without_calls_apart_from_errors() -> None:
    rows = [
        _row("direct", 1000),
        {**_row("fastmcp default", 1), "calls": 0, "rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan")},
        {"target": "contextforge stateless", "era": SESSION_ERA, "concurrency": 1, "rep": 0, "calls": 0,
         "errors": 1, "first_error": "ClientConnectorError: refused"},
    ]
    summary = {s["target"]: s for s in peers.aggregate(rows, ["direct", "fastmcp default", "contextforge stateless"])}
    slow = summary["fastmcp default"]
    assert slow["rps"] is None and slow["ratio"] is None and slow["p50_ms"] is None
    assert slow["runs_without_timed_calls"] == 1
    assert slow["errors"] == 0
    broken = summary["contextforge stateless"]
    assert broken["errors"] == 1
    assert broken["runs_without_timed_calls"] == 0
    assert broken["first_error"] == "ClientConnectorError: refused"


def _meta() -> dict[str, Any]:
    return {
        "stamp": "20260101-000000-peers",
        "loadavg_start": [0.5, 0.5, 0.5],
        "loadavg_end": [1.0, 1.0, 1.0],
        "machine": {"cores": 2},
        "plan": {"repetitions": 3, "max_seconds": 20},
        "targets": {
            "direct": {"version": "this repository", "settings": "json_response=True"},
            "contextforge stateless": {
                "version": "1.0.7",
                "install": "pip install 34 s (Python 3.11.7)",
                "settings": "RATE_LIMITING_ENABLED=false",
                "skipped": {STATELESS_ERA: "unsupported protocol version"},
            },
        },
        "failed": {"contextforge stateful": "TimeoutError: no /health"},
    }


def test_markdown_lists_rows_settings_and_what_was_not_measured() -> None:
    rows = [
        _row("direct", 1000),
        _row("contextforge stateless", 20),
        {**_row("contextforge stateless", 1, c=8), "calls": 0, "rps": 0.0},
        _row("direct", 1500, c=8),
    ]
    text = peers.markdown(peers.aggregate(rows, ["direct", "contextforge stateless"]), _meta())
    lines = text.splitlines()
    cf_row = "| contextforge stateless | 2025-11-25 | 1 | 20 (20–20) | 0.02 | 50.00 / 100.00 | 0.500 | 0.250 | 0 |"
    assert cf_row in lines
    assert "| direct | 2025-11-25 | 1 | 1000 (1000–1000) | 1.00 | 1.00 / 2.00 | – | 0.250 | 0 |" in lines
    assert any("no call within the deadline" in line and line.startswith("| contextforge stateless") for line in lines)
    cf_settings = "| contextforge stateless | 1.0.7 | pip install 34 s (Python 3.11.7) | RATE_LIMITING_ENABLED=false |"
    assert cf_settings in lines
    assert f"- contextforge stateless: not measured in {STATELESS_ERA}: unsupported protocol version" in lines
    assert "- contextforge stateful: TimeoutError: no /health" in lines
    assert "bounded by 20 s after a warm-up" in lines[0]


def test_install_reuses_a_venv_with_the_same_requirement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "CACHE", tmp_path)
    monkeypatch.setattr(peers, "peer_versions", lambda spec: {spec.versions_of[0]: "9.9"})
    spec = peers.PeerSpec("demo", "demo==9.9", ("demo",))
    (tmp_path / "demo").mkdir()
    record = {"requirement": "demo==9.9", "seconds": 12.5, "python": "3.11.7"}
    (tmp_path / "demo" / "bench-install.json").write_text(json.dumps(record))

    def no_subprocess(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached venv must not be reinstalled")

    monkeypatch.setattr(peers.subprocess, "run", no_subprocess)
    got = peers.install(spec, timeout=1, reinstall=False)
    assert got["cached"] is True
    assert got["seconds"] == 12.5
    assert got["versions"] == {"demo": "9.9"}
    assert peers._install_cell(got) == "cached; pip install 12 s (Python 3.11.7)"
    assert peers._install_cell({"error": "exit 1"}) == "failed"


def test_install_failure_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "CACHE", tmp_path)

    def too_slow(argv: list[str], **kwargs: Any) -> Any:
        if "pip" in argv:
            raise peers.subprocess.TimeoutExpired(argv, kwargs["timeout"])
        return None

    monkeypatch.setattr(peers.subprocess, "run", too_slow)
    got = peers.install(peers.PeerSpec("demo", "demo==1", ("demo",)), timeout=3, reinstall=False)
    assert got["error"] == "pip install did not finish within 3s"


def test_group_pids_finds_this_process() -> None:
    assert os.getpid() in peers.group_pids(os.getpgid(0))


def test_client_keeps_the_protocol_version_without_a_session_id() -> None:
    client = peers.PeerClient(None, "http://127.0.0.1:1/mcp", SESSION_ERA, "add", {}, {"authorization": "Bearer t"})  # type: ignore[arg-type]
    assert "mcp-protocol-version" not in client._headers("initialize")
    headers = client._headers("tools/call")
    assert headers["mcp-protocol-version"] == SESSION_ERA
    assert headers["authorization"] == "Bearer t"
    client.session_id = "abc"
    assert client._headers("tools/call")["mcp-session-id"] == "abc"
