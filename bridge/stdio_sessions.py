"""One upstream connection per MCP session, and the routing of what it says to HTTP streams.

The upstream is a stdio child process (:class:`StdioSession`) or an HTTP+SSE connection
(:mod:`bridge.sse_sessions`). The bridge is a JSON-RPC relay: whatever the client posts goes
upstream as one message (a line on the child's stdin, a POST to the SSE server's message endpoint), and
every message the upstream sends is delivered to exactly one HTTP stream:

* a response goes to the POST stream that carried the request with the same id;
* a progress notification goes to the POST stream of the request that supplied its progress token;
* any other server message (log notifications, sampling/elicitation requests, list-changed
  notifications) goes to the oldest open POST stream, because stdio carries no "related request"
  marker and the oldest request is the one most likely still running; with no POST stream open it goes
  to the standalone GET stream, or waits in a bounded backlog until one opens.

Sessions are bounded by idle time and by count: a session with no open stream and no request in flight
ends after the idle timeout, and when the limit is reached the session idle the longest gives way to the
new one (only when every session is busy is a new one refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import secrets
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.config import StdioTarget
from bridge.wire import INTERNAL_ERROR, classify, dump, error_body, id_key

log = logging.getLogger("bridge")

# stdio servers may print big results (images, files) on one line; asyncio's default is 64 KiB.
STDOUT_LINE_LIMIT = 64 * 1024 * 1024
BACKLOG_LIMIT = 1000
_PR_SET_PDEATHSIG = 1

Item = bytes | None
"""What a stream queue carries: one serialized JSON-RPC message, or None for "this stream is over"."""


class TooManySessions(Exception):
    """The configured session limit is reached and every session is busy (none is idle to give way)."""


class UpstreamUnavailable(Exception):
    """The upstream server could not take a message or open a session.

    ``str()`` is the short cause a client may see; ``detail`` adds what only the log gets (addresses, the
    server's own error text).
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class StreamConflict(Exception):
    """A standalone GET stream is already open, or a request id is already pending, in this session."""


@dataclass
class _Pending:
    queue: asyncio.Queue[Item]
    progress_token: str | None
    carries_messages: bool  # False for application/json replies, which can hold only the response


def _child_setup(parent_pid: int) -> None:
    """Runs in the forked child before exec: own process group, and die with the bridge."""
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the bridge died between fork and prctl
        os._exit(1)


class RelaySession:
    """An MCP session's streams and the routing of upstream messages to them; subclasses add the upstream."""

    def __init__(self, session_id: str, on_exit: Callable[[RelaySession], None]) -> None:
        self.id = session_id
        self.last_active = time.monotonic()
        self.closed = False
        self._pending: dict[str, _Pending] = {}
        self._standalone: asyncio.Queue[Item] | None = None
        self._backlog: deque[bytes] = deque(maxlen=BACKLOG_LIMIT)
        self._open_streams = 0
        self._on_exit = on_exit

    @property
    def idle_since(self) -> float | None:
        """When the session became idle, or None while a stream is open (an open stream is activity)."""
        return None if self._open_streams else self.last_active

    def touch(self) -> None:
        self.last_active = time.monotonic()

    async def send(self, message: Any) -> None:
        """Send one client message upstream.

        Raises:
            ConnectionResetError: the upstream is gone (the session is over).
            UpstreamUnavailable: the upstream refused or could not be reached this time.
        """
        raise NotImplementedError

    async def terminate(self, grace: float = 2.0) -> None:
        """End the session and release its upstream."""
        raise NotImplementedError

    def terminate_now(self) -> None:
        """Synchronous last resort (signal handlers, interpreter exit)."""
        self.closed = True

    def open_request(
        self, request_id: Any, message: dict[str, Any], carries_messages: bool,
    ) -> asyncio.Queue[Item]:
        """Register a request before it is written, so its response cannot be missed."""
        key = id_key(request_id)
        if key in self._pending:
            raise StreamConflict(f"request id {key} is already pending in this session")
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        queue: asyncio.Queue[Item] = asyncio.Queue()
        self._pending[key] = _Pending(queue, None if token is None else id_key(token), carries_messages)
        self._open_streams += 1
        return queue

    def close_request(self, request_id: Any, queue: asyncio.Queue[Item]) -> None:
        """The POST stream ended (response delivered or client gone); a late response is dropped."""
        key = id_key(request_id)
        pending = self._pending.get(key)
        if pending is not None and pending.queue is queue:
            del self._pending[key]
        self._open_streams -= 1
        self.touch()

    def open_standalone(self) -> asyncio.Queue[Item]:
        """Open the GET stream; the backlog of undelivered server messages goes out first."""
        if self._standalone is not None:
            raise StreamConflict("a GET stream is already open for this session")
        queue: asyncio.Queue[Item] = asyncio.Queue()
        while self._backlog:
            queue.put_nowait(self._backlog.popleft())
        if self.closed:
            queue.put_nowait(None)
        self._standalone = queue
        self._open_streams += 1
        return queue

    def close_standalone(self, queue: asyncio.Queue[Item]) -> None:
        if self._standalone is queue:
            self._standalone = None
            self._open_streams -= 1
            self.touch()

    def end_streams(self) -> None:
        """Finish every open stream now (bridge shutdown), failing pending requests."""
        self._fail_pending("The MCP bridge is shutting down")
        if self._standalone is not None:
            self._standalone.put_nowait(None)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for key, entry in pending.items():
            entry.queue.put_nowait(dump(error_body(INTERNAL_ERROR, reason, json.loads(key))))
            entry.queue.put_nowait(None)

    def _route(self, line: bytes) -> None:
        if not line:
            return
        try:
            message = json.loads(line)
        except ValueError:
            # Some servers print banners on stdout; that is not protocol, so keep it visible as a log line.
            log.warning("session %s: ignoring non-JSON output: %.200r", self.id[:8], line)
            return
        kind = classify(message)
        if kind is None:
            log.warning("session %s: ignoring a non-JSON-RPC message: %.200r", self.id[:8], line)
            return
        if kind == "response":
            # Pop now: a server message printed after the response must go to a stream that is still open.
            pending = self._pending.pop(id_key(message.get("id")), None)
            if pending is not None:
                pending.queue.put_nowait(line)
                pending.queue.put_nowait(None)
            return
        self._deliver(line, self._destination(message))

    def _destination(self, message: dict[str, Any]) -> asyncio.Queue[Item] | None:
        if message.get("method") == "notifications/progress":
            params = message.get("params")
            token = params.get("progressToken") if isinstance(params, dict) else None
            for pending in self._pending.values():
                if pending.carries_messages and token is not None and pending.progress_token == id_key(token):
                    return pending.queue
        for pending in self._pending.values():  # dicts keep insertion order: the oldest request first
            if pending.carries_messages:
                return pending.queue
        return self._standalone

    def _deliver(self, line: bytes, queue: asyncio.Queue[Item] | None) -> None:
        if queue is not None:
            queue.put_nowait(line)
        else:
            self._backlog.append(line)

    def _end(self, reason: str) -> None:
        """The upstream is gone: fail what is pending, end the GET stream, leave the registry."""
        self.closed = True
        self._fail_pending(reason)
        if self._standalone is not None:
            self._standalone.put_nowait(None)
        self._on_exit(self)


class StdioSession(RelaySession):
    """An MCP session: a child process speaking newline-delimited JSON-RPC, and its open streams."""

    def __init__(
        self, session_id: str, process: asyncio.subprocess.Process, on_exit: Callable[[RelaySession], None],
    ) -> None:
        super().__init__(session_id, on_exit)
        self.process = process
        self._write_lock = asyncio.Lock()
        self._reader = asyncio.create_task(self._pump_stdout(), name=f"bridge-stdout-{session_id[:8]}")

    async def send(self, message: Any) -> None:
        """Write one client message to the child's stdin."""
        stdin = self.process.stdin
        if self.closed or stdin is None or stdin.is_closing():
            raise ConnectionResetError("the MCP server process has exited")
        async with self._write_lock:
            stdin.write(dump(message) + b"\n")
            await stdin.drain()

    async def terminate(self, grace: float = 2.0) -> None:
        """End the session: EOF on stdin (the polite stdio shutdown), then SIGTERM, then SIGKILL the group."""
        self.closed = True
        process = self.process
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                _signal_group(process.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), grace)
                break
        # Grandchildren (npx -> node) share the group; make sure none outlives the session.
        _signal_group(process.pid, signal.SIGKILL)
        await self._reader

    def terminate_now(self) -> None:
        """Synchronous last resort (signal handlers, interpreter exit): SIGKILL the whole group."""
        self.closed = True
        _signal_group(self.process.pid, signal.SIGKILL)

    async def _pump_stdout(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                self._route(line.strip())
        except (ValueError, asyncio.LimitOverrunError) as exc:
            log.error("session %s: unreadable output from the MCP server (%s); ending the session",
                      self.id[:8], exc)
            _signal_group(self.process.pid, signal.SIGKILL)
        finally:
            code = await self.process.wait()
            self._finish(code)

    def _finish(self, code: int) -> None:
        if not self.closed:
            log.warning("session %s: the MCP server process exited with code %s", self.id[:8], code)
        self._end(f"The MCP server process exited (code {code})")


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


SessionFactory = Callable[[str, Callable[[RelaySession], None]], Awaitable[RelaySession]]
"""Opens the upstream of a new session: ``factory(session_id, on_exit)``; raises OSError or UpstreamUnavailable."""


def stdio_factory(target: StdioTarget, env: dict[str, str] | None = None) -> SessionFactory:
    """Sessions that each spawn ``target`` as a child process speaking JSON-RPC on stdin/stdout."""

    async def start(session_id: str, on_exit: Callable[[RelaySession], None]) -> RelaySession:
        parent = os.getpid()
        process = await asyncio.create_subprocess_exec(
            target.command, *target.args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None,  # stderr: ours
            env=env if env is not None else dict(os.environ),
            limit=STDOUT_LINE_LIMIT,
            preexec_fn=lambda: _child_setup(parent),
        )
        log.info("session %s: started %s (pid %s)", session_id[:8], describe(target.command, target.args),
                 process.pid)
        return StdioSession(session_id, process, on_exit)

    return start


def describe(command: str, args: Sequence[str]) -> str:
    return " ".join([command, *args])[:200]


class SessionRegistry:
    """The live sessions of one bridge: create on initialize, find by id, expire when idle, kill all."""

    def __init__(self, factory: SessionFactory | StdioTarget, ttl: float, max_sessions: int) -> None:
        self._factory = stdio_factory(factory) if isinstance(factory, StdioTarget) else factory
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._sessions: dict[str, RelaySession] = {}
        self._starting = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._sessions)

    async def create(self) -> RelaySession:
        """Open the upstream of a new session; at the limit, the session idle the longest gives way.

        Raises:
            TooManySessions: the limit is reached and no session is idle.
            OSError: the command could not be started.
            UpstreamUnavailable: the upstream server could not be reached.
        """
        self._loop = asyncio.get_running_loop()
        while len(self._sessions) + self._starting >= self.max_sessions:
            idle = [(since, s.id) for s in self._sessions.values() if (since := s.idle_since) is not None]
            if not idle:
                raise TooManySessions(
                    f"the bridge already runs {self.max_sessions} sessions and none is idle")
            _, oldest = min(idle)
            log.info("session %s: ending it, the idle session the longest, to make room for a new one "
                     "(limit %d)", oldest[:8], self.max_sessions)
            await self.delete(oldest)
        session_id = secrets.token_urlsafe(32)
        self._starting += 1
        try:
            session = await self._factory(session_id, self._forget)
        finally:
            self._starting -= 1
        self._sessions[session_id] = session
        return session

    def get(self, session_id: str) -> RelaySession | None:
        session = self._sessions.get(session_id)
        return None if session is None or session.closed else session

    async def delete(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        await session.terminate()
        return True

    async def expire_idle(self) -> list[str]:
        """End the sessions idle for longer than the TTL; returns their ids."""
        now = time.monotonic()
        expired = [s.id for s in self._sessions.values()
                   if (since := s.idle_since) is not None and now - since > self.ttl]
        for session_id in expired:
            log.info("session %s: idle for more than %gs, ending it", session_id[:8], self.ttl)
            await self.delete(session_id)
        return expired

    async def run_expiry(self) -> None:
        """Sweep for idle sessions forever (cancel to stop)."""
        interval = max(0.05, min(self.ttl / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.expire_idle()
            except Exception:  # one failed termination must not stop the sweeping
                log.exception("ending idle sessions failed")

    def request_shutdown(self) -> None:
        """Called from the signal handler: end every stream soon, so the HTTP server can drain."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._end_all_streams)

    def _end_all_streams(self) -> None:
        for session in self._sessions.values():
            session.end_streams()

    async def close_all(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        await asyncio.gather(*(s.terminate() for s in sessions), return_exceptions=True)

    def kill_all_now(self) -> None:
        for session in self._sessions.values():
            session.terminate_now()

    def _forget(self, session: RelaySession) -> None:
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
