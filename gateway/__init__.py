"""MCP Gateway: a control plane and session-aware data plane for Model Context Protocol servers."""

__version__ = "0.1.0"
