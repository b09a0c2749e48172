"""The catalog the tool router polls: what it serves at ``/mcp`` and at ``/servers/{name}/mcp``.

Three lists:

* ``tools``: every registered tool's MCP definition, owner, roles and ready URLs (``/mcp`` lists them);
* ``adapters``: every adapter's owner, roles and ready MCP endpoint URLs, exactly the endpoints the data
  plane would route ``/adapters/{name}/mcp`` to (the runtime's ready replicas; a ``url`` adapter's URL
  unless the gateway's probe of it has failed), so the router can call the adapters a virtual server
  names. ``remote`` marks a user-supplied URL, which the router must reach through its SSRF guard;
* ``servers``: every virtual server's owner, roles, description, members (as stored) and ``toolSearch``.

Damaged records are left out of every list (logged once by the services). The version is a hash of the
content, so every gateway replica answers the same ETag for the same catalog and the router's conditional
polls stay cheap (304) until something really changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gateway.models import AdapterData, AdapterResource, ServerResource, ToolData, ToolResource
from gateway.runtimes.base import Runtime
from gateway.services.resources import ResourceService
from gateway.services.servers import ServerService


class ToolCatalog:
    def __init__(
        self,
        tools: ResourceService[ToolData, ToolResource],
        runtime: Runtime,
        *,
        adapters: ResourceService[AdapterData, AdapterResource],
        servers: ServerService,
    ) -> None:
        self._tools = tools
        self._runtime = runtime
        self._adapters = adapters
        self._servers = servers

    async def snapshot(self) -> dict[str, Any]:
        content = {
            "tools": [await self._tool_entry(tool) for tool in await self._tools.records()],
            "adapters": [await self._adapter_entry(adapter) for adapter in await self._adapters.records()],
            "servers": [_server_entry(server) for server in await self._servers.records()],
        }
        body = json.dumps(content, sort_keys=True, separators=(",", ":"))
        version = hashlib.sha256(body.encode()).hexdigest()[:32]
        return {"version": version, **content}

    async def _tool_entry(self, tool: ToolResource) -> dict[str, Any]:
        spec = self._tools.spec_for(tool)
        # A url tool needs no runtime: every gateway replica knows its endpoint from the record alone.
        urls = [spec.url] if spec.url else [e.url for e in await self._runtime.endpoints(tool.name)]
        if not urls and (service_url := await self._runtime.tool_url(spec)):
            urls = [service_url]
        return {
            "name": tool.name,
            "tool": tool.tool_definition.tool.model_dump(mode="json", by_alias=True, exclude_none=True),
            "createdBy": tool.created_by,
            "requiredRoles": list(tool.required_roles),
            "urls": urls,
            # A url tool's address was chosen by a user, not by the runtime: the router guards it (SSRF).
            "remote": spec.url is not None,
            "timeoutSeconds": None,
        }

    async def _adapter_entry(self, adapter: AdapterResource) -> dict[str, Any]:
        spec = self._adapters.spec_for(adapter)
        if spec.url is not None:
            # As the data plane routes it (gateway.proxy.replicas): the URL from the record, known on every
            # gateway replica, unless this gateway's probe of it has failed. A url of transport sse has no
            # spec.url: the runtime runs bridge replicas for it, listed like any others.
            urls = [spec.url] if await self._runtime.url_routable(adapter.name) else []
        else:
            urls = [e.url for e in await self._runtime.endpoints(adapter.name)]
        return {
            "name": adapter.name,
            "createdBy": adapter.created_by,
            "requiredRoles": list(adapter.required_roles),
            "urls": urls,
            "remote": spec.url is not None,
        }


def _server_entry(server: ServerResource) -> dict[str, Any]:
    return {
        "name": server.name,
        "createdBy": server.created_by,
        "requiredRoles": list(server.required_roles),
        "description": server.description,
        "members": [member.model_dump(mode="json", by_alias=True) for member in server.members],
        "toolSearch": server.tool_search,
    }
