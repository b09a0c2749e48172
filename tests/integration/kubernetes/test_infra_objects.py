"""The infrastructure's objects (infra/components/manifests.py) against a real kube-apiserver with RBAC.

The API server accepts every object the program declares (its own validation, e.g. that an ipBlock's
``except`` lies inside its ``cidr``), and its RBAC authorizer lets the gateway's service account, from the
gateway's namespace, make exactly the runtime's calls in the adapter namespace and none in its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from k8s_control_plane import ControlPlane
from k8s_objects import UNSERVED_KINDS, collection, may

from infra.components import manifests

pytestmark = [pytest.mark.k8s, pytest.mark.slow]


@pytest.fixture
def declared(admin: httpx.Client) -> Iterator[manifests.WorkloadSpec]:
    """Every object of a workloads spec, created in two fresh namespaces (deleted afterwards)."""
    suffix = uuid.uuid4().hex[:8]
    spec = manifests.WorkloadSpec(
        gateway_namespace=f"gw-{suffix}",
        adapter_namespace=f"ad-{suffix}",
        egress=manifests.EgressSpec(cluster_cidrs=("10.0.0.0/16", "10.244.0.0/16", "10.96.0.0/16")),
        gateway_image="registry.test/mcp-gateway:1",
        router_image="registry.test/mcp-toolrouter:1",
        gateway_replicas=1,
        router_replicas=1,
        gateway_env={"MCPGW_SERVER__ENVIRONMENT": "production"},
        gateway_secret_env={"MCPGW_ROUTER__SECRET": "s", "APPLICATIONINSIGHTS_CONNECTION_STRING": "c"},
        gateway_client_id="gateway-client-id",
        workload_client_id="workload-client-id",
        internal_lb_ip="10.0.1.100",
        seal_key_ids=("k2", "k1"),
    )
    try:
        for doc in manifests.build_manifests(spec):
            if doc["kind"] not in UNSERVED_KINDS:
                response = admin.post(collection(doc), json=doc)
                assert response.status_code == 201, f"{doc['kind']}/{doc['metadata']['name']}: {response.text}"
        yield spec
    finally:
        for namespace in (spec.gateway_namespace, spec.adapter_namespace):
            admin.delete(f"/api/v1/namespaces/{namespace}")


def test_the_api_server_accepts_every_object_the_program_declares(declared: manifests.WorkloadSpec) -> None:
    assert declared.gateway_namespace != declared.adapter_namespace  # the fixture created everything


def test_the_gateway_may_run_workloads_in_the_adapter_namespace_and_nothing_in_its_own(
    declared: manifests.WorkloadSpec, admin: httpx.Client, control_plane: ControlPlane
) -> None:
    gateway = f"system:serviceaccount:{declared.gateway_namespace}:{manifests.GATEWAY_SA}"
    adapters = declared.adapter_namespace
    control_plane.wait_until(lambda: may(admin, gateway, adapters, "list", "pods"), "the RoleBinding", 20)
    for verb, resource, group in [
        ("create", "statefulsets", "apps"),
        ("patch", "statefulsets", "apps"),
        ("delete", "services", ""),
        ("watch", "pods", ""),
        ("get", "pods/log", ""),
    ]:
        assert may(admin, gateway, adapters, verb, resource, group), (verb, resource)
    for verb, resource, group in [
        ("get", "secrets", ""),
        ("create", "pods", ""),
        ("create", "pods/exec", ""),
        ("update", "statefulsets", "apps"),
        ("create", "rolebindings", "rbac.authorization.k8s.io"),
    ]:
        assert not may(admin, gateway, adapters, verb, resource, group), (verb, resource)
    assert not may(admin, gateway, declared.gateway_namespace, "list", "pods")
    assert not may(admin, gateway, declared.gateway_namespace, "get", "secrets")


def test_the_router_and_adapter_service_accounts_get_no_api_rights(
    declared: manifests.WorkloadSpec, admin: httpx.Client
) -> None:
    for account in (manifests.ROUTER_SA, manifests.WORKLOAD_SA):
        user = f"system:serviceaccount:{declared.adapter_namespace}:{account}"
        assert not may(admin, user, declared.adapter_namespace, "list", "pods"), account
        assert not may(admin, user, declared.adapter_namespace, "get", "secrets"), account
