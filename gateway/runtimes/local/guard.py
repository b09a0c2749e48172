"""Process guard: ``python -m gateway.runtimes.local.guard <gateway-pid> -- command args...``.

Every local replica runs under one guard so that no process outlives the gateway, however the gateway
ends. The guard asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), starts the
command in a process group of its own, and on SIGTERM (gateway stopping or gone) ends the whole group
(grandchildren such as ``npx``'s node included), escalating to SIGKILL after a grace period. It exits
with the command's exit code.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
GRACE_SECONDS = float(os.environ.get("MCPGW_GUARD_GRACE_SECONDS", "5"))
CHECK_SECONDS = 0.2
"""How often the guard checks for a stop request or a dead parent (the parent check covers systems
without ``PR_SET_PDEATHSIG``)."""


def _die_with_parent(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent-pid poll below still covers us
        pass


def _bind_to_guard(guard: int) -> None:
    """In the command's process, before exec: die with the guard, even if it died a moment ago."""
    _die_with_parent(signal.SIGKILL)
    if os.getppid() != guard:  # the guard was killed between fork and prctl: nobody would end us
        os._exit(1)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # stragglers in the group, even if the leader exited


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m gateway.runtimes.local.guard <parent-pid> -- command [args...]", file=sys.stderr)
        return 2
    parent = int(argv[0])
    _die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        return 1
    guard = os.getpid()
    child = subprocess.Popen(argv[2:], start_new_session=True, preexec_fn=lambda: _bind_to_guard(guard))
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopping:
        try:
            # Popen polls within the timeout (every 50 ms at most), so the gateway learns of a dead command
            # within that, not a whole check interval later; its replica is then taken out of routing.
            child.wait(timeout=CHECK_SECONDS)
            break
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                stopping = True
    if stopping:
        _kill_group(child)
    code = child.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)  # whatever the command left behind in its group
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
