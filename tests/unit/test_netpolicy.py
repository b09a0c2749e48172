"""The SSRF address policy and the strict URL grammar (gateway.netpolicy): examples and properties."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest
import yarl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.netpolicy import (
    AddressClass,
    AddressPolicy,
    UrlError,
    check_nameserver,
    classify,
    embedded_ipv4,
    is_metadata_hostname,
    parse_http_url,
)

STRICT = AddressPolicy()
PERMISSIVE = AddressPolicy(allow_loopback=True, allow_private=True)
ALL_POLICIES = [AddressPolicy(loopback, private) for loopback in (False, True) for private in (False, True)]
ALWAYS_REFUSED = {
    AddressClass.METADATA,
    AddressClass.LINK_LOCAL,
    AddressClass.UNSPECIFIED,
    AddressClass.MULTICAST,
    AddressClass.RESERVED,
}


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


# ----- addresses -------------------------------------------------------------------------------------

METADATA_FORMS = [
    "169.254.169.254",
    "100.100.100.200",
    "168.63.129.16",
    "fd00:ec2::254",
    "fd20:ce::254",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:a9fe:a9fe",  # the same, hex
    "::169.254.169.254",  # IPv4-compatible (deprecated, still parsed)
    "::ffff:0:a9fe:a9fe",  # IPv4-translated (SIIT)
    "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix
    "64:ff9b:1::a9fe:a9fe",  # NAT64 local-use prefix
    "2002:a9fe:a9fe::1",  # 6to4
    "2001:0:a9fe:a9fe::1",  # Teredo, metadata as the server
    "::ffff:100.100.100.200",
    "64:ff9b::a83f:8110",  # 168.63.129.16 through NAT64
]


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=repr)
@pytest.mark.parametrize("address", METADATA_FORMS)
def test_metadata_addresses_are_refused_in_every_form_under_every_policy(policy: AddressPolicy, address: str) -> None:
    assert policy.refusal(ip(address)) is AddressClass.METADATA


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("169.254.0.1", AddressClass.LINK_LOCAL),
        ("fe80::1", AddressClass.LINK_LOCAL),
        ("fe80::1%eth0", AddressClass.LINK_LOCAL),
        ("0.0.0.0", AddressClass.UNSPECIFIED),
        ("0.1.2.3", AddressClass.UNSPECIFIED),
        ("::", AddressClass.UNSPECIFIED),
        ("224.0.0.1", AddressClass.MULTICAST),
        ("ff02::1", AddressClass.MULTICAST),
        ("255.255.255.255", AddressClass.RESERVED),
        ("240.0.0.1", AddressClass.RESERVED),
        ("::ffff:0.0.0.0", AddressClass.UNSPECIFIED),
        ("2002:e000:1::", AddressClass.MULTICAST),  # 6to4 of 224.0.0.1
    ],
)
def test_link_local_unspecified_multicast_and_reserved_are_always_refused(address: str, expected: AddressClass) -> None:
    for policy in ALL_POLICIES:
        assert policy.refusal(ip(address)) is expected


@pytest.mark.parametrize("address", ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"])
def test_loopback_is_refused_unless_allowed(address: str) -> None:
    assert STRICT.refusal(ip(address)) is AddressClass.LOOPBACK
    assert AddressPolicy(allow_private=True).refusal(ip(address)) is AddressClass.LOOPBACK
    assert AddressPolicy(allow_loopback=True).permits(ip(address))


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "fc00::1",
        "fd12:3456::1",
        "::ffff:10.0.0.1",
        "192.0.2.1",
    ],
)
def test_private_networks_are_refused_unless_allowed(address: str) -> None:
    assert STRICT.refusal(ip(address)) is AddressClass.PRIVATE
    assert AddressPolicy(allow_loopback=True).refusal(ip(address)) is AddressClass.PRIVATE
    assert AddressPolicy(allow_private=True).permits(ip(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_pass_the_strict_policy(address: str) -> None:
    assert STRICT.permits(ip(address))


def test_the_environment_decides_unset_flags_and_explicit_ones_win() -> None:
    assert AddressPolicy.for_environment("development") == PERMISSIVE
    assert AddressPolicy.for_environment("production") == STRICT
    assert AddressPolicy.for_environment("development", allow_loopback=False) == AddressPolicy(False, True)
    assert AddressPolicy.for_environment("production", allow_private=True) == AddressPolicy(False, True)


ipv4s = st.ip_addresses(v=4)


def _embeddings(v4: ipaddress.IPv4Address, suffix: int) -> list[ipaddress.IPv6Address]:
    """Every IPv6 form that leads to ``v4``."""
    n = int(v4)
    teredo_client = (n ^ 0xFFFFFFFF) & 0xFFFFFFFF  # Teredo stores the client address inverted
    return [
        ipaddress.IPv6Address((0xFFFF << 32) | n),
        ipaddress.IPv6Address((0xFFFF << 48) | n),
        ipaddress.IPv6Address((0x64FF9B << 96) | n),
        ipaddress.IPv6Address((0x0064FF9B0001 << 80) | n),
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | suffix),
        ipaddress.IPv6Address((0x20010000 << 96) | (n << 64) | teredo_client),
        ipaddress.IPv6Address((0x20010000 << 96) | (0x08080808 << 64) | (suffix << 32) | (n ^ 0xFFFFFFFF)),
    ]


@given(v4=ipv4s, suffix=st.integers(0, 2**16 - 1))
@example(v4=ipaddress.IPv4Address("169.254.169.254"), suffix=0)
@example(v4=ipaddress.IPv4Address("10.0.0.1"), suffix=1)
def test_wrapping_an_ipv4_address_in_ipv6_never_launders_it(v4: ipaddress.IPv4Address, suffix: int) -> None:
    for policy in ALL_POLICIES:
        refused = policy.refusal(v4)
        for wrapped in _embeddings(v4, suffix):
            assert v4 in embedded_ipv4(wrapped), wrapped
            if refused is not None:
                assert policy.refusal(wrapped) is not None, (policy, v4, wrapped)


@given(address=st.ip_addresses())
def test_allowing_more_never_refuses_more(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if STRICT.permits(address):
        assert all(policy.permits(address) for policy in ALL_POLICIES)
    # The always-refused classes stay refused whatever is allowed.
    if classify(address) & ALWAYS_REFUSED:
        assert not PERMISSIVE.permits(address)


@given(address=ipv4s)
def test_every_ipv4_address_python_calls_non_global_is_not_public(address: ipaddress.IPv4Address) -> None:
    # A cross-check against the standard library's own table (for IPv4 only: its IPv6 table marks all of
    # 2001::/23 non-global, Teredo included, where this policy looks at the embedded addresses instead).
    if not address.is_global:
        assert AddressClass.PUBLIC not in classify(address)


@pytest.mark.parametrize("name", ["metadata.google.internal", "METADATA.google.internal.", "metadata", "instance-data"])
def test_metadata_host_names_are_recognised(name: str) -> None:
    assert is_metadata_hostname(name)
    assert not is_metadata_hostname("metadata.example.com")


# ----- URLs ------------------------------------------------------------------------------------------

MALFORMED_URLS = [
    "",
    "ftp://example.com/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "gopher://127.0.0.1:6379/_",
    "//example.com/mcp",
    "http:/example.com/",
    "http:example.com",
    "http:///mcp",
    "http://:8000/mcp",
    "http://exa mple.com/",
    " http://example.com/",
    "http://example.com/\n",
    "http://example.com/\t",
    "http://exam\x00ple.com/",
    "http://example.com/\x7f",
    "http://bücher.example/",
    "http://example.com\\@169.254.169.254/",
    "http:\\\\example.com\\",
    "http://user@example.com/",
    "http://user:pass@example.com/",
    "http://@example.com/",
    "http://example.com:99999/",
    "http://example.com:65536/",
    "http://example.com:0/",
    "http://example.com:abc/",
    "http://example.com:-1/",
    "http://example.com:/",
    "http://example.com:80:80/",
    "http://example.com/#frag",
    "http://example.com#",
    "http://[fe80::1%25eth0]/",
    "http://[fe80::1%eth0]/",
    "http://[::1/",
    "http://::1/",
    "http://[not-ipv6]/",
    "http://[::1]x/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://127.0.0.01/",
    "http://1.2.3.4./",
    "http://256.1.1.1/",
    "http://foo.0x10/",
    "http://foo.123/",
    "http://a..b/",
    "http://.example.com/",
    "http://-bad.example.com/",
    "http://bad-.example.com/",
    "http://%31%32%37.0.0.1/",
    "http://exa%6dple.com/",
    "http://" + "a" * 64 + ".com/",
    "http://" + ".".join(["a" * 60] * 5) + "/",
]


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_urls_that_do_not_parse_cleanly_are_refused(url: str) -> None:
    with pytest.raises(UrlError):
        parse_http_url(url)


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port"),
    [
        ("http://127.0.0.1:8000/mcp", "http", "127.0.0.1", 8000),
        ("HTTPS://Example.COM./x?y=1&z=%20", "https", "example.com", 443),
        ("http://my_service:8080", "http", "my_service", 8080),
        ("http://svc.adapter.svc.cluster.local/mcp", "http", "svc.adapter.svc.cluster.local", 80),
        ("http://[::1]:9/mcp", "http", "::1", 9),
        ("http://[::FFFF:169.254.169.254]/", "http", "::ffff:a9fe:a9fe", 80),
        ("http://xn--bcher-kva.example/", "http", "xn--bcher-kva.example", 80),
        ("http://0.0.0.0/", "http", "0.0.0.0", 80),
        ("http://example.com?q", "http", "example.com", 80),
    ],
)
def test_clean_urls_parse_to_scheme_host_and_port(url: str, scheme: str, host: str, port: int) -> None:
    parsed = parse_http_url(url)
    assert (parsed.scheme, parsed.host, parsed.port) == (scheme, host, port)


def _reads(url: str) -> tuple[tuple[str, str, int], tuple[str, str, int]]:
    """What urllib and yarl (aiohttp's parser, the one that connects) make of ``url``."""
    split = urlsplit(url)
    by_yarl = yarl.URL(url)
    assert split.hostname is not None and by_yarl.host is not None and by_yarl.port is not None
    urllib_port = split.port or (443 if split.scheme == "https" else 80)
    return (
        (split.scheme, split.hostname.rstrip("."), urllib_port),
        (by_yarl.scheme, by_yarl.host.rstrip("."), by_yarl.port),
    )


labels = st.from_regex(r"\A[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,10}[a-zA-Z0-9_])?\Z")
hostnames = (
    st.lists(labels, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda h: not h.rsplit(".", 1)[-1].isdigit() and not h.rsplit(".", 1)[-1].lower().startswith("0x"))
)
hosts = st.one_of(hostnames, ipv4s.map(str), st.ip_addresses(v=6).map(lambda a: f"[{a}]"))
clean_urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https", "HTTP", "hTTps"]),
    hosts,
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    st.from_regex(r"\A(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,12}){0,3}(\?[A-Za-z0-9=&%-]{0,12})?\Z"),
)


@settings(max_examples=300)
@given(url=clean_urls)
def test_every_clean_url_is_accepted_and_read_the_same_by_urllib_and_yarl(url: str) -> None:
    parsed = parse_http_url(url)
    ours = (parsed.scheme, parsed.host, parsed.port)
    by_urllib, by_yarl = _reads(url)
    assert by_yarl == ours
    assert by_urllib[0] == ours[0] and by_urllib[2] == ours[2]
    if parsed.address is not None:
        assert ipaddress.ip_address(by_urllib[1]) == parsed.address
    else:
        assert by_urllib[1] == parsed.host


_pieces = [*"aZ09.-_:@[]%/\\?#x ", "\t", "\n", "\x00", "ü", "0x", "127", "::", "ffff", "1."]
near_urls = st.builds(
    lambda scheme, rest: scheme + "".join(rest),
    st.sampled_from(["http://", "https://", "HTTP://", "http:", "http:/", "http:\\\\"]),
    st.lists(st.sampled_from(_pieces), max_size=20),
)


@settings(max_examples=500)
@given(url=near_urls)
def test_whatever_the_parser_accepts_yarl_reads_the_same_way(url: str) -> None:
    # The point of the strict grammar: a URL checked here is the URL aiohttp connects to.
    try:
        parsed = parse_http_url(url)
    except UrlError:
        return
    by_yarl = yarl.URL(url)
    assert (by_yarl.scheme, (by_yarl.host or "").rstrip(".").lower(), by_yarl.port) == (
        parsed.scheme,
        parsed.host,
        parsed.port,
    )


@pytest.mark.parametrize("server", ["10.0.0.10", "127.0.0.1:5353", "::1", "[::1]:53", "[fd00::53]"])
def test_name_servers_are_ip_addresses_with_optional_ports(server: str) -> None:
    assert check_nameserver(server) == server


@pytest.mark.parametrize("server", ["dns.example.com", "127.0.0.1:99999", "127.0.0.1:", "[::1]x", "::1:53:x", ""])
def test_anything_else_is_not_a_name_server(server: str) -> None:
    with pytest.raises(ValueError, match="name server"):
        check_nameserver(server)
