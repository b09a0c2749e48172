"""The connect-time half of the SSRF guard: aiohttp clients of user-supplied URLs connect only where
:mod:`gateway.netpolicy` allows.

A name checked when an adapter was created can resolve somewhere else later (DNS rebinding, or simply a
changed record), so the check has to happen on every connect, to the address actually connected to:

* :class:`PolicyResolver` resolves the name, drops every address the policy refuses and hands aiohttp only
  the rest. aiohttp connects to exactly those addresses and does not resolve again, so there is no window
  between check and connect for a rebind to slip through.
* a socket factory checks the socket address once more, right before ``connect``. That also covers IP
  literals, for which aiohttp never asks the resolver.

Both refuse with :class:`AddressNotAllowed`, an ``OSError``, which aiohttp reports as a connector error
(``ClientConnectorError.os_error``) like any other failure to connect. Used by the data plane
(``gateway.proxy.upstream``), the tool router (``toolrouter.executor``) and the create-time check
(``gateway.services.ssrf``), which resolves through :meth:`ConnectGuard.lookup` so all three agree on what
a name resolves to.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import AsyncResolver, ThreadedResolver

from gateway.netpolicy import AddressPolicy, IPAddress, describe, is_metadata_hostname

if TYPE_CHECKING:
    from gateway.settings import ProxySettings

log = logging.getLogger(__name__)


class AddressNotAllowed(OSError):
    """Every address of the target is one the policy refuses; nothing was sent."""


def _inner_resolver(dns_servers: tuple[str, ...]) -> AbstractResolver:
    # The system resolver (getaddrinfo: /etc/hosts, search domains) unless name servers are configured;
    # then c-ares through aiodns, which asks exactly those servers.
    if dns_servers:
        return AsyncResolver(nameservers=list(dns_servers))
    return ThreadedResolver()


@dataclass(frozen=True)
class ConnectGuard:
    """The address policy plus the name servers that resolve user-supplied host names. The default refuses
    everything but public addresses and uses the system resolver."""

    policy: AddressPolicy = field(default_factory=AddressPolicy)
    dns_servers: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, proxy: ProxySettings, environment: str) -> ConnectGuard:
        return cls(proxy.url_policy(environment), tuple(proxy.dns_servers))

    def connector(self, **options: Any) -> aiohttp.TCPConnector:
        """A TCP connector that connects only to permitted addresses. Call inside the running event loop."""
        return _GuardedConnector(PolicyResolver(self.policy, _inner_resolver(self.dns_servers)), self, **options)

    def checked_socket(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's ``socket_factory``: the last check, on the exact address about to be connected to."""
        family, type_, proto, _, sockaddr = addr_info
        address = ipaddress.ip_address(sockaddr[0])
        refused = self.policy.refusal(address)
        if refused is not None:
            raise AddressNotAllowed(f"{address} is {describe(refused)}")
        return socket.socket(family=family, type=type_, proto=proto)

    async def lookup(self, host: str) -> list[IPAddress]:
        """Every address ``host`` resolves to, unfiltered (for the create-time check). Empty when the name
        does not resolve."""
        resolver = _inner_resolver(self.dns_servers)
        try:
            results = await resolver.resolve(host, 0, family=socket.AF_UNSPEC)
        except OSError:
            return []
        finally:
            await resolver.close()
        return [_address_of(result) for result in results]


class PolicyResolver(AbstractResolver):
    """Resolves with ``inner`` and returns only the addresses ``policy`` permits."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if is_metadata_hostname(host):
            raise AddressNotAllowed(f"{host} is a cloud-metadata host name")
        results = await self._inner.resolve(host, port, family)
        permitted = []
        refusals = []
        for result in results:
            address = _address_of(result)
            refused = self._policy.refusal(address)
            if refused is None:
                permitted.append(result)
            else:
                refusals.append(f"{address} ({refused})")
        if not permitted:
            raise AddressNotAllowed(f"{host} resolves only to addresses the policy refuses: {', '.join(refusals)}")
        if refusals:
            log.warning("%s also resolves to refused addresses, skipped: %s", host, ", ".join(refusals))
        return permitted

    async def close(self) -> None:
        await self._inner.close()


class _GuardedConnector(aiohttp.TCPConnector):
    """A TCP connector that owns its policy resolver (aiohttp closes only resolvers it made itself)."""

    def __init__(self, resolver: PolicyResolver, guard: ConnectGuard, **options: Any) -> None:
        super().__init__(resolver=resolver, socket_factory=guard.checked_socket, **options)
        self._policy_resolver = resolver

    async def close(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().close(*args, **kwargs)
        finally:
            await self._policy_resolver.close()


def _address_of(result: ResolveResult) -> IPAddress:
    return ipaddress.ip_address(result["host"])


def is_address_refusal(exc: BaseException) -> bool:
    """True when an aiohttp client error means the guard refused the target (not that it was down)."""
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, AddressNotAllowed)
