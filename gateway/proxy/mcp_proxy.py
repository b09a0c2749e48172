"""The MCP proxy pipeline, top to bottom: origin -> authenticate -> authorize -> limits -> route (a ready
replica, or the session's) -> open upstream -> bind or forget the session -> relay.

Serves ``/adapters/{name}/mcp`` (an adapter's replicas), ``/mcp`` (the tool router's replicas) and
``/servers/{name}/mcp`` (a virtual server: the tool router's replicas, told which server by
``X-Mcp-Virtual-Server``; authorized by the server's record, with sessions of its own).
Errors leave as JSON-RPC error bodies with the matching HTTP status, never as HTML or a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NoReturn
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from gateway.auth.challenge import challenge_for, public_base
from gateway.auth.principal import Principal
from gateway.auth.rbac import can_read
from gateway.errors import (
    BackendError,
    Forbidden,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    Unauthenticated,
    Unavailable,
    jsonrpc_error_body,
)
from gateway.names import ROUTER_WORKLOAD
from gateway.netguard import ConnectGuard
from gateway.proxy.affinity import SESSION_NOT_FOUND, SessionAffinity
from gateway.proxy.balancer import LeastInFlight
from gateway.proxy.deps import ProxyDeps
from gateway.proxy.forward import ClientDisconnected, RequestBody, UpstreamRequest, open_upstream, relay
from gateway.proxy.headers import downstream_response_headers, forwarded_value, upstream_request_headers
from gateway.proxy.limits import InFlightLimits
from gateway.proxy.origins import OriginPolicy
from gateway.proxy.replicas import Replicas, Target
from gateway.proxy.upstream import (
    UpstreamAddressRefused,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.records import AdapterAccess
from gateway.request_context import REQUEST_ID_HEADER, accept_request_id, request_id_var
from gateway.runtimes.base import Endpoint
from gateway.stores.base import ResourceKind, SessionKey
from gateway.telemetry.mcp import McpTelemetry, Observation

log = logging.getLogger(__name__)

MCP_METHODS = ("POST", "GET", "DELETE")
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()


class McpProxy:
    """Serves the MCP routes (see ``gateway.proxy.routes``); the route (adapter, virtual server or ``/mcp``)
    selects the record that authorizes the request and the replicas that serve it."""

    def __init__(self, deps: ProxyDeps, telemetry: McpTelemetry | None = None) -> None:
        proxy = deps.settings
        self._authenticator = deps.authenticator
        self._records = deps.records
        self._router_secret = deps.router_secret
        self._public_url = deps.public_url
        self._scopes = list(deps.scopes_supported)
        self._body_limit = proxy.request_body_limit_bytes
        self._read_timeout = proxy.read_timeout_seconds
        self._origins = OriginPolicy(proxy.allowed_origins, deps.public_url)
        self._replicas = Replicas(deps.runtime)
        self._affinity = SessionAffinity(deps.sessions, self._replicas, deps.sealer)
        self._balancer = LeastInFlight()
        self._limits = InFlightLimits(
            proxy.max_in_flight_per_adapter, proxy.max_in_flight_per_user, proxy.max_connections
        )
        self._client = UpstreamClient(
            proxy.connect_timeout_seconds,
            proxy.read_timeout_seconds,
            ConnectGuard.from_settings(proxy, deps.environment),
        )
        # The default records nothing, so a bare McpProxy costs nothing extra.
        self.telemetry = telemetry if telemetry is not None else McpTelemetry(None, deps.router_secret.encode())

    async def aclose(self) -> None:
        await self._client.aclose()

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, adapter: str | None, *, server: str | None = None
    ) -> None:
        """One request to ``/adapters/{adapter}/mcp``, to ``/servers/{server}/mcp`` when ``server`` is given,
        or to ``/mcp`` (the tool router) when neither is."""
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        lookup = dict(headers)
        request_id = accept_request_id(lookup.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        route = _Route(adapter, server)
        try:
            await self._observed(scope, receive, _RequestIdSend(send, request_id), route, headers, lookup)
        finally:
            request_id_var.reset(token)

    async def _observed(
        self,
        scope: Scope,
        receive: Receive,
        send: _RequestIdSend,
        route: _Route,
        headers: list[tuple[str, str]],
        lookup: Mapping[str, str],
    ) -> None:
        with self.telemetry.observe(scope, lookup, route.kind, route.label, receive, send) as observed:
            try:
                if scope["method"] not in MCP_METHODS:
                    raise MethodNotAllowed(
                        f"{scope['method']} is not an MCP method; use POST, GET or DELETE.",
                        headers={"Allow": ", ".join(MCP_METHODS)},
                    )
                await self._handle(scope, observed, route, headers, lookup)
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

    async def _handle(
        self,
        scope: Scope,
        observed: Observation,
        route: _Route,
        headers: list[tuple[str, str]],
        lookup: Mapping[str, str],
    ) -> None:
        self._origins.check(lookup.get("origin"))
        principal = await self._authenticate(lookup, scope)
        observed.reached(authenticated=True, routed=False)
        # Authorized before anything looks at a session id, so both protocol eras get the same decision.
        target = await self._authorize(principal, route)
        user = principal.user_id
        self._limits.acquire(target.scope, user, target.description)
        try:
            session_id = lookup.get("mcp-session-id")
            session: SessionKey | None = None
            if session_id is None:
                endpoint = await self._pick(target)
            else:
                bound = await self._affinity.resolve(user, target, session_id)
                session, endpoint = bound.key, bound.endpoint
                if bound.upstream_id != session_id:
                    # A sealed id: the replica is sent the id it issued.
                    headers = _with_session_id(headers, bound.upstream_id)
            observed.reached(authenticated=True, routed=True)
            request = self._upstream_request(scope, target, principal, headers, lookup, endpoint)
            await self._forward(scope, target, user, session, endpoint, request, observed.receive, observed.send)
        finally:
            self._limits.release(target.scope, user)

    async def _authenticate(self, lookup: Mapping[str, str], scope: Scope) -> Principal:
        raw = scope.get("query_string", b"")
        # Most MCP requests have no query string: parsing an empty one still costs a few function calls.
        query = dict(parse_qsl(raw.decode("latin-1"))) if raw else {}
        return await self._authenticator.authenticate(lookup, query)

    async def _authorize(self, principal: Principal, route: _Route) -> Target:
        """Who may use the route, and where it goes: the tool router (``/mcp``: every caller; the router
        decides per tool), a virtual server (its record's readers; served by the router) or an adapter."""
        if route.server is not None:
            await self._authorize_server(principal, route.server)
            return Target(ROUTER_WORKLOAD, is_router=True, server=route.server)
        if route.adapter is None:
            return Target(ROUTER_WORKLOAD, is_router=True)
        remote_url = await self._authorize_adapter(principal, route.adapter)
        return Target(route.adapter, is_router=False, remote_url=remote_url)

    async def _authorize_server(self, principal: Principal, name: str) -> None:
        """As an adapter: the server's creator, admins and holders of its ``requiredRoles``, checked on every
        request. Which of its members' tools the caller sees is the router's decision."""
        await self._readable("server", name, principal, "virtual server")

    async def _authorize_adapter(self, principal: Principal, name: str) -> str | None:
        """Checked on every request, so revoking a role takes effect mid-session (within the store's record
        cache age when set, see ``gateway.stores.recent``). Returns a ``url`` source called directly (a ``url``
        of transport ``sse`` is not: the runtime runs bridge replicas for it, found by ``Replicas.ready``)."""
        access = await self._readable("adapter", name, principal, "adapter")
        return access.direct_url

    async def _readable(self, kind: ResourceKind, name: str, principal: Principal, what: str) -> AdapterAccess:
        """The record's access fields when ``principal`` may read it: 404 when there is none, else 403."""
        record = await self._records.recent(kind, name)
        if record is None:
            raise NotFound(f"The {what} '{name}' does not exist.")
        access = AdapterAccess.of(record.data)
        if not can_read(principal, access.created_by, access.required_roles):
            raise Forbidden(f"You do not have permission to use this {what}.")
        return access

    async def _pick(self, target: Target) -> Endpoint:
        ready = await self._replicas.ready(target)
        if not ready:
            why = await self._replicas.why_not_ready(target.name)
            message = f"No replica of the {target.description} is ready{why}; try again shortly."
            raise Unavailable(message, public=message)
        return self._balancer.pick(ready)

    async def _pick_another(self, target: Target, refused: set[str]) -> Endpoint | None:
        others = [e for e in await self._replicas.ready(target) if e.url not in refused]
        return self._balancer.pick(others) if others else None

    def _upstream_request(
        self,
        scope: Scope,
        target: Target,
        principal: Principal,
        headers: list[tuple[str, str]],
        lookup: Mapping[str, str],
        endpoint: Endpoint,
    ) -> UpstreamRequest:
        method = scope["method"]
        client = scope.get("client")
        forwarded = forwarded_value(client[0] if client else None, scope.get("scheme", "http"), lookup.get("host"))
        secret = self._router_secret if target.is_router else None
        upstream_headers = upstream_request_headers(headers, principal, forwarded, secret, target.server)
        return UpstreamRequest(
            method=method,
            url=_upstream_url(endpoint, scope),
            headers=self.telemetry.upstream_headers(upstream_headers),
            read_timeout=None if method == "GET" else self._read_timeout,
            # Only a user-supplied url goes through the SSRF guard; the runtime's own replicas never do.
            guarded=target.remote_url is not None,
        )

    async def _forward(
        self,
        scope: Scope,
        target: Target,
        user: str,
        session: SessionKey | None,
        endpoint: Endpoint,
        request: UpstreamRequest,
        receive: Receive,
        send: Send,
    ) -> None:
        """Open the exchange with ``endpoint``, settle the session, relay the answer. ``endpoint`` holds one
        in-flight count of the balancer from here to the end, moved along when another replica takes over."""
        method = request.method
        body = RequestBody(receive, self._body_limit)
        self._balancer.acquire(endpoint.url)
        try:
            await body.begin(method not in ("GET", "DELETE"))
            refused: set[str] | None = None
            while True:
                try:
                    response = await open_upstream(self._client, request, body)
                    break
                except UpstreamConnectError:
                    # Nothing reached a replica that refused the connection, so a request that is not bound to
                    # a session may go to another ready one (the health watch has not noticed the dead one yet),
                    # when its body can be sent again.
                    if session is not None or not body.replayable:
                        raise
                    if refused is None:
                        refused = set()
                    refused.add(endpoint.url)
                    other = await self._pick_another(target, refused)
                    if other is None:
                        raise
                    log.warning("replica %s refused the connection; trying another", endpoint.id)
                    self._balancer.release(endpoint.url)
                    endpoint = other
                    self._balancer.acquire(endpoint.url)
                    request = replace(request, url=_upstream_url(endpoint, scope))
            try:
                if session is None:
                    client_session_id = await self._affinity.bind(user, target.scope, endpoint, response)
                else:
                    # Replicas repeat the session id on every answer: the client sees only the id it holds
                    # (a sealed id must never be traded for the replica's own).
                    client_session_id = session.session_id
                    if method == "DELETE" and (response.is_success or response.status_code == 404):
                        await self._affinity.forget(session)
                headers = downstream_response_headers(response.multi_items(), client_session_id)
                await relay(response, headers, body, send)
            finally:
                response.close()
        except UpstreamError as exc:
            await self._upstream_failed(target, session, endpoint, exc)
        finally:
            self._balancer.release(endpoint.url)

    async def _upstream_failed(
        self, target: Target, session: SessionKey | None, endpoint: Endpoint, exc: UpstreamError
    ) -> NoReturn:
        log.warning("upstream %s failed: %s", endpoint.id, type(exc).__name__)
        self.telemetry.upstream_failed(target.kind, target.label, exc)
        if isinstance(exc, UpstreamAddressRefused):
            internal = f"The SSRF policy refused the url of adapter '{target.name}': {exc}"
            public = (
                f"The address of the adapter '{target.name}' is not allowed: its host resolves to an address the "
                "gateway refuses to connect to (link-local, cloud metadata, or a network this gateway does not reach)."
            )
            raise BackendError(internal, public=public) from exc
        if session is not None and isinstance(exc, UpstreamConnectError | UpstreamDisconnected):
            # A refused or broken connection means the replica died or restarted, and its sessions with it
            # (a restarted replica may even listen on the same port): a 404 makes the client re-initialize.
            await self._affinity.forget(session)
            raise NotFound(SESSION_NOT_FOUND) from exc
        what = target.description
        if isinstance(exc, UpstreamTimeout):
            internal = f"The replica {endpoint.id} did not answer in time."
            raise BackendError(internal, public=f"The {what} did not answer in time.") from exc
        internal = f"The replica {endpoint.id} could not be reached: {exc}"
        raise BackendError(internal, public=f"The {what} could not be reached.") from exc

    def _challenge(self, scope: Scope, exc: GatewayError) -> str | None:
        if not isinstance(exc, Unauthenticated):
            return None
        host = dict(scope["headers"]).get(b"host", b"localhost").decode("latin-1")
        base = public_base(self._public_url, scope.get("scheme", "http"), host)
        return challenge_for(exc, base, scope["path"], self._scopes)


@dataclass(frozen=True, slots=True)
class _Route:
    """What the path named: an adapter, a virtual server, or neither (``/mcp``)."""

    adapter: str | None
    server: str | None = None

    @property
    def kind(self) -> str:
        """The route kind, as telemetry labels it (as :attr:`Target.kind`)."""
        if self.server is not None:
            return "server"
        return "router" if self.adapter is None else "adapter"

    @property
    def label(self) -> str:
        """The name telemetry labels the request with (once it proved to exist, see ``gateway.telemetry.mcp``)."""
        return self.server or self.adapter or ROUTER_WORKLOAD


def _upstream_url(endpoint: Endpoint, scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return endpoint.url + (f"?{query}" if query else "")


def _with_session_id(headers: list[tuple[str, str]], session_id: str) -> list[tuple[str, str]]:
    """``headers`` with ``Mcp-Session-Id`` set to ``session_id`` (names are lower-case here)."""
    return [(name, session_id if name == "mcp-session-id" else value) for name, value in headers]


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
