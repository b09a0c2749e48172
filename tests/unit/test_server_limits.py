"""The pure parts of the request limits: what counts as one client, the per-client count, the settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.server import ClientConnections, ServerLimits, client_key
from gateway.settings import ServerSettings


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client of a dual-stack listener
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # same /64: same client
        ("fe80::1%eth0", "fe80::/64"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_slash_64(host: str, key: str) -> None:
    assert client_key(host) == key


def test_the_connection_count_admits_up_to_the_limit_and_frees_places_on_release() -> None:
    clients = ClientConnections(limit=2)
    assert clients.admit("a") and clients.admit("a")
    assert not clients.admit("a")
    assert clients.admit("b")
    clients.release("a")
    assert clients.count("a") == 1 and clients.admit("a")
    clients.release("b")
    assert clients.count("b") == 0


def test_a_header_line_limit_above_the_head_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match="MAX_HEADER_LINE_BYTES"):
        ServerSettings(max_header_bytes=8192, max_header_line_bytes=16384)


def test_the_limits_follow_the_settings() -> None:
    limits = ServerLimits.from_settings(ServerSettings(body_min_bytes_per_second=512, max_connections_per_client=0))
    assert limits.body_seconds_per_byte == pytest.approx(1 / 512)
    assert limits.max_connections_per_client == 0
