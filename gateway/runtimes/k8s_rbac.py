"""The Kubernetes API calls the runtime makes, as RBAC rules.

This is the single source of truth: the infrastructure grants exactly these rules to the gateway's
service account, and a test checks the runtime makes no call outside them.
"""

from __future__ import annotations

from typing import Final

RBAC_RULES: Final[list[dict[str, list[str]]]] = [
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
