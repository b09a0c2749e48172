"""The gateway and router pods give their processes time to drain: a preStop delay while Kubernetes stops
routing to them, then a kill only after the gateway's own grace period (and the router's call time-out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.settings import ServerSettings
from tests.infra.mocks import Recorded
from toolrouter.settings import ToolRouterSettings

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _pod(stack: Recorded, kind: str, name: str) -> dict[str, Any]:
    return dict(stack.k8s(kind, name)["spec"]["template"]["spec"])


def _prestop_seconds(container: dict[str, Any]) -> int:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep", command  # no shell: the images run it directly
    return int(command[1])


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@pytest.mark.parametrize("stack_name", ["azure_stack", "local_stack"])
def test_the_gateway_is_killed_only_after_its_prestop_delay_and_grace_period(
    stack_name: str, request: pytest.FixtureRequest
) -> None:
    pod = _pod(request.getfixturevalue(stack_name), "Deployment", "mcpgateway")
    container = pod["containers"][0]
    grace = ServerSettings.model_validate(
        {"shutdown_grace_seconds": _env(container)["MCPGW_SERVER__SHUTDOWN_GRACE_SECONDS"]}
    ).shutdown_grace_seconds
    prestop = _prestop_seconds(container)
    assert prestop >= 3  # endpoint removal lags a deletion by a few seconds
    # After the grace, uvicorn's 2 s backstop and the lifespan shutdown still need time.
    assert pod["terminationGracePeriodSeconds"] >= prestop + grace + 5


@pytest.mark.parametrize("stack_name", ["azure_stack", "local_stack"])
def test_the_router_is_killed_only_after_its_prestop_delay_and_longest_call(
    stack_name: str, request: pytest.FixtureRequest
) -> None:
    pod = _pod(request.getfixturevalue(stack_name), "StatefulSet", "toolgateway")
    prestop = _prestop_seconds(pod["containers"][0])
    call_timeout = ToolRouterSettings.model_fields["call_timeout_seconds"].default
    assert prestop >= 3
    assert pod["terminationGracePeriodSeconds"] > prestop + call_timeout


def test_the_gateway_does_not_cap_connections_per_address_behind_its_proxy(azure_stack: Recorded) -> None:
    # The peer is the App Gateway (externalTrafficPolicy Local keeps it so): one address for every client.
    assert azure_stack.k8s("Service", "mcpgateway-service")["spec"]["externalTrafficPolicy"] == "Local"
    container = _pod(azure_stack, "Deployment", "mcpgateway")["containers"][0]
    assert _env(container)["MCPGW_SERVER__MAX_CONNECTIONS_PER_CLIENT"] == "0"


@pytest.mark.parametrize("name", ["gateway.Dockerfile", "toolrouter.Dockerfile"])
def test_the_images_have_a_sleep_binary_for_the_prestop_hook(name: str) -> None:
    # Debian-based python images ship coreutils; a distroless or scratch base would break the hook.
    bases = [line.split()[1] for line in (DOCKER / name).read_text().splitlines() if line.startswith("FROM ")]
    assert bases[-1].startswith("python:") and bases[-1].endswith(("-bookworm", "-bullseye", "-trixie"))
