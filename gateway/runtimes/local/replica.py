"""One local replica: a supervised child process with captured output and a real readiness check.

The replica runs its command under :mod:`gateway.runtimes.local.guard` on a free loopback port (``$PORT``).

Readiness means the replica answers MCP: after each start, an adapter replica becomes ready once an MCP
``initialize`` on its path succeeds (:mod:`gateway.runtimes.mcp_probe`; tools and the tool router, which
are not MCP servers to the gateway, once their path answers HTTP at all). While ready, liveness is cheap:
every ``health_interval_seconds`` the process must be alive and its port must accept a TCP connection (no
HTTP request, so nothing reaches the server's request log). A full probe follows only a failed liveness
check, and otherwise at most once every :data:`REPROBE_SECONDS`. Three failed probes in a row take the
replica out of service. While not ready, probes back off (up to :data:`MAX_PROBE_INTERVAL_SECONDS`) and a
port that refuses connections is not sent any request.

When the process exits it is restarted with exponential back-off, and the state says so (``last_error``:
``exited with code 1; restarting in 8s (restart 4)`` and the last output lines). Output lines are kept
with their time in a ring; the gateway's own notes in it start with ``[gateway]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import httpx

from gateway.runtimes.base import ReplicaState
from gateway.runtimes.mcp_probe import ProbeResult, new_session, probe_http, probe_mcp
from gateway.settings import LocalRuntimeSettings

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 5.0
STABLE_RUN_SECONDS = 10.0
"""A run this long resets the restart back-off."""
REPROBE_SECONDS = 60.0
"""A ready replica gets a full (request-sending) probe at most this often unless its liveness fails."""
MIN_PROBE_INTERVAL_SECONDS = 0.1
MAX_PROBE_INTERVAL_SECONDS = 10.0
"""Back-off cap while a listening replica answers, but not MCP (each probe is a request in its log)."""
NOT_LISTENING_FAILS_AFTER_SECONDS = 30.0
"""A live process whose port still refuses connections, or that does not answer the probe in time, after this
long counts as failed (Failing); one that answers, but not MCP, counts as failed at once."""
ERROR_OUTPUT_BYTES = 1024
"""At most this much of the last output lines goes into ``last_error``."""
FOLLOW_BUFFER_LINES = 1000
"""Lines buffered per ``follow`` reader; a reader that falls further behind loses lines (and is told)."""
GATEWAY_NOTE = "[gateway] "


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LogLine:
    at: datetime
    text: str


class _Follower:
    """A bounded queue of lines for one ``follow`` reader; None marks the end."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(FOLLOW_BUFFER_LINES)
        self.dropped = 0

    def push(self, line: str | None) -> None:
        if line is None:
            # The end must arrive even when the buffer is full: make room for it.
            if self.queue.full():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return
        try:
            self.queue.put_nowait(line)
        except asyncio.QueueFull:
            self.dropped += 1


class Replica:
    """Supervises one process. ``start`` returns at once; ``ready`` tells whether it serves MCP."""

    def __init__(
        self,
        replica_id: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        path: str,
        settings: LocalRuntimeSettings,
        http: httpx.AsyncClient | None = None,
        generation: int = 1,
        *,
        mcp: bool = True,
        bridge: bool = False,
    ) -> None:
        self.id = replica_id
        self.generation = generation
        self._argv = list(argv)
        self._env = dict(env)
        self._path = path
        self._settings = settings
        self._mcp = mcp
        self.bridge = bridge
        """Run by the stdio bridge, whose ``/healthz`` reports live and maximum sessions."""
        self.lines: deque[LogLine] = deque(maxlen=settings.log_lines)
        self.port = 0
        self.ready = False
        self.since: datetime | None = datetime.now(UTC)
        self.restarts = 0
        self.last_exit_code: int | None = None
        self.last_error: str | None = None
        self.public_error: str | None = None
        self.failed = False
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._followers: set[_Follower] = set()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._sessions: tuple[float, int | None, int | None] | None = None
        self._appended = 0
        self._exited = False
        """The last error is an exit, not yet followed by a ready run: a restarted process that does not
        listen yet must not hide it."""
        """Lines ever appended to the ring (to find one run's lines in it after older ones dropped out)."""
        del http  # accepted for callers that still pass one; probes use their own aiohttp session

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._path}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def logs(self) -> list[str]:
        return [line.text for line in self.lines]

    @property
    def stopped(self) -> bool:
        return self._stopping

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
        self._set_ready(False)
        await self._terminate()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._stopped.set()
        for follower in list(self._followers):
            follower.push(None)

    def state(self) -> ReplicaState:
        sessions = self._sessions
        return ReplicaState(
            id=self.id,
            ready=self.ready,
            restarts=self.restarts,
            last_exit_code=self.last_exit_code,
            last_error=None if self.ready else self.last_error,
            since=self.since,
            failed=self.failed and not self.ready,
            sessions=sessions[1] if sessions else None,
            max_sessions=sessions[2] if sessions else None,
        )

    # ----- logs ----------------------------------------------------------------------------------------
    def tail(self, lines: int, since: datetime | None = None) -> list[str]:
        kept = [line.text for line in self.lines if since is None or line.at >= since]
        return kept[-lines:] if lines > 0 else []

    async def follow(self, lines: int, since: datetime | None = None) -> AsyncIterator[str]:
        """The tail, then each new line until the replica stops (or the reader goes away)."""
        follower = _Follower()
        backlog = self.tail(lines, since)  # taken together with registering: no line is lost or doubled
        self._followers.add(follower)
        try:
            for line in backlog:
                yield line
            if self._stopping:
                return
            while True:
                item = await follower.queue.get()
                if item is None:
                    return
                if follower.dropped:
                    yield f"{GATEWAY_NOTE}{follower.dropped} lines skipped: this reader fell behind"
                    follower.dropped = 0
                yield item
        finally:
            self._followers.discard(follower)

    def _append(self, text: str) -> None:
        self._appended += 1
        self.lines.append(LogLine(datetime.now(UTC), text))
        for follower in self._followers:
            follower.push(text)

    # ----- bridge sessions -----------------------------------------------------------------------------
    async def refresh_sessions(self, max_age: float = 15.0) -> None:
        """Read live/maximum sessions from a bridge replica's ``/healthz`` (at most every ``max_age`` s, so
        status polling does not fill the bridge's request log). Absent fields stay unknown."""
        if not self.bridge or not self.ready or self._stopping:
            return
        now = time.monotonic()
        if self._sessions is not None and now - self._sessions[0] < max_age:
            return
        self._sessions = (now, *(self._sessions[1:] if self._sessions else (None, None)))
        try:
            async with asyncio.timeout(1.0):
                async with self._probe_session().get(
                    f"http://127.0.0.1:{self.port}/healthz", headers={"User-Agent": "mcp-gateway-probe/1"}
                ) as response:
                    body = await response.json(content_type=None) if response.status == 200 else None
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return
        if isinstance(body, dict):
            self._sessions = (now, _count(body.get("sessions")), _count(body.get("maxSessions")))

    # ----- supervision ---------------------------------------------------------------------------------
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
            first_line = len(self.lines)
            dropped_before = self._dropped_total
            code = await self._run_once()
            if self._stopping:
                return
            if time.monotonic() - started > STABLE_RUN_SECONDS:
                backoff = 1.0
            self.restarts += 1
            self.last_exit_code = code
            what = "could not be started" if code is None else f"exited with code {code}"
            summary = f"{what}; restarting in {backoff:.0f}s (restart {self.restarts})"
            output = self._run_output(first_line, dropped_before)
            self._note(f"process {summary}")
            self.last_error = f"{summary}; last output: {output}" if output else summary
            self.public_error = summary
            self.failed = True
            self._exited = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._settings.max_restart_backoff_seconds)

    @property
    def _dropped_total(self) -> int:
        """How many lines the ring has dropped so far."""
        return self._appended - len(self.lines)

    def _run_output(self, first_line: int, dropped_before: int) -> str:
        """The last lines the process wrote in its latest run (not the gateway's notes), at most ~1 KB."""
        start = max(0, first_line - (self._dropped_total - dropped_before))
        lines = [line.text for line in list(self.lines)[start:] if not line.text.startswith(GATEWAY_NOTE)]
        return _last_bytes(lines, ERROR_OUTPUT_BYTES)

    async def _run_once(self) -> int | None:
        self.port = free_port()
        env = {**self._env, "PORT": str(self.port), "HOST": "127.0.0.1", "MCP_REPLICA_ID": self.id}
        guard = [sys.executable, "-m", "gateway.runtimes.local.guard", str(os.getpid()), "--", *self._argv]
        spawning = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *guard,
                env={**env, "MCPGW_GUARD_GRACE_SECONDS": str(self._settings.stop_grace_seconds)},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        )
        try:
            self._process = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            # Stopped while the guard was being started. A cancelled spawn would SIGKILL the guard, which then
            # cannot end its command (nor the command's own children): let it start, then end it properly.
            with contextlib.suppress(OSError):
                self._process = await spawning
                await self._terminate()
            raise
        except OSError as exc:
            self._note(f"could not start {self._argv[0]}: {exc}")
            return None
        health = asyncio.create_task(self._watch_health())
        try:
            await self._pump_output()
            return await self._process.wait()
        finally:
            health.cancel()
            self._set_ready(False)

    async def _pump_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while True:
            try:
                raw = await self._process.stdout.readline()
            except ValueError:  # a line longer than the stream's limit: take what there is
                raw = await self._process.stdout.read(64 * 1024)
            if not raw:
                return
            self._append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    async def _watch_health(self) -> None:
        """Readiness by probe, then cheap liveness with a full probe only when needed (see the module doc)."""
        run_started = time.monotonic()
        while True:
            await self._until_ready(run_started)
            await self._while_ready(run_started)

    async def _until_ready(self, run_started: float) -> None:
        """Probe until it answers, backing off; a port that refuses is retried often (no request is sent)."""
        interval = MIN_PROBE_INTERVAL_SECONDS
        while True:
            result = await self._probe(run_started)
            if result.ok:
                self._serving()
                return
            listening = result.public != "not listening"
            await asyncio.sleep(interval)
            interval = min(interval * 2, MAX_PROBE_INTERVAL_SECONDS if listening else 1.0)

    async def _while_ready(self, run_started: float) -> None:
        """Liveness every health interval; a full probe after a failed one or every REPROBE_SECONDS.
        Returns when three checks in a row failed (one is a blip) and the replica was taken out."""
        last_probe, failures = time.monotonic(), 0
        while True:
            await asyncio.sleep(self._settings.health_interval_seconds)
            alive = await self._alive()
            if alive and failures == 0 and time.monotonic() - last_probe < REPROBE_SECONDS:
                continue
            result = await self._probe(run_started) if alive else ProbeResult.failed(self._refused(), "not listening")
            last_probe = time.monotonic()
            if result.ok:
                failures = 0
                continue
            failures += 1
            if failures >= 3:
                self._set_ready(False)
                self._failing(result)
                self.failed = True
                return

    def _serving(self) -> None:
        self._set_ready(True)
        self.failed = self._exited = False
        self.last_error = self.public_error = None

    async def _probe(self, run_started: float) -> ProbeResult:
        """One readiness probe; records why it failed. A port that refuses gets no request at all."""
        if not await self._alive():
            result = ProbeResult.failed(self._refused(), "not listening")
            if time.monotonic() - run_started > NOT_LISTENING_FAILS_AFTER_SECONDS:
                self.failed = True
        else:
            session = self._probe_session()
            if self._mcp:
                result = await probe_mcp(session, self.url, PROBE_TIMEOUT_SECONDS)
            else:
                result = await probe_http(session, self.url, HEALTH_TIMEOUT_SECONDS)
            starting = time.monotonic() - run_started <= NOT_LISTENING_FAILS_AFTER_SECONDS
            if not result.ok and not self.ready and not (result.silent and starting):
                # It listens but answers MCP wrongly: no amount of waiting helps. One that does not answer yet
                # gets the same grace as one not listening yet (a stdio server behind the bridge may take
                # seconds to import on a busy machine).
                self.failed = True
        if not result.ok and not self.ready:
            self._failing(result)
        return result

    def _failing(self, result: ProbeResult) -> None:
        if self._exited and result.public == "not listening":
            return  # the restarted process is still starting: the exit stays the explanation
        self._exited = False
        reason = result.reason or "not ready"
        if self.bridge:  # the stdio server's own complaint is in the bridge's output
            output = _last_bytes(_complaints(self.logs[-40:]), ERROR_OUTPUT_BYTES)
            self.last_error = f"{reason}; last output: {output}" if output else reason
        else:
            self.last_error = reason
        self.public_error = result.public or reason

    def _refused(self) -> str:
        return f"connection refused on 127.0.0.1:{self.port}"

    async def _alive(self) -> bool:
        """The process lives and its port accepts a TCP connection (nothing is sent)."""
        if self._process is None or self._process.returncode is not None:
            return False
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except (TimeoutError, OSError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    def _probe_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session()
        return self._session

    def _set_ready(self, ready: bool) -> None:
        if ready != self.ready:
            self.since = datetime.now(UTC)
        self.ready = ready

    def _note(self, message: str) -> None:
        self._append(f"{GATEWAY_NOTE}{message}")
        log.info("replica %s: %s", self.id, message)


_ROUTINE = re.compile(r"^(INFO: |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO) )")
"""The bridge's access log and informational lines: not what explains a failure."""
_SESSION_START = re.compile(r" INFO gateway\.bridge: session \S+: started ")


def _complaints(lines: list[str], keep: int = 6) -> list[str]:
    """The last distinct lines that are neither the gateway's notes nor the bridge's routine logging."""
    kept: list[str] = []
    for line in reversed(lines):
        if _SESSION_START.search(line):  # the bridge started the stdio server for the latest attempt here
            break
        if line.startswith(GATEWAY_NOTE) or _ROUTINE.match(line) or not line.strip() or line in kept:
            continue
        kept.append(line)
        if len(kept) == keep:
            break
    return kept[::-1]


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _last_bytes(lines: list[str], limit: int) -> str:
    """The last lines joined by `` | `` (newest last), cut from the front to at most ``limit`` bytes."""
    text = " | ".join(line.strip() for line in lines if line.strip())
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return "…" + encoded[-(limit - 3) :].decode("utf-8", errors="ignore")
