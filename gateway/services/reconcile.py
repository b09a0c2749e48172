"""Keeps the runtime in line with the store: the store says what should run and the runtime is made to match.

Every write of the control plane records its intent in the store first and then *converges* the name: read
the record, make the runtime match it (``ensure`` the workload, or remove it when there is no record), read
the record again, and repeat until it did not change while we acted. So whoever acts on a name last also
looks last, and corrects what an earlier actor did from an older view:

* within one gateway, operations on a name are also serialised by a lock, so they never interleave;
* across gateway replicas (the Kubernetes runtime) there is no shared lock, and none is needed: the runtime's
  ``ensure`` and ``delete`` are idempotent, and the last one to act re-reads the store afterwards.

The same convergence runs for every stored name and every workload the runtime has, at start-up and then
periodically: that adopts or removes whatever a crash in the middle of an operation left behind (a record
whose workload was never created, objects whose record is gone, a spec that was stored but not rolled out).
Only adapters and tools run workloads (``WORKLOAD_KINDS``); virtual servers are never converged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection

from gateway.errors import GatewayError
from gateway.runtimes.base import Runtime, WorkloadSpec
from gateway.stores.base import WORKLOAD_KINDS, MetadataStore, StoredRecord

log = logging.getLogger(__name__)

MAX_ROUNDS = 5
"""Rounds of act-then-look before giving up for now; every round means another writer changed the record
meanwhile, and that writer converges the name itself after its write."""

SpecOf = Callable[[StoredRecord], WorkloadSpec | None]
"""The workload a record asks for, or None when the record is damaged (its workload is then left alone)."""


class Reconciler:
    """Converges names one at a time (per name) and sweeps the whole store and runtime."""

    def __init__(self, store: MetadataStore, runtime: Runtime, spec_of: SpecOf, unmanaged: Collection[str]) -> None:
        self._store = store
        self._runtime = runtime
        self._spec_of = spec_of
        self._unmanaged = frozenset(unmanaged)
        """Workloads with no record by design (the local tool router): never removed, never ensured here."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def locked(self, name: str) -> AsyncIterator[None]:
        """Hold the name's lock: operations on one name within this gateway run one after the other."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        self._waiters[name] = self._waiters.get(name, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiters[name] -= 1
            if not self._waiters[name]:  # nobody holds or waits for it: do not keep a lock per name forever
                del self._waiters[name], self._locks[name]

    async def converge(self, name: str) -> None:
        """Make the runtime match the store for ``name``; raises the runtime's error when it cannot."""
        async with self.locked(name):
            await self._converge_locked(name)

    async def restart(self, name: str) -> None:
        """Converge first (the workload may be missing after a crash), then restart it."""
        async with self.locked(name):
            await self._converge_locked(name)
            await self._runtime.restart(name)

    async def reconcile_all(self) -> None:
        """Converge every stored name and every workload the runtime has; failures are logged, not raised."""
        try:
            names = await self._all_names()
        except GatewayError as exc:
            log.warning("reconcile: cannot list records and workloads: %s", exc.detail)
            return
        for name in sorted(names):
            try:
                await self.converge(name)
            except GatewayError as exc:
                log.warning("reconcile: %s: %s", name, exc.detail)

    async def run_periodically(self, interval: float) -> None:
        """``reconcile_all`` every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reconcile_all()
            except Exception:  # a bug here must not end the loop for good
                log.exception("reconcile: unexpected failure")

    async def _all_names(self) -> set[str]:
        names = {record.name for kind in WORKLOAD_KINDS for record in await self._store.list(kind)}
        names |= await self._runtime.workloads()
        return names - self._unmanaged

    async def _converge_locked(self, name: str) -> None:
        for _ in range(MAX_ROUNDS):
            record = await self._record(name)
            await self._apply(name, record)
            if _version(await self._record(name)) == _version(record):
                return
        log.info("reconcile: %s kept changing while converging; its latest writer converges it", name)

    async def _record(self, name: str) -> StoredRecord | None:
        # Names are unique across kinds, but over time a name may pass from an adapter to a tool. Only the
        # kinds that run a workload count: a name held by a virtual server has no workload, so whatever
        # workload a former adapter or tool of that name left behind is removed.
        for kind in WORKLOAD_KINDS:
            record = await self._store.get(kind, name)
            if record is not None:
                return record
        return None

    async def _apply(self, name: str, record: StoredRecord | None) -> None:
        if record is None:
            await self._runtime.delete(name)
            return
        spec = self._spec_of(record)
        if spec is not None:
            await self._runtime.ensure(spec)


def _version(record: StoredRecord | None) -> tuple[str, str] | None:
    return None if record is None else (record.kind, record.version)
