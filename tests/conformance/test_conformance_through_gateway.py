"""The conformance suite through the gateway: exactly the scenarios that pass directly pass through it.

The fixture server sits behind ``/adapters/conformance/mcp`` as a ``url`` adapter. Every leg must fail
exactly the scenarios listed for it in expected-failures.yml, the same file the direct legs use, so the
gateway adds no failure and hides none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.run_conformance import NodeTools, assert_matches_expected_failures, run_conformance
from tests.conformance.test_conformance import LEGS
from tests.support.gateway_process import GatewayProcess

pytestmark = [pytest.mark.node, pytest.mark.slow]


@pytest.fixture(scope="module")
def gateway_url(fixture_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("conformance-gateway")).start()
    # The harness sends no identity headers, so it is the default development user, who creates the adapter.
    created = gateway.client(user="dev").post("/adapters", json={"name": "conformance", "url": fixture_url})
    assert created.status_code == 201, created.text
    yield f"{gateway.url}/adapters/conformance/mcp"
    gateway.stop()


@pytest.mark.parametrize("leg", list(LEGS))
def test_the_gateway_passes_the_same_conformance_scenarios_as_the_fixture_directly(
    leg: str, gateway_url: str, tools: NodeTools, tmp_path: Path
) -> None:
    alpha, suite_args = LEGS[leg]
    result = run_conformance(gateway_url, suite_args, tmp_path / leg, alpha=alpha, tools=tools)
    # The same expected-failures file as the direct legs: the gateway adds no failure and hides none.
    assert_matches_expected_failures(result, leg, "through the gateway")
