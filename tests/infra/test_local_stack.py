"""The kind stack: the same workloads, no Azure, sealed session ids (no Redis), images from the local registry."""

from __future__ import annotations

from tests.infra.mocks import Recorded, random_bytes_base64


def test_the_local_stack_declares_no_azure_resources_and_calls_no_azure_api(local_stack: Recorded) -> None:
    assert not [r for r in local_stack.resources if r.typ.startswith("azure-native:")]
    assert local_stack.calls == []


def test_the_local_stack_targets_the_kind_context(local_stack: Recorded) -> None:
    (provider,) = local_stack.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "kind-unit"
    k8s_objects = [r for r in local_stack.resources if r.typ.startswith("kubernetes:")]
    assert all("pulumi:providers:kubernetes::kind::" in r.provider for r in k8s_objects)


def test_sessions_are_sealed_with_a_generated_key_and_no_redis_runs(local_stack: Recorded) -> None:
    env = local_stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert (env["MCPGW_SESSIONS__SEALED"], env["MCPGW_SESSIONS__KIND"]) == ("true", "memory")
    assert not {k for k in env if "REDIS" in k}
    secret = local_stack.k8s("Secret", "mcpgateway-secrets")["stringData"]
    assert secret["MCPGW_SESSIONS__SEAL_KEYS"] == f"k1:{random_bytes_base64('seal-key-k1')}"
    assert "MCPGW_SESSIONS__REDIS_URL" not in secret
    workloads = {d["metadata"]["name"] for d in local_stack.k8s_docs() if d["kind"] in ("Deployment", "StatefulSet")}
    assert workloads == {"mcpgateway", "toolgateway"}
    names = [d["metadata"]["name"] for d in local_stack.k8s_docs()]
    assert not [n for n in names if "redis" in n]
    assert not [r for r in local_stack.of_type("random:index/randomPassword:RandomPassword") if "redis" in r.name]


def test_the_local_gateway_uses_forced_dev_auth_behind_a_cluster_ip_service(local_stack: Recorded) -> None:
    env = local_stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert env["MCPGW_SERVER__ENVIRONMENT"] == "development"
    assert (env["MCPGW_AUTH__MODE"], env["MCPGW_AUTH__FORCE_DEV"]) == ("dev", "true")
    assert env["MCPGW_STORE__KIND"] == "sqlite"
    assert local_stack.k8s("Service", "mcpgateway-service")["spec"]["type"] == "ClusterIP"
    assert local_stack.outputs["gatewayUrl"] == "http://localhost:8000"


def test_local_images_come_from_the_local_registry(local_stack: Recorded) -> None:
    gateway = local_stack.k8s("Deployment", "mcpgateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["image"] == "localhost:5001/mcp-gateway:dev"
    env = local_stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert env["MCPGW_RUNTIME__KUBERNETES__REGISTRY"] == "localhost:5001"
    assert local_stack.outputs["registryLoginServer"] == "localhost:5001"


def test_local_pods_have_no_workload_identity(local_stack: Recorded) -> None:
    sa = local_stack.k8s("ServiceAccount", "mcpgateway-sa")["metadata"]
    assert "annotations" not in sa
    labels = local_stack.k8s("Deployment", "mcpgateway")["spec"]["template"]["metadata"]["labels"]
    assert "azure.workload.identity/use" not in labels
