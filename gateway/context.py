"""The objects one gateway process shares between its control plane and data plane.

The control plane uses all of them; the data plane gets only its share, a ``gateway.proxy.deps.ProxyDeps``
built by ``gateway.app`` (no services).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth.base import Authenticator
from gateway.models import AdapterData, AdapterResource, ToolData, ToolResource
from gateway.runtimes.base import Runtime
from gateway.services.catalog import ToolCatalog
from gateway.services.reconcile import Reconciler
from gateway.services.resources import ResourceService
from gateway.services.servers import ServerService
from gateway.settings import GatewaySettings
from gateway.stores.base import SessionStore
from gateway.stores.recent import RecentRecords


@dataclass
class GatewayContext:
    settings: GatewaySettings
    store: RecentRecords
    """The metadata store; the data plane reads through ``store.recent`` (``ProxyDeps.records``)."""
    sessions: SessionStore
    runtime: Runtime
    authenticator: Authenticator
    adapters: ResourceService[AdapterData, AdapterResource]
    tools: ResourceService[ToolData, ToolResource]
    servers: ServerService
    """Virtual servers: records only, no workload."""
    catalog: ToolCatalog
    router_secret: str
    reconciler: Reconciler
