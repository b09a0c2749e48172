"""Real servers on a background thread of the test process, on 127.0.0.1 (real sockets, real HTTP).

- :class:`UvicornThread`: an ASGI app served by uvicorn on its own event loop;
- :class:`HTTPServerThread`: a stdlib ``http.server`` (any ``HTTPServer``), made by :func:`http_server`
  for a request handler class.

Both bind port 0 and read the port they got, so no other process can take the port in between. Both are
context managers (``start`` on enter, ``stop`` on exit), and both stop within a bound.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Coroutine
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar

import uvicorn

from tests.support.waiting import wait_for

S = TypeVar("S", bound=HTTPServer)


class UvicornThread:
    """``app`` served by uvicorn on its own event loop in a daemon thread.

    ``config`` goes to :class:`uvicorn.Config` as it is (``lifespan``, ``loop``, ``interface``...).
    :meth:`start` returns once the server listens (and fails at once if uvicorn exits first);
    :meth:`stop` sets ``should_exit`` and waits up to ``stop_timeout`` seconds for the thread.
    :meth:`run` executes a coroutine on the server's loop, from the test's thread.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        log_level: str = "warning",
        start_timeout: float = 20.0,
        stop_timeout: float = 20.0,
        **config: Any,
    ) -> None:
        self.host = host
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level=log_level, **config))
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"uvicorn {app!r}")

    def _serve(self) -> None:
        # What uvicorn.Server.run does, keeping the loop for run().
        with asyncio.Runner(loop_factory=self.server.config.get_loop_factory()) as runner:
            self._loop = runner.get_loop()
            runner.run(self.server.serve())

    @property
    def port(self) -> int:
        if not self.server.started:
            raise RuntimeError("the server is not listening yet: start() it first")
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        wait_for(self._listening, timeout=self.start_timeout, interval=0.01, what=f"uvicorn ({self._thread.name})")
        return self

    def _listening(self) -> bool:
        if self.server.started:
            return True
        if not self._thread.is_alive():
            raise RuntimeError(f"uvicorn ({self._thread.name}) exited before it listened")
        return False

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
        """Run ``coroutine`` on the server's event loop and return its result."""
        if self._loop is None:
            raise RuntimeError("the server is not running: start() it first")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(timeout=self.stop_timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class HTTPServerThread(Generic[S]):
    """A stdlib ``HTTPServer`` (already bound) serving on a daemon thread.

    :meth:`stop` shuts the server down, waits up to ``stop_timeout`` seconds for the thread and closes the
    listening socket.
    """

    def __init__(self, server: S, *, stop_timeout: float = 10.0) -> None:
        self.server = server
        self.stop_timeout = stop_timeout
        self._thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"http.server {server!r}")

    @property
    def host(self) -> str:
        return str(self.server.socket.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self.server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``http(s)://<host>:<port>``, without a trailing slash."""
        scheme = "https" if isinstance(self.server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()  # the socket listens already: connections queue until serve_forever accepts them
        return self

    def stop(self) -> None:
        if self._thread.ident is not None:  # shutdown() waits for serve_forever, which must have started
            self.server.shutdown()
            self._thread.join(timeout=self.stop_timeout)
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def http_server(
    handler: type[BaseHTTPRequestHandler],
    *,
    host: str = "127.0.0.1",
    ssl_context: ssl.SSLContext | None = None,
    stop_timeout: float = 10.0,
) -> HTTPServerThread[ThreadingHTTPServer]:
    """A ``ThreadingHTTPServer`` for ``handler`` on port 0 of ``host`` (TLS with ``ssl_context``), not started."""
    server = ThreadingHTTPServer((host, 0), handler)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    return HTTPServerThread(server, stop_timeout=stop_timeout)
