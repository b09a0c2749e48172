"""A fresh bash that runs documentation commands one at a time, as someone typing them into a terminal.

Shell state (``H='...'``) carries from one command to the next within a session, as it would for the reader.
Each command's output, error output and exit status are read back separately (a random marker line ends
each of them). Every process the session starts is in its own process group, ended by :meth:`close`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class CommandTimeout(AssertionError):
    """A command did not finish in time (the session is closed, its processes ended)."""


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str
    status: int


class _Lines:
    """Reads a pipe on a thread so that waiting for output can have a deadline."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe: IO[bytes]) -> None:
        for line in iter(pipe.readline, b""):
            self._queue.put(line)
        self._queue.put(b"")  # end of stream

    def until(self, marker: str, deadline: float) -> tuple[str, str]:
        """Text up to the marker line, and the rest of that line."""
        collected: list[bytes] = []
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise CommandTimeout(b"".join(collected).decode(errors="replace")) from None
            if line == b"":
                raise CommandTimeout("the shell exited: " + b"".join(collected).decode(errors="replace"))
            text = line.decode(errors="replace")
            if text.startswith(marker):
                # The marker is printed after a newline of its own, so that it starts a line.
                return b"".join(collected).decode(errors="replace").removesuffix("\n"), text[len(marker) :].strip()
            collected.append(line)


class ShellSession:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._marker = f"@@docs-test-{uuid.uuid4().hex}@@"
        self._process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._stdout = _Lines(self._process.stdout)
        self._stderr = _Lines(self._process.stderr)

    def run(self, command: str, timeout: float) -> Outcome:
        """Run one command (one or more lines, as written) with stdin from /dev/null, so it cannot eat the script."""
        assert self._process.stdin is not None
        script = (
            f"{{ {command}\n}} </dev/null\n"
            f"printf '\\n%s %d\\n' '{self._marker}' $?\n"
            f"printf '\\n%s\\n' '{self._marker}' >&2\n"
        )
        self._process.stdin.write(script.encode())
        self._process.stdin.flush()
        deadline = time.monotonic() + timeout
        try:
            stdout, status = self._stdout.until(self._marker, deadline)
            stderr, _ = self._stderr.until(self._marker, deadline)
        except CommandTimeout as exc:
            self.close()
            raise CommandTimeout(f"no answer within {timeout:.0f}s; output so far: {exc}") from None
        return Outcome(stdout=stdout, stderr=stderr, status=int(status))

    def close(self) -> None:
        """End the shell and everything it started (its whole process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(5)
        # Stragglers that outlived the shell: the group id stays reserved while any of them lives.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()

    def __enter__(self) -> ShellSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
