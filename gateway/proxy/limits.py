"""Bulkheads of the data plane: how many requests and open streams one adapter and one user may hold.

Every proxied request holds a connection to a replica for as long as it runs, and an SSE stream for as
long as it stays open. Without a bound per adapter, one hung or flooded upstream would collect every
connection of the shared pool and starve all other adapters; without a bound per user, one client could
do the same to everyone else. Refusing at once (rather than queueing) keeps memory flat and tells the
client to come back (``Retry-After``).
"""

from __future__ import annotations

from gateway.errors import TooManyRequests, Unavailable

RETRY_AFTER = {"Retry-After": "1"}


class InFlightLimits:
    """Counts in-flight requests in all, per target (an adapter, or the tool router) and per user.

    The total is the bound on upstream connections too: the HTTP client's pool itself is unlimited, so a
    request never waits for a free connection (a wait that would need a timer on every request); it is
    admitted here or refused at once."""

    def __init__(self, per_target: int, per_user: int, total: int) -> None:
        self._per_target = per_target
        self._per_user = per_user
        self._total = total
        self._in_flight = 0
        self._targets: dict[str, int] = {}
        self._users: dict[str, int] = {}

    def acquire(self, target: str, user: str, what: str) -> None:
        """Take a slot for ``user`` on ``target`` (``what`` names it for the client) or raise."""
        if self._users.get(user, 0) >= self._per_user:
            message = f"You have {self._per_user} requests or streams open at once, the most allowed; close some."
            raise TooManyRequests(message, headers=RETRY_AFTER)
        if self._targets.get(target, 0) >= self._per_target:
            message = f"The {what} is serving as many requests as it may ({self._per_target}); try again shortly."
            raise Unavailable(message, public=message, headers=RETRY_AFTER)
        if self._in_flight >= self._total:
            message = f"The gateway is serving as many requests as it may ({self._total}); try again shortly."
            raise Unavailable(message, public=message, headers=RETRY_AFTER)
        self._in_flight += 1
        self._users[user] = self._users.get(user, 0) + 1
        self._targets[target] = self._targets.get(target, 0) + 1

    def release(self, target: str, user: str) -> None:
        self._in_flight -= 1
        _decrement(self._targets, target)
        _decrement(self._users, user)

    def in_flight(self, target: str) -> int:
        return self._targets.get(target, 0)


def _decrement(counts: dict[str, int], key: str) -> None:
    # Entries at zero are removed, so the maps hold only who has something open (bounded by the limits).
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
