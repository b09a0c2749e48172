"""The StatefulSet and Service the Kubernetes runtime sends: shape, labels, security, and schema validity."""

from __future__ import annotations

import shlex
from typing import Any

import kubernetes_validate
import pytest

from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.runtimes.kubernetes import manifests as m
from gateway.settings import KubernetesRuntimeSettings

SETTINGS = KubernetesRuntimeSettings(registry="registry.example.io", namespace="adapter")

ADAPTER = WorkloadSpec(
    name="weather", kind=WorkloadKind.ADAPTER, replicas=2, image_name="mcp/weather", image_version="1.2.0",
    env={"LOG_LEVEL": "debug"},
)  # fmt: skip
TOOL = WorkloadSpec(
    name="forecast", kind=WorkloadKind.TOOL, image_name="tools/forecast", image_version="v3", port=9090
)
COMMAND = WorkloadSpec(
    name="everything", kind=WorkloadKind.ADAPTER, command="npx",
    args=("-y", "@modelcontextprotocol/server-everything", "it's"), transport="stdio",
)  # fmt: skip
IDENTITY = WorkloadSpec(
    name="blob-reader",
    kind=WorkloadKind.ADAPTER,
    image_name="mcp/blob",
    image_version="2",
    use_workload_identity=True,
)
SSE_COMMAND = WorkloadSpec(
    name="everything-sse", kind=WorkloadKind.ADAPTER, command="mcp-server-everything", args=("sse",),
    transport="sse", sse_upstream="/sse",
)  # fmt: skip
SSE_URL = WorkloadSpec(
    name="legacy-sse", kind=WorkloadKind.ADAPTER, transport="sse", sse_upstream="https://mcp.example.com/sse",
)  # fmt: skip
VARIANTS = {
    "adapter": ADAPTER, "tool": TOOL, "command": COMMAND, "workload-identity": IDENTITY, "sse-command": SSE_COMMAND,
    "sse-url": SSE_URL,
}  # fmt: skip


def pod_spec(spec: WorkloadSpec) -> dict[str, Any]:
    return m.statefulset(spec, SETTINGS)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def only_container(spec: WorkloadSpec) -> dict[str, Any]:
    (container,) = pod_spec(spec)["containers"]
    return container  # type: ignore[no-any-return]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_the_runtime_sends_validates_strictly_against_kubernetes_1_30(variant: str) -> None:
    spec = VARIANTS[variant]
    for obj in (m.statefulset(spec, SETTINGS), m.service(spec, SETTINGS)):
        kubernetes_validate.validate(obj, "1.30.0", strict=True)


def test_a_misspelt_field_fails_validation_so_the_validation_test_can_fail() -> None:
    broken = m.statefulset(ADAPTER, SETTINGS)
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def test_an_adapter_gets_a_headless_service_and_a_tool_a_cluster_ip_service() -> None:
    assert m.service(ADAPTER, SETTINGS)["spec"]["clusterIP"] == "None"
    assert "clusterIP" not in m.service(TOOL, SETTINGS)["spec"]
    assert m.service(TOOL, SETTINGS)["metadata"]["name"] == "forecast-service"
    assert m.statefulset(TOOL, SETTINGS)["spec"]["serviceName"] == "forecast-service"


def test_selectors_use_the_original_adapter_labels_and_pods_add_the_standard_app_labels() -> None:
    statefulset = m.statefulset(ADAPTER, SETTINGS)
    selector = {"adapter/type": "mcp", "adapter/name": "weather"}
    assert statefulset["spec"]["selector"]["matchLabels"] == selector
    assert m.service(ADAPTER, SETTINGS)["spec"]["selector"] == selector
    assert statefulset["spec"]["template"]["metadata"]["labels"] == {
        **selector,
        "app.kubernetes.io/name": "weather",
        "app.kubernetes.io/component": "adapter",
        "app.kubernetes.io/part-of": "mcp-gateway",
        "app.kubernetes.io/managed-by": "mcp-gateway",
    }
    assert m.selector_labels(TOOL)["adapter/type"] == "tool"


def test_the_image_comes_from_the_configured_registry() -> None:
    assert only_container(ADAPTER)["image"] == "registry.example.io/mcp/weather:1.2.0"


def test_a_command_adapter_runs_in_the_bridge_image_with_its_command_and_quoted_args() -> None:
    container = only_container(COMMAND)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["image"] == "registry.example.io/mcp-proxy:latest"
    assert env["MCP_COMMAND"] == "npx"
    assert shlex.split(env["MCP_ARGS"]) == ["-y", "@modelcontextprotocol/server-everything", "it's"]
    assert env["MCP_TRANSPORT"] == "stdio"
    assert env["PORT"] == "8000"


def env_of(spec: WorkloadSpec) -> dict[str, str]:
    return {e["name"]: e["value"] for e in only_container(spec)["env"]}


def test_bridged_adapters_get_the_session_bounds_of_the_gateway_settings() -> None:
    settings = KubernetesRuntimeSettings(session_idle_timeout_seconds=90, max_sessions_per_replica=5)
    (container,) = m.statefulset(COMMAND, settings)["spec"]["template"]["spec"]["containers"]

    env = {e["name"]: e["value"] for e in container["env"]}
    assert (env["MCP_SESSION_TTL"], env["MCP_MAX_SESSIONS"]) == ("90", "5")
    assert (env_of(COMMAND)["MCP_SESSION_TTL"], env_of(COMMAND)["MCP_MAX_SESSIONS"]) == ("600", "64")  # defaults
    assert "MCP_SESSION_TTL" not in env_of(ADAPTER)  # an image is not bridged


def test_an_sse_command_runs_in_the_bridge_image_which_starts_it_and_connects_to_its_sse_path() -> None:
    env = env_of(SSE_COMMAND)

    assert only_container(SSE_COMMAND)["image"] == "registry.example.io/mcp-proxy:latest"
    assert (env["MCP_TRANSPORT"], env["MCP_COMMAND"], env["MCP_ARGS"], env["MCP_SSE_URL"]) == (
        "sse", "mcp-server-everything", "sse", "/sse")


def test_an_sse_url_runs_a_bridge_statefulset_that_connects_to_the_url() -> None:
    env = env_of(SSE_URL)

    assert only_container(SSE_URL)["image"] == "registry.example.io/mcp-proxy:latest"
    assert env["MCP_TRANSPORT"] == "sse" and env["MCP_SSE_URL"] == "https://mcp.example.com/sse"
    assert "MCP_COMMAND" not in env
    assert m.service(SSE_URL, SETTINGS)["spec"]["clusterIP"] == "None"  # per-pod routing, like stdio adapters


def test_pods_run_restricted_non_root_with_no_capabilities_and_runtime_default_seccomp() -> None:
    spec = pod_spec(ADAPTER)
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1100,
        "runAsGroup": 1100,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert only_container(ADAPTER)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_readiness_is_a_tcp_probe_on_the_mcp_port_and_a_tool_listens_on_its_own_port() -> None:
    assert only_container(ADAPTER)["readinessProbe"]["tcpSocket"] == {"port": 8000}
    assert only_container(TOOL)["readinessProbe"]["tcpSocket"] == {"port": 9090}
    assert m.service(TOOL, SETTINGS)["spec"]["ports"][0]["port"] == 9090


def test_requests_and_limits_come_from_settings() -> None:
    settings = SETTINGS.model_copy(update={"cpu_request": "100m", "memory_limit": "1Gi"})
    resources = m.statefulset(ADAPTER, settings)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert resources["limits"] == {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi"}


def test_only_workload_identity_pods_get_the_identity_label_and_a_service_account() -> None:
    assert pod_spec(IDENTITY)["serviceAccountName"] == "workload-sa"
    assert m.labels(IDENTITY)["azure.workload.identity/use"] == "true"
    assert "serviceAccountName" not in pod_spec(ADAPTER)
    assert pod_spec(ADAPTER)["automountServiceAccountToken"] is False
    assert "azure.workload.identity/use" not in m.labels(ADAPTER)


def test_an_update_patch_replaces_the_env_list_and_nulls_what_no_longer_applies() -> None:
    current = m.statefulset(IDENTITY, SETTINGS) | {
        "metadata": {"resourceVersion": "42", "labels": m.labels(IDENTITY)}
    }
    changed = WorkloadSpec(
        name="blob-reader", kind=WorkloadKind.ADAPTER, image_name="mcp/blob", image_version="3"
    )
    patch = m.statefulset_patch(changed, SETTINGS, current)
    template = patch["spec"]["template"]
    assert patch["metadata"]["resourceVersion"] == "42"
    assert template["spec"]["containers"][0]["env"] == []
    assert template["spec"]["serviceAccountName"] is None
    assert template["metadata"]["labels"]["azure.workload.identity/use"] is None


@pytest.mark.parametrize("name", ["Upper", "under_score", "-dash", "x" * 53])
def test_names_kubernetes_cannot_hold_are_explained(name: str) -> None:
    assert m.name_problem(name)


def test_urls_use_the_headless_pod_dns_for_adapters_and_the_service_for_tools() -> None:
    assert m.pod_url("weather-1", "weather", 8000, "/mcp", SETTINGS) == (
        "http://weather-1.weather-service.adapter.svc.cluster.local:8000/mcp"
    )
    assert m.service_url(TOOL, SETTINGS) == "http://forecast-service.adapter.svc.cluster.local:9090/mcp"
