"""One local replica: a supervised child process with captured output and a real health check.

The replica runs its command under :mod:`gateway.runtimes.guard` on a free loopback port (``$PORT``).
It counts as ready while the process is alive and answers HTTP on its port. When the process exits
unexpectedly it is restarted with exponential back-off; the output of every run stays in the log ring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence

import httpx

from gateway.settings import LocalRuntimeSettings

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 2.0
STABLE_RUN_SECONDS = 10.0
"""A run this long resets the restart back-off."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replica:
    """Supervises one process. ``start`` returns at once; ``ready`` tells whether it serves."""

    def __init__(
        self,
        replica_id: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        path: str,
        settings: LocalRuntimeSettings,
        http: httpx.AsyncClient,
        generation: int,
    ) -> None:
        self.id = replica_id
        self.generation = generation
        self._argv = list(argv)
        self._env = dict(env)
        self._path = path
        self._settings = settings
        self._http = http
        self.logs: deque[str] = deque(maxlen=settings.log_lines)
        self.port = 0
        self.ready = False
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._path}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name=f"replica {self.id}")

    async def wait_ready(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not self._stopping:
            if self.ready:
                return True
            await asyncio.sleep(0.05)
        return self.ready

    async def stop(self) -> None:
        """Stop for good: SIGTERM the guard (which ends the whole process group), SIGKILL on timeout."""
        self._stopping = True
        self.ready = False
        await self._terminate()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    async def _terminate(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self._settings.stop_grace_seconds + 1)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping:
            started = time.monotonic()
            code = await self._run_once()
            if self._stopping:
                return
            if time.monotonic() - started > STABLE_RUN_SECONDS:
                backoff = 1.0
            self.restarts += 1
            self._note(f"process exited with code {code}; restarting in {backoff:.0f}s")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._settings.max_restart_backoff_seconds)

    async def _run_once(self) -> int | None:
        self.port = free_port()
        env = {**self._env, "PORT": str(self.port), "HOST": "127.0.0.1", "MCP_REPLICA_ID": self.id}
        guard = [sys.executable, "-m", "gateway.runtimes.guard", str(os.getpid()), "--", *self._argv]
        try:
            self._process = await asyncio.create_subprocess_exec(
                *guard,
                env={**env, "MCPGW_GUARD_GRACE_SECONDS": str(self._settings.stop_grace_seconds)},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            self._note(f"could not start {self._argv[0]}: {exc}")
            return None
        health = asyncio.create_task(self._watch_health())
        try:
            await self._pump_output()
            return await self._process.wait()
        finally:
            health.cancel()
            self.ready = False

    async def _pump_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for raw in self._process.stdout:
            self.logs.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    async def _watch_health(self) -> None:
        failures = 0
        while True:
            healthy = await self._probe()
            failures = 0 if healthy else failures + 1
            # One failed probe after being ready is a blip; three in a row take the replica out.
            self.ready = healthy or (self.ready and failures < 3)
            await asyncio.sleep(self._settings.health_interval_seconds if self.ready else 0.1)

    async def _probe(self) -> bool:
        """Any HTTP answer on the port means the server is up (MCP endpoints answer GET with 4xx/405)."""
        url = f"http://127.0.0.1:{self.port}{self._path}"
        try:
            # Stream so that a server answering GET with an endless SSE stream still counts once headers arrive.
            async with self._http.stream("GET", url, timeout=HEALTH_TIMEOUT_SECONDS):
                return True
        except httpx.HTTPError:
            return False

    def _note(self, message: str) -> None:
        self.logs.append(f"[gateway] {message}")
        log.info("replica %s: %s", self.id, message)
