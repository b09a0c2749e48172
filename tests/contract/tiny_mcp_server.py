"""The smallest Streamable HTTP MCP server that passes a readiness probe: standard library only, so the
Runtime contract suite can start and replace dozens of replicas quickly on two cores.

``python tiny_mcp_server.py`` serves on ``$HOST:$PORT`` (what the local runtime gives each replica):
``initialize`` gets a result and a session id, any other request an empty result, notifications 202 and
``DELETE`` 200. It answers until SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            message = json.loads(body)
        except ValueError:
            self._send(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
            return
        if "id" not in message:
            self._send(202, None)
            return
        result: dict[str, object] = {}
        headers = {}
        if message.get("method") == "initialize":
            result = {
                "protocolVersion": message.get("params", {}).get("protocolVersion", "2025-06-18"),
                "capabilities": {},
                "serverInfo": {"name": "tiny", "version": os.environ.get("CONTRACT_MARK", "0")},
            }
            headers["Mcp-Session-Id"] = uuid.uuid4().hex
        self._send(200, {"jsonrpc": "2.0", "id": message["id"], "result": result}, headers)

    def do_GET(self) -> None:
        self._send(405, None)

    def do_DELETE(self) -> None:
        self._send(200, None)

    def _send(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> None:
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"tiny MCP server listening on {server.server_address}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
