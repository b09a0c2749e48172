"""The stdio bridge: serve a stdio MCP server (or relay a remote one) over MCP Streamable HTTP at ``/mcp``.

Run as ``python -m bridge``; see :mod:`bridge.__main__` for the command line. The local
runtime starts it for ``command`` adapters with transport ``stdio``; the ``sample-servers/mcp-proxy``
image runs it for the same adapters on Kubernetes.
"""
