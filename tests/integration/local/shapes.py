"""Small servers in the shapes the readiness probe must tell apart: ``python shapes.py MODE`` on ``$PORT``.

* ``mcp``: answers ``initialize`` (JSON) at ``/mcp`` and prints one line per request it receives, like a
  server with an access log;
* ``html``: answers every request with 200 and an HTML page (a web site, not an MCP server);
* ``silent``: never listens at all.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    mode = "mcp"

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        print(f"request {self.command} {self.path}", flush=True)
        if self.mode == "html":
            self._answer(200, "text/html; charset=utf-8", b"<!doctype html><title>Welcome</title><p>Hello</p>")
        elif self.path != "/mcp":
            self._answer(404, "text/plain", b"not found")
        elif self.command == "POST":
            message = json.loads(body or b"{}")
            result = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "shapes"}}
            answer = {"jsonrpc": "2.0", "id": message.get("id"), "result": result}
            self._answer(200, "application/json", json.dumps(answer).encode())
        else:
            self._answer(405, "text/plain", b"method not allowed")

    do_GET = do_POST = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:
        return  # one line per request is printed above


def main() -> None:
    mode = sys.argv[1]
    if mode == "silent":
        print("starting, but never listening", flush=True)
        time.sleep(3600)
        return
    Handler.mode = mode
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    print(f"{mode} server listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
