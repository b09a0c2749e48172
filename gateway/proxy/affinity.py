"""Session affinity: every request of an MCP session goes to the replica that created the session.

Sealed (the default, ``MCPGW_SESSIONS__SEALED``): the client gets the replica's ``Mcp-Session-Id`` sealed
with its replica, bound to the user and the target scope (:mod:`gateway.proxy.sealed`); any gateway replica
opens it and routes with no store read, and sends the replica its own id. Otherwise a session is bound to
(user, target scope, session id) in the :class:`~gateway.stores.base.SessionStore` when a replica issues its
``Mcp-Session-Id``. Either way another user's request carrying the id finds nothing, nor does a request on
another route (another adapter, another virtual server, ``/mcp``), and a session whose replica is gone
answers 404 ``Session not found``, which makes the client re-initialize.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from gateway.errors import NotFound
from gateway.proxy.replicas import Replicas, Target
from gateway.proxy.sealed import MAX_SEALED_ID_LENGTH, DeniedSessions, SessionSealer, url_digest
from gateway.proxy.upstream import UpstreamResponse
from gateway.runtimes.base import Endpoint
from gateway.stores.base import SessionKey, SessionRoute, SessionStore

log = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")
"""A session id a replica may issue (and, unsealed, a client may present)."""
SEALED_ID_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_SEALED_ID_LENGTH}}}\Z")
SESSION_NOT_FOUND = "Session not found"


@dataclass(frozen=True)
class BoundSession:
    """A request's session: its key (the id the client holds), its replica, and the id the replica knows."""

    key: SessionKey
    endpoint: Endpoint
    upstream_id: str


class SessionAffinity:
    def __init__(
        self,
        sessions: SessionStore,
        replicas: Replicas,
        sealer: SessionSealer | None = None,
        denied: DeniedSessions | None = None,
    ) -> None:
        """``sealer``: seal session ids (the store is then not used); None: the store maps them."""
        self._sessions = sessions
        self._replicas = replicas
        self._sealer = sealer
        self._denied = denied or DeniedSessions()

    async def resolve(self, user: str, target: Target, session_id: str) -> BoundSession:
        """The session's key and replica; 404 when the id is malformed or unknown (expired, another user's,
        another target's, tampered with), or when its replica is no longer ready (the session is forgotten
        then)."""
        if self._sealer is not None:
            return await self._resolve_sealed(self._sealer, user, target, session_id)
        if not SESSION_ID_RE.match(session_id):
            raise NotFound(SESSION_NOT_FOUND)
        key = SessionKey(user, target.scope, session_id)
        route = await self._sessions.get(key)
        if route is None:
            raise NotFound(SESSION_NOT_FOUND)
        ready = await self._replicas.ready(target)
        if not any(e.url == route.url for e in ready):
            # The replica that held the session is gone: a 404 makes the client re-initialize.
            await self._sessions.delete(key)
            raise NotFound(SESSION_NOT_FOUND)
        return BoundSession(key, Endpoint(route.endpoint_id, route.url), session_id)

    async def _resolve_sealed(
        self, sealer: SessionSealer, user: str, target: Target, session_id: str
    ) -> BoundSession:
        opened = sealer.open(user, target.scope, session_id) if SEALED_ID_RE.match(session_id) else None
        if opened is None or self._denied.denied(session_id):
            raise NotFound(SESSION_NOT_FOUND)
        ready = await self._replicas.ready(target)
        endpoint = next((e for e in ready if url_digest(e.url) == opened.endpoint_digest), None)
        if endpoint is None:
            # The replica that held the session is gone (a restarted one has another URL, or is another pod).
            self._denied.deny(session_id, opened.expires)
            raise NotFound(SESSION_NOT_FOUND)
        return BoundSession(SessionKey(user, target.scope, session_id), endpoint, opened.upstream_id)

    async def bind(self, user: str, target: str, endpoint: Endpoint, response: UpstreamResponse) -> str | None:
        """After a request that carried no session id: the id a successful answer issues now routes to
        ``endpoint``, for ``user`` on ``target`` (a :attr:`Target.scope`). Returns the id the client gets
        instead (sealed), None to pass the answer's header on as it is, or ``""`` when the issued id is
        malformed: it is not bound, and its header must not reach the client."""
        issued = response.headers.get("mcp-session-id")
        if issued is None:
            return None
        if not response.is_success:
            return ""  # an id on a failed answer is bound to nothing: the client never sees it
        if not SESSION_ID_RE.match(issued):
            log.warning("dropping a malformed session id issued by %s", endpoint.id)
            return ""
        if self._sealer is not None:
            sealed, _ = self._sealer.seal(user, target, issued, endpoint.url)
            return sealed
        await self._sessions.put(SessionKey(user, target, issued), SessionRoute(endpoint.id, endpoint.url))
        return None

    async def forget(self, key: SessionKey) -> None:
        """The session ended: the replica accepted its DELETE (or no longer knew it), or the replica refused
        or broke the connection (it died or restarted, and its sessions with it). A sealed id is refused from
        then on until it would have expired (:class:`DeniedSessions`, this gateway replica's)."""
        if self._sealer is None:
            await self._sessions.delete(key)
            return
        opened = self._sealer.open(key.user_id, key.target, key.session_id)
        if opened is not None:
            self._denied.deny(key.session_id, opened.expires)
