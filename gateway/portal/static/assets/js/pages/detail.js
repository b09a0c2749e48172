// One record: its endpoint and client snippets, its status per replica, its logs (followed live), the
// record itself, and the actions the API allows (edit, restart, delete with confirmation, console).

import { api, apiFetch, describeError } from "../api.js";
import { announce, codeBlock, copyButton, formatTime, h, labelled, pretty, replace, uid } from "../dom.js";
import { phaseClass, sourceOf } from "../kinds.js";
import { navigate } from "../router.js";
import { clientSnippets } from "../snippets.js";
import { readEvents } from "../sse.js";

const STATUS_POLL_MS = 2000;
const MAX_LOG_LINES = 2000;

function definitionList(entries) {
  return h("dl", { class: "facts" }, entries.filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function endpointSection(kind, record, config) {
  const url = `${config.publicOrigin}${kind.mcpPath(record.name)}`;
  const snippets = clientSnippets(record.name, url);
  return h("section", { class: "panel", "aria-labelledby": "endpoint-title" },
    h("h2", { id: "endpoint-title" }, "MCP endpoint"),
    h("div", { class: "endpoint" },
      h("code", { "data-testid": "endpoint-url" }, url),
      copyButton(url, "Copy the endpoint URL"),
      h("a", { class: "button secondary small", href: `/portal/console?target=${encodeURIComponent(kind.mcpPath(record.name))}` }, "Open in console")),
    snippets.map((snippet) => h("details", { class: "snippet" },
      h("summary", {}, snippet.title),
      h("div", { class: "snippet-body" }, codeBlock(snippet.text, snippet.title), copyButton(snippet.text, `Copy the ${snippet.title} snippet`)))));
}

function statusSection() {
  const body = h("div", {}, h("p", { class: "hint" }, "Reading the status…"));
  const section = h("section", { class: "panel", "aria-labelledby": "status-title" }, h("h2", { id: "status-title" }, "Status"), body);
  return { section, body };
}

function drawStatus(body, status) {
  replace(body,
    h("p", { class: "status-summary" },
      h("span", { class: phaseClass(status.phase), "data-testid": "detail-phase" }, status.phase), " ",
      status.replicaStatus, status.image && status.image !== "Unknown" ? ` · ${status.image}` : ""),
    status.lastError ? h("p", { class: "error" }, `Last error: ${status.lastError}`) : null,
    h("div", { class: "table-wrap" },
      h("table", { class: "data" },
        h("caption", { class: "visually-hidden" }, "Replicas"),
        h("thead", {}, h("tr", {}, ["Replica", "Ready", "Restarts", "Last exit", "Since", "Sessions", "Last error"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, (status.replicas || []).map((r) => h("tr", {},
          h("th", { scope: "row" }, r.id),
          h("td", {}, r.ready ? "yes" : "no"),
          h("td", {}, String(r.restarts ?? 0)),
          h("td", {}, r.lastExitCode ?? ""),
          h("td", {}, formatTime(r.since)),
          h("td", {}, r.sessions !== null && r.sessions !== undefined ? `${r.sessions}${r.maxSessions ? `/${r.maxSessions}` : ""}` : ""),
          h("td", { class: "clip" }, r.lastError || "")))))));
}

/** The logs panel: a replica picker, a follow switch, and the lines (last ones, then live ones). */
function logsSection(kind, name, signal) {
  const output = h("pre", { class: "code logs", tabindex: "0", role: "log", "aria-label": "Log lines", "data-testid": "logs" });
  const replicaSelect = h("select", { id: uid("replica") }, h("option", { value: "0" }, "Replica 0"));
  const follow = h("input", { type: "checkbox", id: uid("follow"), checked: true });
  const state = h("p", { class: "hint", role: "status" });
  let stream = null;
  let lines = 0;

  function add(text) {
    output.append(text + "\n");
    lines += 1;
    while (lines > MAX_LOG_LINES && output.firstChild) { output.firstChild.remove(); lines -= 1; }
    if (output.scrollHeight - output.scrollTop - output.clientHeight < 80) output.scrollTop = output.scrollHeight;
  }

  async function load() {
    stream?.abort();
    stream = new AbortController();
    const local = stream;
    signal.addEventListener("abort", () => local.abort(), { once: true });
    output.textContent = "";
    lines = 0;
    const base = `${kind.api}/${encodeURIComponent(name)}/logs?instance=${encodeURIComponent(replicaSelect.value)}&tail=200`;
    try {
      if (!follow.checked) {
        const text = await api.get(base, { signal: local.signal, headers: { Accept: "text/plain" } });
        String(text || "").split("\n").filter((l, i, all) => l || i < all.length - 1).forEach(add);
        state.textContent = "Showing the last lines.";
        return;
      }
      const response = await apiFetch("GET", `${base}&follow=true`, { signal: local.signal, raw: true, headers: { Accept: "text/event-stream" } });
      state.textContent = "Following: new lines appear as the replica writes them.";
      for await (const event of readEvents(response, local.signal)) {
        add(event.event === "error" ? `[${event.data}]` : event.data);
      }
      if (!local.signal.aborted) state.textContent = "The log stream ended (the replica stopped).";
    } catch (error) {
      if (!local.signal.aborted) state.textContent = `Logs unavailable: ${describeError(error)}`;
    }
  }

  replicaSelect.addEventListener("change", load);
  follow.addEventListener("change", load);
  const section = h("section", { class: "panel", "aria-labelledby": "logs-title" },
    h("h2", { id: "logs-title" }, "Logs"),
    h("div", { class: "toolbar" },
      h("div", { class: "field inline" }, h("label", { for: replicaSelect.id }, "Replica"), replicaSelect),
      h("div", { class: "field inline check" }, follow, h("label", { for: follow.id }, "Follow live")),
      h("button", { type: "button", class: "secondary small", onclick: load }, "Reload")),
    state, output);

  function setReplicas(count) {
    const wanted = Math.max(count, 1);
    if (replicaSelect.options.length === wanted) return;
    const selected = replicaSelect.value;
    replace(replicaSelect, Array.from({ length: wanted }, (_, i) => h("option", { value: String(i) }, `Replica ${i}`)));
    replicaSelect.value = Number(selected) < wanted ? selected : "0";
  }
  return { section, load, setReplicas, stop: () => stream?.abort() };
}

function deleteDialog(kind, name) {
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "delete-title", "aria-describedby": "delete-text" });
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const close = () => { dialog.close(); dialog.remove(); };
  dialog.append(
    h("h2", { id: "delete-title" }, `Delete ${kind.singular} ${name}?`),
    h("p", { id: "delete-text" }, kind.workloads
      ? "Its replicas stop and its MCP endpoint goes away. This cannot be undone."
      : "Its MCP endpoint goes away. This cannot be undone."),
    problem,
    h("div", { class: "actions" },
      h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          try {
            await api.delete(`${kind.api}/${encodeURIComponent(name)}`);
            close();
            announce(`Deleted ${name}`);
            navigate(`/portal/${kind.path}`);
          } catch (error) {
            problem.textContent = describeError(error);
            problem.hidden = false;
          }
        },
      }, "Delete"),
      h("button", { type: "button", class: "secondary", autofocus: true, onclick: close }, "Cancel")));
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

export async function renderDetail(main, kind, name, { setTitle, signal, config }) {
  setTitle(name);
  replace(main, h("p", { class: "hint", role: "status" }, `Loading ${name}…`));
  let record;
  try {
    record = await api.get(`${kind.api}/${encodeURIComponent(name)}`, { signal });
  } catch (error) {
    if (signal.aborted) return null;
    replace(main, h("section", { class: "panel" },
      h("h1", { tabindex: "-1" }, name),
      h("p", { class: "error", role: "alert" }, describeError(error)),
      h("p", {}, h("a", { href: `/portal/${kind.path}` }, `Back to the ${kind.title.toLowerCase()}`))));
    return null;
  }

  const actions = h("div", { class: "actions" },
    h("a", { class: "button secondary", href: `/portal/${kind.path}/${encodeURIComponent(name)}/edit` }, "Edit"),
    kind.workloads ? h("button", {
      type: "button", class: "secondary",
      onclick: async () => {
        try {
          await api.post(`${kind.api}/${encodeURIComponent(name)}/restart`);
          announce(`Restarting ${name}: replicas are replaced one at a time`);
        } catch (error) { announce(describeError(error)); }
      },
    }, "Restart") : null,
    h("button", { type: "button", class: "danger", onclick: () => deleteDialog(kind, name) }, "Delete"));

  const facts = definitionList([
    ["Kind", kind.singular],
    ["Description", record.description],
    ["Source", sourceOf(record)],
    ["Transport", record.transport],
    ["Replicas", record.replicaCount !== undefined ? String(record.replicaCount) : null],
    ["Required roles", (record.requiredRoles || []).join(", ") || "none (creator and admins only)"],
    ["Environment variables", Object.keys(record.environmentVariables || {}).join(", ")],
    ["Created by", record.createdBy],
    ["Created", formatTime(record.createdAt)],
    ["Updated", formatTime(record.lastUpdatedAt)],
  ]);

  const status = kind.workloads ? statusSection() : null;
  const logs = kind.workloads ? logsSection(kind, name, signal) : null;

  replace(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: `/portal/${kind.path}` }, kind.title), " / ", name),
    h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, name), actions),
    endpointSection(kind, record, config),
    status?.section,
    h("section", { class: "panel", "aria-labelledby": "record-title" },
      h("h2", { id: "record-title" }, "Record"),
      facts,
      h("details", {}, h("summary", {}, "The record as JSON"), codeBlock(pretty(record), "The record as JSON"))),
    logs?.section);

  if (!kind.workloads) return null;
  let timer = null;
  async function poll() {
    try {
      const current = await api.get(`${kind.api}/${encodeURIComponent(name)}/status`, { signal });
      drawStatus(status.body, current);
      logs.setReplicas((current.replicas || []).length || record.replicaCount || 1);
    } catch (error) {
      if (!signal.aborted) replace(status.body, h("p", { class: "error" }, describeError(error)));
    }
  }
  await poll();
  logs.load();
  timer = setInterval(() => { if (!document.hidden) poll(); }, STATUS_POLL_MS);
  return () => { clearInterval(timer); logs.stop(); };
}
