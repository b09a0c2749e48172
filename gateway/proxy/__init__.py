"""The MCP data plane: a pure-ASGI streaming reverse proxy with session affinity."""
