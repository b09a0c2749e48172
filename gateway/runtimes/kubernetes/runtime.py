"""Kubernetes runtime: each adapter or tool is a StatefulSet ``{name}`` plus a Service ``{name}-service``.

Objects come from :mod:`gateway.runtimes.kubernetes.manifests`; the calls made are exactly the RBAC rules in
:mod:`gateway.runtimes.kubernetes.rbac`; replica readiness for the data plane comes from a pod watch
(:mod:`gateway.runtimes.kubernetes.discovery`). ``url`` sources create nothing in the cluster: the runtime only
remembers them (the reconciler ensures every stored resource at start-up and periodically, :meth:`ensure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientResponse
from kubernetes.aio.client import ApiClient, AppsV1Api, CoreV1Api, V1Service, V1StatefulSet
from kubernetes.aio.client.exceptions import ApiException

from gateway.errors import BackendError, Conflict, GatewayError, NotFound, UnsupportedOnRuntime
from gateway.netguard import ConnectGuard
from gateway.runtimes.base import Endpoint, WorkloadKind, WorkloadSpec, WorkloadStatus
from gateway.runtimes.kubernetes import manifests
from gateway.runtimes.kubernetes.client import StaleObject, api_errors, as_dict, close_client, connect, json_body
from gateway.runtimes.kubernetes.discovery import PodDiscovery, replica_state
from gateway.runtimes.phase import most_relevant_error, workload_phase
from gateway.runtimes.remote_probe import RemoteProbes
from gateway.settings import KubernetesRuntimeSettings

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
LOG_LINES = 1000
FOLLOW_MAX_SECONDS = 3600.0
"""A followed pod log ends after this long (the client's total timeout; the client may follow again)."""
PROBE_SYNC_SECONDS = 1.0
ENSURE_ATTEMPTS = 5
"""Fresh reads and writes before a concurrent writer is reported as a Conflict (see :meth:`ensure`)."""
SPEC_ANNOTATION = "mcp-gateway/spec-hash"
"""On the StatefulSet: a digest of the objects the runtime built for it, so that :meth:`ensure` (called for
every record by every gateway replica's reconciler) patches only when the desired objects changed."""
RESTARTED_AT_ANNOTATION = "mcp-gateway/restartedAt"
"""On the pod template: changing it makes the StatefulSet controller replace the pods one by one."""


class KubernetesRuntime:
    """The :class:`~gateway.runtimes.base.Runtime` for a Kubernetes cluster (one namespace)."""

    kind = "kubernetes"

    def __init__(
        self,
        settings: KubernetesRuntimeSettings,
        *,
        sync_timeout: float = 10.0,
        url_guard: ConnectGuard | None = None,
    ) -> None:
        self._settings = settings
        self._namespace = settings.namespace
        self._sync_timeout = sync_timeout
        self._remote: dict[str, WorkloadSpec] = {}
        """``url`` sources by name: they exist only in the gateway's store, not in the cluster."""
        self._paths: dict[str, str] = {}
        """The MCP path of each known adapter (from deploy, update and ensure); default ``/mcp``."""
        self._client: ApiClient | None = None
        self._discovery: PodDiscovery | None = None
        self._probes = RemoteProbes(url_guard)
        """Background MCP probes of ``url`` adapters, through the data plane's SSRF guard."""
        self._probe_sync: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is None:
            self._client = await connect(self._settings)
            self._discovery = PodDiscovery(self._core, self._namespace, self._sync_timeout)
            self._discovery.start()
        if self._probe_sync is None:
            self._probe_sync = asyncio.create_task(self._sync_probes_forever(), name="url probes")

    async def close(self) -> None:
        if self._probe_sync is not None:
            self._probe_sync.cancel()
            self._probe_sync = None
        await self._probes.close()
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
        if spec.command is None and spec.image is None and spec.sse_upstream is None:
            raise UnsupportedOnRuntime(f"'{spec.name}' needs an image (name and version), a command or a url.")

    async def ensure(self, spec: WorkloadSpec) -> None:
        """Create what is missing (a StatefulSet, its Service), patch what differs from ``spec``, adopt our
        own leftovers; a ``url`` source removes our cluster objects of that name and is remembered.

        Other gateway replicas may act on the same objects at the same moment (a 409 on a stale
        ``resourceVersion``, an object created or deleted between our read and our write): each attempt reads
        afresh, so ensuring again is always right, and only a lasting tug of war becomes a ``Conflict``."""
        self.validate(spec)
        self._paths[spec.name] = spec.path
        if spec.url is not None:
            await self._remove_if_managed(spec.name)
            self._remote[spec.name] = spec
            return
        self._remote.pop(spec.name, None)
        for attempt in range(1, ENSURE_ATTEMPTS + 1):
            try:
                await self._ensure_once(spec)
                return
            except (StaleObject, _Vanished) as exc:
                if attempt == ENSURE_ATTEMPTS:
                    raise Conflict(f"'{spec.name}' keeps being changed by someone else: {exc}") from exc
                log.info("%s changed while ensuring it (%s); reading it again", spec.name, exc)
                await asyncio.sleep(random.uniform(0.02, 0.1) * attempt)

    async def _ensure_once(self, spec: WorkloadSpec) -> None:
        current = await self._read_optional_statefulset(spec.name)
        if current is None:
            await self._refuse_foreign_service(spec.name)
            if await self._create_statefulset(spec):
                await self._ensure_service(spec)
                return
            current = await self._read_optional_statefulset(spec.name)
            if current is None:
                raise _Vanished(f"statefulset {spec.name} was created and deleted again meanwhile")
        labels = current.metadata.labels if current.metadata else None
        if not manifests.is_managed(labels):
            raise Conflict(f"StatefulSet '{spec.name}' exists but was not created by the gateway.")
        annotations = (current.metadata.annotations if current.metadata else None) or {}
        if annotations.get(SPEC_ANNOTATION) != self._fingerprint(spec):
            try:
                await self._patch(spec)
            except NotFound as exc:
                raise _Vanished(f"statefulset {spec.name} was deleted meanwhile") from exc
        else:
            await self._ensure_service(spec)

    async def workloads(self) -> set[str]:
        """Names of every StatefulSet and Service the gateway created in the namespace (one list call each)."""
        selector = f"{manifests.MANAGED_BY_LABEL}={manifests.MANAGED_BY}"
        names: set[str] = set(self._remote)
        with self._errors("list", "statefulsets"):
            statefulsets = await self._apps.list_namespaced_stateful_set(self._namespace, label_selector=selector)
        with self._errors("list", "services"):
            services = await self._core.list_namespaced_service(self._namespace, label_selector=selector)
        metadata = [item.metadata for item in statefulsets.items] + [item.metadata for item in services.items]
        for meta in metadata:
            name = ((meta.labels if meta else None) or {}).get(manifests.NAME_LABEL)
            if name:
                names.add(name)
        return names

    async def restart(self, name: str) -> None:
        """Stamp the pod template; the StatefulSet controller then replaces the pods one at a time."""
        if name in self._remote:
            return
        current = await self._read_statefulset(name)
        if not manifests.is_managed(current.metadata.labels if current.metadata else None):
            raise Conflict(f"StatefulSet '{name}' exists but was not created by the gateway.")
        stamp = {RESTARTED_AT_ANNOTATION: datetime.now(UTC).isoformat(timespec="milliseconds")}
        patch = {"spec": {"template": {"metadata": {"annotations": stamp}}}}
        with self._errors("patch", f"statefulset {name}"):
            await self._apps.patch_namespaced_stateful_set(name, self._namespace, patch, _content_type=MERGE_PATCH)

    async def deploy(self, spec: WorkloadSpec) -> None:
        self.validate(spec)
        self._paths[spec.name] = spec.path
        if spec.url is not None:
            if spec.name in self._remote:
                raise Conflict(f"A remote server named '{spec.name}' is already registered.")
            self._remote[spec.name] = spec
            return
        await self._refuse_foreign(spec.name)
        if not await self._create_statefulset(spec):
            raise Conflict(f"A workload named '{spec.name}' already exists in namespace '{self._namespace}'.")
        try:
            await self._ensure_service(spec)
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
        """From the StatefulSet and its pods (listed by the workload's label); a ``url`` adapter from the
        gateway's probe of its URL."""
        if remote := self._remote.get(name):
            if remote.kind == WorkloadKind.ADAPTER and remote.url:
                self._sync_probes()
                return self._probes.status(name, remote.url)
            return WorkloadStatus(desired=1, ready=1, updated=1, available=1, image=remote.url or "", phase="Ready")
        statefulset = await self._read_statefulset(name)
        spec, status = statefulset.spec, statefulset.status
        containers = spec.template.spec.containers if spec and spec.template.spec else []
        with self._errors("list", f"pods of {name}"):
            response = await self._core.list_namespaced_pod_without_preload_content(
                self._namespace, label_selector=f"{manifests.NAME_LABEL}={name}", _request_timeout=10.0
            )
            pods = (await json_body(response)).get("items") or []
        pods.sort(key=lambda pod: _ordinal(str((pod.get("metadata") or {}).get("name", ""))))
        judged = [replica_state(pod, f"{name}-container") for pod in pods]
        replicas = tuple(state for state, _ in judged)
        desired = spec.replicas if spec else None
        ready = status.ready_replicas if status else None
        updated = status.updated_replicas if status else None
        # A rollout: the controller has not seen the latest spec yet, or pods still run an older revision.
        generation = statefulset.metadata.generation if statefulset.metadata else None
        observed = status.observed_generation if status else None
        revisions = (status.current_revision, status.update_revision) if status else (None, None)
        rolling = bool(generation and observed and observed < generation) or bool(
            all(revisions) and revisions[0] != revisions[1]
        )
        culprit = most_relevant_error(replicas)
        public = next((p for state, p in judged if culprit is not None and state.id == culprit.id), None)
        return WorkloadStatus(
            desired=desired,
            ready=ready,
            updated=updated,
            available=status.available_replicas if status else None,
            image=(containers[0].image or "Unknown") if containers else "Unknown",
            phase=workload_phase(desired, ready, updated, replicas, rolling=rolling),
            last_error=culprit.last_error if culprit else None,
            public_error=public,
            replicas=replicas,
        )

    async def logs(self, name: str, instance: int, tail: int = LOG_LINES, since: datetime | None = None) -> str:
        if note := self._no_pod_note(name):
            return note + "\n"
        query = self._log_query(name, instance, tail, since)
        with self._errors("get", f"pods/log {query['name']}"), self._log_errors(name, instance) as starting:
            text = await self._core.read_namespaced_pod_log(**query)
        if starting.value is not None:
            return starting.value
        return str(text)

    def follow_logs(
        self, name: str, instance: int, tail: int = LOG_LINES, since: datetime | None = None
    ) -> AsyncIterator[str]:
        return self._follow_logs(name, instance, tail, since)

    async def _follow_logs(self, name: str, instance: int, tail: int, since: datetime | None) -> AsyncIterator[str]:
        """The kubelet's follow stream through the API server; ends when the container stops or the pod
        goes away (the kubelet closes the stream), or when the reader stops reading."""
        if note := self._no_pod_note(name):
            yield note
            return
        query = self._log_query(name, instance, tail, since)
        with self._errors("get", f"pods/log {query['name']}"), self._log_errors(name, instance) as starting:
            response = await self._core.read_namespaced_pod_log_without_preload_content(
                **query, follow=True, _request_timeout=FOLLOW_MAX_SECONDS
            )
            if response.status >= 400:
                await json_body(response)  # raises ApiException with the API's message
        if starting.value is not None:
            yield starting.value
            return
        try:
            with self._errors("get", f"pods/log {query['name']}"):
                async for raw in response.content:
                    yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
        finally:
            response.release()

    def _no_pod_note(self, name: str) -> str | None:
        """What the logs of a remote (``url``) adapter say: the cluster runs nothing for it."""
        remote = self._remote.get(name)
        return f"'{name}' is a remote server at {remote.url}; the cluster runs no pod for it." if remote else None

    def _log_query(self, name: str, instance: int, tail: int, since: datetime | None) -> dict[str, Any]:
        """The ``pods/log`` parameters both reads share: pod, namespace, container, tail and since."""
        return {
            "name": f"{name}-{instance}",
            "namespace": self._namespace,
            "container": f"{name}-container",
            "tail_lines": tail,
            "since_seconds": _seconds_since(since),
        }

    @contextlib.contextmanager
    def _log_errors(self, name: str, instance: int) -> Iterator[_Slot]:
        """404: no such instance; 400: the container is not running yet (ContainerCreating, pulling...)."""
        slot = _Slot()
        try:
            yield slot
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(f"'{name}' has no instance {instance} (no pod {name}-{instance}).") from exc
            if exc.status != 400:
                raise
            slot.value = (
                f"Logs are not yet available for instance {instance} (pod is starting). Try again in a few seconds."
            )

    # -- data plane ------------------------------------------------------------------------------------

    async def endpoints(self, name: str) -> list[Endpoint]:
        if remote := self._remote.get(name):
            return [Endpoint(id=name, url=remote.url or "")] if await self.url_routable(name) else []
        if self._discovery is None:
            raise BackendError("The Kubernetes runtime has not been started.")
        port, path = self._settings.container_port, self._paths.get(name, "/mcp")
        return [
            Endpoint(id=pod, url=manifests.pod_url(pod, name, port, path, self._settings))
            for pod in await self._discovery.ready_pods(name)
        ]

    async def url_routable(self, name: str) -> bool:
        # On the data plane's path: no sync here (the background loop and the reads keep the probes current).
        remote = self._remote.get(name)
        if remote is None or remote.url is None:
            return True
        return self._probes.routable(name, remote.url)

    def _sync_probes(self) -> None:
        """Probe exactly the known ``url`` adapters (on every read, and by the loop :meth:`start` begins)."""
        self._probes.sync(
            {n: s.url for n, s in self._remote.items() if s.url is not None and s.kind == WorkloadKind.ADAPTER}
        )

    async def _sync_probes_forever(self) -> None:
        while True:
            self._sync_probes()
            await asyncio.sleep(PROBE_SYNC_SECONDS)

    async def tool_url(self, spec: WorkloadSpec) -> str | None:
        if spec.url is not None:
            return spec.url
        return manifests.service_url(spec, self._settings)

    # -- helpers ---------------------------------------------------------------------------------------

    def _fingerprint(self, spec: WorkloadSpec) -> str:
        objects = [manifests.statefulset(spec, self._settings), manifests.service(spec, self._settings)]
        return hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()[:20]

    async def _create_statefulset(self, spec: WorkloadSpec) -> bool:
        """Create the StatefulSet, stamped with its fingerprint; False when one of that name exists."""
        statefulset = manifests.statefulset(spec, self._settings)
        statefulset["metadata"].setdefault("annotations", {})[SPEC_ANNOTATION] = self._fingerprint(spec)
        with self._errors("create", f"statefulset {spec.name}"):
            try:
                await self._apps.create_namespaced_stateful_set(
                    self._namespace, V1StatefulSet.model_validate(statefulset)
                )
            except ApiException as exc:
                if exc.status == 409:
                    return False
                raise
        return True

    async def _ensure_service(self, spec: WorkloadSpec) -> None:
        """Create the Service; one that exists already is patched to ``spec`` (ours) or refused (foreign)."""
        service_name = manifests.service_name(spec.name)
        with self._errors("create", f"service {service_name}"):
            try:
                service = manifests.service(spec, self._settings)
                await self._core.create_namespaced_service(self._namespace, V1Service.model_validate(service))
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise
        with self._errors("patch", f"service {service_name}"):
            try:
                current = as_dict(
                    self._api_client, await self._core.read_namespaced_service(service_name, self._namespace)
                )
            except ApiException as exc:
                if exc.status == 404:
                    raise _Vanished(f"service {service_name} was deleted meanwhile") from exc
                raise
            if not manifests.is_managed(current.get("metadata", {}).get("labels")):
                raise Conflict(f"A Service '{service_name}' not managed by the gateway already exists.")
            await self._core.patch_namespaced_service(
                service_name,
                self._namespace,
                manifests.service_patch(spec, self._settings, current),
                _content_type=MERGE_PATCH,
            )

    async def _patch(self, spec: WorkloadSpec) -> None:
        current = as_dict(self._api_client, await self._read_statefulset(spec.name))
        if not manifests.is_managed(current.get("metadata", {}).get("labels")):
            raise Conflict(f"StatefulSet '{spec.name}' exists but was not created by the gateway.")
        patch = manifests.statefulset_patch(spec, self._settings, current)
        patch["metadata"]["annotations"] = {SPEC_ANNOTATION: self._fingerprint(spec)}
        with self._errors("patch", f"statefulset {spec.name}"):
            await self._apps.patch_namespaced_stateful_set(spec.name, self._namespace, patch, _content_type=MERGE_PATCH)
        await self._ensure_service(spec)

    async def _read_optional_statefulset(self, name: str) -> V1StatefulSet | None:
        try:
            return await self._read_statefulset(name)
        except NotFound:
            return None

    async def _remove_if_managed(self, name: str) -> None:
        """Delete our cluster objects of ``name`` (a workload that became a ``url`` source), never others'."""
        current = await self._read_optional_statefulset(name)
        if current is not None and manifests.is_managed(current.metadata.labels if current.metadata else None):
            await self._delete_objects(name)

    async def _refuse_foreign_service(self, name: str) -> None:
        service_name = manifests.service_name(name)
        with self._errors("get", f"service {service_name}"):
            try:
                existing = await self._core.read_namespaced_service(service_name, self._namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
        if not manifests.is_managed(existing.metadata.labels if existing.metadata else None):
            raise Conflict(f"A Service '{service_name}' not managed by the gateway already exists.")

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


class _Slot:
    value: str | None = None


def _ordinal(pod: str) -> tuple[int, str]:
    number = pod.rsplit("-", 1)[-1]
    return (int(number), pod) if number.isdigit() else (1 << 30, pod)


def _seconds_since(since: datetime | None) -> int | None:
    """``sinceSeconds`` for a point in time (at least 1: the API refuses 0)."""
    if since is None:
        return None
    return max(1, math.ceil((datetime.now(UTC) - since).total_seconds()))


class _Vanished(Exception):
    """An object we just saw (or just could not create, because it existed) was deleted by someone else."""


async def _unless_missing(response: ClientResponse) -> None:
    """Raise for an error answer other than 404 (already gone is what a delete wants)."""
    try:
        await json_body(response)
    except ApiException as exc:
        if exc.status != 404:
            raise
