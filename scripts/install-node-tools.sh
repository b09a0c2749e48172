#!/usr/bin/env bash
# Installs the Node tools the tests use into .cache/node-tools (idempotent, pinned versions):
# Node 22 (the conformance suite needs it), the MCP conformance suite, the MCP Inspector CLI, the
# Cosmos DB emulator and the official MCP servers the real-server tests run (server-everything,
# server-filesystem: tests/integration/servers) and axe-core (the portal's accessibility check, tests/browser).
# Prints the directory on success.
# package.json is rewritten when this list changes, so an existing directory picks up additions.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${MCPGW_NODE_TOOLS:-$root/.cache/node-tools}"
mkdir -p "$dir"
cd "$dir"
wanted="$(cat <<'JSON'
{
  "name": "mcp-gateway-test-tools",
  "private": true,
  "dependencies": {
    "node": "22",
    "@modelcontextprotocol/conformance": "0.1.16",
    "conformance-alpha": "npm:@modelcontextprotocol/conformance@0.2.0-alpha.12",
    "@modelcontextprotocol/inspector": "2.12.0",
    "@vercel/cosmosdb-server": "1.0.1",
    "@modelcontextprotocol/server-everything": "2026.8.31",
    "@modelcontextprotocol/server-filesystem": "2026.8.31",
    "axe-core": "4.14.1"
  }
}
JSON
)"
if [ ! -f package.json ] || [ "$(cat package.json)" != "$wanted" ]; then
  printf '%s\n' "$wanted" > package.json
fi
stamp="$dir/.installed-$(sha256sum package.json | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "installing Node test tools into $dir (one time, ~1 min)" >&2
  npm install --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi
echo "$dir"
