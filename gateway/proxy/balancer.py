"""Least-in-flight replica choice for requests that start a session or carry none."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from gateway.runtimes.base import Endpoint


class LeastInFlight:
    def __init__(self) -> None:
        self._in_flight: defaultdict[str, int] = defaultdict(int)

    def pick(self, endpoints: Sequence[Endpoint]) -> Endpoint:
        lowest = min(self._in_flight[e.url] for e in endpoints)
        # Random among the least busy, so idle replicas share new sessions instead of the first taking all.
        return random.choice([e for e in endpoints if self._in_flight[e.url] == lowest])

    def acquire(self, url: str) -> None:
        self._in_flight[url] += 1

    def release(self, url: str) -> None:
        self._in_flight[url] -= 1
        if self._in_flight[url] <= 0:
            del self._in_flight[url]
