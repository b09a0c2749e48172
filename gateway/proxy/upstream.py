"""The data plane's HTTP client towards replicas, on aiohttp.

httpx was the largest item of the gateway's CPU under load (its pool inspects every pooled connection on each
request, so the cost grows with concurrency; see docs/benchmarks.md). aiohttp's connector hands out a
keep-alive connection without that scan and parses responses in C. This module keeps aiohttp's types
inside: callers see :class:`UpstreamResponse` and the :class:`UpstreamError` tree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.netguard import ConnectGuard, is_address_refusal

# Headers the client must not invent: the caller's Accept and encodings pass through as sent.
_SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})
KEEPALIVE_SECONDS = 2.0
"""Idle connections close before the replicas' own keep-alive timeout (uvicorn: 5 s), so the proxy never
reuses a connection the replica is closing at that moment."""


class UpstreamError(Exception):
    """The replica could not be reached or broke off the exchange."""

    kind = "other"
    """A bounded label for metrics."""


class UpstreamConnectError(UpstreamError):
    """Nothing accepted the connection: the replica is gone."""

    kind = "connect"


class UpstreamAddressRefused(UpstreamError):
    """A ``url`` adapter's host resolved only to addresses the SSRF policy refuses: nothing was sent."""

    kind = "refused"


class UpstreamTimeout(UpstreamError):
    """The replica did not answer in time."""

    kind = "timeout"


class UpstreamDisconnected(UpstreamError):
    """The connection broke during the exchange."""

    kind = "disconnect"


def _translate(exc: BaseException) -> UpstreamError:
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(str(exc) or "timed out")
    if is_address_refusal(exc):
        assert isinstance(exc, aiohttp.ClientConnectorError)
        return UpstreamAddressRefused(str(exc.os_error))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamConnectError(str(exc))
    return UpstreamDisconnected(str(exc) or type(exc).__name__)


class UpstreamResponse:
    """The replica's answer: status and headers at once, the body as a stream."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: CIMultiDictProxy[str] = response.headers

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive (still encoded: the proxy passes ``Content-Encoding`` through)."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _translate(exc) from exc

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _translate(exc) from exc

    def close(self) -> None:
        """Release the connection to the pool when the body was read whole, else drop it."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class UpstreamClient:
    """A pooled client; the aiohttp sessions are made lazily, inside the running event loop.

    Two pools: one for the gateway's own replicas (local processes, Kubernetes Services: addresses the
    runtime chose) and one, behind ``guard``, for user-supplied ``url`` adapters, which connects only to
    addresses the SSRF policy permits, checked on every connect (``gateway.netguard``)."""

    def __init__(
        self, connect_timeout: float, read_timeout: float, guard: ConnectGuard | None = None
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._guard = guard or ConnectGuard()
        self._session: aiohttp.ClientSession | None = None
        self._guarded_session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    def _client(self, guarded: bool = False) -> aiohttp.ClientSession:
        if guarded:
            if self._guarded_session is None:
                self._guarded_session = self._new_session(self._guard.connector(**self._pool_options()))
            return self._guarded_session
        if self._session is None:
            # The system resolver (getaddrinfo: /etc/hosts, the pod's search domains), as before aiodns was
            # installed for the guard; aiohttp would otherwise default to c-ares for this pool too.
            resolver = aiohttp.ThreadedResolver()
            self._session = self._new_session(aiohttp.TCPConnector(resolver=resolver, **self._pool_options()))
        return self._session

    def _pool_options(self) -> dict[str, Any]:
        return {
            # Unlimited here: gateway.proxy.limits admits at most MCPGW_PROXY__MAX_CONNECTIONS requests, so
            # the pool never makes one wait (and aiohttp needs no pool-wait timer per request).
            "limit": 0,
            "limit_per_host": 0,
            "keepalive_timeout": KEEPALIVE_SECONDS,
            "ttl_dns_cache": 10,
        }

    @staticmethod
    def _new_session(connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            trust_env=False,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            # One client serves every user: a cookie one replica sets must never ride along on another
            # user's request (aiohttp's default jar would store and resend it).
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def _timeout(self, read_timeout: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(read_timeout)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout, sock_read=read_timeout)
            self._timeouts[read_timeout] = timeout
        return timeout

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        content: bytes | AsyncIterator[bytes] | None,
        read_timeout: float | None,
        guarded: bool = False,
    ) -> UpstreamResponse:
        """Send the request; returns once the status line and headers arrived. ``guarded``: the URL is
        user-supplied, so it goes through the SSRF guard (``UpstreamAddressRefused`` when refused)."""
        # The client computes Content-Length for bytes and uses chunked encoding for a stream.
        outbound = CIMultiDict((n, v) for n, v in headers if n != "content-length")
        kwargs: dict[str, Any] = {"headers": outbound, "allow_redirects": False, "timeout": self._timeout(read_timeout)}
        if content is not None:
            kwargs["data"] = content
        try:
            response = await self._client(guarded).request(method, url, **kwargs)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _translate(exc) from exc
        return UpstreamResponse(response)

    async def aclose(self) -> None:
        sessions = [s for s in (self._session, self._guarded_session) if s is not None]
        self._session = self._guarded_session = None
        for session in sessions:
            await session.close()
