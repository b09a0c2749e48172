"""Every Kubernetes object is schema-valid, least-privileged and wired the way the gateway expects."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from gateway.runtimes.kubernetes.rbac import RBAC_RULES
from infra.components import manifests
from infra.config import parse_config
from tests.infra.conftest import ENTRA_CLIENT_ID
from tests.infra.mocks import Recorded, run_stack
from toolrouter.settings import ToolRouterSettings

K8S_VERSION = "1.30"


def _spec(**overrides: Any) -> manifests.WorkloadSpec:
    base: dict[str, Any] = dict(
        gateway_namespace="mcp-gateway",
        adapter_namespace="adapter",
        egress=manifests.EgressSpec(cluster_cidrs=("10.0.0.0/16", "10.244.0.0/16", "10.96.0.0/16")),
        gateway_image="r.example/gw:1",
        router_image="r.example/router:1",
        gateway_replicas=2,
        router_replicas=2,
        gateway_env={"MCPGW_AUTH__MODE": "entra"},
        gateway_secret_env={"MCPGW_ROUTER__SECRET": "s", "APPLICATIONINSIGHTS_CONNECTION_STRING": "c"},
        gateway_client_id="gw-client",
        workload_client_id="wl-client",
        internal_lb_ip="10.0.1.100",
        seal_key_ids=("k2", "k1"),
    )
    base.update(overrides)
    return manifests.WorkloadSpec(**base)


def _declared(stack: Recorded) -> list[dict[str, Any]]:
    return stack.k8s_docs()


@pytest.mark.parametrize(
    "spec",
    [_spec(), _spec(gateway_client_id=None, workload_client_id=None, internal_lb_ip=None, seal_key_ids=())],
    ids=["everything", "minimal"],
)
def test_every_built_manifest_is_valid_for_kubernetes_1_30_strict(spec: manifests.WorkloadSpec) -> None:
    for doc in manifests.build_manifests(spec):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_object_the_program_declares_is_valid_for_kubernetes_1_30_strict(
    azure_stack: Recorded, local_stack: Recorded
) -> None:
    docs = _declared(azure_stack) + _declared(local_stack)
    assert len(docs) >= 35
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    doc = manifests.gateway_deployment(_spec())
    doc["spec"]["template"]["spec"]["containers"][0]["imagee"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_role_is_built_from_the_runtime_rbac_rules_and_cannot_alias_them() -> None:
    role = manifests.runtime_role(_spec())
    assert role["rules"] == RBAC_RULES
    role["rules"][0]["verbs"].append("escalate")
    assert "escalate" not in RBAC_RULES[0]["verbs"]


def _pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    ]


def test_every_deployment_and_statefulset_runs_non_root_with_limits(
    azure_stack: Recorded, local_stack: Recorded
) -> None:
    pods = _pod_specs(_declared(azure_stack)) + _pod_specs(_declared(local_stack))
    assert {name for name, _ in pods} == {"mcpgateway", "toolgateway"}
    for name, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name


def test_the_router_is_discoverable_as_an_mcp_pod_behind_a_headless_service(azure_stack: Recorded) -> None:
    router = azure_stack.k8s("StatefulSet", "toolgateway")["spec"]
    assert router["serviceName"] == "toolgateway-service"
    labels = router["template"]["metadata"]["labels"]
    assert (labels["adapter/type"], labels["adapter/name"]) == ("mcp", "toolgateway")
    env = {e["name"]: e for e in router["template"]["spec"]["containers"][0]["env"]}
    # The gateway's Service, across namespaces; the secret from the router's own Secret in its namespace.
    assert env["MCPGW_ROUTER__CATALOG_URL"]["value"] == (
        "http://mcpgateway-service.mcp-gateway.svc.cluster.local:8000/internal/tool-catalog"
    )
    assert env["MCPGW_ROUTER__SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "toolgateway-secrets",
        "key": "MCPGW_ROUTER__SECRET",
    }
    assert azure_stack.k8s("Service", "toolgateway-service")["spec"]["clusterIP"] == "None"
    # The router judges `url` tools by the gateway's SSRF policy, which follows the environment.
    assert env["MCPGW_SERVER__ENVIRONMENT"]["value"] == "production"


def test_the_local_stacks_router_knows_it_is_in_development(local_stack: Recorded) -> None:
    router = local_stack.k8s("StatefulSet", "toolgateway")["spec"]
    env = {e["name"]: e for e in router["template"]["spec"]["containers"][0]["env"]}
    assert env["MCPGW_SERVER__ENVIRONMENT"]["value"] == "development"


def _aggregate_adapters(stack: Recorded) -> tuple[str, str]:
    """MCPGW_ROUTER__AGGREGATE_ADAPTERS in the gateway's ConfigMap and in the router's own env."""
    gateway = stack.k8s("ConfigMap", "mcpgateway-config")["data"]["MCPGW_ROUTER__AGGREGATE_ADAPTERS"]
    router = stack.k8s("StatefulSet", "toolgateway")["spec"]["template"]["spec"]["containers"][0]["env"]
    return gateway, {e["name"]: e for e in router}["MCPGW_ROUTER__AGGREGATE_ADAPTERS"]["value"]


@pytest.mark.parametrize("stack_name", ["azure_stack", "local_stack"])
def test_by_default_the_router_aggregates_adapters_on_both_targets(
    stack_name: str, request: pytest.FixtureRequest
) -> None:
    # Set explicitly, not left to the settings' default: the rendered objects say which /mcp is served.
    assert _aggregate_adapters(request.getfixturevalue(stack_name)) == ("true", "true")


@pytest.mark.parametrize("target", ["azure", "local"])
def test_workloads_aggregate_adapters_false_reaches_the_gateway_and_the_router(target: str) -> None:
    workloads = {"gatewayReplicas": 1, "aggregateAdapters": False}
    if target == "azure":
        cfg = parse_config(
            "azure",
            workloads=workloads,
            images={"tag": "1.2.3"},
            azure={"label": "unittest", "entraClientId": ENTRA_CLIENT_ID},
            local=None,
        )
    else:
        cfg = parse_config("local", workloads=workloads, images={"registry": "localhost:5001"}, azure=None, local={})
    assert cfg.workloads.aggregate_adapters is False
    stack = run_stack(cfg, stack="local" if target == "local" else "dev")
    assert _aggregate_adapters(stack) == ("false", "false")
    # The router parses the value it is given as the setting meant.
    env = {"MCPGW_ROUTER__AGGREGATE_ADAPTERS": _aggregate_adapters(stack)[1]}
    assert _router_settings(env).aggregate_adapters is False


def _router_settings(env: dict[str, str]) -> ToolRouterSettings:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return ToolRouterSettings()


def _policies(stack: Recorded) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"] for d in _declared(stack) if d["kind"] == "NetworkPolicy"}


def test_ingress_is_denied_by_default_and_each_flow_is_allowed_explicitly(azure_stack: Recorded) -> None:
    policies = _policies(azure_stack)
    deny = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    assert policies["default-deny-ingress"] == deny
    assert policies["gateway-default-deny-ingress"] == deny
    assert policies["allow-gateway-ingress"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8000}]}]
    mcp = policies["allow-mcp-from-gateway"]
    assert mcp["podSelector"] == {"matchLabels": {"adapter/type": "mcp"}}
    assert mcp["ingress"][0]["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mcp-gateway"}},
            "podSelector": {"matchLabels": {"app": "mcpgateway"}},
        }
    ]
    metrics = policies["allow-router-metrics"]
    assert metrics["podSelector"] == {"matchLabels": {"app": "toolgateway"}}
    assert metrics["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]


def test_each_policy_sits_in_the_namespace_of_the_pods_it_selects(azure_stack: Recorded) -> None:
    policies = [d["metadata"] for d in _declared(azure_stack) if d["kind"] == "NetworkPolicy"]
    namespaces = {meta["name"]: meta["namespace"] for meta in policies}
    assert namespaces == {
        "gateway-default-deny-ingress": "mcp-gateway",
        "allow-gateway-ingress": "mcp-gateway",
        "default-deny-ingress": "adapter",
        "allow-mcp-from-gateway": "adapter",
        "allow-adapters-from-router": "adapter",
        "allow-tools-from-router": "adapter",
        "allow-router-metrics": "adapter",
        "adapter-egress": "adapter",
        "router-egress": "adapter",
    }


def test_tool_pods_are_reachable_from_the_router_only(azure_stack: Recorded) -> None:
    tools = _policies(azure_stack)["allow-tools-from-router"]
    assert tools["podSelector"] == {"matchLabels": {"adapter/type": "tool"}}
    assert tools["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app": "toolgateway"}}}]}]


def test_only_the_gateway_pods_get_a_kubernetes_api_token(azure_stack: Recorded, local_stack: Recorded) -> None:
    assert azure_stack.k8s("ServiceAccount", "workload-sa")["automountServiceAccountToken"] is False
    for stack in (azure_stack, local_stack):
        assert stack.k8s("ServiceAccount", "workload-sa")["automountServiceAccountToken"] is False
        router = stack.k8s("StatefulSet", "toolgateway")["spec"]["template"]["spec"]
        assert router["automountServiceAccountToken"] is False
        tokens = [n for n, pod in _pod_specs(_declared(stack)) if pod.get("automountServiceAccountToken") is not False]
        assert tokens == ["mcpgateway"]


def test_names_are_unique_per_kind_across_namespaces_since_resources_are_named_by_kind_and_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _spec()
    clash = manifests.gateway_network_policies(spec)[-1]  # allow-gateway-ingress
    same_name = {**clash, "metadata": {**clash["metadata"], "namespace": "adapter"}}
    monkeypatch.setattr(manifests, "adapter_egress_policies", lambda _: [same_name])
    with pytest.raises(ValueError, match="unique per kind"):
        manifests.build_manifests(spec)


def test_every_workload_has_a_disruption_budget(azure_stack: Recorded) -> None:
    budgets = {d["metadata"]["name"]: d["spec"] for d in _declared(azure_stack) if d["kind"] == "PodDisruptionBudget"}
    assert budgets == {
        "mcpgateway": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "mcpgateway"}}},
        "toolgateway": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "toolgateway"}}},
    }
