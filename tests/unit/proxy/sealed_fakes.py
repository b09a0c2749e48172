"""What the sealed-session tests share: a clock they move, and a session store that must not be used."""

from __future__ import annotations

from typing import Any


class Clock:
    """Wall-clock seconds that only move when a test moves them."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class UntouchableStore:
    """A session store that fails the test when used: sealed ids must not need one."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the session store was used ({name}) in sealed mode")
