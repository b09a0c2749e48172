"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.backends import cosmos_endpoint, redis_url  # noqa: F401  (fixtures for every test)
from tests.kube import admin, control_plane, fake_node, namespace  # noqa: F401  (the real control plane)
from tests.support.gateway_process import GatewayProcess, stop_leftovers


def memory_settings(**overrides: object) -> GatewaySettings:
    base: dict[str, object] = {"store": {"kind": "memory"}, "router": {"replicas": 0}}
    base.update(overrides)
    return GatewaySettings.model_validate(base)


@pytest.fixture
async def app_client() -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app in-process (memory store, local runtime, dev auth) behind an ASGI transport."""
    app = create_app(memory_settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[GatewayProcess]:
    """A real gateway process with the default SQLite store and local runtime."""
    gateway = GatewayProcess(tmp_path / "gw").start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="session", autouse=True)
def no_gateway_outlives_the_run() -> Iterator[None]:
    """A fixture whose setup failed after starting a gateway never stopped it: stop it here, with its replicas."""
    yield
    stop_leftovers()
