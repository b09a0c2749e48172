"""Store seams: :class:`MetadataStore` (adapter, tool and virtual server records) and :class:`SessionStore`
(session routing).

Both are async and backend-neutral. Implementations raise only :mod:`gateway.errors` types:
``NotFound`` for a missing record, ``Conflict`` for a taken name or a stale version, ``BackendError``
when the backend itself fails (with a message that says which backend and what to check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

ResourceKind = Literal["adapter", "tool", "server"]
RESOURCE_KINDS: tuple[ResourceKind, ...] = ("adapter", "tool", "server")
WORKLOAD_KINDS: tuple[ResourceKind, ...] = ("adapter", "tool")
"""The kinds whose records the runtime runs (a workload each); a virtual server (``server``) runs nothing."""
_WITH_ARTICLE = {"adapter": "an adapter", "tool": "a tool", "server": "a virtual server"}


def a_kind(kind: str) -> str:
    """``an adapter``, ``a tool``, ``a virtual server``: for messages such as "already used by ..."."""
    return _WITH_ARTICLE.get(kind, f"a {kind}")


@dataclass(frozen=True)
class StoredRecord:
    """One resource as stored: its JSON body (wire field names) and an opaque version (an ETag)."""

    kind: ResourceKind
    name: str
    data: dict[str, Any]
    version: str


class MetadataStore(Protocol):
    """Durable records of adapters, tools and virtual servers.

    Names are unique across kinds: ``create`` of an adapter named like an existing tool or server is a
    ``Conflict``.
    ``update`` and ``delete`` take the version read earlier and fail with ``Conflict`` when the record
    changed in between (optimistic concurrency), so concurrent writers never silently overwrite each other.
    Every write is atomic: a crash leaves either the old or the new record, never half of one.
    """

    async def open(self) -> None:
        """Connect and create the schema or containers when missing."""

    async def close(self) -> None:
        """Release connections. Safe to call twice."""

    async def check(self) -> None:
        """Raise ``BackendError`` unless the store answers (used by ``/readyz``)."""

    async def get(self, kind: ResourceKind, name: str) -> StoredRecord | None:
        """The record, or None when there is none of that kind."""

    async def list(self, kind: ResourceKind) -> list[StoredRecord]:
        """Every record of a kind, ordered by name."""

    async def create(self, kind: ResourceKind, name: str, data: dict[str, Any]) -> StoredRecord:
        """Insert a new record; ``Conflict`` when the name is taken by any kind."""

    async def update(self, kind: ResourceKind, name: str, data: dict[str, Any], expected_version: str) -> StoredRecord:
        """Replace a record; ``NotFound`` when missing, ``Conflict`` when ``expected_version`` is stale."""

    async def delete(self, kind: ResourceKind, name: str, expected_version: str | None = None) -> None:
        """Remove a record; ``NotFound`` when missing, ``Conflict`` when ``expected_version`` is stale."""


@dataclass(frozen=True)
class SessionKey:
    """A session is bound to the user that created it and the route it was created on."""

    user_id: str
    target: str
    session_id: str

    def render(self) -> str:
        # user ids may contain ':' (e.g. issuer-qualified subjects); escape so the key stays unambiguous.
        return f"{quote(self.user_id, safe='')}:{self.target}:{self.session_id}"


@dataclass(frozen=True)
class SessionRoute:
    """Where a session lives: the replica's stable id and base URL."""

    endpoint_id: str
    url: str


class SessionStore(Protocol):
    """The session-routing table: (user, target, session id) -> replica.

    Entries expire after ``idle_timeout`` without use and, regardless of use, after ``max_lifetime``.
    ``get`` counts as use. Shared implementations (redis, cosmos) let any gateway replica route a session
    that another replica created.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def check(self) -> None:
        """Raise ``BackendError`` unless the store answers."""

    async def put(self, key: SessionKey, route: SessionRoute) -> None:
        """Remember a new session's replica (overwrites an existing entry)."""

    async def get(self, key: SessionKey) -> SessionRoute | None:
        """The replica of a live session (refreshing its idle timer), or None."""

    async def delete(self, key: SessionKey) -> None:
        """Forget a session. Missing keys are ignored."""

    async def count(self) -> int | None:
        """Live sessions, when the backend can tell cheaply; None otherwise."""
