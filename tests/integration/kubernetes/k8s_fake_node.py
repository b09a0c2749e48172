"""FakeNode: plays scheduler and kubelet for the real control plane, which has neither.

* binds every unscheduled pod to ``node-1``;
* marks bound pods Running and Ready (or, for workloads in :attr:`FakeNode.starting`, leaves them in
  ``ContainerCreating``, as a kubelet pulling an image would; for workloads in :attr:`FakeNode.failing`,
  reports the container state given there, e.g. ``CrashLoopBackOff`` with the last termination);
* deletes pods that are being deleted (grace 0), as a kubelet confirms a stopped pod;
* serves ``/containerLogs/{ns}/{pod}/{container}?tailLines=N&sinceSeconds=S&follow=true`` over HTTPS,
  which the API server proxies ``pods/log`` to (it does not verify kubelet certificates unless told to).
  The generated lines are an hour old; :meth:`FakeNode.write_log` adds lines written now. A followed log
  streams new lines until the pod is deleted. A starting container answers 400 like a real kubelet.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.servers import HTTPServerThread, http_server

NODE = "node-1"
LOG_LINES_PER_POD = 1500
"""More than the 1000 lines the runtime asks for, so the tail is observable."""


def log_lines(pod: str) -> list[str]:
    return [f"{pod} line {i}" for i in range(1, LOG_LINES_PER_POD + 1)]


def _self_signed(workdir: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kubelet")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = workdir / "kubelet.crt", workdir / "kubelet.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class FakeNode:
    def __init__(self, admin: httpx.Client, workdir: Path) -> None:
        self._api = admin
        self.starting: set[str] = set()
        """Workload names (label ``adapter/name``) whose pods stay in ContainerCreating."""
        self.failing: dict[str, dict[str, Any]] = {}
        """Workload name -> the container status fields its pods report instead of running and ready
        (``state``, ``lastState``, ``restartCount``): see :func:`crash_loop` and :func:`image_pull_error`."""
        self._written: dict[str, list[tuple[float, str]]] = {}
        self._deleted: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next_ip = 10
        self._ips: dict[str, str] = {}
        self._server = self._log_server(workdir)
        self._reconciler = threading.Thread(target=self._reconcile_forever, daemon=True)

    def start(self) -> None:
        port = self._server.port
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            },
        }
        self._api.post("/api/v1/nodes", json=node).raise_for_status()
        self._server.start()
        self._reconciler.start()

    def stop(self) -> None:
        self._stop.set()
        self._server.stop()
        self._reconciler.join(timeout=5)

    def _reconcile_forever(self) -> None:
        while not self._stop.wait(0.05):  # a kubelet's sync loop: poll the API, act on each pod
            try:
                for pod in self._api.get("/api/v1/pods").json().get("items", []):
                    self._reconcile(pod)
            except httpx.HTTPError:
                continue  # the control plane is stopping, or a pod changed under us: next round

    def _reconcile(self, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        if meta.get("deletionTimestamp"):
            self._api.request("DELETE", path, json={"gracePeriodSeconds": 0})
            with self._lock:
                self._deleted.add(f"{meta['namespace']}/{meta['name']}")
        elif not spec.get("nodeName"):
            binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]}}
            binding["target"] = {"apiVersion": "v1", "kind": "Node", "name": NODE}
            self._api.post(f"{path}/binding", json=binding)
        else:
            workload = (meta.get("labels") or {}).get("adapter/name")
            starting = workload in self.starting
            failing = self.failing.get(workload or "")
            phase = "Pending" if starting else "Running"
            reported = (status.get("containerStatuses") or [{}])[0].get("state", {})
            wanted = "waiting" if starting else ("failing" if failing else "running")
            if (
                status.get("phase") == phase
                and status.get("containerStatuses")
                and _state_kind(reported, failing) == wanted
            ):
                return  # already reported
            with self._lock:
                self._deleted.discard(f"{meta['namespace']}/{meta['name']}")
            if starting:
                patch = self._pending_status(pod)
            elif failing:
                patch = self._failing_status(pod, failing)
            else:
                patch = self._running_status(pod)
            self._api.patch(
                f"{path}/status",
                content=json.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            )

    def _pod_ip(self, uid: str) -> str:
        if uid not in self._ips:
            self._ips[uid] = f"10.244.0.{self._next_ip}"
            self._next_ip += 1
        return self._ips[uid]

    def _running_status(self, pod: dict[str, Any]) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions = [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ]
        containers = [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": now}},
            }
            for c in pod["spec"]["containers"]
        ]
        ip = self._pod_ip(pod["metadata"]["uid"])
        return {
            "status": {
                "phase": "Running",
                "conditions": conditions,
                "hostIP": "127.0.0.1",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": now,
                "containerStatuses": containers,
            }
        }

    def _failing_status(self, pod: dict[str, Any], failing: dict[str, Any]) -> dict[str, Any]:
        running = self._running_status(pod)["status"]
        now = running["startTime"]
        running["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {
                "type": "Ready",
                "status": "False",
                "reason": "ContainersNotReady",
                "lastTransitionTime": now,
                "message": "containers with unready status: [" + pod["spec"]["containers"][0]["name"] + "]",
            },
        ]
        for container in running["containerStatuses"]:
            container.update({"ready": False, "started": False, **failing})
        return {"status": running}

    def write_log(self, namespace: str, pod: str, line: str) -> None:
        """A line the pod's container writes now (after the generated, hour-old lines)."""
        with self._lock:
            self._written.setdefault(f"{namespace}/{pod}", []).append((time.time(), line))

    def _lines(self, namespace: str, pod: str, since_seconds: int | None) -> list[str]:
        old = time.time() - 3600
        with self._lock:
            stamped = [(old, line) for line in log_lines(pod)] + list(self._written.get(f"{namespace}/{pod}", []))
        cutoff = time.time() - since_seconds if since_seconds else 0.0
        return [line for at, line in stamped if at >= cutoff]

    def _follow(self, namespace: str, pod: str, since_seconds: int | None, tail: int) -> Any:
        """Yields the tail, then each new line, until the pod is deleted or the node stops."""
        key = f"{namespace}/{pod}"
        lines = self._lines(namespace, pod, since_seconds)
        yield from lines[-tail:] if tail else lines
        with self._lock:
            sent = len(self._written.get(key, []))
        while not self._stop.is_set():
            with self._lock:
                fresh = self._written.get(key, [])[sent:]
                gone = key in self._deleted
            for _, line in fresh:
                yield line
            sent += len(fresh)
            if gone:
                return
            time.sleep(0.05)

    def _pending_status(self, pod: dict[str, Any]) -> dict[str, Any]:
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        containers = [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": waiting,
            }
            for c in pod["spec"]["containers"]
        ]
        conditions = [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}]
        return {"status": {"phase": "Pending", "conditions": conditions, "containerStatuses": containers}}

    def _log_server(self, workdir: Path) -> HTTPServerThread[http.server.ThreadingHTTPServer]:
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self._answer(404, "not found")
                    return
                _, namespace, pod, container = parts
                if any(pod.startswith(f"{name}-") for name in node.starting):
                    self._answer(400, f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating')
                    return
                query = parse_qs(url.query)
                tail = int(query.get("tailLines", ["0"])[0])
                since = int(query.get("sinceSeconds", ["0"])[0]) or None
                if query.get("follow", ["false"])[0] == "true":
                    self._stream(node._follow(namespace, pod, since, tail))
                    return
                lines = node._lines(namespace, pod, since)
                self._answer(200, "".join(f"{line}\n" for line in (lines[-tail:] if tail else lines)))

            def _stream(self, lines: Any) -> None:
                """No Content-Length: the body ends when the connection closes (HTTP/1.0), as it streams."""
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                try:
                    for line in lines:
                        self.wfile.write(f"{line}\n".encode())
                        self.wfile.flush()
                except OSError:
                    return  # the reader went away

            def _answer(self, code: int, text: str) -> None:
                body = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output quiet

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*_self_signed(workdir))
        return http_server(Handler, ssl_context=context, stop_timeout=5)


def _state_kind(state: dict[str, Any], failing: dict[str, Any] | None) -> str:
    if failing is not None and state == failing.get("state"):
        return "failing"
    if "running" in state:
        return "running"
    return "waiting"


def crash_loop(exit_code: int = 1, message: str = "boom", restarts: int = 4) -> dict[str, Any]:
    """Container status fields of a container that keeps exiting: CrashLoopBackOff with its last exit."""
    return {
        "restartCount": restarts,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 40s restarting failed container",
            }
        },
        "lastState": {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Error",
                "message": message,
                "startedAt": "2026-01-01T00:00:00Z",
                "finishedAt": "2026-01-01T00:00:01Z",
            }
        },
    }


def image_pull_error(image: str) -> dict[str, Any]:
    return {
        "restartCount": 0,
        "state": {
            "waiting": {
                "reason": "ErrImagePull",
                "message": f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found',
            }
        },
    }
