"""Each image starts with what the stack gives it, and gets ready.

For every stack file (``Pulumi.<stack>.yaml``, rendered under the Pulumi mocks with ``images.build`` on, the
path where ``pulumi up`` builds every image it deploys) and every image (gateway, tool router, bridge, samples):

1. the image is the one a ``docker-build`` Image of the program builds (samples: their own directory);
2. its Python environment is built as its Dockerfile builds it (tests/infra/image_env.py);
3. its entrypoint runs with the environment the program renders for its pod (ConfigMap, Secret, env), or, for
   the bridge and the samples, the environment the gateway's Kubernetes runtime renders for an adapter with the
   stack's runtime settings (tests/infra/pods.py);
4. the test waits for the readiness probe the manifest declares; a process that exits fails at once.

Stand-ins for what the cluster or Azure provides, each a real server on this machine (rendered -> stand-in: why):

- the Kubernetes API and the pod's service account token -> kube-apiserver (tests/integration/kubernetes) with the
  stack's Namespaces, ServiceAccounts, Roles and RoleBindings applied, and a TokenRequest token mounted where the
  kubelet mounts it: the gateway's ``/readyz`` lists pods, in-cluster;
- ``MCPGW_COSMOS__ENDPOINT`` with workload identity -> the Cosmos DB emulator holding the database and containers
  the program declares, with ``MCPGW_COSMOS__KEY`` set to its key: the identity's token would come from Entra;
- Entra's issuer -> the test OpenID provider (tests/integration/auth/issuer.py) as ``MCPGW_AUTH__ISSUER``: the
  gateway fetches the issuer's keys at start;
- ``APPLICATIONINSIGHTS_CONNECTION_STRING`` -> a valid string whose ingestion endpoint is a local server that
  accepts anything, plus ``APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL=true``: the exporter's own statsbeat would
  go to a fixed Microsoft host;
- the host in ``MCPGW_ROUTER__CATALOG_URL`` -> the gateway of the same stack, started by this test.

Not stood in for: the session seal keys (``MCPGW_SESSIONS__SEAL_KEYS``), which the gateway reads as rendered (the
mocked random bytes), so a keyring it would refuse fails here.

Not emulated: the non-root user and read-only root filesystem (the process runs as the test's user), apt
packages (the host's copies run: tini, Node.js), and resource limits.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.runtimes.base import WorkloadKind, WorkloadSpec
from gateway.runtimes.kubernetes import manifests as k8s_manifests
from gateway.settings import KubernetesRuntimeSettings
from infra.components.manifests import GATEWAY, ROUTER
from tests.backends import EMULATOR_KEY, missing_backend
from tests.infra.built_stacks import REPO, STACKS, build_of, config_with_builds, render
from tests.infra.built_stacks import builds as stack_builds
from tests.infra.image_env import ImageEnv, MissingTool, build_image_env
from tests.infra.mocks import Recorded
from tests.infra.pods import ContainerSpec, KubeAccess, PodProcess, container_spec
from tests.integration.kubernetes.k8s_control_plane import ControlPlane, find_binaries
from tests.support.oidc_issuer import TENANT_PATH, TestIssuer
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.slow

PUBLIC_URL_SETTINGS = frozenset({"MCPGW_SERVER__PUBLIC_URL"})
"""Host names the gateway only hands out (redirects, RFC 9728 metadata); it never connects to them."""
SAMPLES = {
    "mcp-example": WorkloadSpec("smoke-mcp-example", WorkloadKind.ADAPTER, image_name="mcp-example", image_version="1"),
    "session-example": WorkloadSpec(
        "smoke-session-example", WorkloadKind.ADAPTER, image_name="session-example", image_version="1"
    ),
    "tool-example": WorkloadSpec(
        "smoke-tool-example", WorkloadKind.TOOL, image_name="weather-tool", image_version="1", port=8000, path="/score"
    ),
}
BRIDGE_ADAPTER = WorkloadSpec(
    "smoke-bridge",
    WorkloadKind.ADAPTER,
    command="npx",
    args=("-y", "@azure/mcp", "server", "start"),
    transport="stdio",
)
"""The bridge README's own example; the bridge checks at start that the command exists in the image."""


# -- the stacks, rendered -------------------------------------------------------------------------------------


@dataclass
class Rendered:
    stack: str
    recorded: Recorded

    @property
    def objects(self) -> list[dict[str, Any]]:
        return self.recorded.k8s_docs()

    def container(self, kind: str, name: str) -> ContainerSpec:
        return container_spec(self.recorded.k8s(kind, name), self.objects)

    def runtime_settings(self) -> KubernetesRuntimeSettings:
        """The gateway's Kubernetes runtime settings, from the environment the stack renders for it."""
        prefix = "MCPGW_RUNTIME__KUBERNETES__"
        env = self.container("Deployment", GATEWAY).env
        return KubernetesRuntimeSettings.model_validate(
            {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
        )

    def adapter(self, spec: WorkloadSpec) -> ContainerSpec:
        """The container the gateway's runtime would create for ``spec`` on this stack."""
        return container_spec(k8s_manifests.statefulset(spec, self.runtime_settings()), self.objects)

    def build_of(self, image: str) -> tuple[Path, Path]:
        """Dockerfile and context of the program's build that produces ``image``."""
        build = build_of(self.recorded, image, self.stack)
        return build.dockerfile_path, build.context_path


class Renderings(dict[str, Rendered]):
    """Each stack rendered on first use, so a stack that cannot render fails only its own tests."""

    def __missing__(self, stack: str) -> Rendered:
        self[stack] = Rendered(stack, render(config_with_builds(stack), stack))
        return self[stack]


@pytest.fixture(scope="module")
def rendered() -> Renderings:
    return Renderings()


class ImageBuilds:
    """Image environments built in the background, two at a time (the machine's two cores): a cold run
    builds six, and the first tests wait only for their own."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._futures: dict[tuple[Path, Path], Future[ImageEnv]] = {}

    def start(self, dockerfile: Path, context: Path) -> Future[ImageEnv]:
        key = (dockerfile, context)
        if key not in self._futures:
            self._futures[key] = self._pool.submit(build_image_env, dockerfile, context)
        return self._futures[key]

    def get(self, dockerfile: Path, context: Path) -> ImageEnv:
        try:
            return self.start(dockerfile, context).result()
        except MissingTool as exc:
            missing_backend(str(exc))
            raise

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def sample_build(sample: str) -> tuple[Path, Path]:
    directory = REPO / "sample-servers" / sample
    return directory / "Dockerfile", directory  # built from their own directory (README.md)


@pytest.fixture(scope="module")
def images(rendered: Renderings) -> Iterator[ImageBuilds]:
    builds = ImageBuilds()
    for stack in STACKS:
        try:
            recorded = rendered[stack].recorded
        except Exception:  # a stack that cannot render fails its own tests, not the others'
            continue
        for build in stack_builds(recorded):
            builds.start(build.dockerfile_path, build.context_path)
    for sample in sorted(SAMPLES):
        builds.start(*sample_build(sample))
    try:
        yield builds
    finally:
        builds.close()


def start(pod: PodProcess) -> PodProcess:
    try:
        return pod.start()
    except MissingTool as exc:  # no mount namespace for the service account token
        missing_backend(str(exc))
        raise


# -- stand-ins ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kube_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    binaries, missing = find_binaries()
    if missing:
        missing_backend(f"Kubernetes test binaries not found: {', '.join(missing)}. Run scripts/kube-apiserver.sh.")
    plane = ControlPlane(binaries, tmp_path_factory.mktemp("kube"))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


def grant_pod_access(plane: ControlPlane, stack: Rendered, pod_kind: str, pod_name: str) -> KubeAccess:
    """Apply the stack's Namespace, ServiceAccounts, Role and RoleBinding; a token for the pod's account."""
    with plane.admin() as admin:
        for obj in stack.objects:
            if obj["kind"] in ("Namespace", "ServiceAccount", "Role", "RoleBinding"):
                _apply(admin, obj)
        workload = stack.recorded.k8s(pod_kind, pod_name)
        namespace = workload["metadata"]["namespace"]
        account = workload["spec"]["template"]["spec"]["serviceAccountName"]
        response = admin.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )
        response.raise_for_status()
    token = response.json()["status"]["token"]
    return KubeAccess("127.0.0.1", plane.api_port, token, plane.ca_file, namespace)


def _apply(admin: httpx.Client, obj: dict[str, Any]) -> None:
    group = obj["apiVersion"]
    base = f"/api/{group}" if "/" not in group else f"/apis/{group}"
    meta = obj["metadata"]
    plural = {
        "Namespace": "namespaces",
        "ServiceAccount": "serviceaccounts",
        "Role": "roles",
        "RoleBinding": "rolebindings",
    }
    scope = "" if obj["kind"] == "Namespace" else f"/namespaces/{meta['namespace']}"
    collection = f"{base}{scope}/{plural[obj['kind']]}"
    response = admin.post(collection, json=obj)
    if response.status_code == 409:  # the other stack applied it: make it this stack's version
        current = admin.get(f"{collection}/{meta['name']}").json()
        body = {**obj, "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}}
        response = admin.put(f"{collection}/{meta['name']}", json=body)
    response.raise_for_status()


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    provider = TestIssuer()
    with UvicornThread(provider.app, lifespan="on", loop="asyncio") as server:
        provider.issuer = server.url + TENANT_PATH
        yield provider.issuer


@pytest.fixture(scope="module")
def ingestion() -> Iterator[str]:
    """Application Insights' ingestion endpoint: accepts every telemetry batch."""

    async def accept(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"itemsReceived": 0, "itemsAccepted": 0, "errors": []})

    app = Starlette(routes=[Route("/{path:path}", accept, methods=["GET", "POST"])])
    with UvicornThread(app, lifespan="on", loop="asyncio") as server:
        yield server.url


def create_cosmos_resources(endpoint: str, stack: Rendered) -> None:
    """The database and containers the program declares (the gateway may not create them: RBAC cannot)."""
    from azure.cosmos import CosmosClient, PartitionKey
    from urllib3.exceptions import InsecureRequestWarning

    # The emulator's certificate is self-signed (the gateway's SDK trusts it on 127.0.0.1 by itself).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        client = CosmosClient(endpoint, credential=EMULATOR_KEY, connection_verify=False)
        for database in stack.recorded.of_type("azure-native:cosmosdb:SqlResourceSqlDatabase"):
            client.create_database_if_not_exists(database.inputs["resource"]["id"])
        for container in stack.recorded.of_type("azure-native:cosmosdb:SqlResourceSqlContainer"):
            resource = container.inputs["resource"]
            client.get_database_client(container.inputs["databaseName"]).create_container_if_not_exists(
                resource["id"],
                PartitionKey(path=resource["partitionKey"]["paths"][0]),
                default_ttl=resource.get("defaultTtl"),
            )


def _with_host(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


# -- the gateway of each stack: its own test, and the tool router's catalog ------------------------------------


@dataclass
class Gateways:
    """Starts each stack's gateway once per module, with stand-ins for what it connects to at start."""

    request: pytest.FixtureRequest
    rendered: dict[str, Rendered]
    images: ImageBuilds
    kube_api: ControlPlane
    workdir: Path
    running: dict[str, PodProcess] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def ready(self, stack: str) -> PodProcess:
        if stack in self.failed:
            pytest.fail(f"the {stack} gateway did not get ready (see its own test):\n{self.failed[stack]}")
        if stack not in self.running:
            try:
                self.running[stack] = self._start(self.rendered[stack])
            except AssertionError as exc:
                self.failed[stack] = str(exc)
                raise
        return self.running[stack]

    def _start(self, stack: Rendered) -> PodProcess:
        spec = stack.container("Deployment", GATEWAY)
        image = self.images.get(*stack.build_of(spec.image))
        kube = grant_pod_access(self.kube_api, stack, "Deployment", GATEWAY)
        pod = PodProcess(
            image,
            spec,
            self.workdir / f"gateway-{stack.stack}",
            overrides=self._stand_ins(stack, spec.env),
            kube=kube,
            advertised_only=PUBLIC_URL_SETTINGS,
        )
        start(pod)
        try:
            pod.wait_ready()
        except AssertionError:
            pod.stop()
            raise
        return pod

    def _stand_ins(self, stack: Rendered, env: dict[str, str]) -> dict[str, str]:
        overrides: dict[str, str] = {}
        if "MCPGW_COSMOS__ENDPOINT" in env:
            endpoint = self.request.getfixturevalue("cosmos_endpoint")
            create_cosmos_resources(endpoint, stack)
            overrides |= {"MCPGW_COSMOS__ENDPOINT": endpoint, "MCPGW_COSMOS__KEY": EMULATOR_KEY}
        if env.get("MCPGW_AUTH__MODE") in ("entra", "oidc"):
            overrides["MCPGW_AUTH__ISSUER"] = self.request.getfixturevalue("issuer")
        return overrides | app_insights_stand_in(self.request, env)

    def stop(self) -> None:
        for pod in self.running.values():
            pod.stop()


def app_insights_stand_in(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, str]:
    if "APPLICATIONINSIGHTS_CONNECTION_STRING" not in env:
        return {}
    url = request.getfixturevalue("ingestion")
    return {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={url}/;LiveEndpoint={url}/"
        ),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    }


@pytest.fixture(scope="module")
def gateways(
    request: pytest.FixtureRequest,
    rendered: dict[str, Rendered],
    tmp_path_factory: pytest.TempPathFactory,
    images: ImageBuilds,
    kube_api: ControlPlane,
) -> Iterator[Gateways]:
    # kube_api as a parameter, not looked up later: the gateways stop before the API server they watch.
    pool = Gateways(request, rendered, images, kube_api, tmp_path_factory.mktemp("gateways"))
    try:
        yield pool
    finally:
        pool.stop()


# -- the tests ------------------------------------------------------------------------------------------------


@pytest.mark.k8s
@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_image_gets_ready_with_the_stack_environment(stack: str, gateways: Gateways) -> None:
    gateway = gateways.ready(stack)
    answer = httpx.get(f"http://127.0.0.1:{gateway.probe_port}/readyz", timeout=5)
    assert answer.json() == {"status": "ready"}


@pytest.mark.k8s
@pytest.mark.parametrize("stack", STACKS)
def test_the_tool_router_image_gets_ready_with_the_stack_environment(
    stack: str,
    rendered: dict[str, Rendered],
    images: ImageBuilds,
    gateways: Gateways,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    spec = rendered[stack].container("StatefulSet", ROUTER)
    gateway = gateways.ready(stack)
    catalog = _with_host(spec.env["MCPGW_ROUTER__CATALOG_URL"], "127.0.0.1", gateway.probe_port)
    overrides = {"MCPGW_ROUTER__CATALOG_URL": catalog} | app_insights_stand_in(request, spec.env)
    run_until_ready(images.get(*rendered[stack].build_of(spec.image)), spec, tmp_path, overrides)


@pytest.mark.parametrize("stack", STACKS)
def test_the_bridge_image_gets_ready_for_a_command_adapter(
    stack: str, rendered: dict[str, Rendered], images: ImageBuilds, tmp_path: Path
) -> None:
    spec = rendered[stack].adapter(BRIDGE_ADAPTER)
    run_until_ready(images.get(*rendered[stack].build_of(spec.image)), spec, tmp_path)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("stack", STACKS)
def test_the_sample_images_get_ready_as_adapters(
    stack: str, sample: str, rendered: dict[str, Rendered], images: ImageBuilds, tmp_path: Path
) -> None:
    spec = rendered[stack].adapter(SAMPLES[sample])
    run_until_ready(images.get(*sample_build(sample)), spec, tmp_path)


def run_until_ready(
    image: ImageEnv, spec: ContainerSpec, workdir: Path, overrides: dict[str, str] | None = None
) -> None:
    pod = start(PodProcess(image, spec, workdir, overrides=overrides))
    try:
        pod.wait_ready()
    finally:
        pod.stop()


def test_every_stack_file_is_smoke_tested() -> None:
    assert {path.name.split(".")[1] for path in REPO.glob("Pulumi.*.yaml")} == set(STACKS)
