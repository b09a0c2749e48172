"""The MCP proxy pipeline: check origin -> authenticate -> authorize -> route -> session -> forward.

Serves ``/adapters/{name}/mcp`` (an adapter's replicas) and ``/mcp`` (the tool router's replicas).
Errors leave as JSON-RPC error bodies with the matching HTTP status, never as HTML or a stack trace.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from gateway.auth.challenge import challenge_for, public_base
from gateway.auth.metadata import scopes_supported
from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read
from gateway.context import GatewayContext
from gateway.errors import (
    BackendError,
    Forbidden,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    Unavailable,
    jsonrpc_error_body,
)
from gateway.names import ROUTER_WORKLOAD
from gateway.netguard import ConnectGuard
from gateway.proxy.balancer import LeastInFlight
from gateway.proxy.forward import ClientDisconnected, UpstreamRequest, forward
from gateway.proxy.headers import downstream_response_headers, forwarded_value, upstream_request_headers
from gateway.proxy.limits import InFlightLimits
from gateway.proxy.origins import OriginPolicy
from gateway.proxy.upstream import (
    UpstreamAddressRefused,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
)
from gateway.records import AdapterAccess
from gateway.runtimes.base import Endpoint
from gateway.stores.base import SessionKey, SessionRoute
from gateway.telemetry.logs import REQUEST_ID_HEADER, accept_request_id, request_id_var
from gateway.telemetry.mcp import McpTelemetry

log = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")
SESSION_NOT_FOUND = "Session not found"
MCP_METHODS = ("POST", "GET", "DELETE")
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()


@dataclass
class _Call:
    """What the pipeline has learned about one request so far."""

    target: str
    is_router: bool
    headers: list[tuple[str, str]]
    lookup: Mapping[str, str]
    principal: Principal | None = None
    remote_url: str | None = None
    """An adapter whose source is a ``url``: its only endpoint, known from the record on any gateway."""
    session_key: SessionKey | None = None
    endpoint: Endpoint | None = None


class McpProxy:
    """Serves both MCP routes (see ``gateway.proxy.routes``); the adapter name selects the replicas."""

    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx = ctx
        proxy = ctx.settings.proxy
        self._origins = OriginPolicy(proxy.allowed_origins, ctx.settings.server.public_url)
        self._scopes = scopes_supported(ctx.settings.auth)
        self._balancer = LeastInFlight()
        self._limits = InFlightLimits(
            proxy.max_in_flight_per_adapter, proxy.max_in_flight_per_user, proxy.max_connections
        )
        self._client = UpstreamClient(
            proxy.connect_timeout_seconds,
            proxy.read_timeout_seconds,
            ConnectGuard.from_settings(proxy, ctx.settings.server.environment),
        )
        # Replaced by create_app; this default records nothing, so a bare McpProxy costs nothing extra.
        self.telemetry = McpTelemetry(None, ctx.router_secret.encode())

    async def aclose(self) -> None:
        await self._client.aclose()

    async def serve(self, scope: Scope, receive: Receive, send: Send, adapter: str | None) -> None:
        """One request to ``/adapters/{adapter}/mcp``, or to ``/mcp`` (the tool router) when ``adapter`` is None."""
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        call = _Call(adapter or ROUTER_WORKLOAD, adapter is None, headers, dict(headers))
        request_id = accept_request_id(call.lookup.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        try:
            await self._observed(call, scope, receive, _RequestIdSend(send, request_id))
        finally:
            request_id_var.reset(token)

    async def _observed(self, call: _Call, scope: Scope, receive: Receive, send: _RequestIdSend) -> None:
        kind = "router" if call.is_router else "adapter"
        with self.telemetry.observe(scope, call.lookup, kind, call.target, receive, send) as observed:
            try:
                if scope["method"] not in MCP_METHODS:
                    raise MethodNotAllowed(
                        f"{scope['method']} is not an MCP method; use POST, GET or DELETE.",
                        headers={"Allow": ", ".join(MCP_METHODS)},
                    )
                await self._handle(call, scope, observed.receive, observed.send)
            except ClientDisconnected:
                return
            except GatewayError as exc:
                if exc.status >= 500:
                    log.warning("%s %s failed: %s", scope["method"], scope["path"], exc.internal_detail)
                await _send_error(observed.send, exc, self._challenge(scope, exc))
            except Exception:
                # A bug of ours: logged with its traceback here, never shown to the client.
                log.exception("unexpected error proxying %s %s", scope["method"], scope["path"])
                if not send.started:
                    await _send_error(observed.send, GatewayError("The gateway failed to proxy this request."), None)
            finally:
                observed.reached(authenticated=call.principal is not None, routed=call.endpoint is not None)

    async def _handle(self, call: _Call, scope: Scope, receive: Receive, send: Send) -> None:
        self._origins.check(call.lookup.get("origin"))
        call.principal = await self._authenticate(call, scope)
        if not call.is_router:
            call.remote_url = await self._authorize_adapter(call.principal, call.target)
        user = call.principal.user_id
        self._limits.acquire(call.target, user, _describe(call))
        try:
            session_id = call.lookup.get("mcp-session-id")
            if session_id is not None:
                call.session_key, call.endpoint = await self._session_endpoint(call, session_id)
            else:
                call.endpoint = await self._pick_endpoint(call)
            await self._forward(call, scope, receive, send)
        finally:
            self._limits.release(call.target, user)

    async def _authenticate(self, call: _Call, scope: Scope) -> Principal:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        return await self._ctx.authenticator.authenticate(call.lookup, query)

    async def _authorize_adapter(self, principal: Principal, name: str) -> str | None:
        """Checked on every request, so revoking a role takes effect mid-session (within the store's record
        cache age when set, see ``gateway.stores.recent``). Returns a ``url`` source called directly (a ``url``
        of transport ``sse`` is not: the runtime runs bridge replicas for it, found by :meth:`_ready`)."""
        record = await self._ctx.store.recent("adapter", name)
        if record is None:
            raise NotFound(f"The adapter '{name}' does not exist.")
        access = AdapterAccess.of(record.data)
        if not can_read(principal, access.created_by, access.required_roles):
            raise Forbidden("You do not have permission to use this adapter.")
        return access.direct_url

    async def _ready(self, call: _Call) -> list[Endpoint]:
        if call.remote_url is not None:
            # Routable until the gateway's background probe of the URL has failed (see remote_probe).
            if not await self._ctx.runtime.url_routable(call.target):
                return []
            return [Endpoint(call.target, call.remote_url)]
        return await self._ctx.runtime.endpoints(call.target)

    async def _session_endpoint(self, call: _Call, session_id: str) -> tuple[SessionKey, Endpoint]:
        assert call.principal is not None
        if not SESSION_ID_RE.match(session_id):
            raise NotFound(SESSION_NOT_FOUND)
        key = SessionKey(call.principal.user_id, call.target, session_id)
        route = await self._ctx.sessions.get(key)
        if route is None:
            raise NotFound(SESSION_NOT_FOUND)
        ready = await self._ready(call)
        if not any(e.url == route.url for e in ready):
            # The replica that held the session is gone: a 404 makes the client re-initialize.
            await self._ctx.sessions.delete(key)
            raise NotFound(SESSION_NOT_FOUND)
        return key, Endpoint(route.endpoint_id, route.url)

    async def _pick_endpoint(self, call: _Call) -> Endpoint:
        ready = await self._ready(call)
        if not ready:
            why = await self._why_not_ready(call)
            message = f"No replica of the {_describe(call)} is ready{why}; try again shortly."
            raise Unavailable(message, public=message)
        return self._balancer.pick(ready)

    async def _why_not_ready(self, call: _Call) -> str:
        """`` (Failing: exited with code 1; ...)`` from the runtime's status: the phase and the public cause,
        never process output or internal addresses. Empty when the status cannot be read."""
        try:
            status = await self._ctx.runtime.status(call.target)
        except Exception as exc:  # the error is about routing; a failing status read must not replace it
            log.debug("no status for %s: %s", call.target, exc)
            return ""
        phase = status.phase or ("Stopped" if not status.desired else None)
        cause = status.public_error
        if phase and cause:
            return f" ({phase}: {cause})"
        return f" ({phase})" if phase else ""

    async def _forward(self, call: _Call, scope: Scope, receive: Receive, send: Send) -> None:
        assert call.endpoint is not None
        method = scope["method"]
        refused: set[str] = set()

        async def on_response(response: UpstreamResponse) -> list[tuple[bytes, bytes]]:
            return await self._after_upstream(call, method, response)

        async def another_replica(exc: UpstreamConnectError) -> UpstreamRequest | None:
            """Nothing reached a replica that refused the connection, so a request that is not bound to a
            session may go to another ready one (the health watch has not noticed the dead one yet)."""
            assert call.endpoint is not None
            if call.session_key is not None:
                return None
            refused.add(call.endpoint.url)
            others = [e for e in await self._ready(call) if e.url not in refused]
            if not others:
                return None
            log.warning("replica %s refused the connection; trying another", call.endpoint.id)
            self._balancer.release(call.endpoint.url)
            call.endpoint = self._balancer.pick(others)
            self._balancer.acquire(call.endpoint.url)
            return self._upstream_request(call, scope)

        self._balancer.acquire(call.endpoint.url)
        try:
            request = self._upstream_request(call, scope)
            await forward(self._client, request, receive, send, on_response, another_replica)
        except PayloadTooLarge:
            raise
        except UpstreamError as exc:
            await self._upstream_failed(call, exc)
        finally:
            self._balancer.release(call.endpoint.url)

    def _upstream_request(self, call: _Call, scope: Scope) -> UpstreamRequest:
        assert call.principal is not None and call.endpoint is not None
        method = scope["method"]
        client = scope.get("client")
        forwarded = forwarded_value(client[0] if client else None, scope.get("scheme", "http"), call.lookup.get("host"))
        secret = self._ctx.router_secret if call.is_router else None
        query = scope.get("query_string", b"").decode("latin-1")
        return UpstreamRequest(
            method=method,
            url=call.endpoint.url + (f"?{query}" if query else ""),
            headers=self.telemetry.upstream_headers(
                upstream_request_headers(call.headers, call.principal, forwarded, secret)
            ),
            has_body=method not in ("GET", "DELETE"),
            body_limit=self._ctx.settings.proxy.request_body_limit_bytes,
            read_timeout=None if method == "GET" else self._ctx.settings.proxy.read_timeout_seconds,
            # Only a user-supplied url goes through the SSRF guard; the runtime's own replicas never do.
            guarded=call.remote_url is not None,
        )

    async def _after_upstream(self, call: _Call, method: str, response: UpstreamResponse) -> list[tuple[bytes, bytes]]:
        assert call.principal is not None and call.endpoint is not None
        drop_session_id = False
        if call.session_key is None:
            issued = response.headers.get("mcp-session-id")
            if issued is not None and response.is_success:
                if SESSION_ID_RE.match(issued):
                    key = SessionKey(call.principal.user_id, call.target, issued)
                    await self._ctx.sessions.put(key, SessionRoute(call.endpoint.id, call.endpoint.url))
                else:
                    log.warning("dropping a malformed session id issued by %s", call.endpoint.id)
                    drop_session_id = True
        elif method == "DELETE" and (response.is_success or response.status_code == 404):
            await self._ctx.sessions.delete(call.session_key)
        return downstream_response_headers(response.multi_items(), drop_session_id)

    async def _upstream_failed(self, call: _Call, exc: UpstreamError) -> None:
        assert call.endpoint is not None
        log.warning("upstream %s failed: %s", call.endpoint.id, type(exc).__name__)
        self.telemetry.upstream_failed("router" if call.is_router else "adapter", call.target, exc)
        if isinstance(exc, UpstreamAddressRefused):
            internal = f"The SSRF policy refused the url of adapter '{call.target}': {exc}"
            public = (
                f"The address of the adapter '{call.target}' is not allowed: its host resolves to an address the "
                "gateway refuses to connect to (link-local, cloud metadata, or a network this gateway does not reach)."
            )
            raise BackendError(internal, public=public) from exc
        if call.session_key is not None and isinstance(exc, UpstreamConnectError | UpstreamDisconnected):
            # A refused or broken connection means the replica died or restarted, and its sessions with it
            # (a restarted replica may even listen on the same port): a 404 makes the client re-initialize.
            await self._ctx.sessions.delete(call.session_key)
            raise NotFound(SESSION_NOT_FOUND) from exc
        what = _describe(call)
        if isinstance(exc, UpstreamTimeout):
            internal = f"The replica {call.endpoint.id} did not answer in time."
            raise BackendError(internal, public=f"The {what} did not answer in time.") from exc
        internal = f"The replica {call.endpoint.id} could not be reached: {exc}"
        raise BackendError(internal, public=f"The {what} could not be reached.") from exc

    def _challenge(self, scope: Scope, exc: GatewayError) -> str | None:
        if not isinstance(exc, Unauthenticated):
            return None
        host = dict(scope["headers"]).get(b"host", b"localhost").decode("latin-1")
        base = public_base(self._ctx.settings.server.public_url, scope.get("scheme", "http"), host)
        return challenge_for(exc, base, scope["path"], self._scopes)


def _describe(call: _Call) -> str:
    return "tool router" if call.is_router else f"adapter '{call.target}'"


class _RequestIdSend:
    """``send`` that adds ``X-Request-Id`` to the response unless the replica already set one."""

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self._header = (_REQUEST_ID_BYTES, request_id.encode("latin-1"))
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers = message.get("headers", [])
            if not any(name == _REQUEST_ID_BYTES for name, _ in headers):
                message = {**message, "headers": [*headers, self._header]}
        await self._send(message)


async def _send_error(send: Send, exc: GatewayError, challenge: str | None) -> None:
    body = json.dumps(jsonrpc_error_body(exc)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in exc.headers.items()]
    if challenge:
        headers.append((b"www-authenticate", challenge.encode("latin-1")))
    try:
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    except OSError:
        pass  # the client is gone
