"""Open handshake-era sessions, so a catalog change can reach them as ``notifications/tools/list_changed``.

The SDK's session manager does not expose its sessions, so the router remembers each session's
``ServerSession`` when the client sends ``notifications/initialized`` and sends the notification on its
standalone (GET) stream. A session that ended (DELETE, idle time-out) is forgotten when the router sees
the DELETE succeed or when sending to it fails. 2026-07-28 clients have no sessions; they hear about
changes through ``subscriptions/listen`` (see app.py).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import anyio
from mcp.server.session import ServerSession

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 2.0


class OpenSessions:
    """Session id -> the session's server-side handle, bounded so a flood of sessions cannot grow it."""

    def __init__(self, max_sessions: int) -> None:
        self._max = max_sessions
        self._sessions: OrderedDict[str, ServerSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def remember(self, session_id: str, session: ServerSession) -> None:
        self._sessions[session_id] = session
        self._sessions.move_to_end(session_id)
        while len(self._sessions) > self._max:
            # The session manager refuses sessions beyond the same limit, so only dead entries go here.
            self._sessions.popitem(last=False)

    def forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def notify_tools_changed(self) -> int:
        """Send ``notifications/tools/list_changed`` to every open session; returns how many got it."""
        delivered = 0
        for session_id, session in list(self._sessions.items()):
            try:
                # A client that stopped reading must not stall the catalog poller that calls this.
                with anyio.fail_after(SEND_TIMEOUT_SECONDS):
                    await session.send_tool_list_changed()
            except Exception as exc:  # a closed stream raises; the session is gone, so is our entry
                logger.debug("session %s no longer reachable (%s); forgotten", session_id[:16], type(exc).__name__)
                self.forget(session_id)
            else:
                delivered += 1
        return delivered
