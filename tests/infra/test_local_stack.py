"""The kind stack: the same workloads, no Azure, an in-cluster Redis, images from the local registry."""

from __future__ import annotations

from tests.infra.mocks import Recorded


def test_the_local_stack_declares_no_azure_resources_and_calls_no_azure_api(local_stack: Recorded) -> None:
    assert not [r for r in local_stack.resources if r.typ.startswith("azure-native:")]
    assert local_stack.calls == []


def test_the_local_stack_targets_the_kind_context(local_stack: Recorded) -> None:
    (provider,) = local_stack.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "kind-unit"
    k8s_objects = [r for r in local_stack.resources if r.typ.startswith("kubernetes:")]
    assert all("pulumi:providers:kubernetes::kind::" in r.provider for r in k8s_objects)


def test_sessions_live_in_an_in_cluster_redis_with_a_generated_password(local_stack: Recorded) -> None:
    env = local_stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert env["MCPGW_SESSIONS__KIND"] == "redis"
    secret = local_stack.k8s("Secret", "mcpgateway-secrets")["stringData"]
    password = local_stack.k8s("Secret", "redis-auth")["stringData"]["password"]
    assert password == "generated-redis-password"
    assert secret["MCPGW_SESSIONS__REDIS_URL"] == (
        f"redis://:{password}@redis-service.mcp-gateway.svc.cluster.local:6379/0"
    )
    local_stack.k8s("Deployment", "redis")
    local_stack.k8s("Service", "redis-service")


def test_only_the_gateway_may_reach_redis(local_stack: Recorded) -> None:
    policy = local_stack.k8s("NetworkPolicy", "allow-redis-from-gateway")["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app": "redis"}}
    assert policy["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"app": "mcpgateway"}}}],
            "ports": [{"protocol": "TCP", "port": 6379}],
        }
    ]


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
