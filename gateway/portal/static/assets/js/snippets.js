// Ready-made client configurations for an MCP endpoint. They never contain the portal's token: clients
// that can sign in (VS Code, mcp-remote, the Inspector) follow the gateway's 401 challenge themselves.

import { authMode, devIdentity } from "./auth.js";

function devHeaders() {
  if (authMode() !== "dev") return null;
  const identity = devIdentity();
  const headers = { "X-Dev-UserId": identity.userId };
  if (identity.roles) headers["X-Dev-Roles"] = identity.roles;
  return headers;
}

export function clientSnippets(name, url) {
  const headers = devHeaders();
  const vscodeServer = { type: "http", url, ...(headers ? { headers } : {}) };
  const remoteArgs = ["-y", "mcp-remote", url, ...(headers ? Object.entries(headers).flatMap(([k, v]) => ["--header", `${k}:${v}`]) : [])];
  const inspectorHeaders = headers
    ? Object.entries(headers).map(([k, v]) => ` \\\n  --header "${k}: ${v}"`).join("")
    : "";
  return [
    {
      id: "vscode",
      title: "VS Code (.vscode/mcp.json)",
      text: JSON.stringify({ servers: { [name]: vscodeServer } }, null, 2),
    },
    {
      id: "claude",
      title: "Claude Desktop (claude_desktop_config.json, through mcp-remote)",
      text: JSON.stringify({ mcpServers: { [name]: { command: "npx", args: remoteArgs } } }, null, 2),
    },
    {
      id: "inspector",
      title: "MCP Inspector (command line)",
      text: `npx -y @modelcontextprotocol/inspector --cli ${url} \\\n  --transport http --method tools/list${inspectorHeaders}`,
    },
  ];
}
