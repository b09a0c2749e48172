"""Backend libraries are extras: the base install serves the embedded defaults without any of them, and a setting
that selects a backend whose extra is missing stops the gateway at start with one line naming the fix.

A fresh ``python -m venv`` per case would be slow; each case runs in a subprocess whose imports of the extras'
packages are blocked instead (``sys.modules[name] = None``, or a meta-path finder for whole package trees).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.slow  # each case runs the gateway in a subprocess


EXTRA_PACKAGES = ("redis", "azure", "kubernetes", "kubernetes_asyncio", "opentelemetry.sdk", "opentelemetry.exporter")
"""What the redis, azure, kubernetes and otel extras install (opentelemetry-api is a base dependency)."""

BLOCK_EXTRAS = f"""
import importlib.abc
import sys

BLOCKED = {EXTRA_PACKAGES!r}


class BlockExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == p or name.startswith(p + ".") for p in BLOCKED):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, BlockExtras())
for loaded in [m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in BLOCKED)]:
    del sys.modules[loaded]
"""


def _run(code: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Only this test's settings: none of the caller's MCPGW_* or Application Insights variables.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MCPGW_", "APPLICATIONINSIGHTS_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


MISSING = [
    pytest.param(
        "redis",
        {"MCPGW_SESSIONS__KIND": "redis", "MCPGW_SESSIONS__REDIS_URL": "redis://127.0.0.1:1/0"},
        "MCPGW_SESSIONS__KIND=redis needs the redis extra: pip install 'mcp-gateway[redis]'",
        id="redis-sessions",
    ),
    pytest.param(
        "azure",
        {"MCPGW_STORE__KIND": "cosmos", "MCPGW_COSMOS__ENDPOINT": "https://127.0.0.1:1/"},
        "MCPGW_STORE__KIND=cosmos needs the azure extra: pip install 'mcp-gateway[azure]'",
        id="cosmos-store",
    ),
    pytest.param(
        "azure",
        {"MCPGW_SESSIONS__KIND": "cosmos", "MCPGW_COSMOS__ENDPOINT": "https://127.0.0.1:1/"},
        "MCPGW_SESSIONS__KIND=cosmos needs the azure extra: pip install 'mcp-gateway[azure]'",
        id="cosmos-sessions",
    ),
    pytest.param(
        "kubernetes",
        {"MCPGW_RUNTIME__KIND": "kubernetes"},
        "MCPGW_RUNTIME__KIND=kubernetes needs the kubernetes extra: pip install 'mcp-gateway[kubernetes]'",
        id="kubernetes-runtime",
    ),
    pytest.param(
        "opentelemetry.sdk",
        {"MCPGW_TELEMETRY__OTLP_ENDPOINT": "http://127.0.0.1:1/v1/traces"},
        "MCPGW_TELEMETRY__OTLP_ENDPOINT needs the otel extra: pip install 'mcp-gateway[otel]'",
        id="otlp-export",
    ),
    pytest.param(
        "azure",
        {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000"},
        "APPLICATIONINSIGHTS_CONNECTION_STRING needs the otel extra: pip install 'mcp-gateway[otel]'",
        id="appinsights-export",
    ),
]


@pytest.mark.parametrize(("blocked", "env", "message"), MISSING)
def test_a_backend_without_its_extra_stops_the_start_with_one_line(
    tmp_path: Path, blocked: str, env: dict[str, str], message: str
) -> None:
    code = textwrap.dedent(f"""
        import sys
        sys.modules[{blocked!r}] = None  # as if the extra were not installed
        from gateway.__main__ import main
        sys.exit(main(["serve", "--port", "0", "--data-dir", "data"]))
    """)
    result = _run(code, tmp_path, env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"mcp-gateway: {message}"]


def test_the_router_without_the_otel_extra_says_so_in_one_line(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["opentelemetry.sdk"] = None
        from toolrouter.__main__ import main
        sys.exit(main())
    """)
    result = _run(code, tmp_path, {"MCPGW_TELEMETRY__OTLP_ENDPOINT": "http://127.0.0.1:1/v1/traces"})
    assert result.returncode == 2, result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if "otel" in ln]
    assert line.endswith("MCPGW_TELEMETRY__OTLP_ENDPOINT needs the otel extra: pip install 'mcp-gateway[otel]'")
    assert "Traceback" not in result.stderr


def test_the_embedded_defaults_need_no_extra(tmp_path: Path) -> None:
    code = BLOCK_EXTRAS + textwrap.dedent("""
        try:
            import redis  # noqa: F401
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("the finder did not block redis")

        import gateway.app
        from gateway.settings import GatewaySettings

        app = gateway.app.create_app(GatewaySettings())
        assert app.state.ctx is not None

        # The two other programs of the distribution: the tool router and the stdio bridge.
        import bridge.__main__  # noqa: F401
        from toolrouter import ToolRouterSettings, create_router_app

        create_router_app(ToolRouterSettings())
        loaded = sorted(m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in BLOCKED))
        print("loaded:", loaded)
    """)
    result = _run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "loaded: []"
