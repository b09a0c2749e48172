"""The gateway, the tool router and their supporting objects on any cluster (AKS or kind)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.manifests import Manifest, WorkloadSpec, build_manifests

# Python keyword names of the top-level manifest fields that aren't plain identifiers.
_TOP_LEVEL_KWARGS = {
    "stringData": "string_data",
    "roleRef": "role_ref",
    "automountServiceAccountToken": "automount_service_account_token",
}

_RESOURCE_TYPES: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
}
_WORKLOAD_KINDS = {"Deployment", "StatefulSet"}


@dataclass(frozen=True)
class WorkloadsArgs:
    spec: WorkloadSpec
    provider: k8s.Provider


class Workloads(pulumi.ComponentResource):
    """Creates every manifest of :func:`build_manifests` with the given cluster provider."""

    resources: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:k8s:Workloads", name, None, opts)
        docs = build_manifests(args.spec)
        self.resources = {}
        namespaces: list[pulumi.Resource] = [
            self._create(name, d, args.provider, []) for d in docs if d["kind"] == "Namespace"
        ]
        # Config objects first: pods start with envFrom of both, so creating them later would crash-loop.
        config = [
            self._create(name, d, args.provider, namespaces)
            for d in docs
            if d["kind"] not in _WORKLOAD_KINDS and d["kind"] != "Namespace"
        ]
        for doc in docs:
            if doc["kind"] in _WORKLOAD_KINDS:
                self._create(name, doc, args.provider, [*namespaces, *config])
        self.register_outputs(
            {"gatewayNamespace": args.spec.gateway_namespace, "adapterNamespace": args.spec.adapter_namespace}
        )

    def _create(
        self, name: str, doc: Manifest, provider: k8s.Provider, depends_on: list[pulumi.Resource]
    ) -> pulumi.CustomResource:
        factory = _RESOURCE_TYPES[(doc["apiVersion"], doc["kind"])]
        kwargs: dict[str, Any] = {
            _TOP_LEVEL_KWARGS.get(key, key): value
            for key, value in doc.items()
            if key not in ("apiVersion", "kind")
        }
        key = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        resource = factory(
            f"{name}-{doc['kind'].lower()}-{doc['metadata']['name']}",
            **kwargs,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends_on),
        )
        self.resources[key] = resource
        return resource
