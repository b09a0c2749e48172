"""The Cosmos DB account shared by the Cosmos stores: client, containers, retries and error translation.

Every call to Cosmos goes through :meth:`CosmosAccount.call`, which retries throttling (429) and
unavailability (503) with exponential back-off that honours the server's retry-after, and turns the
failures a caller cannot act on (unreachable account, missing permission, exhausted retries) into
``BackendError`` messages that name the endpoint and what to check. 404, 409 and 412 pass through
unchanged: they carry meaning (missing, taken, stale) that the stores translate themselves.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy
from azure.cosmos.exceptions import CosmosHttpResponseError

from gateway.errors import BackendError
from gateway.settings import CosmosSettings

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({429, 503})
# Statuses whose meaning the stores handle (missing, name taken, stale ETag).
PASSED_THROUGH_STATUSES = frozenset({404, 409, 412})
ROLE_HINT = (
    "check that the gateway's identity has the 'Cosmos DB Built-in Data Contributor' role assignment on the "
    "account (az cosmosdb sql role assignment create), or that MCPGW_COSMOS__KEY is the account key"
)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential back-off for 429 and 503; the server's retry-after wins when it sends one."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int, error: CosmosHttpResponseError) -> float:
        hinted = _retry_after_seconds(error)
        if hinted is not None:
            return min(hinted, self.max_delay)
        # Full jitter: replicas throttled together must not retry in lock-step.
        return float(random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt)))


def _retry_after_seconds(error: CosmosHttpResponseError) -> float | None:
    headers = getattr(error, "headers", None) or {}
    for name, scale in (("x-ms-retry-after-ms", 0.001), ("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def translate(error: BaseException, endpoint: str, action: str) -> BackendError:
    """A ``BackendError`` that says what failed and what to check, for an error the caller cannot handle."""
    if isinstance(error, CosmosHttpResponseError):
        status = error.status_code
        if status in (401, 403):
            return BackendError(f"Cosmos DB at {endpoint} refused to {action} (HTTP {status}): {ROLE_HINT}.")
        if status in RETRIED_STATUSES:
            return BackendError(
                f"Cosmos DB at {endpoint} is throttling or unavailable (HTTP {status}) and kept failing to "
                f"{action} after retries; raise the account's throughput or retry later."
            )
        return BackendError(f"Cosmos DB at {endpoint} failed to {action} (HTTP {status}): {error.message}")
    if isinstance(error, ClientAuthenticationError):
        return BackendError(
            f"no Azure credential could get a token for Cosmos DB at {endpoint} ({error}); configure workload "
            "identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE) or set MCPGW_COSMOS__KEY."
        )
    if isinstance(error, ServiceRequestError | ServiceResponseError | OSError):
        return BackendError(
            f"cannot reach Cosmos DB at {endpoint} to {action} ({error}); check MCPGW_COSMOS__ENDPOINT, DNS and "
            "the network path (firewall, private endpoint)."
        )
    return BackendError(f"Cosmos DB at {endpoint} failed to {action}: {error}")


def _is_translated(error: BaseException) -> bool:
    if isinstance(error, CosmosHttpResponseError):
        return error.status_code not in PASSED_THROUGH_STATUSES
    return isinstance(error, AzureError | OSError)


class CosmosAccount:
    """One async client for one store; ``open`` creates the database and containers when allowed."""

    def __init__(
        self,
        settings: CosmosSettings,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not settings.endpoint:
            raise BackendError("a Cosmos store needs MCPGW_COSMOS__ENDPOINT (https://<account>.documents.azure.com).")
        self.endpoint = settings.endpoint
        self._settings = settings
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client: CosmosClient | None = None
        self._credential: Any = None

    async def open(self, containers: dict[str, int | None]) -> dict[str, ContainerProxy]:
        """Connect and return a proxy per container name (value: the container's default TTL or None)."""
        client = self._new_client()
        try:
            await self.call("read the account metadata", client.__aenter__)
            database = await self._database(client)
            proxies = {name: await self._container(database, name, ttl) for name, ttl in containers.items()}
        except BaseException:
            await client.close()
            await self._close_credential()
            raise
        self._client = client
        return proxies

    def _new_client(self) -> CosmosClient:
        settings = self._settings
        credential: Any
        if settings.key is not None:
            credential = settings.key.get_secret_value()
        else:
            # Imported here: only deployments without a key need azure-identity at all.
            from azure.identity.aio import DefaultAzureCredential

            credential = self._credential = DefaultAzureCredential()
        # The SDK retries throttling itself first; keep that short so our bounded policy stays in charge.
        return CosmosClient(
            self.endpoint,
            credential,
            connection_verify=settings.verify_tls,
            retry_throttle_total=2,
            retry_throttle_backoff_max=5,
        )

    async def _database(self, client: CosmosClient) -> DatabaseProxy:
        name = self._settings.database
        if not self._settings.create_if_missing:
            return client.get_database_client(name)
        return await self.call(
            f"create the database '{name}' (that needs control-plane rights; with only a data role, create it "
            "in the infrastructure and set MCPGW_COSMOS__CREATE_IF_MISSING=false)",
            lambda: client.create_database_if_not_exists(name),
        )

    async def _container(self, database: DatabaseProxy, name: str, default_ttl: int | None) -> ContainerProxy:
        if self._settings.create_if_missing:
            # default_ttl=-1 switches TTL on without expiring anything by default, so per-item ttl works.
            extra: dict[str, Any] = {} if default_ttl is None else {"default_ttl": default_ttl}
            return await self.call(
                f"create the container '{name}'",
                lambda: database.create_container_if_not_exists(name, PartitionKey(path="/id"), **extra),
            )
        container = database.get_container_client(name)
        try:
            await self.call(f"read the container '{database.id}/{name}'", container.read)
        except CosmosHttpResponseError as exc:
            if exc.status_code == 404:
                raise BackendError(
                    f"the Cosmos container '{database.id}/{name}' does not exist at {self.endpoint}; create it "
                    "(partition key /id) or set MCPGW_COSMOS__CREATE_IF_MISSING=true."
                ) from exc
            raise
        return container

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        await self._close_credential()

    async def _close_credential(self) -> None:
        credential, self._credential = self._credential, None
        if credential is not None:
            await credential.close()

    async def call(self, action: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` with retries on 429/503; translate failures other than 404/409/412."""
        for attempt in range(self._retry.attempts):
            try:
                return await operation()
            except CosmosHttpResponseError as exc:
                if exc.status_code not in RETRIED_STATUSES or attempt + 1 == self._retry.attempts:
                    if _is_translated(exc):
                        raise translate(exc, self.endpoint, action) from exc
                    raise
                delay = self._retry.delay(attempt, exc)
                log.info("Cosmos DB answered %s to %s; retrying in %.2fs", exc.status_code, action, delay)
                await self._sleep(delay)
            except (AzureError, OSError) as exc:  # TimeoutError is an OSError
                raise translate(exc, self.endpoint, action) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")
