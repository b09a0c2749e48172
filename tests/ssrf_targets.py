"""The attacker's side of the SSRF tests: a real DNS server whose zone the test changes, and a listener
that counts the connections it receives.

dnslib's ``DNSServer`` does the wire protocol (UDP on 127.0.0.1); :class:`ProgrammableZone` answers A/AAAA
queries for the names the test set, with TTL 0 (what a rebinding attacker uses, so no cache keeps the old
answer), and NXDOMAIN for anything else. Changing an answer while the gateway runs is a DNS rebind.

:class:`CountingListener` stands in for the address an attacker wants reached (169.254.169.254 cannot be
bound here): a real HTTP server on a loopback address that the policy under test refuses, so "it saw zero
connections" proves nothing was sent.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.support.servers import HTTPServerThread


class ProgrammableZone(BaseResolver):
    def __init__(self) -> None:
        self._answers: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []
        """(name, type) of every query received, in order."""

    def set(self, name: str, *addresses: str) -> None:
        """Answer ``name`` with ``addresses`` from now on (a rebind when it was answered before)."""
        with self._lock:
            self._answers[name.lower().rstrip(".")] = list(addresses)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        qname = request.q.qname
        name, qtype = str(qname).lower().rstrip("."), QTYPE[request.q.qtype]
        with self._lock:
            self.queries.append((name, qtype))
            addresses = self._answers.get(name)
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for text in addresses:
            address = ipaddress.ip_address(text)
            if qtype == "A" and address.version == 4:
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(text), ttl=0))
            elif qtype == "AAAA" and address.version == 6:
                reply.add_answer(RR(qname, QTYPE.AAAA, rdata=AAAA(text), ttl=0))
        return reply


@contextmanager
def dns_server() -> Iterator[tuple[ProgrammableZone, str]]:
    """A running server and its address as a name-server setting (``127.0.0.1:<port>``)."""
    zone = ProgrammableZone()
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=DNSLogger(logf=lambda _message: None))
    server.start_thread()
    port = server.server.server_address[1]
    try:
        yield zone, f"127.0.0.1:{port}"
    finally:
        server.stop()
        server.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps({"reached": True}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CountingListener(ThreadingHTTPServer):
    """Answers any POST with ``{"reached": true}`` and counts every TCP connection it accepts."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.connections = 0
        self.port = self.server_address[1]

    def get_request(self) -> tuple[Any, Any]:
        request = super().get_request()
        self.connections += 1
        return request


@contextmanager
def counting_listener(host: str = "127.0.0.1") -> Iterator[CountingListener]:
    with HTTPServerThread(CountingListener(host)) as running:
        yield running.server
