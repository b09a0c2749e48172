"""Pure builders for the Kubernetes objects of one adapter or tool: a StatefulSet ``{name}`` and a Service
``{name}-service`` (headless for adapters and the router, ClusterIP for tools).

No ``kubernetes`` import here: the runtime, the infrastructure and the tests share these plain dicts, and
``kubernetes-validate`` checks them offline. Changes from the original manifests, and why:

* ``app.kubernetes.io/*`` labels beside the original ``adapter/*`` ones, so standard tooling can group them;
  ``managed-by`` also lets the runtime refuse to take over objects it did not create.
* A tcpSocket readiness probe (MCP endpoints answer POST only, so an HTTP GET probe would fail), which is
  what makes the data plane's Ready-based discovery meaningful.
* Restricted pod security: non-root, seccomp ``RuntimeDefault``, no capabilities, no privilege escalation,
  and no service-account token unless workload identity needs one.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from gateway.names import MAX_NAME_LENGTH
from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.settings import KubernetesRuntimeSettings

Manifest = dict[str, Any]

MANAGED_BY = "mcp-gateway"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
TYPE_LABEL = "adapter/type"
NAME_LABEL = "adapter/name"
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
DISCOVERY_SELECTOR = f"{TYPE_LABEL}=mcp"
"""Pods the data plane routes to: adapters and the tool router (never tools)."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")

# Pod-spec keys the runtime sets only sometimes: an update must null them explicitly when they no longer
# apply, because a JSON merge patch keeps every key it does not mention.
_OPTIONAL_POD_SPEC_KEYS = ("serviceAccountName", "serviceAccount", "automountServiceAccountToken")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a StatefulSet and its Service, or None when it can."""
    if not _DNS_LABEL.match(name):
        return f"'{name}' is not a valid Kubernetes name (lowercase letters, digits and '-')."
    if len(name) > MAX_NAME_LENGTH:
        return f"'{name}' is longer than {MAX_NAME_LENGTH} characters, the limit for a StatefulSet's pods."
    return None


def service_name(name: str) -> str:
    return f"{name}-service"


def workload_type(kind: WorkloadKind) -> str:
    """The original ``adapter/type`` value: ``tool`` for tools, ``mcp`` for adapters and the router."""
    return "tool" if kind is WorkloadKind.TOOL else "mcp"


def container_port(spec: WorkloadSpec, settings: KubernetesRuntimeSettings) -> int:
    """Tools serve on their definition's port; adapters on the cluster-wide MCP port (original: 8000)."""
    return spec.port if spec.kind is WorkloadKind.TOOL else settings.container_port


def runs_bridge(spec: WorkloadSpec) -> bool:
    """The bridge image runs ``command`` specs (it execs a streamable-http one) and ``url`` specs of
    transport ``sse`` (which have no command: the bridge connects to the URL)."""
    return spec.command is not None or spec.sse_upstream is not None


def image(spec: WorkloadSpec, settings: KubernetesRuntimeSettings) -> str:
    if runs_bridge(spec):
        return f"{settings.registry}/{settings.bridge_image}"
    if spec.image is None:
        raise ValueError(f"'{spec.name}' has neither an image nor a command to run")
    return f"{settings.registry}/{spec.image}"


def selector_labels(spec: WorkloadSpec) -> dict[str, str]:
    """Immutable once created: the StatefulSet selector and the Service selector."""
    return {TYPE_LABEL: workload_type(spec.kind), NAME_LABEL: spec.name}


def labels(spec: WorkloadSpec) -> dict[str, str]:
    """Labels on every object and pod of the workload."""
    result = {
        **selector_labels(spec),
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/component": spec.kind.value,
        "app.kubernetes.io/part-of": MANAGED_BY,
        MANAGED_BY_LABEL: MANAGED_BY,
    }
    if spec.use_workload_identity:
        result[WORKLOAD_IDENTITY_LABEL] = "true"  # opts the pod into the Azure workload-identity webhook
    return result


def is_managed(metadata_labels: Mapping[str, str] | None) -> bool:
    """True when an existing object was created by this gateway (and so may be updated or replaced)."""
    return (metadata_labels or {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def environment(spec: WorkloadSpec, settings: KubernetesRuntimeSettings) -> list[dict[str, str]]:
    """The container's env: the resource's variables, plus the bridge's settings for the specs it runs.

    The bridge image (sample-servers/mcp-proxy) serves on $PORT at /mcp: a ``stdio`` command with one process
    per session, an ``sse`` command (started once, on a port of its own) or ``sse`` URL with one SSE
    connection per session; a ``streamable-http`` command it just execs. Sessions are bounded by
    ``MCP_SESSION_TTL`` (idle seconds) and ``MCP_MAX_SESSIONS``.
    """
    env = dict(spec.env)
    if runs_bridge(spec):
        bridge = {
            "MCP_TRANSPORT": spec.transport or "stdio",
            "PORT": str(container_port(spec, settings)),
            "MCP_SESSION_TTL": f"{settings.session_idle_timeout_seconds:g}",
            "MCP_MAX_SESSIONS": str(settings.max_sessions_per_replica),
        }
        if spec.command is not None:
            bridge |= {"MCP_COMMAND": spec.command, "MCP_ARGS": shlex.join(spec.args)}
        if spec.sse_upstream is not None:
            bridge["MCP_SSE_URL"] = spec.sse_upstream
        env |= bridge
    return [{"name": key, "value": value} for key, value in env.items()]


def container(spec: WorkloadSpec, settings: KubernetesRuntimeSettings) -> Manifest:
    port = container_port(spec, settings)
    return {
        "name": f"{spec.name}-container",
        "image": image(spec, settings),
        "imagePullPolicy": settings.image_pull_policy,
        "env": environment(spec, settings),
        "ports": [{"name": "mcp", "containerPort": port, "protocol": "TCP"}],
        # tcpSocket, not httpGet: MCP endpoints answer POST, a GET probe would keep the pod unready.
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 5, "failureThreshold": 3},
        "resources": {
            "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
            "limits": {
                "cpu": settings.cpu_limit,
                "memory": settings.memory_limit,
                "ephemeral-storage": settings.ephemeral_storage_limit,
            },
        },
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def pod_spec(spec: WorkloadSpec, settings: KubernetesRuntimeSettings) -> Manifest:
    result: Manifest = {
        "enableServiceLinks": False,  # no env var per Service in the namespace leaking into every adapter
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(spec, settings)],
    }
    if spec.use_workload_identity:
        result["serviceAccountName"] = settings.workload_service_account
    else:
        result["automountServiceAccountToken"] = False  # no API credentials inside arbitrary MCP servers
    return result


def statefulset(spec: WorkloadSpec, settings: KubernetesRuntimeSettings) -> Manifest:
    meta_labels = labels(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": spec.name, "namespace": settings.namespace, "labels": meta_labels},
        "spec": {
            "serviceName": service_name(spec.name),
            "replicas": spec.replicas,
            # Replicas are independent MCP servers: no reason to start them one after another.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector_labels(spec)},
            "template": {"metadata": {"labels": meta_labels}, "spec": pod_spec(spec, settings)},
        },
    }


def service(spec: WorkloadSpec, settings: KubernetesRuntimeSettings) -> Manifest:
    port = container_port(spec, settings)
    service_spec: Manifest = {
        "selector": selector_labels(spec),
        "ports": [{"name": "mcp", "port": port, "targetPort": port, "protocol": "TCP"}],
    }
    if spec.kind is not WorkloadKind.TOOL:
        # Headless: per-pod DNS names, so the data plane can pin an MCP session to one replica.
        service_spec["clusterIP"] = "None"
        service_spec["publishNotReadyAddresses"] = False
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(spec.name),
            "namespace": settings.namespace,
            "labels": labels(spec),
        },
        "spec": service_spec,
    }


def _with_removals(
    desired: Mapping[str, Any], current: Mapping[str, Any], keys: tuple[str, ...] | None = None
) -> Manifest:
    """``desired`` plus an explicit null for each key of ``current`` (limited to ``keys`` when given) that
    ``desired`` drops: in a JSON merge patch, a missing key means "keep", only null means "remove"."""
    removed = {k: None for k in current if k not in desired and (keys is None or k in keys)}
    return {**desired, **removed}


def statefulset_patch(spec: WorkloadSpec, settings: KubernetesRuntimeSettings, current: Mapping[str, Any]) -> Manifest:
    """A JSON merge patch (RFC 7386) turning the ``current`` StatefulSet into the one for ``spec``.

    A merge patch replaces lists whole, so the container list (and its env) becomes exactly the desired
    one: variables removed from the resource really disappear (the original's strategic merge kept them).
    ``resourceVersion`` makes the API server refuse the patch (409) if someone changed the object since.
    """
    desired = statefulset(spec, settings)
    cur_meta = current.get("metadata", {})
    cur_template = current.get("spec", {}).get("template", {})
    cur_template_labels = cur_template.get("metadata", {}).get("labels", {})
    template = desired["spec"]["template"]
    return {
        "metadata": {
            "labels": _with_removals(desired["metadata"]["labels"], cur_meta.get("labels", {})),
            "resourceVersion": cur_meta.get("resourceVersion"),
        },
        "spec": {
            "replicas": spec.replicas,
            "template": {
                "metadata": {"labels": _with_removals(template["metadata"]["labels"], cur_template_labels)},
                "spec": _with_removals(template["spec"], cur_template.get("spec", {}), _OPTIONAL_POD_SPEC_KEYS),
            },
        },
    }


def service_patch(spec: WorkloadSpec, settings: KubernetesRuntimeSettings, current: Mapping[str, Any]) -> Manifest:
    """A JSON merge patch for the Service: labels and ports (a tool's port may change on update)."""
    desired = service(spec, settings)
    cur_meta = current.get("metadata", {})
    return {
        "metadata": {
            "labels": _with_removals(desired["metadata"]["labels"], cur_meta.get("labels", {})),
            "resourceVersion": cur_meta.get("resourceVersion"),
        },
        "spec": {"ports": desired["spec"]["ports"]},
    }


def pod_url(pod: str, name: str, port: int, path: str, settings: KubernetesRuntimeSettings) -> str:
    """A replica's address through the headless Service's per-pod DNS record."""
    return f"http://{pod}.{service_name(name)}.{settings.namespace}.svc.{settings.cluster_domain}:{port}{path}"


def service_url(spec: WorkloadSpec, settings: KubernetesRuntimeSettings) -> str:
    """A tool's load-balanced ClusterIP Service address, with the tool's path."""
    return f"http://{service_name(spec.name)}.{settings.namespace}.svc.{settings.cluster_domain}:{spec.port}{spec.path}"
