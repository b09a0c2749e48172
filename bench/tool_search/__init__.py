"""Tool search benchmark: ranking real MCP tools for natural-language queries (``python -m bench.tool_search``)."""
