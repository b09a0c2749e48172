"""The MCP conformance suite, run directly against the project's fixture server.

Each leg must fail exactly the scenarios listed for it in expected-failures.yml (empty for the
session-era legs). A gateway leg can reuse ``run_conformance`` with the gateway's URL and compare verdicts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.run_conformance import NodeTools, assert_matches_expected_failures, run_conformance

pytestmark = [pytest.mark.node, pytest.mark.slow]

LEGS = {
    # leg name in expected-failures.yml: (alpha harness?, suite args)
    "conformance-0.1.16": (False, ["--suite", "all"]),
    "alpha-2025-11-25": (True, ["--suite", "all", "--spec-version", "2025-11-25"]),
    "alpha-2026-07-28": (True, ["--suite", "all", "--spec-version", "2026-07-28"]),
}


@pytest.mark.parametrize("leg", list(LEGS))
def test_the_fixture_passes_every_conformance_scenario_not_listed_as_expected_to_fail(
    leg: str, fixture_url: str, tools: NodeTools, tmp_path: Path,
) -> None:
    alpha, suite_args = LEGS[leg]
    result = run_conformance(fixture_url, suite_args, tmp_path / leg, alpha=alpha, tools=tools)
    assert_matches_expected_failures(result, leg, "directly")


def test_a_single_scenario_run_reports_only_that_scenario(fixture_url: str, tools: NodeTools, tmp_path: Path) -> None:
    result = run_conformance(fixture_url, ["--scenario", "tools-call-with-progress"], tmp_path, tools=tools)

    assert result.verdicts == {"tools-call-with-progress": True}
    assert result.returncode == 0


def test_a_server_without_the_fixture_tools_is_reported_as_failing(tools: NodeTools, tmp_path: Path) -> None:
    """The parser must see failures, not only successes: point the harness at a port nobody listens on."""
    from tests.support.ports import free_port

    url = f"http://127.0.0.1:{free_port()}/mcp"
    result = run_conformance(url, ["--scenario", "tools-call-simple-text"], tmp_path, tools=tools, timeout=120)

    assert result.failed_scenarios == {"tools-call-simple-text"}
    assert result.returncode != 0
