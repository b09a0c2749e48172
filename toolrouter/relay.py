"""What an adapter says on its own, relayed to the client of a virtual server (issue #19).

An upstream session (``toolrouter.upstream``) serves one downstream MCP session (or, without one, one
caller). While it carries a downstream request (:meth:`Relay.serving`), what the adapter sends back that is
not the answer goes to that request's client, on that request's stream:

- ``notifications/progress`` of the call (``AdapterClient.call_tool`` passes the downstream client's
  progress token on as a callback; see :func:`progress_to`);
- ``notifications/message`` (logging);
- server-to-client requests (``sampling/createMessage``, ``elicitation/create``, ``roots/list``): sent to
  the client as requests related to its request, and the client's answer (or error) goes back upstream.

The upstream session declares to the adapter exactly the client capabilities (sampling, elicitation, roots)
that the downstream client declared, so an adapter never asks the router for something the client cannot
do. The SDK's client session runs these callbacks in its own reader task, not in the request's, so the
request is found here (:attr:`Relay._serving`), not through context variables. When several downstream
requests use one upstream session at once, the latest one gets the unrelated messages (MCP gives a
client-side message no link to the request that caused it beyond the stream it arrives on).

``notifications/resources/updated`` goes to the downstream session's standalone stream when the client
subscribed to that URI through this upstream session (:meth:`Relay.completed` notes the subscriptions), and
is dropped otherwise.

``notifications/*/list_changed`` from an adapter are passed to ``on_list_changed(adapter, kind)``: the
router drops the adapter's cached lists and tells the clients of every server that includes it (one merged
notification, see ``toolrouter.app``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import mcp_types as types
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata

logger = logging.getLogger(__name__)
# Logging is deprecated as of 2026-07-28, but adapters of the handshake era log, and their clients listen.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning, module=__name__)

downstream_request: ContextVar[ServerRequestContext[Any, Any] | None] = ContextVar("downstream_request", default=None)
"""The downstream request being served (set by ``downstream_session_middleware``); None outside one."""

ListChanged = Callable[[str, str], None]
"""``(adapter, kind)`` with kind ``tools``, ``prompts`` or ``resources``."""

_LIST_CHANGED = {
    "notifications/tools/list_changed": "tools",
    "notifications/prompts/list_changed": "prompts",
    "notifications/resources/list_changed": "resources",
}

_ResultT = TypeVar("_ResultT", bound=types.Result)
_T = TypeVar("_T")
_SUBSCRIPTIONS = frozenset({"resources/subscribe", "resources/unsubscribe"})
MAX_SUBSCRIPTIONS = 1000
"""Resources one downstream session may be subscribed to through one upstream session."""
SamplingResult = types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData


class Relay:
    """The relay of one upstream session: ``adapter`` names it, ``capabilities`` are the downstream
    client's (None: no client to relay requests to)."""

    def __init__(
        self,
        adapter: str,
        capabilities: types.ClientCapabilities | None,
        on_list_changed: ListChanged | None = None,
        session: ServerSession | None = None,
    ) -> None:
        """``session``: the downstream session served (None: the upstream session serves no one session)."""
        self.adapter = adapter
        self.capabilities = capabilities
        self._session = session
        self._on_list_changed = on_list_changed
        self._serving: list[ServerRequestContext[Any, Any]] = []
        self._subscribed: set[str] = set()

    @property
    def serves_session(self) -> bool:
        """Whether it serves one downstream (handshake-era) session."""
        return self._session is not None

    @contextmanager
    def serving(self, request: ServerRequestContext[Any, Any] | None) -> Iterator[None]:
        """While inside, what the adapter sends on its own goes to ``request``'s client."""
        if request is None:
            yield
            return
        self._serving.append(request)
        try:
            yield
        finally:
            self._serving.remove(request)

    def completed(self, request: ServerRequestContext[Any, Any] | None, result: _T) -> _T:
        """``request`` was answered upstream with ``result``: note the subscription it made or ended."""
        if request is not None and request.method in _SUBSCRIPTIONS:
            uri = (request.params or {}).get("uri")
            if isinstance(uri, str) and request.method == "resources/subscribe":
                if len(self._subscribed) < MAX_SUBSCRIPTIONS:
                    self._subscribed.add(uri)
            elif isinstance(uri, str):
                self._subscribed.discard(uri)
        return result

    def client_options(self) -> dict[str, Any]:
        """The SDK ``Client`` callbacks: those whose capability the downstream client declared (the SDK
        declares a capability to the adapter exactly when its callback is given)."""
        options: dict[str, Any] = {"logging_callback": self.log, "message_handler": self.message}
        declared = self.capabilities
        if declared is not None and declared.sampling is not None:
            options["sampling_callback"] = self.sampling
            options["sampling_capabilities"] = declared.sampling
        if declared is not None and declared.elicitation is not None:
            options["elicitation_callback"] = self.elicitation
        if declared is not None and declared.roots is not None:
            options["list_roots_callback"] = self.list_roots
        return options

    def _target(self) -> ServerRequestContext[Any, Any] | None:
        return self._serving[-1] if self._serving else None

    # --- server-to-client requests -------------------------------------------------------------------------

    async def sampling(self, context: ClientRequestContext, params: types.CreateMessageRequestParams) -> SamplingResult:
        result: type[types.CreateMessageResult] | type[types.CreateMessageResultWithTools] = (
            types.CreateMessageResultWithTools if params.tools else types.CreateMessageResult
        )
        return await self._ask(types.CreateMessageRequest(params=params), result)

    async def elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        return await self._ask(types.ElicitRequest(params=params), types.ElicitResult)

    async def list_roots(self, context: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        return await self._ask(types.ListRootsRequest(), types.ListRootsResult)

    async def _ask(self, request: types.ServerRequest, result: type[_ResultT]) -> _ResultT | types.ErrorData:
        target = self._target()
        if target is None:
            # The adapter asked outside any request of the client (nothing to relate it to).
            return types.ErrorData(code=types.INVALID_REQUEST, message="No client request is in progress to ask.")
        try:
            return await target.session.send_request(
                request, result, metadata=ServerMessageMetadata(related_request_id=target.request_id)
            )
        except MCPError as exc:  # the client's own error, or no back-channel (a 2026-07-28 request)
            return exc.error

    # --- notifications -------------------------------------------------------------------------------------

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        target = self._target()
        if target is None:
            return
        try:
            # The SDK's own rule for which levels may go to this request (2026-07-28: only what its ``_meta``
            # opted in to; handshake era: everything, ``logging/setLevel`` being the client's business).
            await target.session.send_log_message(
                params.level, params.data, params.logger, related_request_id=target.request_id
            )
        except Exception as exc:  # the client went away: the request it made fails on its own
            logger.debug("relaying a log message failed: %s", type(exc).__name__)

    async def message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            return  # a transport error: the exchange waiting on it fails and says so
        kind = _LIST_CHANGED.get(message.method)
        if kind is not None and self._on_list_changed is not None:
            self._on_list_changed(self.adapter, kind)
        elif (
            isinstance(message, types.ResourceUpdatedNotification)
            and self._session is not None
            and str(message.params.uri) in self._subscribed
        ):
            try:
                await self._session.send_notification(message)
            except Exception as exc:  # the client's session ended; the upstream one ends with it
                logger.debug("relaying resources/updated failed: %s", type(exc).__name__)


def progress_to(request: ServerRequestContext[Any, Any] | None) -> ProgressFnT | None:
    """A progress callback for an upstream exchange that reports to ``request``'s client, when it asked for
    progress (a ``progressToken`` in its ``_meta``); None otherwise (the adapter is then not asked either)."""
    meta = request.meta if request is not None else None
    # The SDK hands ``_meta`` over with its own key names (``progress_token``), not the wire's.
    if request is None or not meta or (meta.get("progress_token") is None and meta.get("progressToken") is None):
        return None

    async def report(progress: float, total: float | None, message: str | None) -> None:
        try:
            await request.session.report_progress(progress, total, message)
        except Exception as exc:
            logger.debug("relaying progress failed: %s", type(exc).__name__)

    return report
