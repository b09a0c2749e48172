"""What the data plane needs from the rest of the gateway, and nothing more.

The proxy reads adapter records, keeps session routes, asks the runtime for ready replicas and
authenticates callers; it never sees the control plane's services. The composition root (``create_app``)
builds one :class:`ProxyDeps` from the objects it shares with the control plane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.auth.base import Authenticator
from gateway.proxy.sealed import SessionSealer
from gateway.runtimes.base import Endpoint, WorkloadStatus
from gateway.settings import ProxySettings
from gateway.stores.base import ResourceKind, SessionStore, StoredRecord


class RecordReader(Protocol):
    """Reads a record for the data plane; it may be a few seconds old (``gateway.stores.recent``)."""

    async def recent(self, kind: ResourceKind, name: str) -> StoredRecord | None: ...


class ReplicaSource(Protocol):
    """The runtime's endpoint side (a :class:`gateway.runtimes.base.Runtime` is one)."""

    async def endpoints(self, name: str) -> list[Endpoint]: ...

    async def url_routable(self, name: str) -> bool: ...

    async def status(self, name: str) -> WorkloadStatus: ...


@dataclass(frozen=True)
class ProxyDeps:
    records: RecordReader
    sessions: SessionStore
    runtime: ReplicaSource
    authenticator: Authenticator
    settings: ProxySettings
    """The ``proxy`` section: timeouts, limits, allowed origins, the SSRF policy for ``url`` adapters."""
    public_url: str | None
    """``server.public_url``: an allowed origin, and the base of ``WWW-Authenticate`` challenges."""
    environment: str
    """``server.environment``, which picks the SSRF policy's defaults."""
    scopes_supported: Sequence[str]
    """The scopes named in challenges (``gateway.auth.metadata.scopes_supported``)."""
    router_secret: str
    """Sent to the tool router's replicas (``X-Gateway-Secret``); also keys session fingerprints."""
    sealer: SessionSealer | None = None
    """Seals the session ids clients get (``gateway.proxy.sealed``); None: ``sessions`` maps them."""
