"""Where ``url`` adapters and tools may point: a strict URL grammar and the address rules. Pure: no I/O.

The gateway and the tool router call user-supplied URLs from inside the platform's network, where
``169.254.169.254`` and its kin hand out credentials and private addresses reach internal services. This
module decides which URLs are well formed (:func:`parse_http_url`) and which addresses may be connected
to (:class:`AddressPolicy`). ``gateway.netguard`` applies the address rules at connect time, to the address
actually connected to; ``gateway.services.ssrf`` applies both at create time, for a clear 400.

Address classes, from the IANA special-purpose registries (written out here rather than taken from
``ipaddress``'s ``is_private``/``is_global``, whose answers changed between Python patch releases):

* always refused: link-local, cloud metadata, multicast, unspecified / "this network", reserved;
* ``loopback``: refused unless allowed (in production it is the gateway's own pod: its internal endpoints
  and sidecars' admin ports);
* ``private``: everything else not globally reachable (RFC 1918, carrier-grade NAT, unique-local IPv6,
  documentation and benchmarking ranges): refused unless allowed;
* ``public``: the rest.

An IPv6 address that carries an IPv4 address (IPv4-mapped, -compatible and -translated, NAT64, 6to4,
Teredo) is judged by both, so ``::ffff:169.254.169.254`` or ``64:ff9b::a9fe:a9fe`` is metadata too.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressClass(StrEnum):
    METADATA = "cloud-metadata"
    LINK_LOCAL = "link-local"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    PUBLIC = "public"


SEVERITY = tuple(AddressClass)
"""Most serious first: a refusal names the most serious class the address falls in."""

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure, GCP, OCI, OpenStack instance metadata
        "169.254.170.2",  # AWS ECS task credentials
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address!)
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
    )
)
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
"""Refused by name as well, before any resolution: they exist only to reach a metadata service."""


_Table = tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, AddressClass], ...]


def _networks(*pairs: tuple[str, AddressClass]) -> _Table:
    return tuple((ipaddress.ip_network(net), cls) for net, cls in pairs)


_A = AddressClass
_IPV4_CLASSES = _networks(
    ("0.0.0.0/8", _A.UNSPECIFIED),  # "this network"; Linux connects 0.0.0.0 to the local host
    ("127.0.0.0/8", _A.LOOPBACK),
    ("169.254.0.0/16", _A.LINK_LOCAL),
    ("224.0.0.0/4", _A.MULTICAST),
    ("240.0.0.0/4", _A.RESERVED),  # includes the broadcast address 255.255.255.255
    ("10.0.0.0/8", _A.PRIVATE),
    ("172.16.0.0/12", _A.PRIVATE),
    ("192.168.0.0/16", _A.PRIVATE),
    ("100.64.0.0/10", _A.PRIVATE),  # carrier-grade NAT, often pod and VPN networks
    ("192.0.0.0/24", _A.PRIVATE),  # IETF protocol assignments
    ("192.0.2.0/24", _A.PRIVATE),  # documentation
    ("198.51.100.0/24", _A.PRIVATE),  # documentation
    ("203.0.113.0/24", _A.PRIVATE),  # documentation
    ("198.18.0.0/15", _A.PRIVATE),  # benchmarking
)
_IPV6_CLASSES = _networks(
    ("::/128", _A.UNSPECIFIED),
    ("::1/128", _A.LOOPBACK),
    ("fe80::/10", _A.LINK_LOCAL),
    ("ff00::/8", _A.MULTICAST),
    ("fc00::/7", _A.PRIVATE),  # unique local
    ("fec0::/10", _A.PRIVATE),  # deprecated site-local
    ("64:ff9b:1::/48", _A.PRIVATE),  # local-use NAT64: translates to addresses only its operator knows
    ("100::/64", _A.PRIVATE),  # discard-only
    ("2001:2::/48", _A.PRIVATE),  # benchmarking
    ("2001:db8::/32", _A.PRIVATE),  # documentation
    ("3fff::/20", _A.PRIVATE),  # documentation
)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (mapped, compatible, translated, NAT64, 6to4, Teredo)."""
    found: list[ipaddress.IPv4Address] = []
    last_32_bits = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    # :: and ::1 are themselves, not IPv4-compatible forms of 0.0.0.0 and 0.0.0.1.
    elif (address in _IPV4_COMPATIBLE and int(address) > 1) or address in _IPV4_TRANSLATED:
        found.append(last_32_bits)
    elif any(address in prefix for prefix in _NAT64):
        found.append(last_32_bits)  # the /96 layout, the one in common use
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client)
    return found


def _own_class(address: IPAddress) -> AddressClass:
    if address in METADATA_ADDRESSES:
        return AddressClass.METADATA
    table = _IPV4_CLASSES if isinstance(address, ipaddress.IPv4Address) else _IPV6_CLASSES
    for network, cls in table:
        if address in network:
            return cls
    return AddressClass.PUBLIC


def classify(address: IPAddress) -> frozenset[AddressClass]:
    """Every class ``address`` falls in: its own, and that of each IPv4 address embedded in it."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    classes = {_own_class(address)}
    if isinstance(address, ipaddress.IPv6Address):
        classes.update(_own_class(v4) for v4 in embedded_ipv4(address))
    return frozenset(classes)


def is_metadata_hostname(host: str) -> bool:
    return host.lower().rstrip(".") in METADATA_HOSTNAMES


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a user-supplied URL may reach. The default refuses everything but public addresses."""

    allow_loopback: bool = False
    allow_private: bool = False

    @classmethod
    def for_environment(
        cls, environment: str, *, allow_loopback: bool | None = None, allow_private: bool | None = None
    ) -> AddressPolicy:
        """Unset flags follow the environment: allowed in development (``make run`` with a server on
        localhost or the LAN), refused in production."""
        development = environment == "development"
        return cls(
            allow_loopback=development if allow_loopback is None else allow_loopback,
            allow_private=development if allow_private is None else allow_private,
        )

    def refusal(self, address: IPAddress) -> AddressClass | None:
        """The most serious class for which ``address`` is refused, or None when it may be connected to."""
        permitted = {AddressClass.PUBLIC}
        if self.allow_loopback:
            permitted.add(AddressClass.LOOPBACK)
        if self.allow_private:
            permitted.add(AddressClass.PRIVATE)
        refused = classify(address) - permitted
        return min(refused, key=SEVERITY.index) if refused else None

    def permits(self, address: IPAddress) -> bool:
        return self.refusal(address) is None


def describe(refused: AddressClass) -> str:
    """``a loopback address``, ``an unspecified address``: for messages."""
    return f"{'an' if refused[0] in 'aeiou' else 'a'} {refused} address"


def setting_hint(refused: AddressClass) -> str:
    """How an operator could allow an address of this class, for error messages and logs."""
    if refused is AddressClass.LOOPBACK:
        return "set MCPGW_PROXY__ALLOW_LOOPBACK_URLS=true to allow loopback targets"
    if refused is AddressClass.PRIVATE:
        return "set MCPGW_PROXY__ALLOW_PRIVATE_URLS=true to allow private-network targets"
    return "this is never allowed"


# ----- URL grammar -----------------------------------------------------------------------------------

DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<slashes>//)?(?P<authority>[^/?]*)(?P<rest>[/?].*)?\Z")
_BRACKETED_RE = re.compile(r"^\[(?P<host>[^\]]*)\](?::(?P<port>.*))?\Z")
_PORT_RE = re.compile(r"^[0-9]{1,5}\Z")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
_NUMERIC_LABEL_RE = re.compile(r"^([0-9]+|0[xX][0-9A-Fa-f]*)\Z")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD_RE = re.compile(rf"^{_OCTET}(\.{_OCTET}){{3}}$")
MAX_HOSTNAME_LENGTH = 253


class UrlError(ValueError):
    """The URL is not one clean ``http(s)://host[:port][/path][?query]``; the message says why."""


@dataclass(frozen=True)
class HttpUrl:
    scheme: str
    """``http`` or ``https``, lower case."""
    host: str
    """Lower case, without IPv6 brackets or a trailing dot."""
    port: int
    """The explicit port, else the scheme's default."""
    address: IPAddress | None
    """The host when it is an IP literal; None for a name."""


def parse_http_url(url: str) -> HttpUrl:
    """Parse ``url`` strictly, or raise :class:`UrlError`.

    Lenient parsers disagree on odd URLs (a backslash, a tab, ``user@``, ``0x7f.1``), and a check that
    reads a URL differently from the client that later connects is no check. So only the unambiguous
    subset is accepted: ASCII without spaces or control characters, no backslash, no credentials, no
    fragment, a host name or a canonical IP literal (no IPv6 zone), a port from 1 to 65535.
    """
    if not url.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UrlError(
            "must be ASCII without spaces or control characters (write international host names in punycode)."
        )
    if "\\" in url:
        raise UrlError("must not contain backslashes.")
    if "#" in url:
        raise UrlError("must not have a fragment (#...).")
    match = _URL_RE.match(url)
    scheme = match.group("scheme").lower() if match else ""
    if scheme not in DEFAULT_PORTS:
        raise UrlError("must be an absolute http:// or https:// URL.")
    assert match is not None
    if match.group("slashes") is None:
        raise UrlError("must be an absolute http:// or https:// URL (with // before the host).")
    host, address, port = _parse_authority(match.group("authority"))
    return HttpUrl(scheme, host, DEFAULT_PORTS[scheme] if port is None else port, address)


def _parse_authority(authority: str) -> tuple[str, IPAddress | None, int | None]:
    if "@" in authority:
        raise UrlError("must not carry credentials (user:password@); use environment variables or a secret store.")
    bracketed = _BRACKETED_RE.match(authority)
    if bracketed is not None:
        ipv6 = _parse_ipv6_literal(bracketed.group("host"))
        return ipv6.compressed, ipv6, _parse_port(bracketed.group("port"))
    if authority.count(":") > 1 or "[" in authority or "]" in authority:
        raise UrlError(
            "has an invalid host and port: at most one :port, and IPv6 addresses in brackets (http://[2001:db8::1]:80/)."
        )
    host, colon, port_text = authority.partition(":")
    port = _parse_port(port_text if colon else None)
    if not host:
        raise UrlError("has no host.")
    ipv4 = _parse_numeric_host(host)
    if ipv4 is not None:
        return ipv4.compressed, ipv4, port
    return _check_hostname(host), None, port


def _parse_ipv6_literal(text: str) -> ipaddress.IPv6Address:
    if "%" in text:
        raise UrlError("must not name an IPv6 zone (%...).")
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        raise UrlError(f"has an invalid IPv6 address [{text}].") from None


def _parse_port(text: str | None) -> int | None:
    if text is None:
        return None
    if not _PORT_RE.match(text) or not 1 <= int(text) <= 65535:
        raise UrlError("must have a numeric port from 1 to 65535 (or none).")
    return int(text)


def _parse_numeric_host(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 literal, or None for a host name. A host whose last label is a number is an IPv4 address to
    URL parsers (WHATWG "ends in a number"), and ``0x7f.1``, ``2130706433`` or ``017700000001`` all mean
    127.0.0.1 to some of them: only the canonical dotted quad is accepted, so every reader agrees."""
    last_label = host.removesuffix(".").rsplit(".", 1)[-1]
    if not _NUMERIC_LABEL_RE.match(last_label):
        return None
    if not _DOTTED_QUAD_RE.match(host):
        raise UrlError("has an ambiguous numeric host; write IPv4 addresses as four decimal numbers (192.0.2.1).")
    return ipaddress.IPv4Address(host)


def _check_hostname(host: str) -> str:
    name = host.removesuffix(".")
    if len(name) > MAX_HOSTNAME_LENGTH or not all(_LABEL_RE.match(label) for label in name.split(".")):
        raise UrlError(
            "has an invalid host name (letters, digits, '-' and '_' in dot-separated labels of 1 to 63 characters)."
        )
    return name.lower()


def check_nameserver(value: str) -> str:
    """A name server for the DNS-servers settings: an IP address, optionally with a port
    (``10.0.0.10``, ``127.0.0.1:5353``, ``[::1]:5353``). Raises ValueError naming the bad entry."""
    host, port = value, None
    bracketed = _BRACKETED_RE.match(value)
    if bracketed is not None:
        host, port = bracketed.group("host"), bracketed.group("port")
    elif value.count(":") == 1:
        host, port = value.split(":")
    try:
        ipaddress.ip_address(host)
        if port is not None:
            _parse_port(port)
    except (ValueError, UrlError):
        raise ValueError(f"{value!r} is not a name server address (an IP address with an optional :port)") from None
    return value
