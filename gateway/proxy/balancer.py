"""Least-in-flight replica choice for requests that start a session or carry none."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.runtimes.base import Endpoint


class LeastInFlight:
    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}
        """Only replicas with a request in flight: a replica that was merely considered leaves no entry (replica
        URLs come and go with pods)."""

    def pick(self, endpoints: Sequence[Endpoint]) -> Endpoint:
        counts = self._in_flight
        lowest = min(counts.get(e.url, 0) for e in endpoints)
        # Random among the least busy, so idle replicas share new sessions instead of the first taking all.
        return random.choice([e for e in endpoints if counts.get(e.url, 0) == lowest])

    def acquire(self, url: str) -> None:
        self._in_flight[url] = self._in_flight.get(url, 0) + 1

    def release(self, url: str) -> None:
        left = self._in_flight.get(url, 0) - 1
        if left > 0:
            self._in_flight[url] = left
        else:
            self._in_flight.pop(url, None)
