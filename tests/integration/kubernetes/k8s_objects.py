"""Helpers for declaring infrastructure objects in the test API server and asking its RBAC authorizer."""

from __future__ import annotations

from typing import Any

import httpx

UNSERVED_KINDS = {"PodDisruptionBudget"}
"""policy/v1 arrived in Kubernetes 1.21; the test API server is 1.20 (kubernetes-validate checks it offline)."""


def collection(doc: dict[str, Any]) -> str:
    """The REST path of the collection ``doc`` belongs to."""
    api = f"/api/{doc['apiVersion']}" if doc["apiVersion"] == "v1" else f"/apis/{doc['apiVersion']}"
    plural = "networkpolicies" if doc["kind"] == "NetworkPolicy" else f"{doc['kind'].lower()}s"
    namespace = doc["metadata"].get("namespace")
    return f"{api}/namespaces/{namespace}/{plural}" if namespace else f"{api}/{plural}"


def may(admin: httpx.Client, user: str, namespace: str, verb: str, resource: str, group: str = "") -> bool:
    """The RBAC authorizer's answer for a service account (a SubjectAccessReview)."""
    sa_namespace = user.split(":")[2]
    subresource = ""
    if "/" in resource:
        resource, subresource = resource.split("/")
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}", "system:authenticated"],
            "resourceAttributes": {
                "namespace": namespace,
                "verb": verb,
                "group": group,
                "resource": resource,
                "subresource": subresource,
            },
        },
    }
    response = admin.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
    response.raise_for_status()
    return bool(response.json()["status"].get("allowed"))
