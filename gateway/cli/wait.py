"""``--wait``: follow a workload's status until it is Ready, fails, or ``--timeout`` passes.

On a terminal the progress is one line rewritten in place (phase, ready replicas, elapsed time); elsewhere
(CI logs, pipes) a plain line each time the state changes, so a log shows the history without a line per
poll. Progress goes to stderr: stdout stays the command's output (``-o json`` remains parseable).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from gateway.cli.errors import CliError, ExitCode
from gateway.cli.http import GatewayClient, resource_path
from gateway.cli.output import paint, phase_colour

POLL_SECONDS = 0.5
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@dataclass
class Progress:
    """Where and how progress is shown."""

    stream: TextIO
    interactive: bool
    colour: bool
    _last: str = ""
    _frame: int = 0

    @classmethod
    def on_stderr(cls, colour: bool) -> Progress:
        return cls(sys.stderr, sys.stderr.isatty(), colour)

    def update(self, text: str) -> None:
        if self.interactive:
            self._frame += 1
            self.stream.write(f"\r\033[K{SPINNER[self._frame % len(SPINNER)]} {text}")
            self.stream.flush()
        elif _without_clock(text) != _without_clock(self._last):
            self.stream.write(text + "\n")
            self.stream.flush()
        self._last = text

    def finish(self, text: str, ok: bool) -> None:
        mark = paint("✓", "green", self.colour) if ok else paint("✗", "red", self.colour)
        if self.interactive:
            self.stream.write(f"\r\033[K{mark} {text}\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _without_clock(text: str) -> str:
    return text.rsplit(" (", 1)[0]


def describe(status: dict[str, Any], desired: int, colour: bool = False) -> str:
    phase = str(status.get("phase", "?"))
    return f"{paint(phase, phase_colour(phase), colour)}, {status.get('readyReplicas') or 0}/{desired} ready"


def is_ready(status: dict[str, Any], desired: int) -> bool:
    phase = status.get("phase")
    return phase == "Ready" or (phase == "Stopped" and desired == 0)


def wait_until_ready(
    client: GatewayClient,
    kind: str,
    name: str,
    *,
    desired: int,
    deadline: float,
    progress: Progress,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The status once Ready; :class:`CliError` when it fails (Failing) or the deadline passes."""
    label = f"{kind[:-1]}/{name}"
    started = clock()
    status: dict[str, Any] = {}
    while True:
        status = client.json("GET", resource_path(kind, name, "status"))
        elapsed = f"({clock() - started:.0f}s)"
        line = f"{label}: {describe(status, desired, progress.colour)} {elapsed}"
        if is_ready(status, desired):
            progress.finish(line, ok=True)
            return status
        if status.get("phase") == "Failing":
            progress.finish(line, ok=False)
            raise CliError(f"{label} is Failing: {status.get('lastError') or 'no error reported'}", ExitCode.FAILED)
        if clock() >= deadline:
            progress.finish(line, ok=False)
            raise CliError(_timed_out(label, status, desired, clock() - started), ExitCode.TIMEOUT)
        progress.update(line)
        time.sleep(min(POLL_SECONDS, max(deadline - clock(), 0.05)))


def _timed_out(label: str, status: dict[str, Any], desired: int, waited: float) -> str:
    message = f"timed out after {waited:.0f}s waiting for {label} to be Ready ({describe(status, desired)})"
    if status.get("lastError"):
        message += f": {status['lastError']}"
    return message
