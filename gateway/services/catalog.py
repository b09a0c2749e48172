"""The tool catalog the tool router polls: every tool's MCP definition, owner, roles and ready URLs.

The version is a hash of the content, so every gateway replica answers the same ETag for the same
catalog and the router's conditional polls stay cheap (304) until something really changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gateway.models import ToolData, ToolResource
from gateway.runtimes.base import Runtime
from gateway.services.resources import ResourceService


class ToolCatalog:
    def __init__(self, tools: ResourceService[ToolData, ToolResource], runtime: Runtime) -> None:
        self._tools = tools
        self._runtime = runtime

    async def snapshot(self) -> dict[str, Any]:
        entries = [await self._entry(tool) for tool in await self._tools.records()]
        body = json.dumps(entries, sort_keys=True, separators=(",", ":"))
        version = hashlib.sha256(body.encode()).hexdigest()[:32]
        return {"version": version, "tools": entries}

    async def _entry(self, tool: ToolResource) -> dict[str, Any]:
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
