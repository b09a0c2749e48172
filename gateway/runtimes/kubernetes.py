"""Kubernetes runtime: each adapter or tool is a StatefulSet ``{name}`` plus a Service ``{name}-service``.

Objects come from :mod:`gateway.runtimes.k8s_manifests`; the calls made are exactly the RBAC rules in
:mod:`gateway.runtimes.k8s_rbac`; replica readiness for the data plane comes from a pod watch
(:mod:`gateway.runtimes.k8s_discovery`). ``url`` sources create nothing in the cluster: the runtime only
remembers them (the gateway re-registers every stored resource at start-up through :meth:`register`).
"""

from __future__ import annotations

import contextlib
import logging
from contextlib import AbstractContextManager
from typing import Any

from aiohttp import ClientResponse
from kubernetes.aio.client import ApiClient, AppsV1Api, CoreV1Api, V1Service, V1StatefulSet
from kubernetes.aio.client.exceptions import ApiException

from gateway.errors import BackendError, Conflict, GatewayError, NotFound, UnsupportedOnRuntime
from gateway.runtimes import k8s_manifests as manifests
from gateway.runtimes.base import Endpoint, WorkloadSpec, WorkloadStatus
from gateway.runtimes.k8s_client import StaleObject, api_errors, as_dict, close_client, connect, json_body
from gateway.runtimes.k8s_discovery import PodDiscovery
from gateway.settings import KubernetesRuntimeSettings

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
LOG_LINES = 1000


class KubernetesRuntime:
    """The :class:`~gateway.runtimes.base.Runtime` for a Kubernetes cluster (one namespace)."""

    kind = "kubernetes"

    def __init__(self, settings: KubernetesRuntimeSettings, *, sync_timeout: float = 10.0) -> None:
        self._settings = settings
        self._namespace = settings.namespace
        self._sync_timeout = sync_timeout
        self._remote: dict[str, WorkloadSpec] = {}
        """``url`` sources by name: they exist only in the gateway's store, not in the cluster."""
        self._paths: dict[str, str] = {}
        """The MCP path of each known adapter (from deploy, update and register); default ``/mcp``."""
        self._client: ApiClient | None = None
        self._discovery: PodDiscovery | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is None:
            self._client = await connect(self._settings)
            self._discovery = PodDiscovery(self._core, self._namespace, self._sync_timeout)
            self._discovery.start()

    async def close(self) -> None:
        if self._discovery is not None:
            await self._discovery.close()
            self._discovery = None
        if self._client is not None:
            await close_client(self._client)
            self._client = None

    async def check(self) -> None:
        with self._errors("list", "pods"):
            await self._core.list_namespaced_pod(self._namespace, limit=1, _request_timeout=5.0)

    @property
    def host(self) -> str:
        return str(self._api_client.configuration.host)

    # -- control plane ---------------------------------------------------------------------------------

    def validate(self, spec: WorkloadSpec) -> None:
        if spec.url is not None:
            return
        if problem := manifests.name_problem(spec.name):
            raise UnsupportedOnRuntime(problem)
        if spec.command is None and spec.image is None:
            raise UnsupportedOnRuntime(f"'{spec.name}' needs an image (name and version), a command or a url.")

    async def register(self, spec: WorkloadSpec) -> None:
        """Remember a ``url`` source after a restart; cluster workloads kept running and only need their
        MCP path noted for :meth:`endpoints`."""
        self._paths[spec.name] = spec.path
        if spec.url is not None:
            self._remote[spec.name] = spec

    async def deploy(self, spec: WorkloadSpec) -> None:
        self.validate(spec)
        self._paths[spec.name] = spec.path
        if spec.url is not None:
            if spec.name in self._remote:
                raise Conflict(f"A remote server named '{spec.name}' is already registered.")
            self._remote[spec.name] = spec
            return
        await self._refuse_foreign(spec.name)
        statefulset, service = (
            manifests.statefulset(spec, self._settings),
            manifests.service(spec, self._settings),
        )
        with self._errors("create", f"statefulset {spec.name}"):
            await self._apps.create_namespaced_stateful_set(self._namespace, V1StatefulSet.model_validate(statefulset))
        try:
            with self._errors("create", f"service {manifests.service_name(spec.name)}"):
                try:
                    await self._core.create_namespaced_service(self._namespace, V1Service.model_validate(service))
                except ApiException as exc:
                    if exc.status != 409:  # a managed Service left over from an interrupted delete is fine
                        raise
        except GatewayError:
            # Do not leave a StatefulSet behind that would make the retried deploy a conflict.
            with contextlib.suppress(GatewayError):
                await self._delete_objects(spec.name)
            raise

    async def update(self, spec: WorkloadSpec) -> None:
        """Patch the StatefulSet (a rolling restart) and the Service; switching to or from a ``url`` source
        deletes or creates the cluster objects."""
        self.validate(spec)
        self._paths[spec.name] = spec.path
        if spec.url is not None:
            await self._delete_objects(spec.name)
            self._remote[spec.name] = spec
            return
        if self._remote.pop(spec.name, None) is not None:
            await self.deploy(spec)
            return
        try:
            await self._patch(spec)
        except StaleObject:
            log.info("statefulset %s changed while updating it; retrying once", spec.name)
            try:
                await self._patch(spec)
            except StaleObject as exc:
                raise Conflict(f"'{spec.name}' keeps being changed by someone else: {exc.detail}") from exc

    async def delete(self, name: str) -> None:
        self._remote.pop(name, None)
        self._paths.pop(name, None)
        await self._delete_objects(name)

    async def status(self, name: str) -> WorkloadStatus:
        if remote := self._remote.get(name):
            return WorkloadStatus(desired=1, ready=1, updated=1, available=1, image=remote.url or "")
        statefulset = await self._read_statefulset(name)
        spec, status = statefulset.spec, statefulset.status
        containers = spec.template.spec.containers if spec and spec.template.spec else []
        return WorkloadStatus(
            desired=spec.replicas if spec else None,
            ready=status.ready_replicas if status else None,
            updated=status.updated_replicas if status else None,
            available=status.available_replicas if status else None,
            image=(containers[0].image or "Unknown") if containers else "Unknown",
        )

    async def logs(self, name: str, instance: int) -> str:
        if remote := self._remote.get(name):
            return f"'{name}' is a remote server at {remote.url}; the cluster runs no pod for it.\n"
        pod = f"{name}-{instance}"
        with self._errors("get", f"pods/log {pod}"):
            try:
                text = await self._core.read_namespaced_pod_log(
                    pod, self._namespace, container=f"{name}-container", tail_lines=LOG_LINES
                )
            except ApiException as exc:
                if exc.status == 404:
                    raise NotFound(f"'{name}' has no instance {instance} (no pod {pod}).") from exc
                if exc.status == 400:  # the container is not running yet (ContainerCreating, pulling...)
                    return (
                        f"Logs are not yet available for instance {instance} (pod is starting). "
                        "Try again in a few seconds."
                    )
                raise
        return str(text)

    # -- data plane ------------------------------------------------------------------------------------

    async def endpoints(self, name: str) -> list[Endpoint]:
        if remote := self._remote.get(name):
            return [Endpoint(id=name, url=remote.url or "")]
        if self._discovery is None:
            raise BackendError("The Kubernetes runtime has not been started.")
        port, path = self._settings.container_port, self._paths.get(name, "/mcp")
        return [
            Endpoint(id=pod, url=manifests.pod_url(pod, name, port, path, self._settings))
            for pod in await self._discovery.ready_pods(name)
        ]

    async def tool_url(self, spec: WorkloadSpec) -> str | None:
        if spec.url is not None:
            return spec.url
        return manifests.service_url(spec, self._settings)

    # -- helpers ---------------------------------------------------------------------------------------

    async def _patch(self, spec: WorkloadSpec) -> None:
        current = as_dict(self._api_client, await self._read_statefulset(spec.name))
        if not manifests.is_managed(current.get("metadata", {}).get("labels")):
            raise Conflict(f"StatefulSet '{spec.name}' exists but was not created by the gateway.")
        patch = manifests.statefulset_patch(spec, self._settings, current)
        with self._errors("patch", f"statefulset {spec.name}"):
            await self._apps.patch_namespaced_stateful_set(spec.name, self._namespace, patch, _content_type=MERGE_PATCH)
        service_name = manifests.service_name(spec.name)
        with self._errors("patch", f"service {service_name}"):
            service = as_dict(self._api_client, await self._core.read_namespaced_service(service_name, self._namespace))
            await self._core.patch_namespaced_service(
                service_name,
                self._namespace,
                manifests.service_patch(spec, self._settings, service),
                _content_type=MERGE_PATCH,
            )

    async def _read_statefulset(self, name: str) -> V1StatefulSet:
        with self._errors("get", f"statefulset {name}"):
            try:
                return await self._apps.read_namespaced_stateful_set(name, self._namespace)
            except ApiException as exc:
                if exc.status == 404:
                    raise NotFound(f"No workload named '{name}' in namespace '{self._namespace}'.") from exc
                raise

    async def _refuse_foreign(self, name: str) -> None:
        """Conflict when a StatefulSet or Service of that name exists and is not ours (the original silently
        adopted them); our own leftovers are reported as an existing workload too."""
        for kind, read in (
            ("StatefulSet", self._apps.read_namespaced_stateful_set),
            ("Service", self._core.read_namespaced_service),
        ):
            object_name = name if kind == "StatefulSet" else manifests.service_name(name)
            with self._errors("get", f"{kind.lower()} {object_name}"):
                try:
                    existing: Any = await read(object_name, self._namespace)
                except ApiException as exc:
                    if exc.status == 404:
                        continue
                    raise
            if not manifests.is_managed(existing.metadata.labels if existing.metadata else None):
                raise Conflict(f"A {kind} '{object_name}' not managed by the gateway already exists.")
            if kind == "StatefulSet":
                raise Conflict(f"A workload named '{name}' already exists in namespace '{self._namespace}'.")

    async def _delete_objects(self, name: str) -> None:
        """Delete the StatefulSet (its pods follow through the garbage collector) and the Service, each
        tolerating 404, so a half-deleted workload is finished off (the original skipped the Service)."""
        service_name = manifests.service_name(name)
        with self._errors("delete", f"statefulset {name}"):
            response = await self._apps.delete_namespaced_stateful_set_without_preload_content(
                name, self._namespace, propagation_policy="Background"
            )
            await _unless_missing(response)
        with self._errors("delete", f"service {service_name}"):
            # Raw response: API servers before 1.23 answer a Service delete with a Status, not the Service.
            response = await self._core.delete_namespaced_service_without_preload_content(service_name, self._namespace)
            await _unless_missing(response)

    def _errors(self, verb: str, resource: str) -> AbstractContextManager[None]:
        return api_errors(verb, resource, self.host)

    @property
    def _api_client(self) -> ApiClient:
        if self._client is None:
            raise BackendError("The Kubernetes runtime has not been started.")
        return self._client

    @property
    def _apps(self) -> AppsV1Api:
        return AppsV1Api(self._api_client)

    @property
    def _core(self) -> CoreV1Api:
        return CoreV1Api(self._api_client)


async def _unless_missing(response: ClientResponse) -> None:
    """Raise for an error answer other than 404 (already gone is what a delete wants)."""
    try:
        await json_body(response)
    except ApiException as exc:
        if exc.status != 404:
            raise
