"""The tool router: one MCP server that lists every registered HTTP tool the caller may read and runs it,
and the gateway's virtual servers (named selections of adapters' and registered tools, issue #19).

It runs as its own process or pod (``python -m toolrouter``) behind the gateway's ``/mcp`` route. See
docs/toolrouter.md for the catalog contract and the security model.
"""

from toolrouter.app import create_router_app
from toolrouter.settings import ToolRouterSettings

__all__ = ["ToolRouterSettings", "create_router_app"]
