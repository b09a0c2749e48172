"""The router as an MCP client of adapters: what a virtual server's adapter members list and run (issue #19).

Upstream MCP sessions (the SDK's ``Client`` over streamable HTTP, on one of the adapter's ready ``urls``) are
kept while :meth:`AdapterClient.running`: one per (downstream session, adapter, caller's identity), or per
(caller's identity, adapter, url) for a request without a downstream session (:data:`downstream_session`).
Each is held by its own task in the client's task group and ended on the downstream session's ``DELETE``
(:meth:`AdapterClient.close_downstream`), after :data:`SESSION_IDLE_SECONDS` unused, beyond
:data:`MAX_KEPT_SESSIONS`, or on shutdown. A broken one is dropped and the exchange sent once more on a fresh
session (a ``tools/call`` only when the adapter surely did not run it). Outside ``running`` every exchange
opens its own session and ends it. Also:

- the HTTP goes through the executor's aiohttp pools (:class:`PooledTransport`, an ``httpx2`` transport), so
  connections are reused, ``remote`` adapters connect only where the SSRF guard allows (the same guarded
  pool as ``url`` tools), proxy variables are ignored and no cookie is kept;
- the protocol era each url speaks is remembered (:class:`_Era`): a 2026-07-28 adapter then costs one
  request per exchange, a handshake-era one ``initialize`` and ``notifications/initialized`` once per kept
  session, then one request per exchange; a kept session also holds the adapter's standalone ``GET`` stream
  (on a pool of its own, :meth:`ToolExecutor.stream_pool`), where adapters announce ``list_changed``;
- what the adapter sends besides answers (progress, logging, sampling, elicitation, roots, list changes) is
  relayed by the session's :class:`toolrouter.relay.Relay`;
- each adapter's lists are cached per (adapter, its urls, the caller's identity) for
  ``upstream_list_cache_seconds``, dropped when the catalog version changes, and fetched once however many
  callers ask at the same moment.

Towards the adapter the router sends what the gateway's data plane sends: ``X-Mcp-UserId`` and
``X-Mcp-Roles`` of the caller (gateway/proxy/headers.py, which the router may not import; the rule is
mirrored in :func:`identity_headers`), never the gateway secret nor any token. The cache key holds the
caller's identity because an adapter may list different things to different users.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import anyio
import httpx2
import mcp_types as types
from anyio.abc import TaskGroup
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter, ValidationError
from yarl import URL

from gateway.auth.principal import Principal
from gateway.auth.principal import identity_headers as principal_headers
from gateway.netguard import is_address_refusal
from gateway.telemetry.tracing import with_trace_headers
from toolrouter.catalog import AdapterEntry
from toolrouter.executor import ToolExecutor, error_result
from toolrouter.identity import virtual_server_of
from toolrouter.relay import Relay, downstream_request, progress_to

logger = logging.getLogger(__name__)

MAX_PAGES = 100
"""Pages of one upstream list followed at most: a paginator that never ends cannot hang a request."""
MAX_ITEMS = 1000
"""Items of one upstream list kept at most (tools, prompts or resources of one adapter)."""
ERA_MEMORY_SECONDS = 300.0
FAILED_LIST_CACHE_SECONDS = 5.0
"""A member that failed to list is not asked again for this long (per caller): a down adapter must not make
every ``tools/list`` of its servers wait for it."""
MAX_CACHED_LISTS = 10_000
SESSION_IDLE_SECONDS = 300.0
"""A kept upstream session unused for this long is ended (``DELETE``)."""
MAX_KEPT_SESSIONS = 1000
"""Upstream sessions kept at most; beyond it the least recently used is ended."""
CLOSE_SECONDS = 5.0
"""On shutdown, kept sessions have this long to end politely before their tasks are cancelled."""
SWEEP_SECONDS = 30.0
LIST_CHANGED_SETTLE_SECONDS = 0.2
"""An adapter's ``list_changed`` reaches the router once per kept session: the clients are told once, this
long after the first."""

downstream_session: ContextVar[str | None] = ContextVar("downstream_session", default=None)
"""The caller's MCP session id (handshake era) for the request being served, set by
:func:`downstream_session_middleware`; None for a 2026-07-28 or session-less request."""

# Request headers the pool sets itself, and everything that could carry a credential (none is ever set here).
_REQUEST_HEADERS_NOT_SENT = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-gateway-secret",
    }
)
_RESPONSE_HEADERS_DROPPED = frozenset({"transfer-encoding", "connection", "keep-alive", "set-cookie"})


def identity_headers(principal: Principal) -> dict[str, str]:
    """The caller as the gateway's data plane presents it to an adapter (``gateway.auth.principal``)."""
    return dict(principal_headers(principal))


class UpstreamError(Exception):
    """An adapter did not answer as an MCP server should; the message names no address (safe to show).

    ``fresh`` is False when the failure is a remembered one (the list cache), already logged once."""

    def __init__(self, message: str, *, fresh: bool = True) -> None:
        super().__init__(message)
        self.fresh = fresh


class _TooLarge(Exception):
    pass


class PooledTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport (what the SDK's client speaks) over one of the executor's aiohttp pools.

    ``GET`` (a session's standalone stream, for server-initiated messages) goes to ``stream_pool`` when there
    is one (a kept session: streams that stay open must not take the connections that calls need); without
    one it is answered ``405`` here without contacting the adapter (a session used for one exchange). The
    first connection failure is kept in :attr:`failure` so the caller can say what went wrong (the SDK only
    sees an ``httpx2`` error).
    """

    def __init__(
        self,
        pool: aiohttp.ClientSession,
        *,
        max_response_bytes: int,
        connect_timeout: float,
        exchange_timeout: float,
        stream_pool: aiohttp.ClientSession | None = None,
    ) -> None:
        """``exchange_timeout``: how long a ``POST`` or ``DELETE`` (its whole answer, a stream included) may take;
        past it the connection is closed. The SDK stops waiting at its own time-out but may keep reading, and
        an adapter that never ends its answer must not keep a connection of the shared pool forever. The
        standalone ``GET`` stream has no such bound (it lasts as long as its session)."""
        self._pool = pool
        self._stream_pool = stream_pool
        self._max_bytes = max_response_bytes
        self._timeout = aiohttp.ClientTimeout(
            total=exchange_timeout, sock_connect=connect_timeout, connect=connect_timeout
        )
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, connect=connect_timeout)
        self.failure: BaseException | None = None
        self.session_gone = False
        """The adapter answered 404 to a request that named a session: it does not know the session (it
        restarted, or ended it), so it did not process the request."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        pool, timeout = self._pool, self._timeout
        if request.method == "GET":
            if self._stream_pool is None:
                return httpx2.Response(405, headers={"allow": "POST, DELETE"}, request=request)
            pool, timeout = self._stream_pool, self._stream_timeout
        body = await request.aread()
        headers = [
            (k.lower(), v) for k, v in request.headers.multi_items() if k.lower() not in _REQUEST_HEADERS_NOT_SENT
        ]
        # The trace continues into the adapter (W3C traceparent), as into a registered tool.
        headers = with_trace_headers(headers)
        try:
            response = await pool.request(
                request.method,
                URL(str(request.url), encoded=True),
                data=body,
                headers=headers,
                allow_redirects=False,
                # httpx2 decodes what the headers say; aiohttp must not decode it first.
                auto_decompress=False,
                timeout=timeout,
            )
        except (aiohttp.ClientError, OSError) as exc:
            if request.method != "GET":  # the standalone stream is optional: its loss breaks no exchange
                self.failure = self.failure or exc
            raise httpx2.ConnectError(type(exc).__name__, request=request) from exc
        if response.status == 404 and request.headers.get("mcp-session-id"):
            self.session_gone = True
        response_headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in response.raw_headers
            if k.decode("latin-1").lower() not in _RESPONSE_HEADERS_DROPPED
        ]
        # An SSE body is a stream of messages, bounded per event by the SDK (max_sse_event_size); a JSON body
        # is one message, bounded here.
        is_sse = response.headers.get("content-type", "").lower().startswith("text/event-stream")
        stream = _PooledStream(response, None if is_sse else self._max_bytes, self if request.method != "GET" else None)
        return httpx2.Response(response.status, headers=response_headers, stream=stream, request=request)


class _PooledStream(httpx2.AsyncByteStream):
    def __init__(
        self, response: aiohttp.ClientResponse, limit: int | None, transport: PooledTransport | None
    ) -> None:
        self._response = response
        self._limit = limit
        self._transport = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        try:
            async for chunk in self._response.content.iter_any():
                size += len(chunk)
                if self._limit is not None and size > self._limit:
                    self._failed(_TooLarge())
                    raise httpx2.ReadError("the reply is too large")
                yield chunk
        except (aiohttp.ClientError, OSError) as exc:
            self._failed(exc)
            raise httpx2.ReadError(type(exc).__name__) from exc

    def _failed(self, failure: BaseException) -> None:
        if self._transport is not None:  # None: the standalone stream, whose loss fails no exchange
            self._transport.failure = self._transport.failure or failure

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            # Unread: the connection cannot be reused for another request.
            self._response.close()


@dataclass(eq=False)
class _Kept:
    """One kept upstream session, run by its own task in the client's task group."""

    url: str
    transport: PooledTransport
    relay: Relay
    ready: anyio.Event = field(default_factory=anyio.Event)
    stop: anyio.Event = field(default_factory=anyio.Event)
    session: ClientSession | None = None
    error: BaseException | None = None
    used: float = 0.0
    exchanges: int = 0


KeepKey = tuple[str | None, str, bool, str, frozenset[str], str, str]
"""(downstream session id or None, adapter, remote, user id, roles, url when there is no downstream session,
the client capabilities the upstream session declares when there is none: see :func:`declared`)."""


@dataclass(frozen=True)
class _Era:
    discover: types.DiscoverResult | None
    """The url's ``server/discover`` answer (2026-07-28), or None: it speaks the handshake era."""
    until: float


@dataclass
class _Listed:
    items: tuple[Any, ...] | None
    """None: the fetch failed (``error`` says why)."""
    error: str
    until: float


@dataclass
class _Flight:
    """One fetch in progress; later askers for the same key wait for it."""

    done: anyio.Event = field(default_factory=anyio.Event)
    result: _Listed | None = None


_ItemT = TypeVar("_ItemT")
ListKey = tuple[str, str, tuple[str, ...], bool, str, frozenset[str]]


class AdapterClient:
    """Lists and calls adapters' tools (and prompts and resources) as the calling user."""

    def __init__(
        self,
        executor: ToolExecutor,
        *,
        call_timeout_seconds: float,
        list_timeout_seconds: float,
        list_cache_seconds: float,
        max_response_bytes: int,
        client_info: types.Implementation | None = None,
        on_list_changed: Callable[[str, str], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._executor = executor
        self._call_timeout = call_timeout_seconds
        self._list_timeout = list_timeout_seconds
        self._list_ttl = list_cache_seconds
        self._max_bytes = max_response_bytes
        self._client_info = client_info
        self._clock = clock
        self._turns: dict[str, Iterator[int]] = {}
        self._eras: dict[str, _Era] = {}
        self._lists: dict[ListKey, _Listed] = {}
        self._flights: dict[ListKey, _Flight] = {}
        self._version: str | None = None
        self._kept: OrderedDict[KeepKey, _Kept] = OrderedDict()
        self._tasks: TaskGroup | None = None
        self._closing: anyio.Event | None = None
        self._on_list_changed = on_list_changed
        self._changes_pending: set[tuple[str, str]] = set()
        """Changes being announced; one that arrives meanwhile is announced once more afterwards."""
        self._changes_again: set[tuple[str, str]] = set()
        self._generations: dict[tuple[str, ...], int] = {}
        self._epoch = 0
        self.list_ttl = list_cache_seconds

    # --- kept sessions -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Keep upstream sessions while inside (the app's lifespan); without it every exchange opens its own.

        The kept sessions' tasks (the SDK client's reader and its HTTP) live in a task group owned here, not in
        the request that first needed them; leaving ends them all."""
        closing = anyio.Event()
        async with anyio.create_task_group() as tasks:
            self._tasks, self._closing = tasks, closing
            tasks.start_soon(self._sweep_forever, closing)
            try:
                yield
            finally:
                self._tasks = self._closing = None
                closing.set()
                for kept in self._kept.values():
                    kept.stop.set()
                self._kept.clear()
                tasks.cancel_scope.deadline = anyio.current_time() + CLOSE_SECONDS

    def kept_sessions(self) -> int:
        return len(self._kept)

    def close_downstream(self, session_id: str) -> None:
        """The caller's session ended: end the upstream sessions it used."""
        for key in [k for k in self._kept if k[0] == session_id]:
            self._drop(key, self._kept[key])

    def _drop(self, key: KeepKey, kept: _Kept) -> None:
        if self._kept.get(key) is kept:
            del self._kept[key]
        kept.stop.set()

    async def _sweep_forever(self, closing: anyio.Event) -> None:
        while not closing.is_set():
            with anyio.move_on_after(SWEEP_SECONDS):
                await closing.wait()
            self.sweep()

    def sweep(self) -> None:
        """End the sessions unused for :data:`SESSION_IDLE_SECONDS`."""
        deadline = self._clock() - SESSION_IDLE_SECONDS
        for key, kept in list(self._kept.items()):
            if kept.used <= deadline and kept.session is not None:
                self._drop(key, kept)

    async def _keep(self, key: KeepKey, kept: _Kept, adapter: AdapterEntry, principal: Principal) -> None:
        """Open the session, hold it until :attr:`_Kept.stop`, then end it (``DELETE``)."""
        opening = max(self._call_timeout, self._list_timeout)
        try:
            # Opening is bounded (the waiting callers have their own deadlines; later ones must not wait on a
            # session that never opens); holding it is not.
            with anyio.CancelScope(deadline=anyio.current_time() + opening) as scope:
                async with self.session(adapter, principal, kept.url, kept.transport, kept.relay) as session:
                    scope.deadline = math.inf
                    kept.session = session
                    kept.ready.set()
                    await kept.stop.wait()
                    # Ending it (DELETE, the SDK's tasks) is bounded too: an adapter that never answers the
                    # DELETE must not keep this task, its connections and its stream.
                    scope.deadline = anyio.current_time() + CLOSE_SECONDS
            if scope.cancelled_caught:
                kept.error = kept.error or TimeoutError()
        except Exception as exc:
            kept.error = exc
            if kept.session is not None:
                logger.debug("kept session to adapter %r ended: %s", adapter.name, type(root_cause(exc)).__name__)
        finally:
            kept.session = None
            kept.stop.set()
            kept.ready.set()
            if self._kept.get(key) is kept:
                del self._kept[key]

    async def _kept_session(
        self, adapter: AdapterEntry, principal: Principal, url: str, transports: list[PooledTransport]
    ) -> tuple[KeepKey, _Kept, bool]:
        """The kept session for this caller and adapter (opened if need be); True when it was just opened. Its
        transport is appended to ``transports`` first (it says what went wrong if it does not open)."""
        assert self._tasks is not None
        sid = downstream_session.get()
        request = downstream_request.get()
        capabilities = "" if sid or request is None else declared(request.session.client_capabilities)
        key: KeepKey = (
            sid, adapter.name, adapter.remote, principal.user_id, principal.roles, "" if sid else url, capabilities
        )
        kept = self._kept.get(key)
        if kept is not None and (kept.stop.is_set() or kept.url not in adapter.urls or kept.transport.failure):
            self._drop(key, kept)
            kept = None
        opened = kept is None
        if kept is None:
            kept = _Kept(url, self.transport(adapter, listen=True), self._relay(adapter, sid))
            self._kept[key] = kept
            while len(self._kept) > MAX_KEPT_SESSIONS:
                old_key, old = next(iter(self._kept.items()))
                self._drop(old_key, old)
            self._tasks.start_soon(self._keep, key, kept, adapter, principal)
        self._kept.move_to_end(key)
        kept.used = self._clock()
        transports.append(kept.transport)
        await kept.ready.wait()
        if kept.session is None or kept.stop.is_set():
            raise kept.error or UpstreamError("the session ended")
        return key, kept, opened

    async def _with_retry(
        self,
        adapter: AdapterEntry,
        principal: Principal,
        url: str,
        send: Callable[[ClientSession], Awaitable[_ItemT]],
        *,
        resend: bool,
        transports: list[PooledTransport],
    ) -> _ItemT:
        """``send`` on a session (a kept one while :meth:`running`, else a fresh one, ended afterwards); the
        transports used are appended to ``transports`` (the last one says what went wrong). When a kept session
        turns out broken (the replica restarted or died), once more on a fresh one, on the next ready url.
        ``resend`` False (``tools/call``): only when the request surely was not processed (the connection was
        refused, or the adapter did not know the session)."""
        request = downstream_request.get()
        if self._tasks is None:
            transport = self.transport(adapter)
            transports.append(transport)
            relay = self._relay(adapter, downstream_session.get())
            async with self.session(adapter, principal, url, transport, relay) as session:
                with relay.serving(request):
                    return relay.completed(request, await send(session))
        key, kept, opened = await self._kept_session(adapter, principal, url, transports)
        assert kept.session is not None
        try:
            with kept.relay.serving(request):
                return kept.relay.completed(request, await send(kept.session))
        except Exception as exc:
            if not _breaks_session(exc, kept.transport):
                raise
            self._drop(key, kept)
            self._eras.pop(kept.url, None)  # a restarted replica may speak another era
            if opened or not (resend or _not_processed(kept.transport)) or not adapter.urls:
                raise
            logger.info("adapter %r: the kept session broke; once more on a fresh one", adapter.name)
        except BaseException:
            # Cancelled (a time-out, the client gone): the exchange may still hold the session's stream open.
            self._drop(key, kept)
            raise
        url = self.next_url(adapter)
        key, kept, _ = await self._kept_session(adapter, principal, url, transports)
        assert kept.session is not None
        try:
            with kept.relay.serving(request):
                return kept.relay.completed(request, await send(kept.session))
        except Exception as exc:
            if _breaks_session(exc, kept.transport):
                self._drop(key, kept)
            raise
        except BaseException:
            self._drop(key, kept)
            raise

    # --- sessions ------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def session(
        self,
        adapter: AdapterEntry,
        principal: Principal,
        url: str,
        transport: PooledTransport | None = None,
        relay: Relay | None = None,
    ) -> AsyncIterator[ClientSession]:
        """An initialized upstream session on ``url`` as ``principal``; ended (``DELETE``) on leaving. What
        the adapter sends on its own goes to ``relay`` (none: dropped, and no client capability declared)."""
        transport = transport or self.transport(adapter)
        era = self._eras.get(url)
        if era is not None and era.until <= self._clock():
            era = None
        mode: str = "auto"
        prior: types.DiscoverResult | None = None
        for_session = relay is not None and relay.serves_session
        if (era is not None and era.discover is None) or (for_session and _handshakes(era)):
            # A handshake-era client gets a handshake-era upstream session where the adapter has one: that is
            # where adapters send their questions (sampling, elicitation, roots) and log lines, and where
            # resources/subscribe still exists. 2026-07-28 replaced those (InputRequiredResult, opt-in logs).
            mode = "legacy"
        elif era is not None and era.discover is not None:
            prior = era.discover
            mode = [v for v in MODERN_PROTOCOL_VERSIONS if v in prior.supported_versions][-1]
        # A handshake tried on a url of unknown era may meet a server of 2026-07-28 only: then the era is probed.
        modes = [mode, "auto"] if mode == "legacy" and era is None else [mode]
        for attempt, current in enumerate(modes, start=1):
            entered = False
            http = httpx2.AsyncClient(transport=transport, headers=identity_headers(principal), trust_env=False)
            try:
                async with http:
                    streams = streamable_http_client(url, http_client=http, max_sse_event_size=self._max_bytes)
                    client = Client(
                        streams,
                        mode=current,
                        prior_discover=prior,
                        cache=None,
                        client_info=self._client_info,
                        read_timeout_seconds=max(self._call_timeout, self._list_timeout),
                        **(relay.client_options() if relay is not None else {}),
                    )
                    async with client:
                        entered = True
                        if era is None and current == "auto":  # a forced handshake learns nothing about the url
                            self._remember_era(url, client.session.discover_result)
                        yield client.session
                return
            except Exception as exc:
                # Whatever failed, probe the url's era again next time (a redeploy may have changed it).
                self._eras.pop(url, None)
                if entered or attempt == len(modes) or not isinstance(root_cause(exc), MCPError):
                    raise
                logger.info("adapter %r refused the handshake; probing its protocol era", adapter.name)

    def _remember_era(self, url: str, discovered: types.DiscoverResult | None) -> None:
        now = self._clock()
        if len(self._eras) >= MAX_CACHED_LISTS:  # replicas come and go with new ports: drop the stale ones
            self._eras = {u: e for u, e in self._eras.items() if e.until > now}
        self._eras[url] = _Era(discovered, now + ERA_MEMORY_SECONDS)

    def transport(self, adapter: AdapterEntry, *, listen: bool = False) -> PooledTransport:
        """``listen``: the session may hold the adapter's standalone stream (a kept session)."""
        return PooledTransport(
            self._executor.pool(guarded=adapter.remote),
            max_response_bytes=self._max_bytes,
            connect_timeout=min(10.0, self._list_timeout),
            exchange_timeout=max(self._call_timeout, self._list_timeout) + CLOSE_SECONDS,
            stream_pool=self._executor.stream_pool(guarded=adapter.remote) if listen else None,
        )

    # --- what adapters say on their own --------------------------------------------------------------------

    def _relay(self, adapter: AdapterEntry, session_id: str | None) -> Relay:
        """The relay of a new upstream session, declaring the client's capabilities: those of the downstream
        session it serves, or, without one (a 2026-07-28 client: capabilities come with each request), those of
        the request that opens it; such a session is shared only by requests declaring the same (the key)."""
        request = downstream_request.get()
        scope = getattr(request.request, "scope", None) if request is not None else None
        if request is None or virtual_server_of(scope if isinstance(scope, dict) else None) is None:
            # /mcp answers each request with one JSON body: nothing can be relayed, so nothing is declared.
            return Relay(adapter.name, None, self.list_changed)
        session = request.session if session_id else None
        return Relay(adapter.name, request.session.client_capabilities, self.list_changed, session)

    def generation(self, adapters: Iterable[str], principal: Principal) -> tuple[int, ...]:
        """Moves whenever a list of one of ``adapters`` that ``principal`` sees is fetched again, or any of the
        adapter's lists is dropped (it said they changed): what is built from them
        (``toolrouter.virtual.ToolViews``) is current while it has not moved. Another caller's fetch does not
        move it."""
        caller = (principal.user_id, *sorted(principal.roles))
        generations = self._generations
        return (
            self._epoch,
            *(generations.get((name,), 0) + generations.get((name, *caller), 0) for name in adapters),
        )

    def lists_until(self, kind: str, adapters: Iterable[str], principal: Principal) -> float:
        """When the first of the cached ``kind`` lists of ``adapters`` that ``principal`` sees expires (now
        when one is not cached): what is built from them must not outlive them."""
        names = set(adapters)
        until = math.inf
        for key, listed in self._lists.items():
            if key[0] == kind and key[1] in names and key[4] == principal.user_id and key[5] == principal.roles:
                until = min(until, listed.until)
                names.discard(key[1])
        return self._clock() if names else until

    def _changed(self, *key: str) -> None:
        """``(adapter,)``: all of its lists changed; ``(adapter, user, *roles)``: one caller's were fetched."""
        if len(self._generations) >= MAX_CACHED_LISTS and key not in self._generations:
            self._generations.clear()
            self._epoch += 1
        self._generations[key] = self._generations.get(key, 0) + 1

    def list_changed(self, adapter: str, kind: str) -> None:
        """An adapter said its ``kind`` list changed: its cached lists of that kind are dropped now, and the
        clients are told once, :data:`LIST_CHANGED_SETTLE_SECONDS` later (every kept session of the adapter
        hears the same news)."""
        kinds = {kind, "templates"} if kind == "resources" else {kind}
        self._lists = {k: v for k, v in self._lists.items() if not (k[0] in kinds and k[1] == adapter)}
        self._changed(adapter)
        if self._on_list_changed is None or self._tasks is None:
            return
        if (adapter, kind) in self._changes_pending:
            self._changes_again.add((adapter, kind))
            return
        self._changes_pending.add((adapter, kind))
        self._tasks.start_soon(self._announce_change, adapter, kind)

    async def _announce_change(self, adapter: str, kind: str) -> None:
        """One announcement per (adapter, kind) at a time, however fast the adapter repeats itself: a change
        heard while one is being sent is sent once more after it."""
        assert self._on_list_changed is not None
        try:
            while True:
                await anyio.sleep(LIST_CHANGED_SETTLE_SECONDS)
                self._changes_again.discard((adapter, kind))
                try:
                    await self._on_list_changed(adapter, kind)
                except Exception:
                    logger.exception("telling clients that adapter %r's %s changed failed", adapter, kind)
                if (adapter, kind) not in self._changes_again:
                    return
        finally:
            self._changes_pending.discard((adapter, kind))

    def next_url(self, adapter: AdapterEntry) -> str:
        """Round-robin over the adapter's ready urls (callers check that there is one)."""
        turn = self._turns.setdefault(adapter.name, itertools.count())
        return adapter.urls[next(turn) % len(adapter.urls)]

    # --- cached lists --------------------------------------------------------------------------------------

    async def list_tools(self, adapter: AdapterEntry, principal: Principal, version: str) -> tuple[types.Tool, ...]:
        """The adapter's tools as ``principal`` sees them (all pages); raises :class:`UpstreamError`."""
        return await self._cached("tools", adapter, principal, version, _all_tools)

    async def list_prompts(
        self, adapter: AdapterEntry, principal: Principal, version: str
    ) -> tuple[types.Prompt, ...]:
        return await self._cached("prompts", adapter, principal, version, _all_prompts)

    async def list_resources(
        self, adapter: AdapterEntry, principal: Principal, version: str
    ) -> tuple[types.Resource, ...]:
        return await self._cached("resources", adapter, principal, version, _all_resources)

    async def list_resource_templates(
        self, adapter: AdapterEntry, principal: Principal, version: str
    ) -> tuple[types.ResourceTemplate, ...]:
        return await self._cached("templates", adapter, principal, version, _all_templates)

    async def _cached(
        self,
        kind: str,
        adapter: AdapterEntry,
        principal: Principal,
        version: str,
        fetch: Callable[[ClientSession], Awaitable[tuple[_ItemT, ...]]],
    ) -> tuple[_ItemT, ...]:
        if version != self._version:
            # A new catalog: adapters, urls or access may have changed; start again.
            self._version = version
            self._lists.clear()
            self._epoch += 1
        key: ListKey = (kind, adapter.name, adapter.urls, adapter.remote, principal.user_id, principal.roles)
        for _ in range(3):
            listed = self._lists.get(key)
            fresh = False
            if listed is None or listed.until <= self._clock():
                flight = self._flights.get(key)
                if flight is None:
                    listed, fresh = await self._fetch_once(key, kind, adapter, principal, fetch), True
                else:
                    await flight.done.wait()
                    listed = flight.result
                    if listed is None:  # the fetch it waited for was cancelled: fetch again
                        continue
            if listed.items is None:
                raise UpstreamError(listed.error, fresh=fresh)
            return listed.items
        raise UpstreamError("the list could not be fetched")

    async def _fetch_once(
        self,
        key: ListKey,
        kind: str,
        adapter: AdapterEntry,
        principal: Principal,
        fetch: Callable[[ClientSession], Awaitable[tuple[_ItemT, ...]]],
    ) -> _Listed:
        flight = self._flights[key] = _Flight()
        try:
            try:
                items: tuple[Any, ...] = await self._fetch(kind, adapter, principal, fetch)
            except UpstreamError as exc:
                listed = _Listed(None, str(exc), self._clock() + min(self._list_ttl, FAILED_LIST_CACHE_SECONDS))
            else:
                listed = _Listed(items, "", self._clock() + self._list_ttl)
            if len(self._lists) >= MAX_CACHED_LISTS:
                now = self._clock()
                self._lists = {k: v for k, v in self._lists.items() if v.until > now}
                if len(self._lists) >= MAX_CACHED_LISTS:
                    self._lists.clear()
            self._lists[key] = flight.result = listed
            self._changed(adapter.name, principal.user_id, *sorted(principal.roles))
            return listed
        finally:
            self._flights.pop(key, None)
            flight.done.set()

    async def _fetch(
        self,
        kind: str,
        adapter: AdapterEntry,
        principal: Principal,
        fetch: Callable[[ClientSession], Awaitable[tuple[_ItemT, ...]]],
    ) -> tuple[_ItemT, ...]:
        if not adapter.urls:
            raise UpstreamError("no ready replica")
        first = self.next_url(adapter)
        start = adapter.urls.index(first)
        reason = "no answer"
        try:
            with anyio.fail_after(self._list_timeout):
                # Each ready url in turn until one answers; a list is safe to ask twice.
                for url in adapter.urls[start:] + adapter.urls[:start]:
                    transports: list[PooledTransport] = []
                    try:
                        return await self._with_retry(
                            adapter, principal, url, fetch, resend=True, transports=transports
                        )
                    except Exception as exc:
                        reason = describe_failure(exc, transports[-1] if transports else self.transport(adapter))
                        logger.warning("adapter %r at %s: %s/list failed: %s", adapter.name, url, kind, reason)
        except TimeoutError:
            reason = f"no answer within {self._list_timeout:g} s"
            logger.warning("adapter %r: %s/list failed: %s", adapter.name, kind, reason)
        raise UpstreamError(reason)

    # --- calls ---------------------------------------------------------------------------------------------

    async def call_tool(
        self,
        adapter: AdapterEntry,
        principal: Principal,
        exposed: str,
        tool: types.Tool,
        params: types.CallToolRequestParams,
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Run ``tool`` (its original definition) with the caller's ``params`` (arguments, and a 2026-07-28
        retry's ``inputResponses`` / ``requestState``) on the adapter; every failure is an ``isError`` result
        that names the tool as the caller knows it (``exposed``). An adapter's ``InputRequiredResult`` (it asks
        the client first, 2026-07-28) goes back as it is: the client answers in its retry, which carries the
        adapter's ``requestState`` back to it, so no router replica holds anything in between."""
        if not adapter.urls:
            return error_result(f"Tool '{exposed}' has no ready replica; try again shortly.")
        url = self.next_url(adapter)
        transports: list[PooledTransport] = []
        request = types.CallToolRequest(
            params=types.CallToolRequestParams(
                name=tool.name,
                arguments=params.arguments,
                input_responses=params.input_responses,
                request_state=params.request_state,
            )
        )
        progress = progress_to(downstream_request.get())

        async def send(session: ClientSession) -> types.CallToolResult | types.InputRequiredResult:
            if session.protocol_version in MODERN_PROTOCOL_VERSIONS and _declares_headers(tool):
                # Its x-mcp-header arguments must travel as Mcp-Param-* headers, which the SDK's
                # session derives from a listing of its own.
                await session.list_tools()
            # send_request, not call_tool: the result goes back as the adapter sent it (no second
            # tools/list to validate structuredContent; the caller's client validates it).
            return await session.send_request(request, _CALL_RESULT, progress_callback=progress)

        try:
            with anyio.fail_after(self._call_timeout):
                # A call is not sent twice unless the adapter surely did not run it (resend=False).
                result = await self._with_retry(adapter, principal, url, send, resend=False, transports=transports)
            return without_envelope(result)
        except TimeoutError:
            return error_result(f"Tool '{exposed}' timed out after {self._call_timeout:g} s.")
        except Exception as exc:
            transport = transports[-1] if transports else self.transport(adapter)
            reason = describe_failure(exc, transport)
            logger.warning("adapter %r at %s: tools/call %r failed: %s", adapter.name, url, tool.name, reason)
            return error_result(_call_failure_text(exposed, exc, transport, reason))

    async def request(
        self,
        adapter: AdapterEntry,
        principal: Principal,
        send: Callable[[ClientSession], Awaitable[_ItemT]],
    ) -> _ItemT:
        """One exchange (``prompts/get``, ``resources/read``, safe to send twice) on the caller's session; an
        upstream JSON-RPC error is raised as the :class:`MCPError` it is, anything else as :class:`UpstreamError`."""
        if not adapter.urls:
            raise UpstreamError("no ready replica")
        url = self.next_url(adapter)
        transports: list[PooledTransport] = []
        try:
            with anyio.fail_after(self._call_timeout):
                return await self._with_retry(adapter, principal, url, send, resend=True, transports=transports)
        except TimeoutError:
            raise UpstreamError(f"no answer within {self._call_timeout:g} s") from None
        except Exception as exc:
            transport = transports[-1] if transports else self.transport(adapter)
            cause = root_cause(exc)
            if isinstance(cause, MCPError) and transport.failure is None and not transport.session_gone:
                raise cause from None
            reason = describe_failure(exc, transport)
            logger.warning("adapter %r at %s: request failed: %s", adapter.name, url, reason)
            raise UpstreamError(reason) from None


_ResultT = TypeVar("_ResultT", bound=types.Result)
_CALL_RESULT: TypeAdapter[types.CallToolResult | types.InputRequiredResult] = TypeAdapter(
    types.CallToolResult | types.InputRequiredResult
)


def without_envelope(result: _ResultT) -> _ResultT:
    """``result`` minus the adapter's ``serverInfo`` stamp (2026-07-28 ``_meta``), which describes the server
    that answered: the router stamps its own. Everything else is the adapter's, passed on as it is."""
    meta = result.meta
    if not meta or types.SERVER_INFO_META_KEY not in meta:
        return result
    rest = {k: v for k, v in meta.items() if k != types.SERVER_INFO_META_KEY}
    return result.model_copy(update={"meta": rest or None})


# --- lists, page by page ------------------------------------------------------------------------------------


async def _pages(
    session: ClientSession,
    capable: bool,
    page: Callable[[types.PaginatedRequestParams | None], Awaitable[tuple[list[_ItemT], str | None]]],
) -> tuple[_ItemT, ...]:
    if not capable:
        return ()
    items: list[_ItemT] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        found, cursor = await page(types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        items.extend(found)
        if cursor is None or len(items) >= MAX_ITEMS:
            break
    return tuple(items[:MAX_ITEMS])


async def _all_tools(session: ClientSession) -> tuple[types.Tool, ...]:
    async def page(params: types.PaginatedRequestParams | None) -> tuple[list[types.Tool], str | None]:
        result = await session.list_tools(params=params)
        return result.tools, result.next_cursor

    capabilities = session.server_capabilities
    return await _pages(session, capabilities is not None and capabilities.tools is not None, page)


async def _all_prompts(session: ClientSession) -> tuple[types.Prompt, ...]:
    async def page(params: types.PaginatedRequestParams | None) -> tuple[list[types.Prompt], str | None]:
        result = await session.list_prompts(params=params)
        return result.prompts, result.next_cursor

    capabilities = session.server_capabilities
    return await _pages(session, capabilities is not None and capabilities.prompts is not None, page)


async def _all_resources(session: ClientSession) -> tuple[types.Resource, ...]:
    async def page(params: types.PaginatedRequestParams | None) -> tuple[list[types.Resource], str | None]:
        result = await session.list_resources(params=params)
        return result.resources, result.next_cursor

    capabilities = session.server_capabilities
    return await _pages(session, capabilities is not None and capabilities.resources is not None, page)


async def _all_templates(session: ClientSession) -> tuple[types.ResourceTemplate, ...]:
    async def page(params: types.PaginatedRequestParams | None) -> tuple[list[types.ResourceTemplate], str | None]:
        result = await session.list_resource_templates(params=params)
        return result.resource_templates, result.next_cursor

    capabilities = session.server_capabilities
    return await _pages(session, capabilities is not None and capabilities.resources is not None, page)


# --- failures -----------------------------------------------------------------------------------------------


def declared(capabilities: types.ClientCapabilities | None) -> str:
    """What of ``capabilities`` an upstream session declares for the client (see ``Relay.client_options``), as
    a key: sessions of clients that declare different things are not shared."""
    if capabilities is None:
        return ""
    parts = [
        name
        for name in ("elicitation", "roots")
        if getattr(capabilities, name) is not None
    ]
    if capabilities.sampling is not None:
        parts.append("sampling:" + capabilities.sampling.model_dump_json(exclude_none=True))
    return ",".join(parts)


def _handshakes(era: _Era | None) -> bool:
    """Whether the url speaks the handshake era too (unknown: assumed, as every SDK server does today)."""
    if era is None or era.discover is None:
        return True
    return any(version in HANDSHAKE_PROTOCOL_VERSIONS for version in era.discover.supported_versions)


def _declares_headers(tool: types.Tool) -> bool:
    return "x-mcp-header" in json.dumps(tool.input_schema)


def _breaks_session(exc: BaseException, transport: PooledTransport) -> bool:
    """Whether a failed exchange means the session is unusable (as opposed to an answer: a JSON-RPC error)."""
    if transport.failure is not None or transport.session_gone:
        return True
    return not isinstance(root_cause(exc), MCPError | ValidationError)


def _not_processed(transport: PooledTransport) -> bool:
    """The adapter surely did not run the request: it did not know the session, or no connection was made."""
    refused = isinstance(transport.failure, aiohttp.ClientConnectorError | ConnectionRefusedError)
    return transport.session_gone or refused


def root_cause(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (the SDK's task groups wrap what went wrong)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe_failure(exc: BaseException, transport: PooledTransport) -> str:
    """What went wrong, for logs and callers: never an address (aiohttp's messages name it)."""
    failure = transport.failure
    if isinstance(failure, _TooLarge):
        return "the reply was too large"
    if failure is not None and is_address_refusal(failure):
        return "the address is one the gateway is not allowed to reach"
    if failure is not None:
        if isinstance(failure, aiohttp.ClientConnectorError | ConnectionRefusedError):
            return "connection refused or host not found"
        return "the connection broke before the reply was complete"
    cause = root_cause(exc)
    if isinstance(cause, MCPError):
        return f"it answered JSON-RPC error {cause.code}: {cause.error.message}"
    if isinstance(cause, ValidationError):
        return "it answered something that is not a valid MCP result"
    if isinstance(cause, httpx2.TransportError):
        return f"the request failed ({type(cause).__name__})"
    logger.error("unexpected failure talking to an adapter", exc_info=exc)
    return f"the request failed ({type(cause).__name__})"


def _call_failure_text(exposed: str, exc: BaseException, transport: PooledTransport, reason: str) -> str:
    failure = transport.failure
    if failure is not None and is_address_refusal(failure):
        return (
            f"Tool '{exposed}' is at an address the gateway is not allowed to reach "
            "(link-local, cloud metadata, or a network this gateway does not reach); nothing was sent."
        )
    if failure is not None and not isinstance(failure, _TooLarge):
        return f"Tool '{exposed}' is unreachable: {reason}."
    return f"Tool '{exposed}' failed: {reason}."
