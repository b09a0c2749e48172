"""Contract-suite fixtures: every store implementation behind one factory, against real servers.

``redis_url`` starts our own ``redis-server`` on a free loopback port (never the machine's 6379) and
``cosmos_endpoint`` starts the Cosmos DB emulator (``scripts/cosmos-emulator.js``). Both live for the test
session; tests are isolated by a fresh Cosmos database or Redis key prefix each. When a server's binary is
missing the tests that need it are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import CosmosSettings, SessionSettings
from gateway.stores.base import MetadataStore, SessionStore
from tests.helpers import REPO, free_port, wait_for

# Any base64 string: the emulator does not check signatures.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
NODE_TOOLS = Path(os.environ.get("MCPGW_NODE_TOOLS", REPO / ".cache" / "node-tools"))

METADATA_KINDS = ["memory", "sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)]
SESSION_KINDS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("cosmos", marks=pytest.mark.cosmos),
]


def missing_backend(message: str) -> None:
    """Skip locally; fail in CI, which must run every contract test rather than skip it silently."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing_backend("redis-server not found; install it (apt-get install -y redis-server).")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(workdir), "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _redis_answers(port) or process.poll() is not None, timeout=10, what="redis-server")
        if process.poll() is not None:
            raise AssertionError(f"redis-server exited with {process.returncode}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _redis_answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def cosmos_endpoint() -> Iterator[str]:
    node = shutil.which("node")
    package = NODE_TOOLS / "node_modules" / "@vercel" / "cosmosdb-server"
    if node is None or not package.is_dir():
        missing_backend(f"the Cosmos DB emulator needs node and {package}; run: bash scripts/install-node-tools.sh")
    process = subprocess.Popen(
        [str(node), str(REPO / "scripts" / "cosmos-emulator.js"), "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MCPGW_NODE_TOOLS": str(NODE_TOOLS)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the emulator prints READY <port> within ~0.2 s, or exits
        if not line.startswith("READY "):
            raise AssertionError(f"the Cosmos emulator did not start (exit {process.poll()}): {line!r}")
        yield f"https://127.0.0.1:{int(line.split()[1])}/"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def cosmos_settings(endpoint: str, database: str, **overrides: Any) -> CosmosSettings:
    return CosmosSettings.model_validate({"endpoint": endpoint, "key": EMULATOR_KEY, "database": database, **overrides})


class StoreOpener:
    """Opens stores of one kind on one backend; each call is another client (another gateway replica).

    The memory stores live in one process, so calls there return the same instance (per settings).
    """

    def __init__(self, kind: str, build: Callable[[dict[str, Any]], Any]) -> None:
        self.kind = kind
        self.shared = kind != "memory"
        self._build = build
        self._opened: dict[str, Any] = {}
        self._instances: list[Any] = []

    async def open(self, **overrides: Any) -> Any:
        fingerprint = repr(sorted(overrides.items()))
        if not self.shared and fingerprint in self._opened:
            return self._opened[fingerprint]
        store = self._build(overrides)
        await store.open()
        self._opened[fingerprint] = store
        self._instances.append(store)
        return store

    async def close_all(self) -> None:
        for store in self._instances:
            await store.close()


@pytest.fixture(params=METADATA_KINDS)
async def metadata_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreOpener]:
    kind: str = request.param
    database = f"contract-{uuid.uuid4().hex[:12]}"
    endpoint = request.getfixturevalue("cosmos_endpoint") if kind == "cosmos" else ""
    opener = StoreOpener(kind, lambda _: _new_metadata_store(kind, tmp_path / "gateway.db", endpoint, database))
    yield opener
    await opener.close_all()


def _new_metadata_store(kind: str, sqlite_path: Path, endpoint: str, database: str) -> MetadataStore:
    # Implementations are imported lazily so one backend's missing module cannot break the others.
    if kind == "memory":
        from gateway.stores.memory import MemoryMetadataStore

        return MemoryMetadataStore()
    if kind == "sqlite":
        from gateway.stores.sqlite import SqliteMetadataStore

        return SqliteMetadataStore(sqlite_path)
    from gateway.stores.cosmos import CosmosMetadataStore

    return CosmosMetadataStore(cosmos_settings(endpoint, database))


@pytest.fixture
async def metadata_store(metadata_stores: StoreOpener) -> MetadataStore:
    store: MetadataStore = await metadata_stores.open()
    return store


@pytest.fixture(params=SESSION_KINDS)
async def session_stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreOpener]:
    """``await session_stores.open(idle_timeout_seconds=1, ...)``: a session store with those settings."""
    kind: str = request.param
    namespace = f"contract-{uuid.uuid4().hex[:12]}"
    backend = {"redis": "redis_url", "cosmos": "cosmos_endpoint"}.get(kind)
    location = request.getfixturevalue(backend) if backend else ""

    def build(overrides: dict[str, Any]) -> SessionStore:
        fields: dict[str, Any] = {"kind": kind, "key_prefix": namespace, **overrides}
        if kind == "redis":
            fields["redis_url"] = location
        return _new_session_store(kind, SessionSettings.model_validate(fields), location, namespace)

    opener = StoreOpener(kind, build)
    yield opener
    await opener.close_all()


@pytest.fixture
async def session_store(session_stores: StoreOpener) -> SessionStore:
    store: SessionStore = await session_stores.open()
    return store


def _new_session_store(kind: str, settings: SessionSettings, location: str, namespace: str) -> SessionStore:
    if kind == "memory":
        from gateway.stores.memory import MemorySessionStore

        return MemorySessionStore(settings)
    if kind == "redis":
        from gateway.stores.redis import RedisSessionStore

        return RedisSessionStore(settings)
    from gateway.stores.cosmos import CosmosSessionStore

    return CosmosSessionStore(cosmos_settings(location, namespace), settings)
