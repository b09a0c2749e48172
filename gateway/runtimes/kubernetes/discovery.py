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
from datetime import datetime
from typing import Any

from kubernetes.aio.client import CoreV1Api
from kubernetes.aio.client.exceptions import ApiException

from gateway.errors import Unavailable
from gateway.runtimes.base import ReplicaState
from gateway.runtimes.kubernetes.client import json_body
from gateway.runtimes.kubernetes.manifests import DISCOVERY_SELECTOR, NAME_LABEL

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


FAILED_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Waiting reasons that mean the container failed, not that it is still starting."""


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _short(text: object, limit: int = 300) -> str:
    words = " ".join(str(text or "").split())
    return words if len(words) <= limit else words[: limit - 1] + "…"


def replica_state(pod: Mapping[str, Any], container: str | None = None) -> tuple[ReplicaState, str | None]:
    """One pod as a replica: ready (the Ready condition, as for routing), restarts, last exit code, why it
    does not serve (waiting reason and message, a termination, a failing readiness probe) and since when
    (the Ready condition's last transition). Also a short public cause (the reason, without the messages,
    which may name pods, nodes or images)."""
    metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    fallback: Mapping[str, Any] = statuses[0] if statuses else {}
    chosen: Mapping[str, Any] = next((c for c in statuses if c.get("name") == container), fallback)
    state, last_state = chosen.get("state") or {}, chosen.get("lastState") or {}
    waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
    last_terminated = last_state.get("terminated") or {}
    restarts = int(chosen.get("restartCount") or 0)
    exit_code = terminated.get("exitCode", last_terminated.get("exitCode"))
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready_condition = conditions.get("Ready") or {}
    ready = is_ready(pod)
    error: str | None = None
    public: str | None = None
    failed = False
    if waiting.get("reason"):
        reason = str(waiting["reason"])
        failed = reason in FAILED_WAITING_REASONS
        error = f"{reason}: {_short(waiting.get('message'))}" if waiting.get("message") else reason
        public = reason
        if last_terminated and exit_code is not None:
            error += f" (last exit code {exit_code}{_detail(last_terminated)})"
            public += f" (last exit code {exit_code})"
    elif terminated:
        failed = True
        error = f"terminated ({terminated.get('reason') or 'Error'}) with exit code {exit_code}{_detail(terminated)}"
        public = f"terminated with exit code {exit_code}"
    elif status.get("phase") == "Failed":
        failed = True
        error = f"pod failed: {_short(status.get('reason') or status.get('message') or 'unknown reason')}"
        public = "pod failed"
    elif (scheduled := conditions.get("PodScheduled") or {}).get("status") == "False":
        error = f"not scheduled: {_short(scheduled.get('message') or scheduled.get('reason'))}"
        public = "not scheduled"
    elif not ready and metadata.get("deletionTimestamp"):
        error = public = "terminating"
    elif not ready and status.get("phase") == "Running":
        detail = ready_condition.get("message") or ready_condition.get("reason") or "its readiness probe fails"
        error = f"running but not ready: {_short(detail)}"
        public = "running but not ready"
        if last_terminated and exit_code is not None:
            error += f" (last exit code {exit_code}{_detail(last_terminated)})"
    replica = ReplicaState(
        id=str(metadata.get("name", "")),
        ready=ready,
        restarts=restarts,
        last_exit_code=exit_code if isinstance(exit_code, int) else None,
        last_error=None if ready else error,
        since=_time(ready_condition.get("lastTransitionTime")) or _time(status.get("startTime")),
        failed=failed and not ready,
    )
    return replica, (None if ready else public)


def _detail(terminated: Mapping[str, Any]) -> str:
    reason, message = terminated.get("reason"), terminated.get("message")
    parts = [str(reason)] if reason and reason not in ("Error", "Completed") else []
    if message:
        parts.append(_short(message, 600))
    return (": " + "; ".join(parts)) if parts else ""


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
