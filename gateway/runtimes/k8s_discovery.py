"""Which replicas of each adapter (and of the tool router) are ready, kept current by a pod watch.

One list+watch on pods labelled ``adapter/type=mcp`` in the namespace, keyed by the ``adapter/name``
label. Improvements over the original (upstream-spec §4.4):

* readiness is checked on the initial list too (Ready=True, phase Running, not being deleted);
* every relist *replaces* the state, so deleted StatefulSets disappear;
* lookups wait for the first list only up to a timeout and then fail with 503 instead of hanging;
* after a watch error it relists with capped exponential backoff instead of a fixed 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from kubernetes.aio.client import CoreV1Api
from kubernetes.aio.client.exceptions import ApiException

from gateway.errors import Unavailable
from gateway.runtimes.k8s_client import json_body
from gateway.runtimes.k8s_manifests import DISCOVERY_SELECTOR, NAME_LABEL

log = logging.getLogger(__name__)

WATCH_SECONDS = 240
"""Server-side watch timeout; the watch then resumes from the last resourceVersion (cheap)."""
MIN_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
HEALTHY_WATCH_SECONDS = 60.0


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): only a relist can recover."""


def is_ready(pod: Mapping[str, Any]) -> bool:
    """Serving: Running, condition Ready=True, and not on its way out."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    status = pod.get("status", {})
    if status.get("phase") != "Running":
        return False
    conditions = status.get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class PodDiscovery:
    """Ready pod names per workload name, from a background list+watch."""

    def __init__(self, core: CoreV1Api, namespace: str, sync_timeout: float = 10.0) -> None:
        self._core = core
        self._namespace = namespace
        self._sync_timeout = sync_timeout
        self._ready: dict[str, set[str]] = {}
        self._workload_of: dict[str, str] = {}
        self._synced = asyncio.Event()
        self._last_error = "not started"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="k8s-pod-discovery")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def ready_pods(self, name: str) -> list[str]:
        """Names of the ready pods of workload ``name``, sorted; ``Unavailable`` while the first list has
        not succeeded within the sync timeout (the API is down or refuses us)."""
        if not self._synced.is_set():
            try:
                await asyncio.wait_for(self._synced.wait(), self._sync_timeout)
            except TimeoutError:
                raise Unavailable(
                    f"Pod discovery has not synced with Kubernetes: {self._last_error}",
                    public="The gateway does not know yet which replicas run; try again shortly.",
                ) from None
        return sorted(self._ready.get(name, ()))

    async def _run(self) -> None:
        backoff = MIN_BACKOFF_SECONDS
        while True:
            started = time.monotonic()
            try:
                await self._watch(await self._relist())
            except asyncio.CancelledError:
                raise
            except _Expired:
                continue  # relist at once: nothing is wrong with the API
            except Exception as exc:  # any failure: keep the last known state, relist after a pause
                # Only a watch that held for a while resets the backoff: a relist that succeeds while
                # every watch fails (e.g. RBAC without "watch") must not turn into a relist loop.
                if time.monotonic() - started > HEALTHY_WATCH_SECONDS:
                    backoff = MIN_BACKOFF_SECONDS
                self._last_error = _describe(exc)
                log.warning("pod discovery: %s; relisting in %.1fs", self._last_error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _relist(self) -> str:
        response = await self._core.list_namespaced_pod_without_preload_content(
            self._namespace, label_selector=DISCOVERY_SELECTOR, _request_timeout=30.0
        )
        body = await json_body(response)
        self._ready, self._workload_of = {}, {}
        for pod in body.get("items") or []:
            self._apply("ADDED", pod)
        self._synced.set()
        return str(body.get("metadata", {}).get("resourceVersion", ""))

    async def _watch(self, version: str) -> None:
        """Follow changes from ``version`` until an error; each server-side timeout just resumes."""
        while True:
            response = await self._core.list_namespaced_pod_without_preload_content(
                self._namespace,
                label_selector=DISCOVERY_SELECTOR,
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=WATCH_SECONDS + 30.0,
            )
            try:
                if response.status >= 400:
                    await json_body(response)  # raises with the API's message
                async for line in response.content:
                    version = self._on_event(json.loads(line), version)
            finally:
                response.release()

    def _on_event(self, event: Mapping[str, Any], version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired()
            raise ApiException(status=obj.get("code"), reason=obj.get("message"))
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._apply(kind, obj)
        return str(obj.get("metadata", {}).get("resourceVersion") or version)

    def _apply(self, kind: str, pod: Mapping[str, Any]) -> None:
        metadata = pod.get("metadata", {})
        pod_name, workload = metadata.get("name"), (metadata.get("labels") or {}).get(NAME_LABEL)
        if not pod_name:
            return
        previous = self._workload_of.pop(pod_name, None)
        if previous is not None:
            self._ready.get(previous, set()).discard(pod_name)
            if not self._ready.get(previous):
                self._ready.pop(previous, None)
        if kind != "DELETED" and workload and is_ready(pod):
            self._workload_of[pod_name] = workload
            self._ready.setdefault(workload, set()).add(pod_name)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"Kubernetes API answered {exc.status} {exc.reason or ''}".strip()
    return f"{type(exc).__name__}: {exc}"
