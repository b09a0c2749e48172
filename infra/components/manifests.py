"""The Kubernetes objects of the gateway and tool router, as plain manifest dicts.

Pure functions, no Pulumi resources: values may be plain strings (tests, kubernetes-validate) or
``pulumi.Output`` (the program), which Pulumi resolves inside nested inputs. The workloads component
turns each dict into a typed pulumi_kubernetes resource.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.runtimes.k8s_rbac import RBAC_RULES
from toolrouter.settings import ToolRouterSettings

Manifest = dict[str, Any]

GATEWAY = "mcpgateway"
GATEWAY_SA = "mcpgateway-sa"
GATEWAY_SERVICE = "mcpgateway-service"
WORKLOAD_SA = "workload-sa"
ROUTER = "toolgateway"
ROUTER_SERVICE = "toolgateway-service"
REDIS = "redis"
REDIS_SERVICE = "redis-service"
APP_SECRET = "mcpgateway-secrets"
APP_CONFIG = "mcpgateway-config"
REDIS_SECRET = "redis-auth"
RUNTIME_ROLE = "mcpgateway-runtime"
PORT = 8000
REDIS_PORT = 6379
UID = 1100
REDIS_UID = 999  # the "redis" user of the official image
WI_USE_LABEL = "azure.workload.identity/use"
WI_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
INTERNAL_LB_IP_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-ipv4"

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
class RedisSpec:
    """An in-cluster Redis for the session table (local stack only)."""

    image: str


@dataclass(frozen=True)
class WorkloadSpec:
    """Inputs of the workloads; string-typed fields may hold ``pulumi.Output`` values."""

    namespace: str
    gateway_image: Any
    router_image: Any
    gateway_replicas: int
    router_replicas: int
    gateway_env: Mapping[str, Any]
    """Non-secret settings (ConfigMap)."""
    gateway_secret_env: Mapping[str, Any]
    """Secret settings (Secret); always includes MCPGW_ROUTER__SECRET."""
    gateway_client_id: Any | None = None
    """Client id of the gateway's managed identity; None when workload identity is off."""
    workload_client_id: Any | None = None
    internal_lb_ip: str | None = None
    """Expose the gateway through an Azure internal load balancer on this IP; None: ClusterIP only."""
    redis: RedisSpec | None = None
    redis_password: Any | None = None
    gateway_cpu_limit: str = "1"
    gateway_memory_limit: str = "512Mi"
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def workload_identity(self) -> bool:
        return self.gateway_client_id is not None


def build_manifests(spec: WorkloadSpec) -> list[Manifest]:
    """Every object of the workloads, namespace first, in a dependency-friendly order."""
    docs = [
        namespace(spec),
        *service_accounts(spec),
        runtime_role(spec),
        runtime_role_binding(spec),
        app_config(spec),
        app_secret(spec),
        gateway_deployment(spec),
        gateway_service(spec),
        router_statefulset(spec),
        router_service(spec),
        *network_policies(spec),
        pdb(spec, GATEWAY, {"app": GATEWAY}),
        pdb(spec, ROUTER, {"app": ROUTER}),
    ]
    if spec.redis is not None:
        docs += [redis_secret(spec), redis_deployment(spec, spec.redis), redis_service(spec)]
    return docs


def _meta(spec: WorkloadSpec, name: str, **extra: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "mcp-gateway", **spec.extra_labels, **extra.pop("labels", {})}
    return {"name": name, "namespace": spec.namespace, "labels": labels, **extra}


def namespace(spec: WorkloadSpec) -> Manifest:
    # baseline enforced (adapters come from user images), restricted reported so drift is visible.
    labels = {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
        "app.kubernetes.io/part-of": "mcp-gateway",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spec.namespace, "labels": labels}}


def service_accounts(spec: WorkloadSpec) -> list[Manifest]:
    def sa(name: str, client_id: Any | None, automount: bool) -> Manifest:
        meta = _meta(spec, name)
        if client_id is not None:
            meta["annotations"] = {WI_CLIENT_ID_ANNOTATION: client_id}
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
            "automountServiceAccountToken": automount,
        }

    # Adapters never talk to the Kubernetes API; the workload identity webhook mounts its own token.
    return [sa(GATEWAY_SA, spec.gateway_client_id, True), sa(WORKLOAD_SA, spec.workload_client_id, False)]


def runtime_role(spec: WorkloadSpec) -> Manifest:
    """Exactly the calls the Kubernetes runtime makes (gateway/runtimes/k8s_rbac.py), nothing more."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(spec, RUNTIME_ROLE),
        "rules": copy.deepcopy(RBAC_RULES),
    }


def runtime_role_binding(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(spec, RUNTIME_ROLE),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RUNTIME_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": GATEWAY_SA, "namespace": spec.namespace}],
    }


def app_config(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(spec, APP_CONFIG),
        "data": dict(spec.gateway_env),
    }


def app_secret(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(spec, APP_SECRET),
        "stringData": dict(spec.gateway_secret_env),
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
        "metadata": _meta(spec, GATEWAY, labels={"app": GATEWAY}),
        "spec": {
            "replicas": spec.gateway_replicas,
            "selector": {"matchLabels": {"app": GATEWAY}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def gateway_service(spec: WorkloadSpec) -> Manifest:
    meta = _meta(spec, GATEWAY_SERVICE)
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
)
"""Gateway settings the tool router reads too (toolrouter/settings.py), so both judge `url` targets alike."""


def router_statefulset(spec: WorkloadSpec) -> Manifest:
    pod_sc, container_sc = _security_context(UID)
    labels = {"app": ROUTER, "app.kubernetes.io/name": ROUTER, "adapter/type": "mcp", "adapter/name": ROUTER}
    env: list[dict[str, Any]] = [
        {"name": "PORT", "value": str(PORT)},
        {"name": "MCPGW_ROUTER__CATALOG_URL", "value": router_catalog_url(spec.namespace)},
        {
            "name": "MCPGW_ROUTER__SECRET",
            "valueFrom": {"secretKeyRef": {"name": APP_SECRET, "key": "MCPGW_ROUTER__SECRET"}},
        },
    ]
    # The router applies the gateway's SSRF policy to `url` tools; without the environment it fails closed.
    for name in ROUTER_SHARED_SETTINGS:
        if name in spec.gateway_env:
            env.append({"name": name, "value": spec.gateway_env[name]})
    if "APPLICATIONINSIGHTS_CONNECTION_STRING" in spec.gateway_secret_env:
        env.append(
            {
                "name": "APPLICATIONINSIGHTS_CONNECTION_STRING",
                "valueFrom": {
                    "secretKeyRef": {"name": APP_SECRET, "key": "APPLICATIONINSIGHTS_CONNECTION_STRING"}
                },
            }
        )
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
    # It shares mcpgateway-sa (the contract) but needs no API access, so it gets no token.
    pod_spec = {
        "serviceAccountName": GATEWAY_SA,
        "automountServiceAccountToken": False,
        "securityContext": pod_sc,
        "terminationGracePeriodSeconds": termination_grace,
        "containers": [container],
        "volumes": _scratch_volumes("tmp"),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(spec, ROUTER, labels={"app": ROUTER}),
        "spec": {
            "serviceName": ROUTER_SERVICE,
            "replicas": spec.router_replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": ROUTER}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def router_service(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec, ROUTER_SERVICE),
        "spec": {
            "clusterIP": "None",
            "selector": {"app": ROUTER},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _policy(
    spec: WorkloadSpec, name: str, selector: dict[str, Any], ingress: list[dict[str, Any]]
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(spec, name),
        "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def _from_apps(*apps: str) -> list[dict[str, Any]]:
    return [{"podSelector": {"matchLabels": {"app": app}}} for app in apps]


def tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def network_policies(spec: WorkloadSpec) -> list[Manifest]:
    """Default-deny ingress, then one allow rule per legitimate flow."""
    policies = [
        _policy(spec, "default-deny-ingress", {}, []),
        # Clients arrive through the App Gateway and the internal LB, which SNATs to node IPs: any source.
        _policy(spec, "allow-gateway-ingress", {"matchLabels": {"app": GATEWAY}}, [{"ports": tcp(PORT)}]),
        _policy(
            spec,
            "allow-mcp-from-gateway",
            {"matchLabels": {"adapter/type": "mcp"}},
            [{"from": _from_apps(GATEWAY, ROUTER), "ports": tcp(PORT)}],
        ),
        # Tools listen on the port of their definition, so only the source is restricted.
        _policy(
            spec,
            "allow-tools-from-router",
            {"matchLabels": {"adapter/type": "tool"}},
            [{"from": _from_apps(ROUTER)}],
        ),
    ]
    if spec.redis is not None:
        policies.append(
            _policy(
                spec,
                "allow-redis-from-gateway",
                {"matchLabels": {"app": REDIS}},
                [{"from": _from_apps(GATEWAY), "ports": tcp(REDIS_PORT)}],
            )
        )
    return policies


def pdb(spec: WorkloadSpec, name: str, selector: dict[str, str]) -> Manifest:
    # maxUnavailable (not minAvailable) so a single replica never blocks a node drain forever.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(spec, name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }


def redis_secret(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(spec, REDIS_SECRET),
        "stringData": {"password": spec.redis_password},
    }


def redis_deployment(spec: WorkloadSpec, redis: RedisSpec) -> Manifest:
    pod_sc, container_sc = _security_context(REDIS_UID)
    password = {"valueFrom": {"secretKeyRef": {"name": REDIS_SECRET, "key": "password"}}}
    container = {
        "name": REDIS,
        "image": redis.image,
        # Session routing data is disposable: no persistence, a memory cap, LRU eviction.
        "command": [
            "redis-server",
            "--requirepass",
            "$(REDIS_PASSWORD)",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            "96mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ],
        "env": [{"name": "REDIS_PASSWORD", **password}, {"name": "REDISCLI_AUTH", **password}],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": _resources("50m", "64Mi", "500m", "128Mi"),
        "securityContext": container_sc,
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 5},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec, REDIS, labels={"app": REDIS}),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": REDIS}},
            "template": {
                "metadata": {"labels": {"app": REDIS}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_sc,
                    "containers": [container],
                    "volumes": _scratch_volumes("data"),
                },
            },
        },
    }


def redis_service(spec: WorkloadSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec, REDIS_SERVICE),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": REDIS},
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}],
        },
    }


def redis_url(namespace_name: str, password: str) -> str:
    return f"redis://:{password}@{REDIS_SERVICE}.{namespace_name}.svc.cluster.local:{REDIS_PORT}/0"
