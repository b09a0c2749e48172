"""A real Kubernetes control plane for the tests: etcd, kube-apiserver (RBAC enforced) and
kube-controller-manager (StatefulSet, endpoints and garbage-collector controllers).

Binaries come from ``$KUBEBUILDER_ASSETS`` first (envtest layout), then from the cache that
``scripts/kube-apiserver.sh`` fills (etcd from the ``etcd-server`` package on PATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.ports import free_port
from tests.support.waiting import wait_for

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
ADMIN_TOKEN = "admin-token-for-tests"
RUNTIME_TOKEN = "runtime-token-for-tests"
RUNTIME_USER = "mcp-gateway-runtime"
START_TIMEOUT = 90.0


def cache_bin_dir() -> Path:
    default = Path.home() / ".cache" / "mcp-gateway" / "kube-v1.20.2"
    return Path(os.environ.get("MCPGW_KUBE_CACHE", default)) / "bin"


def find_binaries() -> tuple[dict[str, Path], list[str]]:
    """Each binary from $KUBEBUILDER_ASSETS, else the build cache, else PATH; and the names not found."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    found: dict[str, Path] = {}
    for name in BINARIES:
        candidates = [Path(assets) / name] if assets else []
        candidates.append(cache_bin_dir() / name)
        on_path = shutil.which(name)
        candidates += [Path(on_path)] if on_path else []
        found_path = next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)
        if found_path is not None:
            found[name] = found_path
    return found, [name for name in BINARIES if name not in found]


def minor_version(binary: Path) -> int:
    """The Kubernetes minor version of a binary (``Kubernetes v1.20.2`` -> 20)."""
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"v1\.(\d+)", output)
    return int(match.group(1)) if match else 0


@dataclass
class ControlPlane:
    binaries: dict[str, Path]
    workdir: Path
    api_port: int = field(default_factory=free_port)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "apiserver.crt"

    def start(self) -> None:
        self._write_credentials()
        etcd_url = self._start_etcd()
        self._spawn("kube-apiserver", self._apiserver_args(etcd_url))
        self.wait_until(self._ready, "the API server to be ready")
        self._spawn("kube-controller-manager", self._controller_manager_args())

    def stop(self) -> None:
        # One at a time, controllers first: stopping all three at once can hang etcd's shutdown.
        for _, process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def _ready(self) -> bool:
        if not self.ca_file.exists():  # the API server writes its self-signed certificate while starting
            return False
        with self.admin() as client:
            return client.get("/readyz").status_code == 200

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def admin(self) -> httpx.Client:
        return self.client(ADMIN_TOKEN)

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            verify=self._tls(),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def async_admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, verify=self._tls(), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )

    def write_kubeconfig(self, path: Path, token: str, user: str) -> Path:
        """A kubeconfig (JSON is YAML) for ``user``, trusting the API server's self-signed certificate."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
            "current-context": "test",
        }
        path.write_text(json.dumps(config))
        return path

    def wait_until(self, condition: Callable[[], object], what: str, timeout: float = START_TIMEOUT) -> None:
        """Poll ``condition`` (an HTTP error counts as not yet); fail at once when a process exits."""

        def met() -> object:
            self._check_alive()
            return condition()

        wait_for(met, timeout, what=lambda: f"{what}\n{self.logs()}", ignoring=(httpx.HTTPError,))

    def logs(self) -> str:
        tails = []
        for name, _ in self.processes:
            text = (self.workdir / f"{name}.log").read_text(errors="replace")
            tails.append(f"--- {name} (last lines) ---\n" + "\n".join(text.splitlines()[-15:]))
        return "\n".join(tails)

    def _check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}\n{self.logs()}")

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen([str(self.binaries[name]), *args], stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, process))

    def _write_credentials(self) -> None:
        (self.workdir / "certs").mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.workdir / "sa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        (self.workdir / "sa.pub").write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        (self.workdir / "tokens.csv").write_text(
            f'{ADMIN_TOKEN},admin,admin,"system:masters"\n{RUNTIME_TOKEN},{RUNTIME_USER},{RUNTIME_USER}\n'
        )

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--log-level=warn",
            ],
        )
        return f"http://127.0.0.1:{client}"

    def _apiserver_args(self, etcd_url: str) -> list[str]:
        return [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self.workdir / 'sa.pub'}",
            f"--service-account-signing-key-file={self.workdir / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            # Pods need no service account token here: no kubelet mounts it.
            "--disable-admission-plugins=ServiceAccount",
        ]

    def _controller_manager_args(self) -> list[str]:
        kubeconfig = self.write_kubeconfig(self.workdir / "admin.kubeconfig", ADMIN_TOKEN, "admin")
        args = [
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            # Only what the runtime relies on; no node-lifecycle controller to evict the fake node's pods.
            "--controllers=statefulset,garbagecollector,endpoint",
            f"--service-account-private-key-file={self.workdir / 'sa.key'}",
            f"--root-ca-file={self.ca_file}",
            "--use-service-account-credentials=false",
        ]
        if minor_version(self.binaries["kube-controller-manager"]) < 24:
            args.append("--port=0")  # the insecure port exists (and defaults on) before 1.24
        return args
