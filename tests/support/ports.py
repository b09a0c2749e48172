"""A free loopback port, for programs that must be told their port before they start.

A server that can bind port 0 itself and report the port it got should do that instead (see
:mod:`tests.support.servers`): a port found free here can be taken by another process before it is used.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (nothing listens on it now either)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
