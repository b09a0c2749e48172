"""What one gateway process must hold alone, claimed before it starts anything: its data directory and its
listening port.

Two gateways on one data directory would both start every adapter's processes and race on the SQLite
file; a gateway whose port is taken would start its children (the lifespan runs before uvicorn binds) only
to fail and stop them again. So both are claimed first, and a clash is one clear line and exit code 2.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import IO

LOCK_FILE = "gateway.lock"


class AlreadyClaimed(Exception):
    """Another process holds what this gateway needs; the message says what to do."""


def claim_data_dir(data_dir: Path) -> IO[str]:
    """An exclusive lock on ``data_dir`` for as long as the returned file stays open (the process's life:
    the kernel releases it however the process ends, so a crash leaves no stale lock)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyClaimed(
            f"another gateway ({holder}) is using the data directory {data_dir}; stop it, or give this one "
            "its own with --data-dir (MCPGW_SERVER__DATA_DIR)."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def bind_listener(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so that a taken port fails before any child process starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise AlreadyClaimed(f"cannot listen on {host}: {exc.strerror}; check --host (MCPGW_SERVER__HOST).") from None
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not SO_REUSEPORT: a second owner must fail
    try:
        listener.bind(address)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise AlreadyClaimed(
                f"port {port} on {host} is already in use; stop what uses it, or pick another port: "
                f"mcp-gateway serve --port {port + 1}, or make run PORT={port + 1}."
            ) from None
        raise AlreadyClaimed(f"cannot listen on {host}:{port}: {exc.strerror}.") from None
    listener.listen(2048)
    listener.set_inheritable(False)  # children must not keep the gateway's port open after it exits
    return listener
