"""SSRF guard for ``url`` adapters and tools: refuse link-local and cloud-metadata targets.

The gateway (and the tool router) make requests to these URLs from inside the platform's network, where
``169.254.169.254`` and friends hand out credentials. Loopback and private ranges stay allowed: local
development and in-cluster services live there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from gateway.errors import FieldProblem, InvalidRequest

METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254", "168.63.129.16")
)


def is_forbidden_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_link_local or address in METADATA_ADDRESSES or address.is_multicast or address.is_unspecified


async def check_url_target(url: str, field: str = "url") -> None:
    """Raise ``InvalidRequest`` when ``url`` points at a forbidden address (resolving host names)."""
    host = urlsplit(url).hostname or ""
    if host.lower().rstrip(".") in METADATA_HOSTNAMES:
        raise _refused(field, host)
    for address in await _addresses(host):
        if is_forbidden_address(address):
            raise _refused(field, host)


async def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []  # not resolvable from here (yet); the target is checked again when it resolves
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _refused(field: str, host: str) -> InvalidRequest:
    message = (
        f"{host} is a link-local or cloud-metadata address, which the gateway refuses to reach "
        "(set MCPGW_PROXY__ALLOW_PRIVATE_URLS=true to allow it)."
    )
    return InvalidRequest(message, [FieldProblem(field, message)])
