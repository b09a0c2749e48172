"""The web portal: static pages under ``/portal/`` that call the same REST API and MCP endpoints as any
other client, so what a user may see and do is exactly what the API lets them (docs/portal.md)."""

from gateway.portal.router import portal_router

__all__ = ["portal_router"]
