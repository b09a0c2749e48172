"""Polling a condition with a deadline: for things that give no signal but their state (a process starting,
a replica becoming ready, a log line arriving), so a test never sleeps for a guessed time.

Both functions call ``condition`` until it returns something truthy and return that value. The condition is
called at least once, and a last time once the deadline has passed; then the wait fails with
``AssertionError("timed out after <timeout>s waiting for <what> (last value: <repr>)")``. An exception
of a type in ``ignoring`` counts as one more falsy attempt (it becomes the last value); any other exception
ends the wait at once, so a condition can fail fast (a process that exited, say) by raising.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

What = str | Callable[[], object]
"""What is awaited, for the failure message; a callable is called then, to describe the state at that time."""


def _timed_out(timeout: float, what: What, last: object) -> AssertionError:
    description = what() if callable(what) else what
    return AssertionError(f"timed out after {timeout}s waiting for {description} (last value: {last!r})")


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: What = "condition",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns something truthy; return that.

    ``None`` is never returned, so a condition typed ``X | None`` gives an ``X``.
    """
    deadline = time.monotonic() + timeout
    last: object
    while True:
        try:
            value = condition()
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, last)
        time.sleep(interval)


@overload
async def async_wait_for(
    condition: Callable[[], Awaitable[T | None]],
    timeout: float = ...,  # noqa: ASYNC109  (the polling deadline, reported in the failure)
    interval: float = ...,
    what: What = ...,
    ignoring: tuple[type[Exception], ...] = ...,
) -> T: ...


@overload
async def async_wait_for(
    condition: Callable[[], T | None],
    timeout: float = ...,  # noqa: ASYNC109  (the polling deadline, reported in the failure)
    interval: float = ...,
    what: What = ...,
    ignoring: tuple[type[Exception], ...] = ...,
) -> T: ...


async def async_wait_for(
    condition: Callable[[], Any],
    timeout: float = 30.0,  # noqa: ASYNC109  (the polling deadline, reported in the failure)
    interval: float = 0.1,
    what: What = "condition",
    ignoring: tuple[type[Exception], ...] = (),
) -> Any:
    """:func:`wait_for` on an event loop: ``condition`` may be a plain function or return an awaitable."""
    deadline = time.monotonic() + timeout
    last: object
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, last)
        await asyncio.sleep(interval)
