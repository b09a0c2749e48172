"""Loopback host names: one definition for the settings, the data plane's origin check, the bridge and the
tool router.

No imports from ``gateway``: every layer, the tool router and the bridge (its own program and image, which
installs the whole ``gateway`` package) may import it.
"""

from __future__ import annotations

import ipaddress

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""The loopback names as ``urlsplit(...).hostname`` gives them (lower-case, IPv6 without brackets)."""


def is_loopback_host(host: str) -> bool:
    """True when ``host`` (a name or an address, IPv6 with or without brackets) only accepts connections from
    this machine: ``localhost`` or any loopback address (``127.0.0.0/8``, ``::1``)."""
    if host in LOOPBACK_HOSTS or host == "[::1]":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
