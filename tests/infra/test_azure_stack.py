"""The Azure stack's resource graph and its security invariants, under Pulumi mocks."""

from __future__ import annotations

import json

import pytest

from gateway.runtimes.kubernetes.rbac import RBAC_RULES
from tests.infra.conftest import ENTRA_CLIENT_ID, azure_config
from tests.infra.mocks import DEPLOYER_OBJECT_ID, ISSUER, SUBSCRIPTION, TENANT, Recorded, run_stack

AKS = "azure-native:containerservice:ManagedCluster"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def test_the_azure_stack_declares_one_of_each_component(azure_stack: Recorded) -> None:
    components = {r.typ for r in azure_stack.resources if r.typ.startswith("mcpgw:")}
    assert components == {
        "mcpgw:azure:Network",
        "mcpgw:azure:Registry",
        "mcpgw:azure:Cluster",
        "mcpgw:azure:Data",
        "mcpgw:azure:Identity",
        "mcpgw:azure:Certificate",
        "mcpgw:azure:Ingress",
        "mcpgw:azure:Observability",
        "mcpgw:images:Images",
        "mcpgw:k8s:Workloads",
    }
    assert len(azure_stack.of_type("azure-native:network:Subnet")) == 2
    assert not azure_stack.of_type("azure-native:network:PrivateEndpoint")


def test_aks_has_oidc_issuer_and_workload_identity_enabled(azure_stack: Recorded) -> None:
    aks = azure_stack.one(AKS).inputs
    assert aks["oidcIssuerProfile"] == {"enabled": True}
    assert aks["securityProfile"]["workloadIdentity"] == {"enabled": True}


def test_aks_enforces_network_policies(azure_stack: Recorded) -> None:
    profile = azure_stack.one(AKS).inputs["networkProfile"]
    assert profile["networkPolicy"] == "cilium"
    assert profile["networkDataplane"] == "cilium"


def test_the_system_node_pool_is_sized_from_config(azure_stack: Recorded) -> None:
    (pool,) = azure_stack.one(AKS).inputs["agentPoolProfiles"]
    assert (pool["mode"], pool["count"], pool["vmSize"]) == ("System", 3, "Standard_D2s_v5")


def test_the_registry_has_no_admin_user_and_the_kubelet_may_pull(azure_stack: Recorded) -> None:
    acr = azure_stack.one("azure-native:containerregistry:Registry").inputs
    assert acr["adminUserEnabled"] is False
    assert acr["anonymousPullEnabled"] is False
    pull = azure_stack.one(ROLE_ASSIGNMENT, "acrpull").inputs
    assert pull["principalId"] == "kubelet-object-id"
    assert pull["roleDefinitionId"] == (
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
        "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    )
    assert pull["scope"].endswith("/mcpgwunittest")


def test_the_cluster_identity_may_create_the_internal_load_balancer_in_its_subnet(azure_stack: Recorded) -> None:
    grant = azure_stack.one(ROLE_ASSIGNMENT, "network-contributor").inputs
    assert grant["principalId"] == "aks-principal"
    assert grant["scope"].endswith("Subnet/aks")


def test_cosmos_keys_are_disabled_and_never_reach_the_cluster_when_identities_are_used(
    azure_stack: Recorded,
) -> None:
    account = azure_stack.one("azure-native:cosmosdb:DatabaseAccount").inputs
    assert account["disableLocalAuth"] is True
    assert "azure-native:cosmosdb:listDatabaseAccountKeys" not in azure_stack.calls
    secret = azure_stack.k8s("Secret", "mcpgateway-secrets")["stringData"]
    assert "MCPGW_COSMOS__KEY" not in secret


def test_without_identities_the_cosmos_key_is_delivered_only_through_the_secret() -> None:
    stack = run_stack(azure_config(cosmosUseIdentities=False))
    assert stack.one("azure-native:cosmosdb:DatabaseAccount").inputs["disableLocalAuth"] is False
    assert stack.k8s("Secret", "mcpgateway-secrets")["stringData"]["MCPGW_COSMOS__KEY"] == "cosmos-primary-key"
    assert "MCPGW_COSMOS__KEY" not in stack.k8s("ConfigMap", "mcpgateway-config")["data"]


def test_cosmos_has_a_container_per_record_kind_and_sessions_expire_by_ttl(
    azure_stack: Recorded,
) -> None:
    containers = {
        c.inputs["containerName"]: c.inputs["resource"]
        for c in azure_stack.of_type("azure-native:cosmosdb:SqlResourceSqlContainer")
    }
    assert set(containers) == {"adapters", "tools", "servers", "sessions"}
    assert containers["sessions"]["defaultTtl"] == -1
    assert "defaultTtl" not in containers["adapters"] and "defaultTtl" not in containers["servers"]
    # The gateway is told each container's name (it cannot create containers with its data-plane role).
    env = azure_stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert env["MCPGW_COSMOS__SERVERS_CONTAINER"] == "servers"
    assert env["MCPGW_COSMOS__CREATE_IF_MISSING"] == "false"
    assert azure_stack.one("azure-native:cosmosdb:SqlResourceSqlDatabase").inputs["databaseName"] == "mcpgateway"


def test_federated_credentials_trust_the_cluster_issuer_for_each_service_account(azure_stack: Recorded) -> None:
    creds = {
        c.inputs["subject"]: c.inputs
        for c in azure_stack.of_type("azure-native:managedidentity:FederatedIdentityCredential")
    }
    # Each service account in its own namespace: the gateway's, and the adapters' (useWorkloadIdentity).
    assert set(creds) == {
        "system:serviceaccount:mcp-gateway:mcpgateway-sa",
        "system:serviceaccount:adapter:workload-sa",
    }
    for cred in creds.values():
        assert cred["issuer"] == ISSUER
        assert cred["audiences"] == ["api://AzureADTokenExchange"]
    assert creds["system:serviceaccount:mcp-gateway:mcpgateway-sa"]["resourceName"] == "mcpgw-unittest-gateway"


def test_only_the_gateway_identity_gets_the_cosmos_data_contributor_role(azure_stack: Recorded) -> None:
    (grant,) = [r.inputs for r in azure_stack.of_type("azure-native:cosmosdb:SqlResourceSqlRoleAssignment")]
    assert grant["principalId"] == "mcpgw-unittest-gateway-principal-id"
    assert grant["roleDefinitionId"].endswith("/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002")


def test_the_app_gateway_probes_ping_on_the_gateway_internal_load_balancer(azure_stack: Recorded) -> None:
    appgw = azure_stack.one("azure-native:network:ApplicationGateway").inputs
    (probe,) = appgw["probes"]
    assert probe["path"] == "/ping"
    pools = {p["name"]: p for p in appgw["backendAddressPools"]}
    assert pools["gateway"]["backendAddresses"] == [{"ipAddress": "10.0.1.100"}]
    (settings,) = appgw["backendHttpSettingsCollection"]
    assert settings["port"] == 8000
    assert settings["probe"]["id"].endswith("/probes/gateway-ping")
    service = azure_stack.k8s("Service", "mcpgateway-service")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"  # the peer stays the App Gateway, not a node
    assert service["metadata"]["annotations"] == {
        "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
        "service.beta.kubernetes.io/azure-load-balancer-ipv4": "10.0.1.100",
    }


def test_gateway_settings_select_entra_cosmos_and_the_kubernetes_runtime(azure_stack: Recorded) -> None:
    env = azure_stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert env["MCPGW_SERVER__ENVIRONMENT"] == "production"
    # https: the App Gateway terminates TLS; Entra redirect URIs and the RFC 9728 metadata use this URL.
    assert env["MCPGW_SERVER__PUBLIC_URL"] == "https://mcpgw-unittest.westus3.cloudapp.azure.com"
    assert json.loads(env["MCPGW_SERVER__TRUSTED_PROXIES"]) == ["10.0.2.0/24"]  # the App Gateway's subnet
    assert (env["MCPGW_AUTH__MODE"], env["MCPGW_AUTH__TENANT_ID"], env["MCPGW_AUTH__CLIENT_ID"]) == (
        "entra",
        TENANT,
        ENTRA_CLIENT_ID,
    )
    # Sealed session ids route with no store: sessions in memory, so /readyz checks only what serves requests.
    assert (env["MCPGW_STORE__KIND"], env["MCPGW_SESSIONS__KIND"]) == ("cosmos", "memory")
    assert env["MCPGW_SESSIONS__SEALED"] == "true"
    assert env["MCPGW_COSMOS__ENDPOINT"] == "https://mcpgw-unittest-cosmos.documents.azure.com:443/"
    assert env["MCPGW_RUNTIME__KIND"] == "kubernetes"
    assert env["MCPGW_RUNTIME__KUBERNETES__NAMESPACE"] == "adapter"
    assert env["MCPGW_RUNTIME__KUBERNETES__REGISTRY"] == "mcpgwunittest.azurecr.io"
    assert "MCPGW_AUTH__FORCE_DEV" not in env


def test_generated_secrets_and_app_insights_reach_pods_only_through_the_secret(azure_stack: Recorded) -> None:
    secret = azure_stack.k8s("Secret", "mcpgateway-secrets")["stringData"]
    assert secret["MCPGW_ROUTER__SECRET"] == "generated-router-secret"
    assert secret["APPLICATIONINSIGHTS_CONNECTION_STRING"].startswith("InstrumentationKey=")
    config = azure_stack.k8s("ConfigMap", "mcpgateway-config")["data"]
    assert not {"MCPGW_ROUTER__SECRET", "APPLICATIONINSIGHTS_CONNECTION_STRING"} & set(config)
    (password,) = azure_stack.of_type("random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] >= 32


def test_service_accounts_carry_their_identity_client_ids_and_gateway_pods_use_workload_identity(
    azure_stack: Recorded,
) -> None:
    gateway_sa = azure_stack.k8s("ServiceAccount", "mcpgateway-sa")["metadata"]["annotations"]
    workload_sa = azure_stack.k8s("ServiceAccount", "workload-sa")["metadata"]["annotations"]
    assert gateway_sa == {"azure.workload.identity/client-id": "mcpgw-unittest-gateway-client-id"}
    assert workload_sa == {"azure.workload.identity/client-id": "mcpgw-unittest-workload-client-id"}
    labels = azure_stack.k8s("Deployment", "mcpgateway")["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


def test_replicas_and_images_come_from_config(azure_stack: Recorded) -> None:
    deployment = azure_stack.k8s("Deployment", "mcpgateway")["spec"]
    assert deployment["replicas"] == 3
    assert deployment["template"]["spec"]["containers"][0]["image"] == "mcpgwunittest.azurecr.io/mcp-gateway:1.2.3"
    router = azure_stack.k8s("StatefulSet", "toolgateway")["spec"]
    assert router["template"]["spec"]["containers"][0]["image"] == "mcpgwunittest.azurecr.io/mcp-toolrouter:1.2.3"


def test_the_declared_role_grants_exactly_the_runtime_rbac_rules_in_the_adapter_namespace_only(
    azure_stack: Recorded,
) -> None:
    role = azure_stack.k8s("Role", "mcpgateway-runtime")
    assert role["rules"] == RBAC_RULES
    assert role["metadata"]["namespace"] == "adapter"
    binding = azure_stack.k8s("RoleBinding", "mcpgateway-runtime")
    assert binding["metadata"]["namespace"] == "adapter"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mcpgateway-sa", "namespace": "mcp-gateway"}]
    assert len([d for d in azure_stack.k8s_docs() if d["kind"] in ("Role", "RoleBinding")]) == 2


def test_every_kubernetes_object_goes_through_the_aks_provider(azure_stack: Recorded) -> None:
    k8s_objects = [r for r in azure_stack.resources if r.typ.startswith("kubernetes:")]
    assert len(k8s_objects) >= 15
    assert all("pulumi:providers:kubernetes::cluster-k8s" in r.provider for r in k8s_objects)


def test_outputs_are_the_gateway_url_registry_and_a_secret_kubeconfig(azure_stack: Recorded) -> None:
    assert azure_stack.outputs["gatewayUrl"] == "https://mcpgw-unittest.westus3.cloudapp.azure.com"
    assert azure_stack.outputs["registryLoginServer"] == "mcpgwunittest.azurecr.io"
    assert azure_stack.outputs["kubeconfig"].startswith("apiVersion: v1")
    assert "kubeconfig" in azure_stack.secret_outputs


def test_building_images_pushes_to_the_registry_with_an_exchanged_token_and_pins_digests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exchanged: list[tuple[str, str, str]] = []

    def fake_exchange(login_server: str, tenant: str, token: str) -> str:
        exchanged.append((login_server, tenant, token))
        return "acr-refresh-token"

    monkeypatch.setattr("infra.stack.exchange_refresh_token", fake_exchange)
    cfg = azure_config()
    cfg = type(cfg)(
        target=cfg.target, workloads=cfg.workloads, azure=cfg.azure, images=type(cfg.images)(build=True, tag="1.2.3")
    )
    stack = run_stack(cfg)
    images = {r.name: r.inputs for r in stack.of_type("docker-build:index:Image")}
    assert set(images) == {"images-gateway", "images-router", "images-bridge"}
    assert images["images-gateway"]["tags"] == ["mcpgwunittest.azurecr.io/mcp-gateway:1.2.3"]
    assert images["images-gateway"]["dockerfile"]["location"].endswith("docker/gateway.Dockerfile")
    assert images["images-router"]["registries"][0]["password"] == "acr-refresh-token"
    assert exchanged == [("mcpgwunittest.azurecr.io", TENANT, "aad-access-token")]
    push = stack.one(ROLE_ASSIGNMENT, "acrpush").inputs
    assert push["principalId"] == DEPLOYER_OBJECT_ID
    gateway = stack.k8s("Deployment", "mcpgateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["image"] == "mcpgwunittest.azurecr.io/mcp-gateway:1.2.3@sha256:abc"
