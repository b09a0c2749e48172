"""Open handshake-era sessions, so a change can reach them as ``notifications/{tools,prompts,resources}/list_changed``.

The SDK's session manager does not expose its sessions, so the router remembers each session's
``ServerSession`` when the client sends ``notifications/initialized`` and sends the notification on its
standalone (GET) stream. A session that ended (DELETE, idle time-out) is forgotten when the router sees
the DELETE succeed or when sending to it fails. 2026-07-28 clients have no sessions; they hear about
changes through ``subscriptions/listen`` (see app.py). A virtual server's session is remembered with the
server's name, so an adapter's change reaches only the sessions of servers that include it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Collection

import anyio
from mcp.server.session import ServerSession

from gateway.auth.principal import Principal

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 2.0


class OpenSessions:
    """Session id -> the session's server-side handle, bounded so a flood of sessions cannot grow it."""

    def __init__(self, max_sessions: int) -> None:
        self._max = max_sessions
        self._sessions: OrderedDict[str, tuple[ServerSession, str | None, Principal | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def remember(
        self, session_id: str, session: ServerSession, server: str | None = None, caller: Principal | None = None
    ) -> None:
        """``server``: the virtual server the session is on (None: ``/mcp``); ``caller``: who opened it."""
        self._sessions[session_id] = (session, server, caller)
        self._sessions.move_to_end(session_id)
        while len(self._sessions) > self._max:
            # The session manager refuses sessions beyond the same limit, so only dead entries go here.
            self._sessions.popitem(last=False)

    def protocol_version(self, session_id: str) -> str | None:
        """The version the session negotiated, once it is initialized (None: unknown or not initialized yet)."""
        entry = self._sessions.get(session_id)
        return entry[0].protocol_version if entry is not None else None

    def forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def notify_tools_changed(self) -> int:
        """Send ``notifications/tools/list_changed`` to every open session; returns how many got it."""
        return await self.notify_list_changed("tools")

    async def notify_list_changed(
        self,
        kind: str,
        servers: Collection[str | None] | None = None,
        told: Callable[[Principal | None], bool] | None = None,
    ) -> int:
        """Send ``notifications/{kind}/list_changed`` to every open session (of one of ``servers``, when
        given; whose caller ``told`` accepts, when given); returns how many got it."""
        delivered = 0
        for session_id, (session, server, caller) in list(self._sessions.items()):
            if (servers is not None and server not in servers) or (told is not None and not told(caller)):
                continue
            try:
                # A client that stopped reading must not stall the catalog poller that calls this.
                with anyio.fail_after(SEND_TIMEOUT_SECONDS):
                    await getattr(session, _SENDERS[kind])()
            except Exception as exc:  # a closed stream raises; the session is gone, so is our entry
                logger.debug("session %s no longer reachable (%s); forgotten", session_id[:16], type(exc).__name__)
                self.forget(session_id)
            else:
                delivered += 1
        return delivered


_SENDERS = {
    "tools": "send_tool_list_changed",
    "prompts": "send_prompt_list_changed",
    "resources": "send_resource_list_changed",
}
"""The ``ServerSession`` method that sends each kind's ``list_changed``."""
