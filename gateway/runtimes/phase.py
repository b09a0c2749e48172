"""The phase of a workload, from its counts and replicas: one pure function, the same on every runtime.

* ``Stopped``: ``replicaCount`` is 0.
* ``Ready``: every desired replica is ready and runs the current spec.
* ``Updating``: a rollout is in progress (some replicas are not on the current spec yet) and nothing failed.
* ``Degraded``: some, not all, desired replicas are ready (or a rollout has a failing replica).
* ``Failing``: none is ready and at least one has failed (exited, crash-looping, probe failing for a while).
* ``Starting``: none is ready yet and none has failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.runtimes.base import Phase, ReplicaState


def workload_phase(
    desired: int | None,
    ready: int | None,
    updated: int | None,
    replicas: Sequence[ReplicaState] = (),
    *,
    rolling: bool | None = None,
) -> Phase:
    """``rolling``: whether a rollout is in progress; None derives it from ``updated < desired``."""
    desired_count, ready_count = desired or 0, ready or 0
    updated_count = desired_count if updated is None else updated
    if desired_count <= 0:
        return "Stopped"
    in_rollout = updated_count < desired_count if rolling is None else rolling
    failed = any(r.failed and not r.ready for r in replicas)
    if ready_count >= desired_count and not in_rollout:
        return "Ready"
    if ready_count == 0:
        return "Failing" if failed else ("Updating" if in_rollout else "Starting")
    if in_rollout and not failed:
        return "Updating"
    return "Degraded"


def most_relevant_error(replicas: Sequence[ReplicaState]) -> ReplicaState | None:
    """The replica whose error best explains the workload: a failed one first, then any not ready."""
    with_error = [r for r in replicas if r.last_error]
    failed = [r for r in with_error if r.failed and not r.ready]
    not_ready = [r for r in with_error if not r.ready]
    ranked = failed or not_ready or with_error
    return ranked[0] if ranked else None
