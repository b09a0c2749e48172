"""Connecting to the Kubernetes API (in-cluster or kubeconfig) and turning its failures into gateway errors.

Every API call of the Kubernetes runtime goes through :func:`api_errors`, so operators see one consistent
sentence per failure: what was refused and why, where the API lives when it cannot be reached, and which
RBAC rule is missing when it forbids a call (see ``docs/kubernetes.md``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from kubernetes.aio.client import ApiClient, Configuration
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.config import ConfigException, load_incluster_config, load_kube_config

from gateway.errors import BackendError, Conflict, InvalidRequest, NotFound
from gateway.settings import KubernetesRuntimeSettings


class StaleObject(Conflict):
    """The object changed between our read and our write (HTTP 409 on ``resourceVersion``)."""


def in_cluster(settings: KubernetesRuntimeSettings) -> bool:
    """The explicit setting, else whether we run in a pod (the kubelet sets KUBERNETES_SERVICE_HOST)."""
    if settings.in_cluster is not None:
        return settings.in_cluster
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


async def connect(settings: KubernetesRuntimeSettings) -> ApiClient:
    """An API client for the pod's service account, or for the kubeconfig (``settings.kubeconfig``, else
    ``$KUBECONFIG``, else ``~/.kube/config``) and context."""
    configuration = Configuration()
    try:
        if in_cluster(settings):
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config_file = str(settings.kubeconfig) if settings.kubeconfig else None
            await load_kube_config(  # type: ignore[no-untyped-call]
                config_file=config_file, context=settings.context, client_configuration=configuration
            )
    except (ConfigException, OSError, ValueError) as exc:
        where = "the in-cluster service account" if in_cluster(settings) else "the kubeconfig"
        raise BackendError(
            f"Cannot configure the Kubernetes client from {where}: {exc}. Set MCPGW_RUNTIME__KUBERNETES__"
            "KUBECONFIG (and CONTEXT) or run the gateway in a pod with a service account."
        ) from exc
    return ApiClient(configuration=configuration)


def as_dict(client: ApiClient, model: object) -> dict[str, Any]:
    """A typed client model as the API's own JSON shape (camelCase, no nulls)."""
    data = client.sanitize_for_serialization(model)  # type: ignore[no-untyped-call]
    return data if isinstance(data, dict) else {}


async def close_client(client: ApiClient) -> None:
    await client.close()  # type: ignore[no-untyped-call]


def status_message(exc: ApiException) -> str:
    """The API server's own sentence from a ``Status`` body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return f"HTTP {exc.status} {exc.reason or ''}".strip()


def status_reason(exc: ApiException) -> str:
    """The machine-readable ``reason`` of a ``Status`` body (``AlreadyExists``, ``Conflict``...)."""
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""


def _translate(exc: ApiException, verb: str, resource: str) -> Exception:
    message = status_message(exc)
    if exc.status == 404:
        return NotFound(message)
    if exc.status == 409:
        if status_reason(exc) == "AlreadyExists":
            return Conflict(message)
        return StaleObject(f"{resource} was changed by someone else meanwhile: {message}")
    if exc.status in (400, 422):
        return InvalidRequest(f"Kubernetes rejected {resource}: {message}")
    if exc.status in (401, 403):
        return BackendError(
            f"Kubernetes API refused {verb} {resource}: {message}. Check that the RBAC Role bound to the "
            "gateway's identity grants the rules in docs/kubernetes.md (gateway/runtimes/kubernetes/rbac.py)."
        )
    return BackendError(f"Kubernetes API failed {verb} {resource}: {message}")


@contextmanager
def api_errors(verb: str, resource: str, host: str) -> Iterator[None]:
    """Re-raise API and connection failures of the enclosed call as gateway errors."""
    try:
        yield
    except ApiException as exc:
        raise _translate(exc, verb, resource) from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise BackendError(f"Kubernetes API unreachable at {host}: {exc or type(exc).__name__}") from exc


async def json_body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The JSON body of a raw (not preloaded) response, raising ``ApiException`` on an error status as the
    client's typed methods do."""
    text = await response.text()
    if response.status >= 400:
        raise ApiException(status=response.status, reason=response.reason, body=text)
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ApiException(status=response.status, reason="unexpected body", body=text)
    return body
