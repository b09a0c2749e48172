"""Fixtures shared by the local runtime's tests."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.support.servers import http_server


@pytest.fixture(scope="module")
def html_site() -> Iterator[str]:
    class Page(BaseHTTPRequestHandler):
        def _page(self) -> None:
            body = b"<!doctype html><title>Sign in</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _page

        def log_message(self, format: str, *args: object) -> None:
            return

    with http_server(Page) as site:
        yield f"{site.url}/mcp"
