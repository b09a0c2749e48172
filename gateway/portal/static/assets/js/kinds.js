// The three resource kinds the portal shows: where their API lives, what their list shows and whether
// they run replicas (status, logs, restart). Virtual servers run nothing of their own.

export function sourceOf(record) {
  if (record.url) return `${record.url}${record.transport ? ` (${record.transport})` : ""}`;
  if (record.command) return [record.command, ...(record.args || [])].join(" ");
  if (record.imageName) return `${record.imageName}:${record.imageVersion || "latest"}`;
  return "";
}

export const KINDS = {
  adapters: {
    path: "adapters",
    api: "/adapters",
    title: "Adapters",
    singular: "adapter",
    workloads: true,
    intro: "MCP servers the gateway runs or routes to; each is reachable at /adapters/{name}/mcp.",
    mcpPath: (name) => `/adapters/${encodeURIComponent(name)}/mcp`,
    summary: sourceOf,
  },
  tools: {
    path: "tools",
    api: "/tools",
    title: "Tools",
    singular: "tool",
    workloads: true,
    intro: "HTTP endpoints registered as MCP tools; the tool router serves them all at /mcp.",
    mcpPath: () => "/mcp",
    summary: (record) => record.toolDefinition?.tool?.description || sourceOf(record),
  },
  servers: {
    path: "servers",
    api: "/servers",
    title: "Virtual servers",
    singular: "virtual server",
    workloads: false,
    intro: "Named selections of adapters' and tools' tools, served by the tool router at /servers/{name}/mcp.",
    mcpPath: (name) => `/servers/${encodeURIComponent(name)}/mcp`,
    summary: (record) => (record.members || []).map((m) => m.adapter || m.tool).filter(Boolean).join(", "),
  },
};

export const PHASES = ["Starting", "Ready", "Updating", "Degraded", "Failing", "Stopped"];

/** A phase badge: the word is always shown, the color only repeats it. */
export function phaseClass(phase) {
  return `badge phase-${String(phase || "unknown").toLowerCase()}`;
}
