"""Background MCP probes of ``url`` adapters, shared by both runtimes.

While a ``url`` adapter exists, the gateway probes its URL (:func:`gateway.runtimes.mcp_probe.probe_mcp`)
every :data:`READY_INTERVAL_SECONDS` while it answers and every :data:`RETRY_INTERVAL_SECONDS` while it does
not, the first time :data:`FIRST_PROBE_DELAY_SECONDS` after it appears. Probes go through the same SSRF
guard as the data plane's requests to ``url`` adapters (:meth:`gateway.netguard.ConnectGuard.connector`:
the policy is checked on the address actually connected to, so DNS rebinding cannot slip through).

Routing is optimistic: a ``url`` adapter is routable until a probe has failed, then not until one succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from gateway.netguard import ConnectGuard
from gateway.runtimes.base import ReplicaState, WorkloadStatus
from gateway.runtimes.mcp_probe import ProbeResult, new_session, probe_mcp

log = logging.getLogger(__name__)

FIRST_PROBE_DELAY_SECONDS = 1.0
READY_INTERVAL_SECONDS = 10.0
RETRY_INTERVAL_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 5.0


@dataclass
class _Remote:
    url: str
    task: asyncio.Task[None] | None = None
    result: ProbeResult | None = None
    since: datetime | None = None


class RemoteProbes:
    """One probe loop per ``url`` adapter; :meth:`sync` starts and stops them to match the adapters."""

    def __init__(
        self,
        guard: ConnectGuard | None = None,
        *,
        first_delay: float = FIRST_PROBE_DELAY_SECONDS,
        ready_interval: float = READY_INTERVAL_SECONDS,
        retry_interval: float = RETRY_INTERVAL_SECONDS,
        timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        self._guard = guard or ConnectGuard()
        self._first_delay = first_delay
        self._ready_interval = ready_interval
        self._retry_interval = retry_interval
        self._timeout = timeout
        self._remotes: dict[str, _Remote] = {}
        self._session: aiohttp.ClientSession | None = None

    def sync(self, wanted: Mapping[str, str]) -> None:
        """Probe exactly the adapters in ``wanted`` (name -> url); a changed url starts over (optimistic)."""
        for name in [n for n, r in self._remotes.items() if wanted.get(n) != r.url]:
            self._forget(name)
        for name, url in wanted.items():
            if name not in self._remotes:
                remote = _Remote(url)
                remote.task = asyncio.create_task(self._probe_forever(name, remote), name=f"url probe {name}")
                self._remotes[name] = remote

    def routable(self, name: str, url: str) -> bool:
        """False only when the last probe of exactly this URL failed."""
        remote = self._remotes.get(name)
        return remote is None or remote.url != url or remote.result is None or remote.result.ok

    def status(self, name: str, url: str) -> WorkloadStatus:
        """The status of a probed ``url`` adapter: Starting until the first probe, then Ready or Failing."""
        remote = self._remotes.get(name)
        result = remote.result if remote is not None and remote.url == url else None
        ready = result is not None and result.ok
        failed = result is not None and not result.ok
        replica = ReplicaState(
            id=name,
            ready=ready,
            last_error=result.reason if failed and result else None,
            since=remote.since if remote is not None else None,
            failed=failed,
        )
        return WorkloadStatus(
            desired=1,
            ready=int(ready),
            updated=1,
            available=int(ready),
            image=url,
            phase="Ready" if ready else ("Failing" if failed else "Starting"),
            last_error=replica.last_error,
            public_error=result.public if failed and result else None,
            replicas=(replica,),
        )

    async def close(self) -> None:
        for name in list(self._remotes):
            self._forget(name)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _forget(self, name: str) -> None:
        remote = self._remotes.pop(name, None)
        if remote is not None and remote.task is not None:
            remote.task.cancel()

    async def _probe_forever(self, name: str, remote: _Remote) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            result = await self.probe_once(remote.url)
            previous = remote.result
            if previous is None or previous.ok != result.ok:
                remote.since = datetime.now(UTC)
                if result.ok:
                    log.info("url adapter %s answers MCP", name)
                else:
                    log.warning("url adapter %s does not answer MCP: %s", name, result.reason)
            remote.result = result
            await asyncio.sleep(self._ready_interval if result.ok else self._retry_interval)

    async def probe_once(self, url: str) -> ProbeResult:
        if self._session is None or self._session.closed:
            self._session = new_session(self._guard.connector(force_close=True))
        try:
            return await probe_mcp(self._session, url, self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug of ours must not end the loop silently
            log.exception("probing %s failed", url)
            return ProbeResult.failed(f"the probe failed: {type(exc).__name__}", "the probe failed")
