"""The Kubernetes API calls the runtime makes, as RBAC rules.

This is the single source of truth: the infrastructure grants exactly these rules to the gateway's
service account, and the integration tests run the runtime as a user bound to a Role of exactly these
rules (RBAC enforced by a real API server), so any call outside them fails a test.

Why each verb: statefulsets and services ``get`` (refuse foreign objects, read status, read before an
update), ``list`` (the reconciler finds objects no record owns), ``create`` (deploy), ``patch`` (update,
restart; JSON merge patch), ``delete``; pods ``list`` and ``watch``
(replica discovery, readiness check); ``pods/log`` ``get`` (logs). Pods are never read one by one.
"""

from __future__ import annotations

from typing import Final

RBAC_RULES: Final[list[dict[str, list[str]]]] = [
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
