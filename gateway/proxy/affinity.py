"""Session affinity: every request of an MCP session goes to the replica that created the session.

A session is bound to (user, target scope, session id) in the :class:`~gateway.stores.base.SessionStore` when
a replica issues its ``Mcp-Session-Id``, so another user's request carrying the same id finds nothing, nor
does a request on another route (another adapter, another virtual server, ``/mcp``). A session whose
replica is gone answers 404 ``Session not found``, which makes the client re-initialize.
"""

from __future__ import annotations

import logging
import re

from gateway.errors import NotFound
from gateway.proxy.replicas import Replicas, Target
from gateway.proxy.upstream import UpstreamResponse
from gateway.runtimes.base import Endpoint
from gateway.stores.base import SessionKey, SessionRoute, SessionStore

log = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")
SESSION_NOT_FOUND = "Session not found"


class SessionAffinity:
    def __init__(self, sessions: SessionStore, replicas: Replicas) -> None:
        self._sessions = sessions
        self._replicas = replicas

    async def resolve(self, user: str, target: Target, session_id: str) -> tuple[SessionKey, Endpoint]:
        """The session's key and replica; 404 when the id is malformed or unknown (expired, another user's,
        another target's), or when its replica is no longer ready (the session is forgotten then)."""
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
        return key, Endpoint(route.endpoint_id, route.url)

    async def bind(self, user: str, target: str, endpoint: Endpoint, response: UpstreamResponse) -> bool:
        """After a request that carried no session id: the id a successful answer issues now routes to
        ``endpoint``, for ``user`` on ``target`` (a :attr:`Target.scope`). False when that id is malformed: it
        is not stored, and its header must not reach the client."""
        issued = response.headers.get("mcp-session-id")
        if issued is None or not response.is_success:
            return True
        if not SESSION_ID_RE.match(issued):
            log.warning("dropping a malformed session id issued by %s", endpoint.id)
            return False
        await self._sessions.put(SessionKey(user, target, issued), SessionRoute(endpoint.id, endpoint.url))
        return True

    async def forget(self, key: SessionKey) -> None:
        """The session ended: the replica accepted its DELETE (or no longer knew it), or the replica refused
        or broke the connection (it died or restarted, and its sessions with it)."""
        await self._sessions.delete(key)
