"""The Pod Security Standards' ``restricted`` profile (Kubernetes 1.30), checked on a pod spec.

The test API server (1.20) has no Pod Security admission, so the rules are checked here: baseline's host
namespaces, privileged containers, host paths and ports, capabilities; restricted's volume types,
privilege escalation, non-root, seccomp and dropped capabilities. Not checked (we never set them): AppArmor,
SELinux options, /proc mount type, sysctls, Windows host process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}


def restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    """What keeps ``pod`` (a pod spec) from admission under ``enforce: restricted``; empty when nothing."""
    problems = [f"{flag} is set" for flag in ("hostNetwork", "hostPID", "hostIPC") if pod.get(flag)]
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} is of type {sorted(kinds)}")
    pod_context = pod.get("securityContext", {})
    if pod_context.get("runAsUser") == 0:
        problems.append("the pod runs as uid 0")
    containers = [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]
    for container in containers:
        problems += [f"{container['name']}: {p}" for p in _container_violations(container, pod_context)]
    return problems


def _container_violations(container: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    context = container.get("securityContext", {})
    problems = []
    if context.get("privileged"):
        problems.append("privileged")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    if non_root is not True:
        problems.append("runAsNonRoot is not true (container or pod)")
    if context.get("runAsUser") == 0:
        problems.append("runs as uid 0")
    seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
    if seccomp not in SECCOMP_TYPES:
        problems.append(f"seccomp profile {seccomp!r}")
    capabilities = context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []):
        problems.append("capabilities do not drop ALL")
    if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
        problems.append(f"adds capabilities {capabilities['add']}")
    if any(port.get("hostPort") for port in container.get("ports", [])):
        problems.append("uses a host port")
    return problems
