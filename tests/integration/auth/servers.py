"""Run an ASGI app with uvicorn on a free loopback port in a background thread (real sockets)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve(app: Any, *, deadline_seconds: float = 20.0, log_level: str = "warning") -> Iterator[str]:
    """Yield ``http://127.0.0.1:<port>`` once the server accepts requests; stop it on exit."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + deadline_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)  # polling the start flag with a deadline, not waiting for a guess
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=deadline_seconds)
