"""One container of a rendered pod, run as a local process from its image's emulated environment.

What the kubelet would give the container, and what stands in for it here:

- the environment: the container's ``envFrom`` ConfigMaps and Secrets, then its ``env`` (values, secret and
  config-map keys, ``$(VAR)`` references), over the image's ``ENV``, exactly as rendered;
- the service account token (when the pod mounts one) at /var/run/secrets/kubernetes.io/serviceaccount, in a
  private mount namespace of the process only, with ``KUBERNETES_SERVICE_HOST``/``PORT``;
- volumes: each mount path (``/data``) becomes a fresh directory, and paths inside the image (``WORKDIR``,
  ``HOME=/home/...``) point into the image's directory;
- ports: the container port (8000) becomes a free port, in the variables that carry it (``PORT``,
  ``MCPGW_SERVER__PORT``) and after ``--port`` in the command, so several pods and other tests can run at once;
- probes go to :data:`POD_IP`, not 127.0.0.1, as the kubelet's go to the pod's address.

Dependencies (Cosmos DB, the token issuer...) are the caller's business: it passes ``overrides``, and
:meth:`PodProcess.start` refuses an environment that still names a host other than this machine.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.infra.image_env import ImageEnv, MissingTool
from tests.support.ports import free_port
from tests.support.waiting import wait_for

Manifest = dict[str, Any]

POD_IP = "127.0.0.2"
"""A server bound to 127.0.0.1 inside a pod is unreachable for its probes and its Service. Every 127/8 address
is this machine, and one other than 127.0.0.1 tells a wildcard bind from a loopback-only one."""
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
LOCAL_HOSTS = {"127.0.0.1", POD_IP, "localhost"}
_URL_HOST = re.compile(r"[a-z][a-z0-9+.-]*://(?:[^/@\s]*@)?([^/:;\s]+)", re.IGNORECASE)
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class ContainerSpec:
    """What a pod template says about its (first) container."""

    name: str
    image: str
    command: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    ports: dict[str, int]
    readiness: Manifest
    mounts: list[str]
    mounts_token: bool

    def probe_port(self) -> int:
        action = self.readiness.get("httpGet") or self.readiness.get("tcpSocket")
        if action is None:
            raise AssertionError(f"{self.name}: unsupported readiness probe {self.readiness}")
        port = action["port"]
        return self.ports[port] if isinstance(port, str) else int(port)


def container_spec(workload: Manifest, objects: list[Manifest]) -> ContainerSpec:
    """The first container of a Deployment or StatefulSet, its env resolved against ``objects``."""
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    return ContainerSpec(
        name=container["name"],
        image=container["image"],
        command=container.get("command"),
        args=container.get("args"),
        env=resolve_env(container, objects, workload["metadata"].get("namespace")),
        ports={p.get("name", str(p["containerPort"])): p["containerPort"] for p in container.get("ports", [])},
        readiness=container["readinessProbe"],
        mounts=[m["mountPath"] for m in container.get("volumeMounts", [])],
        mounts_token=_mounts_token(pod, objects),
    )


def resolve_env(container: Manifest, objects: list[Manifest], namespace: str | None) -> dict[str, str]:
    """``envFrom`` first, then ``env`` in order, as the kubelet builds it."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= _object(objects, "ConfigMap", source["configMapRef"]["name"], namespace).get("data", {})
        elif "secretRef" in source:
            env |= _secret_data(_object(objects, "Secret", source["secretRef"]["name"], namespace))
        else:
            raise AssertionError(f"unsupported envFrom {source}")
    for variable in container.get("env", []):
        env[variable["name"]] = _env_value(variable, env, objects, namespace)
    return {k: str(v) for k, v in env.items()}


def _env_value(variable: Manifest, env: dict[str, str], objects: list[Manifest], namespace: str | None) -> str:
    if "value" in variable:
        return _VAR_REF.sub(lambda m: env.get(m[1], m[0]), str(variable["value"]))
    source = variable.get("valueFrom", {})
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        return str(_secret_data(_object(objects, "Secret", ref["name"], namespace))[ref["key"]])
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        return str(_object(objects, "ConfigMap", ref["name"], namespace)["data"][ref["key"]])
    raise AssertionError(f"unsupported env source {variable}")


def _secret_data(secret: Manifest) -> dict[str, Any]:
    if secret.get("data"):
        raise AssertionError("base64 `data` in a Secret: decode it here before relying on it")
    return dict(secret.get("stringData", {}))


def _object(objects: list[Manifest], kind: str, name: str, namespace: str | None) -> Manifest:
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and meta.get("namespace") in (namespace, None):
            return obj
    raise AssertionError(f"the pod refers to {kind}/{name}, which the stack does not declare")


def _mounts_token(pod: Manifest, objects: list[Manifest]) -> bool:
    if "automountServiceAccountToken" in pod:
        return bool(pod["automountServiceAccountToken"])
    account = pod.get("serviceAccountName", "default")
    for obj in objects:
        if obj["kind"] == "ServiceAccount" and obj["metadata"]["name"] == account:
            return bool(obj.get("automountServiceAccountToken", True))
    return True


@dataclass(frozen=True)
class KubeAccess:
    """What the kubelet gives a pod that mounts a token: the API's address and the token directory."""

    host: str
    port: int
    token: str
    ca_file: Path
    namespace: str


class PodProcess:
    """The container's entrypoint as a child process; :meth:`wait_ready` polls its readiness probe."""

    def __init__(
        self,
        image: ImageEnv,
        spec: ContainerSpec,
        workdir: Path,
        overrides: Mapping[str, str] | None = None,
        kube: KubeAccess | None = None,
        advertised_only: frozenset[str] = frozenset(),
    ) -> None:
        self.image = image
        self.spec = spec
        self.workdir = workdir
        self.overrides = dict(overrides or {})
        self.kube = kube
        self.advertised_only = advertised_only
        """Variables that name a host the process only hands out (a public URL), never connects to."""
        self.ports = {port: free_port() for port in spec.ports.values()}
        self.volumes = {path: workdir / "volumes" / path.strip("/").replace("/", "_") for path in spec.mounts}
        self.log = workdir / f"{spec.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def probe_port(self) -> int:
        return self.ports[self.spec.probe_port()]

    def environment(self) -> dict[str, str]:
        container = dict(self.image.env)
        if self.kube is not None and self.spec.mounts_token:
            container |= {"KUBERNETES_SERVICE_HOST": self.kube.host, "KUBERNETES_SERVICE_PORT": str(self.kube.port)}
        container |= self.spec.env
        # Only the container's own values name container paths and ports; PATH and HOME here are host paths.
        env = {"PATH": self.image.path, "LANG": "C.UTF-8", "HOME": str(self.workdir / "home")}
        env |= {name: self._map_port(name, self._map_path(value)) for name, value in container.items()}
        env |= self.overrides
        self._refuse_remote_hosts(env)
        return env

    def argv(self) -> list[str]:
        command = self.spec.command if self.spec.command is not None else self.image.entrypoint
        args = self.spec.args if self.spec.args is not None else self.image.cmd
        argv = [*command, *args]
        for i, word in enumerate(argv[:-1]):
            if word == "--port" and argv[i + 1].isdigit() and int(argv[i + 1]) in self.ports:
                argv[i + 1] = str(self.ports[int(argv[i + 1])])
        return argv

    def start(self) -> PodProcess:
        for directory in [*self.volumes.values(), self.workdir / "home"]:
            directory.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        argv = self.argv()
        if self.kube is not None and self.spec.mounts_token:
            argv = [*_with_token_mounted(self._token_dir()), *argv]
        cwd = self._map_cwd(self.image.workdir)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once the readiness probe passes; fail at once if the process exits (a crash loop)."""
        process = self.process
        assert process is not None

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"{self.spec.name} exited with {process.returncode} before it was ready:\n{self.log_tail()}"
                )
            return self._probe()

        def probe() -> str:
            readiness = f"{self.spec.name}: readiness probe {self.spec.readiness} on {POD_IP}:{self.probe_port}"
            return f"{readiness} to pass:\n{self.log_tail()}\n"

        wait_for(ready, timeout, interval=0.2, what=probe)  # the kubelet polls too; nothing else signals readiness

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _probe(self) -> bool:
        http = self.spec.readiness.get("httpGet")
        try:
            if http is not None:
                response = httpx.get(f"http://{POD_IP}:{self.probe_port}{http.get('path', '/')}", timeout=3)
                return 200 <= response.status_code < 400  # the kubelet's definition of success
            with socket.create_connection((POD_IP, self.probe_port), timeout=1):
                return True
        except (OSError, httpx.HTTPError):
            return False

    def _map_port(self, name: str, value: str) -> str:
        if (name == "PORT" or name.endswith("__PORT")) and value.isdigit() and int(value) in self.ports:
            return str(self.ports[int(value)])
        return value

    def _map_path(self, value: str) -> str:
        """Container paths into volumes or the image's directory; other values unchanged."""
        if not value.startswith("/"):
            return value
        for mount, directory in self.volumes.items():
            if value == mount or value.startswith(mount.rstrip("/") + "/"):
                return str(directory / os.path.relpath(value, mount))
        top = value.strip("/").split("/")[0]
        if top and (self.image.fs / top).exists():
            return str(self.image.host_path(value))
        return value

    def _map_cwd(self, workdir: str) -> str:
        mapped = self._map_path(workdir)
        return mapped if mapped != workdir else str(self.image.host_path(workdir))

    def _refuse_remote_hosts(self, env: dict[str, str]) -> None:
        # The test may only talk to this machine: every dependency must have been replaced by a stand-in.
        for name, value in env.items():
            hosts = {h.lower() for h in _URL_HOST.findall(value)}
            remote = hosts - LOCAL_HOSTS
            if remote and name not in self.advertised_only:
                raise AssertionError(f"{self.spec.name}: {name} still points at {sorted(remote)}; stand it in")

    def _token_dir(self) -> Path:
        assert self.kube is not None
        directory = self.workdir / "serviceaccount"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "token").write_text(self.kube.token)
        (directory / "ca.crt").write_bytes(self.kube.ca_file.read_bytes())
        (directory / "namespace").write_text(self.kube.namespace)
        return directory


_MOUNT_TOKEN = (
    'mount -t tmpfs -o size=1m tmpfs "$(readlink -f /var/run)"'
    f' && mkdir -p {SERVICE_ACCOUNT_DIR} && cp "$0"/* {SERVICE_ACCOUNT_DIR}/ && exec "$@"'
)


def _with_token_mounted(token_dir: Path) -> list[str]:
    """A prefix that runs the command in its own mount namespace with the token where the kubelet puts it.

    The tmpfs over /run (which /var/run points to) exists in that namespace only: the host's /run is untouched.
    """
    return [*namespace_command(), "sh", "-c", _MOUNT_TOKEN, str(token_dir)]


@functools.cache
def namespace_command() -> list[str]:
    """``unshare`` for a private mount namespace: as root directly, otherwise inside a user namespace."""
    candidates = [["unshare", "--mount", "--propagation", "private"]]
    if os.geteuid() != 0:
        candidates.insert(0, ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"])
    for prefix in candidates:
        check = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True, check=False)
        if check.returncode == 0:
            return prefix
    raise MissingTool("no private mount namespace (unshare) here: the service account token cannot be mounted")
