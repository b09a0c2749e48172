// A kind's table: name, source, live phase and readiness (each row's /status, polled), owner and roles,
// with a text filter and a phase filter. Rows are only what the API lists for this identity.

import { api, describeError } from "../api.js";
import { formatTime, h, replace } from "../dom.js";
import { PHASES, phaseClass } from "../kinds.js";

const POLL_MS = 3000;
const STATUS_CONCURRENCY = 6;

async function mapLimited(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]).catch((error) => ({ error }));
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function matches(record, status, text, phase) {
  if (phase && (status?.phase || "") !== phase) return false;
  if (!text) return true;
  const haystack = [record.name, record.description, record.createdBy, record.command, record.url, record.imageName,
    ...(record.requiredRoles || [])].filter(Boolean).join(" ").toLowerCase();
  return haystack.includes(text.toLowerCase());
}

export async function renderList(main, kind, { setTitle, signal, query }) {
  setTitle(kind.title);
  const search = h("input", { type: "search", id: "filter-text", placeholder: "Name, owner, command…", value: query.get("q") || "" });
  const phaseSelect = h("select", { id: "filter-phase" }, h("option", { value: "" }, "Any phase"), PHASES.map((p) => h("option", { value: p }, p)));
  const statusLine = h("p", { class: "status-line", role: "status" });
  const tbody = h("tbody");
  const columns = ["Name", "Source", ...(kind.workloads ? ["Phase", "Ready"] : []), "Owner", "Required roles", "Updated"];
  const table = h("table", { class: "data" },
    h("caption", { class: "visually-hidden" }, `${kind.title} you may read`),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    tbody);

  replace(main,
    h("div", { class: "page-head" },
      h("div", {}, h("h1", { tabindex: "-1" }, kind.title), h("p", { class: "hint" }, kind.intro)),
      h("div", { class: "actions" },
        h("a", { class: "button primary", href: `/portal/${kind.path}/new` }, `New ${kind.singular}`),
        h("button", { type: "button", class: "secondary", onclick: () => refresh() }, "Refresh"))),
    h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
      h("div", { class: "field inline" }, h("label", { for: "filter-text" }, "Filter"), search),
      kind.workloads ? h("div", { class: "field inline" }, h("label", { for: "filter-phase" }, "Phase"), phaseSelect) : null),
    statusLine,
    h("div", { class: "table-wrap" }, table));

  let records = [];
  const statuses = new Map();

  function draw() {
    const text = search.value.trim();
    const phase = kind.workloads ? phaseSelect.value : "";
    const shown = records.filter((r) => matches(r, statuses.get(r.name), text, phase));
    replace(tbody, shown.map((record) => {
      const status = statuses.get(record.name);
      const cells = [
        h("th", { scope: "row" }, h("a", { href: `/portal/${kind.path}/${encodeURIComponent(record.name)}` }, record.name)),
        h("td", { class: "clip" }, kind.summary(record)),
      ];
      if (kind.workloads) {
        const phaseText = status?.error ? "Unknown" : status?.phase || "…";
        cells.push(h("td", {}, h("span", { class: phaseClass(phaseText), "data-testid": `phase-${record.name}` }, phaseText)));
        cells.push(h("td", {}, status && !status.error ? `${status.readyReplicas ?? 0}/${record.replicaCount ?? 0}` : ""));
      }
      cells.push(h("td", {}, record.createdBy || ""), h("td", {}, (record.requiredRoles || []).join(", ")),
        h("td", {}, formatTime(record.lastUpdatedAt || record.createdAt)));
      return h("tr", { "data-name": record.name }, cells);
    }));
    if (!records.length) statusLine.textContent = `No ${kind.title.toLowerCase()} you may read yet.`;
    else if (!shown.length) statusLine.textContent = `None of the ${records.length} match the filter.`;
    else statusLine.textContent = `${shown.length} of ${records.length} shown.`;
  }

  async function refresh() {
    try {
      records = await api.get(kind.api, { signal });
      if (kind.workloads) {
        const results = await mapLimited(records, STATUS_CONCURRENCY,
          (r) => api.get(`${kind.api}/${encodeURIComponent(r.name)}/status`, { signal }));
        statuses.clear();
        records.forEach((r, i) => statuses.set(r.name, results[i]));
      }
      if (!signal.aborted) draw();
    } catch (error) {
      if (!signal.aborted) statusLine.textContent = `Could not list the ${kind.title.toLowerCase()}: ${describeError(error)}`;
    }
  }

  search.addEventListener("input", draw);
  phaseSelect.addEventListener("change", draw);
  await refresh();
  const timer = setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
  return () => clearInterval(timer);
}
