// The MCP console: connect to an adapter, a virtual server or the tool router through the gateway (in the
// era chosen), list tools, resources and prompts, call a tool from a form generated from its inputSchema,
// watch progress and log notifications arrive, and answer elicitations with a generated form.

import { api, describeError } from "../api.js";
import { h, labelled, replace } from "../dom.js";
import { McpClient, SESSION_ERA, STATELESS_ERA } from "../mcp/client.js";
import { renderPromptResult, renderResourceContents, renderToolResult } from "../mcp/results.js";
import { buildSchemaForm, promptArgumentsSchema } from "../mcp/schema-form.js";

const ROUTER_TARGET = "/mcp";
const MAX_ACTIVITY = 500;

async function targets(signal) {
  const [adapters, servers] = await Promise.all([
    api.get("/adapters", { signal }).catch(() => []),
    api.get("/servers", { signal }).catch(() => []),
  ]);
  return [
    { label: "Adapters", options: adapters.map((a) => ({ value: `/adapters/${encodeURIComponent(a.name)}/mcp`, label: a.name })) },
    { label: "Virtual servers", options: servers.map((s) => ({ value: `/servers/${encodeURIComponent(s.name)}/mcp`, label: s.name })) },
    { label: "Tool router", options: [{ value: ROUTER_TARGET, label: "/mcp (registered tools and adapters)" }] },
  ];
}

/** Asks the user an elicitation in a modal dialog; resolves with an ElicitResult ({action, content?}). */
function askElicitation(params) {
  return new Promise((resolve) => {
    const schema = params.requestedSchema || { type: "object", properties: {} };
    const form = buildSchemaForm(schema, { idPrefix: "elicit" });
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "elicit-title", "data-testid": "elicitation" });
    const finish = (result) => { dialog.close(); dialog.remove(); resolve(result); };
    const body = h("form", {
      method: "dialog",
      onsubmit: (event) => {
        event.preventDefault();
        const read = form.read();
        if (read.ok) finish({ action: "accept", content: read.value });
      },
    },
    h("h2", { id: "elicit-title" }, "The server asks"),
    h("p", { class: "elicit-message" }, params.message || ""),
    params.mode === "url" ? h("p", { class: "hint" }, `It asks you to open ${params.url}; the portal does not open URLs for servers.`) : form.element,
    h("div", { class: "actions" },
      params.mode === "url" ? null : h("button", { type: "submit", class: "primary" }, "Send"),
      h("button", { type: "button", class: "secondary", onclick: () => finish({ action: "decline" }) }, "Decline"),
      h("button", { type: "button", class: "secondary", onclick: () => finish({ action: "cancel" }) }, "Cancel")));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish({ action: "cancel" }); });
    dialog.append(body);
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("input, select, textarea, button")?.focus();
  });
}

export async function renderConsole(main, { setTitle, signal, query }) {
  setTitle("Console");
  const targetSelect = h("select", { id: "console-target" });
  const eraSelect = h("select", { id: "console-era" },
    h("option", { value: "auto" }, "Auto (stateless when the server offers it)"),
    h("option", { value: SESSION_ERA }, `${SESSION_ERA} (sessions)`),
    h("option", { value: STATELESS_ERA }, `${STATELESS_ERA} (stateless)`));
  const connectButton = h("button", { type: "submit", class: "primary" }, "Connect");
  const disconnectButton = h("button", { type: "button", class: "secondary", disabled: true }, "Disconnect");
  const connection = h("p", { class: "status-line", role: "status", "data-testid": "console-status" }, "Not connected.");
  const workspace = h("div", { class: "console-grid", hidden: true });

  const progress = h("progress", { id: "call-progress", max: "1", value: "0" });
  const progressText = h("span", { class: "hint", "data-testid": "progress-text" });
  // The log role goes on a wrapper: on the list itself it would hide the list semantics of its items.
  const activity = h("ol", { class: "activity", tabindex: "0", "aria-label": "Notifications, oldest first" });
  const activityLog = h("div", { role: "log", "aria-label": "Notifications", "data-testid": "activity" }, activity);
  const output = h("div", { class: "output", "aria-live": "polite" });

  let client = null;
  let callCounter = 0;

  function log(kind, text) {
    activity.append(h("li", { class: `activity-${kind}` }, h("span", { class: "badge" }, kind), " ", text));
    while (activity.children.length > MAX_ACTIVITY) activity.firstChild.remove();
    activity.scrollTop = activity.scrollHeight;
  }

  function onNotification(message) {
    const p = message.params || {};
    if (message.method === "notifications/progress") {
      if (p.total) { progress.max = p.total; progress.value = p.progress; } else { progress.removeAttribute("value"); }
      progressText.textContent = `${p.progress}${p.total ? ` of ${p.total}` : ""}${p.message ? `: ${p.message}` : ""}`;
      log("progress", progressText.textContent);
    } else if (message.method === "notifications/message") {
      const data = typeof p.data === "string" ? p.data : JSON.stringify(p.data);
      log(p.level || "log", `${p.logger ? `${p.logger}: ` : ""}${data}`);
    } else {
      log("notice", `${message.method} ${p && Object.keys(p).length ? JSON.stringify(p) : ""}`);
    }
  }

  async function onRequest(message) {
    if (message.method === "elicitation/create") {
      log("elicit", message.params?.message || "The server asks for input");
      return askElicitation(message.params || {});
    }
    if (message.method === "ping") return {};
    return null;
  }

  async function onInputRequired(inputRequests) {
    const responses = {};
    for (const [key, request] of Object.entries(inputRequests)) {
      if (request.method === "elicitation/create") {
        log("elicit", request.params?.message || "The server asks for input");
        responses[key] = await askElicitation(request.params || {});
      } else {
        throw new Error(`The server asked for ${request.method}, which the portal does not provide.`);
      }
    }
    return responses;
  }

  function show(...nodes) {
    replace(output, ...nodes);
  }

  // --- tools ---
  const toolSelect = h("select", { id: "tool-select" });
  const toolInfo = h("div", {});
  let tools = [];
  let toolForm = null;

  function drawTool() {
    const tool = tools.find((t) => t.name === toolSelect.value);
    if (!tool) { replace(toolInfo); return; }
    toolForm = buildSchemaForm(tool.inputSchema, { idPrefix: `arg-${tools.indexOf(tool)}` });
    const callButton = h("button", { type: "submit", class: "primary" }, "Call tool");
    replace(toolInfo,
      tool.description ? h("p", { class: "hint" }, tool.description) : null,
      h("form", {
        class: "tool-form", "aria-label": `Arguments of ${tool.name}`,
        onsubmit: async (event) => {
          event.preventDefault();
          const args = toolForm.read();
          if (!args.ok) return;
          callButton.disabled = true;
          callCounter += 1;
          progress.value = 0;
          progress.max = 1;
          progressText.textContent = "";
          log("call", `tools/call ${tool.name} ${JSON.stringify(args.value)}`);
          show(h("p", { class: "hint" }, `Calling ${tool.name}…`));
          try {
            const result = await client.request("tools/call", { name: tool.name, arguments: args.value },
              { progressToken: `portal-${callCounter}`, onNotification, onRequest, onInputRequired, signal });
            show(h("h3", {}, `Result of ${tool.name}`), renderToolResult(result));
            log("result", result.isError ? `${tool.name} reported an error` : `${tool.name} answered`);
          } catch (error) {
            show(h("p", { class: "error", role: "alert" }, `The call failed: ${describeError(error)}`));
            log("error", describeError(error));
          } finally {
            callButton.disabled = false;
          }
        },
      }, toolForm.element, h("div", { class: "actions" }, callButton)));
  }
  toolSelect.addEventListener("change", drawTool);

  // --- resources and prompts ---
  const resourceList = h("ul", { class: "plain" });
  const promptSelect = h("select", { id: "prompt-select" });
  const promptInfo = h("div", {});
  let prompts = [];

  function drawPrompt() {
    const prompt = prompts.find((p) => p.name === promptSelect.value);
    if (!prompt) { replace(promptInfo); return; }
    const form = buildSchemaForm(promptArgumentsSchema(prompt.arguments), { idPrefix: "prompt-arg" });
    replace(promptInfo,
      prompt.description ? h("p", { class: "hint" }, prompt.description) : null,
      h("form", {
        "aria-label": `Arguments of prompt ${prompt.name}`,
        onsubmit: async (event) => {
          event.preventDefault();
          const args = form.read();
          if (!args.ok) return;
          try {
            const result = await client.request("prompts/get", { name: prompt.name, arguments: args.value }, { onNotification, onRequest, onInputRequired, signal });
            show(h("h3", {}, `Prompt ${prompt.name}`), renderPromptResult(result));
          } catch (error) {
            show(h("p", { class: "error", role: "alert" }, describeError(error)));
          }
        },
      }, form.element, h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Get prompt"))));
  }
  promptSelect.addEventListener("change", drawPrompt);

  async function listAll() {
    const caps = client.capabilities || {};
    const [toolsResult, resourcesResult, promptsResult] = await Promise.all([
      caps.tools ? client.request("tools/list", {}, { signal }) : { tools: [] },
      caps.resources ? client.request("resources/list", {}, { signal }).catch(() => ({ resources: [] })) : { resources: [] },
      caps.prompts ? client.request("prompts/list", {}, { signal }).catch(() => ({ prompts: [] })) : { prompts: [] },
    ]);
    tools = toolsResult.tools || [];
    replace(toolSelect, tools.length ? tools.map((t) => h("option", { value: t.name }, t.title ? `${t.title} (${t.name})` : t.name)) : h("option", { value: "" }, "No tools"));
    drawTool();
    const resources = resourcesResult.resources || [];
    replace(resourceList, resources.length ? resources.map((r) => h("li", {},
      h("button", {
        type: "button", class: "link",
        onclick: async () => {
          try {
            show(h("h3", {}, `Resource ${r.uri}`), renderResourceContents(await client.request("resources/read", { uri: r.uri }, { onNotification, onRequest, onInputRequired, signal })));
          } catch (error) { show(h("p", { class: "error", role: "alert" }, describeError(error))); }
        },
      }, r.name || r.uri), r.description ? ` ${r.description}` : "")) : h("li", { class: "hint" }, "No resources."));
    prompts = promptsResult.prompts || [];
    replace(promptSelect, prompts.length ? prompts.map((p) => h("option", { value: p.name }, p.name)) : h("option", { value: "" }, "No prompts"));
    drawPrompt();
  }

  async function disconnect() {
    const old = client;
    client = null;
    workspace.hidden = true;
    disconnectButton.disabled = true;
    connection.textContent = "Not connected.";
    await old?.close();
  }

  disconnectButton.addEventListener("click", disconnect);
  const connectForm = h("form", {
    class: "panel connect",
    onsubmit: async (event) => {
      event.preventDefault();
      await disconnect();
      connectButton.disabled = true;
      connection.textContent = `Connecting to ${targetSelect.value}…`;
      const candidate = new McpClient(targetSelect.value, eraSelect.value);
      try {
        await candidate.connect();
        client = candidate;
        await listAll();
        const info = client.serverInfo ? `${client.serverInfo.name} ${client.serverInfo.version || ""}`.trim() : "the server";
        connection.textContent = `Connected to ${info} at ${client.url}: protocol ${client.protocolVersion}, ${client.era === SESSION_ERA ? "with a session" : "stateless"}. ${tools.length} tools.`;
        workspace.hidden = false;
        disconnectButton.disabled = false;
        log("connect", connection.textContent);
      } catch (error) {
        connection.textContent = `Could not connect: ${describeError(error)}`;
        await candidate.close();
      } finally {
        connectButton.disabled = false;
      }
    },
  },
  h("div", { class: "field inline" }, h("label", { for: "console-target" }, "Endpoint"), targetSelect),
  h("div", { class: "field inline" }, h("label", { for: "console-era" }, "Protocol"), eraSelect),
  h("div", { class: "actions" }, connectButton, disconnectButton));

  replace(workspace,
    h("section", { class: "panel", "aria-labelledby": "tools-title" },
      h("h2", { id: "tools-title" }, "Tools"),
      labelled("Tool", toolSelect).wrapper, toolInfo),
    h("section", { class: "panel", "aria-labelledby": "activity-title" },
      h("h2", { id: "activity-title" }, "Activity"),
      h("div", { class: "field" }, h("label", { for: "call-progress" }, "Progress"), progress, " ", progressText),
      activityLog),
    h("section", { class: "panel wide", "aria-labelledby": "output-title" },
      h("h2", { id: "output-title" }, "Output"), output),
    h("section", { class: "panel", "aria-labelledby": "resources-title" },
      h("h2", { id: "resources-title" }, "Resources"), resourceList),
    h("section", { class: "panel", "aria-labelledby": "prompts-title" },
      h("h2", { id: "prompts-title" }, "Prompts"), labelled("Prompt", promptSelect).wrapper, promptInfo));

  replace(main,
    h("div", { class: "page-head" }, h("div", {}, h("h1", { tabindex: "-1" }, "MCP console"),
      h("p", { class: "hint" }, "Talk to an MCP endpoint through the gateway, as yourself."))),
    connectForm, connection, workspace);

  const groups = await targets(signal);
  const wanted = query.get("target");
  replace(targetSelect, groups.filter((g) => g.options.length).map((g) => h("optgroup", { label: g.label },
    g.options.map((o) => h("option", { value: o.value, selected: o.value === wanted }, o.label)))));
  if (wanted && ![...targetSelect.options].some((o) => o.value === wanted)) {
    targetSelect.prepend(h("option", { value: wanted, selected: true }, wanted));
  }
  return () => { disconnect(); };
}

