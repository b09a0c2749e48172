"""The Kubernetes objects of the gateway and tool router, as plain manifest dicts.

Pure functions, no Pulumi resources: values may be plain strings (tests, kubernetes-validate) or
``pulumi.Output`` (the program), which Pulumi resolves inside nested inputs. The workloads component
turns each dict into a typed pulumi_kubernetes resource.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.names import GATEWAY_WORKLOAD, ROUTER_WORKLOAD, WORKLOAD_SERVICE_ACCOUNT
from gateway.runtimes.kubernetes.rbac import RBAC_RULES
from toolrouter.settings import ToolRouterSettings

Manifest = dict[str, Any]

# The names no adapter or tool may take (gateway.names.RESERVED_NAMES), and what is named after them.
GATEWAY = GATEWAY_WORKLOAD
GATEWAY_SA = f"{GATEWAY}-sa"
GATEWAY_SERVICE = f"{GATEWAY}-service"
WORKLOAD_SA = WORKLOAD_SERVICE_ACCOUNT
ROUTER = ROUTER_WORKLOAD
ROUTER_SA = f"{ROUTER}-sa"
ROUTER_SERVICE = f"{ROUTER}-service"
ROUTER_SECRET = f"{ROUTER}-secrets"
APP_SECRET = "mcpgateway-secrets"
APP_CONFIG = "mcpgateway-config"
RUNTIME_ROLE = "mcpgateway-runtime"
PORT = 8000
UID = 1100
WI_USE_LABEL = "azure.workload.identity/use"
WI_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
INTERNAL_LB_IP_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace: what a namespaceSelector can rely on."""
ROUTER_SHARED_SECRETS = ("MCPGW_ROUTER__SECRET", "APPLICATIONINSIGHTS_CONNECTION_STRING")
"""Secret settings the router needs too; copied into its own Secret, since a pod reads only its namespace's.
Never the Cosmos key or the session seal keys: the router holds no sessions and reads no store."""
SEAL_KEYS_SETTING = "MCPGW_SESSIONS__SEAL_KEYS"
SEAL_KEY_IDS_ANNOTATION = "mcp-gateway/seal-key-ids"
"""On the gateway's pod template: the ids of the keys in its Secret's keyring. A pod reads envFrom only when it
starts, so a keyring change must change the template too, which rolls the gateway's pods."""
METADATA_CIDRS = ("169.254.169.254/32", "168.63.129.16/32")
"""The instance metadata endpoint (it hands out the node's managed-identity tokens) and Azure's wireserver.
Not all of link-local: node-local DNS caches live there too (169.254.20.10, AKS LocalDNS)."""

# Graceful shutdown. A deleted pod first runs its preStop hook while Kubernetes takes it out of Services
# and endpoint lists (the gateway's own replica watch included), which lags by a few seconds; only then
# does SIGTERM stop it from accepting. The kubelet kills it terminationGracePeriodSeconds after deletion.
PRESTOP_SECONDS = 5
GATEWAY_SHUTDOWN_GRACE_SECONDS = 20
"""MCPGW_SERVER__SHUTDOWN_GRACE_SECONDS: how long requests in flight may finish (gateway/drain.py)."""
GATEWAY_SHUTDOWN_MARGIN_SECONDS = 10
"""After the grace: uvicorn's 2 s backstop, the lifespan shutdown (stores, clients) and the exit."""
ROUTER_CALL_SECONDS = int(ToolRouterSettings.model_fields["call_timeout_seconds"].default)
"""The router has no drain of its own: uvicorn lets its calls finish, each bounded by this time-out."""
ROUTER_SHUTDOWN_MARGIN_SECONDS = 5


@dataclass(frozen=True)
class EgressSpec:
    """Where adapters, tools and the router may connect: DNS always, the internet unless turned off, never
    the metadata endpoints, the cluster's own networks (nodes, pods, services: the API server's
    ``kubernetes`` Service and the kubelets included) or ``denied_cidrs``."""

    cluster_cidrs: tuple[str, ...]
    internet: bool = True
    denied_cidrs: tuple[str, ...] = ()
    dns_namespace: str = "kube-system"
    dns_labels: Mapping[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})
    """CoreDNS on AKS and kind."""

    def blocked(self) -> list[str]:
        """The ``except`` list of the internet rule, in order, without repeats."""
        return list(dict.fromkeys([*METADATA_CIDRS, *self.cluster_cidrs, *self.denied_cidrs]))


@dataclass(frozen=True)
class WorkloadSpec:
    """Inputs of the workloads; string-typed fields may hold ``pulumi.Output`` values."""

    gateway_namespace: str
    """The gateway and its settings."""
    adapter_namespace: str
    """The runtime's namespace: adapters, tools and the tool router, which the gateway discovers there."""
    egress: EgressSpec
    gateway_image: Any
    router_image: Any
    gateway_replicas: int
    router_replicas: int
    gateway_env: Mapping[str, Any]
    """Non-secret settings (ConfigMap)."""
    gateway_secret_env: Mapping[str, Any]
    """Secret settings (Secret); always includes MCPGW_ROUTER__SECRET, and the seal keys on the stacks."""
    gateway_client_id: Any | None = None
    """Client id of the gateway's managed identity; None when workload identity is off."""
    workload_client_id: Any | None = None
    internal_lb_ip: str | None = None
    """Expose the gateway through an Azure internal load balancer on this IP; None: ClusterIP only."""
    seal_key_ids: Sequence[str] = ()
    """The ids of the keys in ``gateway_secret_env``'s MCPGW_SESSIONS__SEAL_KEYS, the sealing one first
    (:data:`SEAL_KEY_IDS_ANNOTATION`); empty: no annotation."""
    gateway_cpu_limit: str = "1"
    gateway_memory_limit: str = "512Mi"
    metrics_namespace: str = "kube-system"
    """The in-cluster Prometheus scraper's namespace; it may reach the router's /metrics."""
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def workload_identity(self) -> bool:
        return self.gateway_client_id is not None


def build_manifests(spec: WorkloadSpec) -> list[Manifest]:
    """Every object of the workloads, namespaces first, in a dependency-friendly order."""
    docs = [
        *namespaces(spec),
        *service_accounts(spec),
        runtime_role(spec),
        runtime_role_binding(spec),
        app_config(spec),
        app_secret(spec),
        router_secret(spec),
        gateway_deployment(spec),
        gateway_service(spec),
        router_statefulset(spec),
        router_service(spec),
        *network_policies(spec),
        pdb(spec, spec.gateway_namespace, GATEWAY, {"app": GATEWAY}),
        pdb(spec, spec.adapter_namespace, ROUTER, {"app": ROUTER}),
    ]
    _check_unique(docs)
    return docs


def _check_unique(docs: list[Manifest]) -> None:
    # The workloads component names each Pulumi resource after its kind and name, without the namespace
    # (so objects keep their identity across releases): two namespaces must not reuse a name for a kind.
    keys = [(d["kind"], d["metadata"]["name"]) for d in docs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"manifest names must be unique per kind across namespaces: {duplicates}")


def _meta(spec: WorkloadSpec, namespace_name: str, name: str, **extra: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "mcp-gateway", **spec.extra_labels, **extra.pop("labels", {})}
    return {"name": name, "namespace": namespace_name, "labels": labels, **extra}


def namespaces(spec: WorkloadSpec) -> list[Manifest]:
    return [namespace(spec.gateway_namespace), namespace(spec.adapter_namespace)]


def namespace(name: str) -> Manifest:
    # restricted enforced in both: the infrastructure's pods and every pod the runtime builds
    # (gateway/runtimes/kubernetes/manifests.py) comply, so an object that does not (an edited StatefulSet, a
    # runAsUser of 0) is refused at admission instead of running with more rights than intended.
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "app.kubernetes.io/part-of": "mcp-gateway",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def service_accounts(spec: WorkloadSpec) -> list[Manifest]:
    def sa(namespace_name: str, name: str, client_id: Any | None, automount: bool) -> Manifest:
        meta = _meta(spec, namespace_name, name)
        if client_id is not None:
            meta["annotations"] = {WI_CLIENT_ID_ANNOTATION: client_id}
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
            "automountServiceAccountToken": automount,
        }

    # Only the gateway talks to the Kubernetes API; the workload identity webhook mounts its own token.
    return [
        sa(spec.gateway_namespace, GATEWAY_SA, spec.gateway_client_id, True),
        sa(spec.adapter_namespace, WORKLOAD_SA, spec.workload_client_id, False),
        sa(spec.adapter_namespace, ROUTER_SA, None, False),
    ]


def runtime_role(spec: WorkloadSpec) -> Manifest:
    """Exactly the calls the Kubernetes runtime makes (gateway/runtimes/kubernetes/rbac.py), nothing more, and only
    in the adapter namespace: the gateway cannot touch its own namespace's objects."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(spec, spec.adapter_namespace, RUNTIME_ROLE),
        "rules": copy.deepcopy(RBAC_RULES),
    }


def runtime_role_binding(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(spec, spec.adapter_namespace, RUNTIME_ROLE),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RUNTIME_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": GATEWAY_SA, "namespace": spec.gateway_namespace}],
    }


def app_config(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(spec, spec.gateway_namespace, APP_CONFIG),
        "data": dict(spec.gateway_env),
    }


def app_secret(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(spec, spec.gateway_namespace, APP_SECRET),
        "stringData": dict(spec.gateway_secret_env),
    }


def router_secret(spec: WorkloadSpec) -> Manifest:
    """The router's share of the gateway's secrets (:data:`ROUTER_SHARED_SECRETS`)."""
    shared = {k: v for k, v in spec.gateway_secret_env.items() if k in ROUTER_SHARED_SECRETS}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(spec, spec.adapter_namespace, ROUTER_SECRET),
        "stringData": shared,
    }


def _security_context(uid: int) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    return pod, container


def _resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request},
        "limits": {"cpu": cpu_limit, "memory": memory_limit, "ephemeral-storage": "1Gi"},
    }


def _http_probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _shutdown(grace: int, margin: int) -> tuple[dict[str, Any], int]:
    """The preStop hook and the matching terminationGracePeriodSeconds. ``sleep`` is coreutils in the
    Debian-based images (docker/), runnable by the non-root user; the native ``sleep`` action would need
    Kubernetes 1.30+."""
    lifecycle = {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SECONDS)]}}}
    return lifecycle, PRESTOP_SECONDS + grace + margin


def _scratch_volumes(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "emptyDir": {"sizeLimit": "256Mi"}} for n in names]


def _scrape_annotations() -> dict[str, str]:
    """The Prometheus convention (AKS managed Prometheus honours it once pod-annotation scraping is on for
    the namespace): /metrics is scraped inside the cluster, never through the App Gateway."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT), "prometheus.io/path": "/metrics"}


def _gateway_pod_annotations(spec: WorkloadSpec) -> dict[str, str]:
    annotations = _scrape_annotations()
    if spec.seal_key_ids:
        annotations[SEAL_KEY_IDS_ANNOTATION] = ",".join(spec.seal_key_ids)
    return annotations


def gateway_deployment(spec: WorkloadSpec) -> Manifest:
    pod_sc, container_sc = _security_context(UID)
    labels = {"app": GATEWAY, "app.kubernetes.io/name": GATEWAY}
    if spec.workload_identity:
        labels[WI_USE_LABEL] = "true"
    lifecycle, termination_grace = _shutdown(GATEWAY_SHUTDOWN_GRACE_SECONDS, GATEWAY_SHUTDOWN_MARGIN_SECONDS)
    container = {
        "name": GATEWAY,
        "image": spec.gateway_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": APP_CONFIG}}, {"secretRef": {"name": APP_SECRET}}],
        # Set here, not in the ConfigMap, so they cannot drift from the pod spec they depend on.
        "env": [
            {"name": "MCPGW_SERVER__SHUTDOWN_GRACE_SECONDS", "value": str(GATEWAY_SHUTDOWN_GRACE_SECONDS)},
            # Every connection arrives through a proxy (the App Gateway; kubectl port-forward on kind), so
            # the TCP peer is never the client and a per-address cap would throttle all clients together.
            {"name": "MCPGW_SERVER__MAX_CONNECTIONS_PER_CLIENT", "value": "0"},
        ],
        "lifecycle": lifecycle,
        "resources": _resources("250m", "256Mi", spec.gateway_cpu_limit, spec.gateway_memory_limit),
        "securityContext": container_sc,
        "startupProbe": _http_probe("/healthz", 2, 30),
        "livenessProbe": _http_probe("/healthz", 10, 3),
        "readinessProbe": _http_probe("/readyz", 5, 2),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "data", "mountPath": "/data"}],
    }
    pod_spec = {
        "serviceAccountName": GATEWAY_SA,
        "securityContext": pod_sc,
        "terminationGracePeriodSeconds": termination_grace,
        "containers": [container],
        "volumes": _scratch_volumes("tmp", "data"),
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": GATEWAY}},
            }
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec, spec.gateway_namespace, GATEWAY, labels={"app": GATEWAY}),
        "spec": {
            "replicas": spec.gateway_replicas,
            "selector": {"matchLabels": {"app": GATEWAY}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels, "annotations": _gateway_pod_annotations(spec)},
                "spec": pod_spec,
            },
        },
    }


def gateway_service(spec: WorkloadSpec) -> Manifest:
    meta = _meta(spec, spec.gateway_namespace, GATEWAY_SERVICE)
    svc: dict[str, Any] = {
        "selector": {"app": GATEWAY},
        "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
    }
    if spec.internal_lb_ip is None:
        svc["type"] = "ClusterIP"
    else:
        # The App Gateway's backend pool is this fixed private IP; never a public load balancer.
        svc["type"] = "LoadBalancer"
        # Local: no SNAT to a node's address, so the gateway sees the App Gateway's own address as the peer,
        # the one it trusts for X-Forwarded-For (MCPGW_SERVER__TRUSTED_PROXIES); Cluster would hide it.
        svc["externalTrafficPolicy"] = "Local"
        meta["annotations"] = {INTERNAL_LB_ANNOTATION: "true", INTERNAL_LB_IP_ANNOTATION: spec.internal_lb_ip}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": svc}


def router_catalog_url(namespace_name: str) -> str:
    return f"http://{GATEWAY_SERVICE}.{namespace_name}.svc.cluster.local:{PORT}/internal/tool-catalog"


ROUTER_SHARED_SETTINGS = (
    "MCPGW_SERVER__ENVIRONMENT",
    "MCPGW_PROXY__ALLOW_LOOPBACK_URLS",
    "MCPGW_PROXY__ALLOW_PRIVATE_URLS",
    "MCPGW_PROXY__DNS_SERVERS",
    "MCPGW_ROUTER__AGGREGATE_ADAPTERS",
)
"""Gateway settings the tool router reads too (toolrouter/settings.py): the SSRF policy, so both judge `url`
targets alike, and what its ``/mcp`` serves."""


def router_statefulset(spec: WorkloadSpec) -> Manifest:
    pod_sc, container_sc = _security_context(UID)
    labels = {"app": ROUTER, "app.kubernetes.io/name": ROUTER, "adapter/type": "mcp", "adapter/name": ROUTER}
    env: list[dict[str, Any]] = [
        {"name": "PORT", "value": str(PORT)},
        {"name": "MCPGW_ROUTER__CATALOG_URL", "value": router_catalog_url(spec.gateway_namespace)},
    ]
    # The router applies the gateway's SSRF policy to `url` tools (without the environment it fails closed)
    # and serves the /mcp the gateway's settings describe.
    for name in ROUTER_SHARED_SETTINGS:
        if name in spec.gateway_env:
            env.append({"name": name, "value": spec.gateway_env[name]})
    for name in ROUTER_SHARED_SECRETS:
        if name in spec.gateway_secret_env:
            env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": ROUTER_SECRET, "key": name}}})
    lifecycle, termination_grace = _shutdown(ROUTER_CALL_SECONDS, ROUTER_SHUTDOWN_MARGIN_SECONDS)
    container = {
        "name": ROUTER,
        "image": spec.router_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "resources": _resources("100m", "128Mi", "500m", "256Mi"),
        "securityContext": container_sc,
        "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10, "failureThreshold": 3},
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5, "failureThreshold": 2},
        "lifecycle": lifecycle,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    # It needs no API access, so its own service account and no token.
    pod_spec = {
        "serviceAccountName": ROUTER_SA,
        "automountServiceAccountToken": False,
        "securityContext": pod_sc,
        "terminationGracePeriodSeconds": termination_grace,
        "containers": [container],
        "volumes": _scratch_volumes("tmp"),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(spec, spec.adapter_namespace, ROUTER, labels={"app": ROUTER}),
        "spec": {
            "serviceName": ROUTER_SERVICE,
            "replicas": spec.router_replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": ROUTER}},
            "template": {"metadata": {"labels": labels, "annotations": _scrape_annotations()}, "spec": pod_spec},
        },
    }


def router_service(spec: WorkloadSpec) -> Manifest:
    # In the adapter namespace: the gateway finds the router's replicas the way it finds an adapter's.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec, spec.adapter_namespace, ROUTER_SERVICE),
        "spec": {
            "clusterIP": "None",
            "selector": {"app": ROUTER},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _policy(
    spec: WorkloadSpec, namespace_name: str, name: str, selector: dict[str, Any], ingress: list[dict[str, Any]]
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(spec, namespace_name, name),
        "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def _egress_policy(
    spec: WorkloadSpec, name: str, selector: dict[str, Any], egress: list[dict[str, Any]]
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(spec, spec.adapter_namespace, name),
        "spec": {"podSelector": selector, "policyTypes": ["Egress"], "egress": egress},
    }


ADAPTER_POD_LABELS = {"adapter/type": "mcp", "app.kubernetes.io/component": "adapter"}
"""The labels the gateway's Kubernetes runtime gives every adapter pod (gateway/runtimes/kubernetes/manifests.py),
and not the router's pods, which are adapter/type=mcp too."""


def _from_apps(*apps: str) -> list[dict[str, Any]]:
    return [{"podSelector": {"matchLabels": {"app": app}}} for app in apps]


def _in_namespace(namespace_name: str, pod_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A peer in another namespace (both selectors in one peer: pods matching both, not either)."""
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace_name}}}
    if pod_labels is not None:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


def tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def network_policies(spec: WorkloadSpec) -> list[Manifest]:
    return gateway_network_policies(spec) + adapter_ingress_policies(spec) + adapter_egress_policies(spec)


def gateway_network_policies(spec: WorkloadSpec) -> list[Manifest]:
    """The gateway's namespace: default-deny ingress, the gateway's port open."""
    ns = spec.gateway_namespace
    return [
        # Named apart from the adapter namespace's own default deny (see _check_unique).
        _policy(spec, ns, "gateway-default-deny-ingress", {}, []),
        # Any source: the App Gateway (from its subnet, the only peer whose X-Forwarded-For the gateway
        # trusts), the router's catalog poll from the adapter namespace, in-cluster metrics scrapers.
        _policy(spec, ns, "allow-gateway-ingress", {"matchLabels": {"app": GATEWAY}}, [{"ports": tcp(PORT)}]),
    ]


def adapter_ingress_policies(spec: WorkloadSpec) -> list[Manifest]:
    """The adapter namespace: default-deny ingress, then one allow rule per legitimate flow."""
    ns = spec.adapter_namespace
    return [
        _policy(spec, ns, "default-deny-ingress", {}, []),
        # Adapters and the router (both adapter/type=mcp) serve the gateway's data plane.
        _policy(
            spec,
            ns,
            "allow-mcp-from-gateway",
            {"matchLabels": {"adapter/type": "mcp"}},
            [{"from": [_in_namespace(spec.gateway_namespace, {"app": GATEWAY})], "ports": tcp(PORT)}],
        ),
        # Adapters (not the router itself) also serve the router, which calls them for virtual servers
        # (/servers/{name}/mcp) with the endpoints the gateway's tool catalog lists.
        _policy(
            spec,
            ns,
            "allow-adapters-from-router",
            {"matchLabels": ADAPTER_POD_LABELS},
            [{"from": _from_apps(ROUTER), "ports": tcp(PORT)}],
        ),
        # Tools listen on the port of their definition, so only the source is restricted.
        _policy(
            spec,
            ns,
            "allow-tools-from-router",
            {"matchLabels": {"adapter/type": "tool"}},
            [{"from": _from_apps(ROUTER)}],
        ),
        _policy(
            spec,
            ns,
            "allow-router-metrics",
            {"matchLabels": {"app": ROUTER}},
            [{"from": [_in_namespace(spec.metrics_namespace)], "ports": tcp(PORT)}],
        ),
    ]


def adapter_egress_policies(spec: WorkloadSpec) -> list[Manifest]:
    """Every pod of the adapter namespace (adapters, tools, the router) reaches DNS and, unless turned off,
    the internet, but never the metadata endpoints, the cluster's networks or the denied ranges. Egress
    rules add up, so the router's policy only adds the flows it needs inside the cluster."""
    egress = [_dns_rule(spec.egress)]
    if spec.egress.internet:
        egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": spec.egress.blocked()}}]})
    return [
        _egress_policy(spec, "adapter-egress", {}, egress),
        _egress_policy(
            spec,
            "router-egress",
            {"matchLabels": {"app": ROUTER}},
            [
                {"to": [_in_namespace(spec.gateway_namespace, {"app": GATEWAY})], "ports": tcp(PORT)},
                # Tools listen on the port of their definition.
                {"to": [{"podSelector": {"matchLabels": {"adapter/type": "tool"}}}]},
                # Adapters, for virtual servers, on the cluster-wide MCP port.
                {"to": [{"podSelector": {"matchLabels": ADAPTER_POD_LABELS}}], "ports": tcp(PORT)},
            ],
        ),
    ]


def _dns_rule(egress: EgressSpec) -> dict[str, Any]:
    return {
        "to": [_in_namespace(egress.dns_namespace, egress.dns_labels)],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def pdb(spec: WorkloadSpec, namespace_name: str, name: str, selector: dict[str, str]) -> Manifest:
    # maxUnavailable (not minAvailable) so a single replica never blocks a node drain forever.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(spec, namespace_name, name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
