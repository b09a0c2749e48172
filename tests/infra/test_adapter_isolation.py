"""Adapters cannot reach what they should not, on the committed dev, prod and local stacks: their own
namespace, Pod Security ``restricted`` in both namespaces, and an egress policy that keeps adapters, tools and
the router off the metadata endpoints and the cluster's own networks while DNS and the internet stay open."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.runtimes.kubernetes import manifests as k8s_manifests
from gateway.settings import KubernetesRuntimeSettings
from infra.config import parse_config
from tests.infra.conftest import ENTRA_CLIENT_ID, azure_config
from tests.infra.mocks import Recorded, run_stack
from tests.infra.netpol import Endpoint, allowed
from tests.infra.pod_security import restricted_violations

STACKS = ["dev", "prod", "local"]
GATEWAY_NS, ADAPTER_NS = "mcp-gateway", "adapter"
SETTINGS = KubernetesRuntimeSettings(registry="registry.example.io", namespace=ADAPTER_NS)
RUNTIME_PODS = {
    "adapter": WorkloadSpec("weather", WorkloadKind.ADAPTER, image_name="mcp/weather", image_version="1"),
    "tool": WorkloadSpec("forecast", WorkloadKind.TOOL, image_name="tools/forecast", image_version="3", port=9090),
    "command": WorkloadSpec("everything", WorkloadKind.ADAPTER, command="npx", args=("server-everything",)),
    "workload-identity": WorkloadSpec(
        "blob", WorkloadKind.ADAPTER, image_name="mcp/blob", image_version="2", use_workload_identity=True
    ),
}


def _runtime_pod(spec: WorkloadSpec, ip: str) -> Endpoint:
    """A pod as the gateway's runtime labels it."""
    return Endpoint(ip, ADAPTER_NS, k8s_manifests.labels(spec))


ADAPTER = _runtime_pod(RUNTIME_PODS["adapter"], "10.244.2.10")
TOOL = _runtime_pod(RUNTIME_PODS["tool"], "10.244.2.11")
ROUTER = Endpoint(
    "10.244.2.12", ADAPTER_NS, {"app": "toolgateway", "adapter/type": "mcp", "adapter/name": "toolgateway"}
)
GATEWAY = Endpoint("10.244.1.5", GATEWAY_NS, {"app": "mcpgateway"})
COREDNS = Endpoint("10.244.0.3", "kube-system", {"k8s-app": "kube-dns"})
SCRAPER = Endpoint("10.244.0.7", "kube-system", {"rsName": "ama-metrics"})
IMDS = Endpoint("169.254.169.254")
WIRESERVER = Endpoint("168.63.129.16")
INTERNET = Endpoint("20.42.65.92")
API_SERVICE = Endpoint("10.96.0.1")
"""The ``kubernetes`` Service: the API server as pods see it."""
NODES = {"dev": "10.0.1.4", "prod": "10.0.1.4", "local": "172.18.0.2"}
"""A node of each stack (kubelet on 10250): the AKS subnet, kind's Docker network."""


def _policies(stack: Recorded) -> list[dict[str, Any]]:
    return [d for d in stack.k8s_docs() if d["kind"] == "NetworkPolicy"]


def _pods(stack: Recorded) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in stack.k8s_docs()
        if d["kind"] in ("Deployment", "StatefulSet")
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_and_the_adapters_live_in_two_namespaces_that_enforce_restricted(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    recorded = committed_stacks[stack]
    namespaces = {
        d["metadata"]["name"]: d["metadata"]["labels"] for d in recorded.k8s_docs() if d["kind"] == "Namespace"
    }
    assert set(namespaces) == {GATEWAY_NS, ADAPTER_NS}
    for labels in namespaces.values():
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    placement = {(d["kind"], d["metadata"]["name"]): d["metadata"].get("namespace") for d in recorded.k8s_docs()}
    assert placement[("Deployment", "mcpgateway")] == GATEWAY_NS
    assert placement[("ConfigMap", "mcpgateway-config")] == GATEWAY_NS
    assert placement[("Secret", "mcpgateway-secrets")] == GATEWAY_NS
    # The router goes with the adapters: the gateway discovers both by one pod watch in the runtime's namespace.
    assert placement[("StatefulSet", "toolgateway")] == ADAPTER_NS
    assert placement[("ServiceAccount", "workload-sa")] == ADAPTER_NS
    env = recorded.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert env["MCPGW_RUNTIME__KUBERNETES__NAMESPACE"] == ADAPTER_NS


def test_the_routers_secret_carries_only_what_the_router_reads(committed_stacks: dict[str, Recorded]) -> None:
    local = committed_stacks["local"]
    assert set(local.k8s("Secret", "mcpgateway-secrets")["stringData"]) == {
        "MCPGW_ROUTER__SECRET",
        "MCPGW_SESSIONS__SEAL_KEYS",
    }
    assert set(local.k8s("Secret", "toolgateway-secrets")["stringData"]) == {"MCPGW_ROUTER__SECRET"}
    dev = committed_stacks["dev"].k8s("Secret", "toolgateway-secrets")
    assert set(dev["stringData"]) == {"MCPGW_ROUTER__SECRET", "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    assert dev["metadata"]["namespace"] == ADAPTER_NS


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_the_stack_declares_passes_the_restricted_profile(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    pods = _pods(committed_stacks[stack])
    assert {"mcpgateway", "toolgateway"} <= set(pods)
    for name, pod in pods.items():
        assert restricted_violations(pod) == [], name


@pytest.mark.parametrize("variant", RUNTIME_PODS)
def test_every_pod_the_gateway_runtime_builds_passes_the_restricted_profile(variant: str) -> None:
    pod = k8s_manifests.statefulset(RUNTIME_PODS[variant], SETTINGS)["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []


def test_the_restricted_check_refuses_what_admission_would() -> None:
    pod = k8s_manifests.statefulset(RUNTIME_PODS["adapter"], SETTINGS)["spec"]["template"]["spec"]
    pod["securityContext"]["runAsUser"] = 0
    pod["volumes"] = [{"name": "host", "hostPath": {"path": "/"}}]
    pod["containers"][0]["securityContext"] = {"capabilities": {"add": ["NET_ADMIN"]}}
    problems = restricted_violations(pod)
    assert any("uid 0" in p for p in problems)
    assert any("hostPath" in p for p in problems)
    assert any("allowPrivilegeEscalation" in p for p in problems)
    assert any("NET_ADMIN" in p for p in problems)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("pod", [ADAPTER, TOOL, ROUTER], ids=["adapter", "tool", "router"])
def test_adapter_namespace_pods_reach_dns_and_the_internet_but_not_metadata_or_the_cluster(
    committed_stacks: dict[str, Recorded], stack: str, pod: Endpoint
) -> None:
    policies = _policies(committed_stacks[stack])

    def egress(peer: Endpoint, port: int, protocol: str = "TCP") -> bool:
        return allowed(policies, "Egress", pod, peer, port, protocol)

    assert egress(COREDNS, 53, "UDP") and egress(COREDNS, 53, "TCP")
    assert egress(INTERNET, 443)
    assert not egress(IMDS, 80)
    assert not egress(WIRESERVER, 80) and not egress(WIRESERVER, 32526)
    assert not egress(Endpoint(NODES[stack]), 10250), "kubelet"
    assert not egress(API_SERVICE, 443)
    assert not egress(COREDNS, 8080), "only DNS on CoreDNS"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_adapters_cannot_reach_anything_in_the_vnet(committed_stacks: dict[str, Recorded], stack: str) -> None:
    policies = _policies(committed_stacks[stack])
    for address in ("10.0.1.100", "10.0.2.4", "10.0.3.4"):  # internal LB, App Gateway, private endpoints
        assert not allowed(policies, "Egress", ADAPTER, Endpoint(address), 443), address


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_router_reaches_the_gateway_and_the_tools(committed_stacks: dict[str, Recorded], stack: str) -> None:
    policies = _policies(committed_stacks[stack])

    def connects(source: Endpoint, target: Endpoint, port: int) -> bool:
        return allowed(policies, "Egress", source, target, port) and allowed(policies, "Ingress", target, source, port)

    assert connects(ROUTER, GATEWAY, 8000)  # the tool catalog
    assert connects(ROUTER, TOOL, 9090)  # tools listen on their definition's port
    assert connects(GATEWAY, ADAPTER, 8000) and connects(GATEWAY, ROUTER, 8000)
    assert not connects(ADAPTER, GATEWAY, 8000)
    assert not connects(ADAPTER, TOOL, 9090)
    assert not connects(TOOL, ADAPTER, 8000)
    assert not connects(GATEWAY, TOOL, 9090)


@pytest.mark.parametrize("stack", STACKS)
def test_the_router_reaches_adapters_on_the_mcp_port_only_for_virtual_servers(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    policies = _policies(committed_stacks[stack])

    def connects(source: Endpoint, target: Endpoint, port: int) -> bool:
        return allowed(policies, "Egress", source, target, port) and allowed(policies, "Ingress", target, source, port)

    for variant in ("adapter", "command", "workload-identity"):  # every adapter pod the runtime builds
        adapter = _runtime_pod(RUNTIME_PODS[variant], "10.244.2.20")
        assert connects(ROUTER, adapter, 8000), variant
        assert not connects(ROUTER, adapter, 9090), variant
        assert not connects(TOOL, adapter, 8000), variant
    other_router = Endpoint("10.244.2.13", ADAPTER_NS, ROUTER.labels)
    assert not connects(ROUTER, other_router, 8000), "the router does not call itself"


@pytest.mark.parametrize("stack", STACKS)
def test_the_in_cluster_scraper_reaches_the_metrics_of_the_gateway_and_the_router(
    committed_stacks: dict[str, Recorded], stack: str
) -> None:
    policies = _policies(committed_stacks[stack])
    assert allowed(policies, "Ingress", GATEWAY, SCRAPER, 8000)
    assert allowed(policies, "Ingress", ROUTER, SCRAPER, 8000)
    assert not allowed(policies, "Ingress", ADAPTER, SCRAPER, 8000)
    template = committed_stacks[stack].k8s("StatefulSet", "toolgateway")["spec"]["template"]["metadata"]
    assert template["annotations"]["prometheus.io/path"] == "/metrics"


def test_without_internet_egress_adapters_reach_only_dns() -> None:
    cfg = parse_config(
        "azure",
        workloads={"adapterInternetEgress": False},
        images={"build": False},
        azure={"label": "unittest", "entraClientId": ENTRA_CLIENT_ID},
        local=None,
    )
    policies = _policies(run_stack(cfg))
    assert allowed(policies, "Egress", ADAPTER, COREDNS, 53, "UDP")
    assert not allowed(policies, "Egress", ADAPTER, INTERNET, 443)
    assert not allowed(policies, "Egress", ROUTER, INTERNET, 443)
    assert allowed(policies, "Egress", ROUTER, GATEWAY, 8000)


def test_denied_cidrs_are_added_to_the_blocked_ranges() -> None:
    api_server = "20.99.1.2/32"  # e.g. the AKS API server's public address
    cfg = azure_config()
    cfg = type(cfg)(
        target=cfg.target,
        workloads=type(cfg.workloads)(gateway_replicas=2, adapter_denied_cidrs=[api_server]),
        images=cfg.images,
        azure=cfg.azure,
    )
    stack = run_stack(cfg)
    policies = _policies(stack)
    assert not allowed(policies, "Egress", ADAPTER, Endpoint("20.99.1.2"), 443)
    assert allowed(policies, "Egress", ADAPTER, INTERNET, 443)
    blocked = stack.k8s("NetworkPolicy", "adapter-egress")["spec"]["egress"][1]["to"][0]["ipBlock"]["except"]
    assert blocked[:2] == ["169.254.169.254/32", "168.63.129.16/32"]
    assert blocked[-1] == api_server
