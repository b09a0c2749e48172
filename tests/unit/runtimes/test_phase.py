"""The phase rules (gateway.runtimes.phase): one pure function for both runtimes."""

from __future__ import annotations

import pytest

from gateway.runtimes.base import ReplicaState
from gateway.runtimes.phase import most_relevant_error, workload_phase

READY = ReplicaState("a-0", ready=True)
STARTING = ReplicaState("a-1", ready=False, last_error="connection refused on 127.0.0.1:4000")
FAILED = ReplicaState("a-1", ready=False, restarts=3, last_exit_code=1, last_error="exited with code 1", failed=True)


@pytest.mark.parametrize(
    ("desired", "ready", "updated", "replicas", "rolling", "phase"),
    [
        (0, 0, 0, (), None, "Stopped"),
        (0, None, None, (), None, "Stopped"),
        (None, None, None, (), None, "Stopped"),
        (2, 2, 2, (READY, READY), None, "Ready"),
        (2, 0, 2, (STARTING, STARTING), None, "Starting"),
        (1, 0, 1, (FAILED,), None, "Failing"),
        (2, 1, 2, (READY, FAILED), None, "Degraded"),
        (2, 1, 2, (READY, STARTING), None, "Degraded"),
        (2, 2, 1, (READY, READY), None, "Updating"),
        (2, 2, 2, (READY, READY), True, "Updating"),
        (2, 1, 1, (READY, STARTING), None, "Updating"),
        (2, 1, 1, (READY, FAILED), None, "Degraded"),
        (1, 0, 0, (STARTING,), None, "Updating"),
        (1, 0, 0, (FAILED,), None, "Failing"),
        (3, 2, 3, (), None, "Degraded"),
        (1, 1, None, (), None, "Ready"),
    ],
)
def test_the_phase_follows_the_rules(
    desired: int | None,
    ready: int | None,
    updated: int | None,
    replicas: tuple[ReplicaState, ...],
    rolling: bool | None,
    phase: str,
) -> None:
    assert workload_phase(desired, ready, updated, replicas, rolling=rolling) == phase


def test_a_ready_replica_that_once_failed_does_not_make_the_workload_fail() -> None:
    recovered = ReplicaState("a-0", ready=True, restarts=4, last_exit_code=1, failed=True)
    assert workload_phase(1, 1, 1, (recovered,)) == "Ready"


def test_the_most_relevant_error_is_a_failed_replicas_then_a_starting_ones() -> None:
    assert most_relevant_error((READY, STARTING, FAILED)) is FAILED
    assert most_relevant_error((READY, STARTING)) is STARTING
    assert most_relevant_error((READY,)) is None
    assert most_relevant_error(()) is None
