"""The management CLI: ``mcp-gateway adapters|tools|servers ...``, ``import``, ``call``, ``login`` and the rest.

It is a client of the gateway's REST API and MCP endpoints, nothing more: it never imports the gateway's
application, its backends or the web framework (an import-linter contract in ``pyproject.toml`` keeps it so),
so ``mcp-gateway adapters list`` starts quickly and works from any machine that can reach the gateway.
"""
