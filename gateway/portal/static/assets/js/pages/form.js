// Create and edit forms. The API is the validator: the form sends what was typed, and each field error of
// a 400 problem+json (`errors: [{field, message}]`) is shown at its field, with a summary linking to them.

import { ApiError, api, apiFetch, describeError } from "../api.js";
import { announce, h, labelled, replace, showFieldError } from "../dom.js";
import { navigate } from "../router.js";

const NAME_HINT = "Lowercase letters, digits and dashes, starting with a letter (at most 52 characters).";
const SOURCES = [
  { value: "command", label: "Command (a process the gateway runs)" },
  { value: "url", label: "URL (a server that already runs)" },
  { value: "image", label: "Container image (Kubernetes runtime)" },
];

// type: text | textarea | number | select | checkbox | lines (one per line) | list (comma-separated)
//       | env (NAME=value lines) | json.   sources: shown only for these workload sources.
const WORKLOAD_FIELDS = [
  { name: "command", label: "Command", sources: ["command"], hint: "The program, e.g. python3 or npx." },
  { name: "args", label: "Arguments", type: "lines", sources: ["command"], hint: "One argument per line." },
  { name: "url", label: "URL", sources: ["url"], hint: "The server's MCP endpoint, or its SSE endpoint with transport sse." },
  { name: "transport", label: "Transport", type: "select", sources: ["command", "url"], options: ["", "stdio", "streamable-http", "sse"],
    optionLabels: { "": "Default (stdio for a command)" } },
  { name: "path", label: "Path", sources: ["command", "image"], hint: "Where the server serves MCP when that is not /mcp (streamable-http and images), or its SSE path." },
  { name: "imageName", label: "Image name", sources: ["image"] },
  { name: "imageVersion", label: "Image version", sources: ["image"] },
  { name: "replicaCount", label: "Replicas", type: "number", min: 0, max: 50, initial: 1 },
  { name: "environmentVariables", label: "Environment variables", type: "env", hint: "NAME=value, one per line." },
  { name: "requiredRoles", label: "Required roles", type: "list", hint: "Comma-separated. Holders of any of them may read and call it; empty: only you and admins." },
  { name: "useWorkloadIdentity", label: "Use workload identity (Kubernetes; admins only)", type: "checkbox" },
];

const TOOL_FIELDS = [
  { name: "toolDefinition.tool.title", label: "Tool title" },
  { name: "toolDefinition.tool.description", label: "Tool description", type: "textarea", hint: "What the model reads to decide when to call it." },
  { name: "toolDefinition.tool.inputSchema", label: "Input schema (JSON)", type: "json", initial: { type: "object", properties: {} } },
  { name: "toolDefinition.port", label: "Tool port", type: "number", min: 1, max: 65535, initial: 8000 },
  { name: "toolDefinition.path", label: "Tool path", initial: "/score", hint: "The tool router POSTs the arguments here." },
];

const SERVER_FIELDS = [
  { name: "requiredRoles", label: "Required roles", type: "list", hint: "Comma-separated. Empty: only you and admins." },
  { name: "members", label: "Members (JSON)", type: "json", initial: [],
    hint: 'A list like [{"adapter": "calc", "include": ["add"]}, {"tool": "weather"}].' },
  { name: "toolSearch", label: "Tool search", type: "select", options: ["off", "only", "beside"] },
];

function fieldsFor(kind) {
  const top = [{ name: "name", label: "Name", hint: NAME_HINT, required: true }, { name: "description", label: "Description", type: "textarea" }];
  if (kind.path === "servers") return [...top, ...SERVER_FIELDS];
  return [...top, ...WORKLOAD_FIELDS, ...(kind.path === "tools" ? TOOL_FIELDS : [])];
}

function getPath(object, path) {
  return path.split(".").reduce((value, key) => (value === null || value === undefined ? undefined : value[key]), object);
}

function setPath(object, path, value) {
  const keys = path.split(".");
  let target = object;
  for (const key of keys.slice(0, -1)) target = target[key] ??= {};
  target[keys.at(-1)] = value;
}

function makeInput(field, value) {
  const id = `field-${field.name.replace(/\W/g, "-")}`;
  const common = { id, name: field.name, "data-field": field.name };
  switch (field.type) {
    case "textarea": return h("textarea", { ...common, rows: 3 }, value ?? "");
    case "lines": return h("textarea", { ...common, rows: 3, spellcheck: "false" }, (value || []).join("\n"));
    case "env": return h("textarea", { ...common, rows: 3, spellcheck: "false" },
      Object.entries(value || {}).map(([k, v]) => `${k}=${v}`).join("\n"));
    case "json": return h("textarea", { ...common, rows: 6, spellcheck: "false", class: "mono" },
      JSON.stringify(value ?? field.initial, null, 2));
    case "list": return h("input", { ...common, type: "text", value: (value || []).join(", ") });
    case "number": return h("input", { ...common, type: "number", min: field.min, max: field.max, value: value ?? field.initial ?? "" });
    case "checkbox": return h("input", { ...common, type: "checkbox", checked: Boolean(value) });
    case "select": return h("select", common, field.options.map((o) => h("option", { value: o, selected: (value ?? "") === o }, field.optionLabels?.[o] ?? o)));
    default: return h("input", { ...common, type: "text", value: value ?? field.initial ?? "", autocomplete: "off", spellcheck: "false" });
  }
}

/** The typed value of one control, or throws {message} for text that cannot be one (JSON, env lines). */
function readValue(field, input) {
  const text = input.value;
  switch (field.type) {
    case "checkbox": return input.checked;
    case "number": return text.trim() === "" ? undefined : Number(text);
    case "lines": return text.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
    case "list": return text.split(",").map((s) => s.trim()).filter(Boolean);
    case "env": {
      const env = {};
      for (const [index, line] of text.split("\n").entries()) {
        if (!line.trim()) continue;
        const eq = line.indexOf("=");
        if (eq <= 0) throw { message: `line ${index + 1} is not NAME=value` };
        env[line.slice(0, eq).trim()] = line.slice(eq + 1);
      }
      return env;
    }
    case "json": {
      if (!text.trim()) return undefined;
      try { return JSON.parse(text); } catch (error) { throw { message: `is not valid JSON (${error.message})` }; }
    }
    case "select": return text === "" ? undefined : text;
    default: return text.trim() === "" && field.name !== "name" ? undefined : text.trim();
  }
}

function sourceOfRecord(record) {
  if (!record) return "command";
  if (record.url) return "url";
  if (record.imageName) return "image";
  return "command";
}

export async function renderForm(main, kind, name, { setTitle, signal }) {
  const editing = name !== null;
  setTitle(editing ? `Edit ${name}` : `New ${kind.singular}`);
  let record = null;
  let etag = null;
  if (editing) {
    try {
      const result = await apiFetch("GET", `${kind.api}/${encodeURIComponent(name)}`, { signal });
      record = result.data;
      etag = result.etag;
    } catch (error) {
      if (!signal.aborted) replace(main, h("p", { class: "error", role: "alert" }, describeError(error)));
      return null;
    }
  }

  const fields = fieldsFor(kind);
  const controls = new Map();
  for (const field of fields) {
    const input = makeInput(field, record ? getPath(record, field.name) : undefined);
    if (field.name === "name" && editing) input.readOnly = true;
    const control = field.type === "checkbox"
      ? checkboxControl(field, input)
      : labelled(field.label, input, { hint: field.hint, required: field.required });
    control.field = field;
    controls.set(field.name, control);
  }

  const workload = kind.workloads;
  let source = sourceOfRecord(record);
  const sourceFieldset = workload ? h("fieldset", { class: "field" },
    h("legend", {}, "Source"),
    SOURCES.map((s) => h("div", { class: "check" },
      h("input", { type: "radio", name: "source", id: `source-${s.value}`, value: s.value, checked: s.value === source,
        onchange: () => { source = s.value; applySource(); } }),
      h("label", { for: `source-${s.value}` }, s.label)))) : null;

  function applySource() {
    for (const control of controls.values()) {
      const sources = control.field.sources;
      control.wrapper.hidden = Boolean(sources) && !sources.includes(source);
    }
  }

  const summary = h("div", { class: "error-summary", role: "alert", tabindex: "-1", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : `Create ${kind.singular}`);
  const cancelHref = editing ? `/portal/${kind.path}/${encodeURIComponent(name)}` : `/portal/${kind.path}`;
  const form = h("form", { class: "panel form", novalidate: true, "aria-labelledby": "form-title" },
    summary,
    controls.get("name").wrapper, controls.get("description").wrapper,
    sourceFieldset,
    [...controls.values()].filter((c) => !["name", "description"].includes(c.field.name)).map((c) => c.wrapper),
    h("div", { class: "actions" }, submit, h("a", { class: "button secondary", href: cancelHref }, "Cancel")));
  applySource();

  function clearErrors() {
    for (const control of controls.values()) showFieldError(control, "");
    summary.hidden = true;
    replace(summary);
  }

  /** The control an API field path belongs to: the longest field name that is the path or its prefix. */
  function controlFor(path) {
    let best = null;
    for (const [fieldName, control] of controls) {
      if ((path === fieldName || path.startsWith(`${fieldName}.`)) && !control.wrapper.hidden
          && (!best || fieldName.length > best.field.name.length)) best = control;
    }
    return best;
  }

  function showErrors(errors, fallback) {
    const items = [];
    const perControl = new Map();
    for (const { field, message } of errors) {
      const control = controlFor(field);
      if (control) {
        const suffix = field === control.field.name ? "" : ` (${field.slice(control.field.name.length + 1)})`;
        perControl.set(control, [...(perControl.get(control) || []), `${message}${suffix}`]);
        items.push(h("li", {}, h("a", {
          href: `#${control.input.id}`,
          onclick: (event) => { event.preventDefault(); control.input.focus(); },
        }, `${control.field.label}: ${message}`)));
      } else {
        items.push(h("li", {}, field === "body" ? message : `${field}: ${message}`));
      }
    }
    for (const [control, messages] of perControl) showFieldError(control, messages.join("; "));
    replace(summary,
      h("h2", {}, items.length ? `Please correct ${items.length === 1 ? "this field" : `these ${items.length} fields`}` : "The request failed"),
      items.length ? h("ul", {}, items) : h("p", {}, fallback));
    summary.hidden = false;
    summary.focus();
  }

  function buildBody() {
    const body = {};
    const problems = [];
    for (const [fieldName, control] of controls) {
      if (control.wrapper.hidden) continue;
      try {
        const value = readValue(control.field, control.input);
        if (value !== undefined) setPath(body, fieldName, value);
      } catch (problem) {
        problems.push({ field: fieldName, message: problem.message });
      }
    }
    if (kind.path === "tools") {
      // The tool's name is the resource's; fields the form does not show (outputSchema, annotations) stay.
      const kept = record?.toolDefinition?.tool || {};
      body.toolDefinition ??= {};
      body.toolDefinition.tool = { ...kept, ...(body.toolDefinition.tool || {}), name: body.name };
    }
    return { body, problems };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const { body, problems } = buildBody();
    if (problems.length) { showErrors(problems); return; }
    submit.disabled = true;
    try {
      if (editing) {
        await api.put(`${kind.api}/${encodeURIComponent(name)}`, body, { headers: etag ? { "If-Match": etag } : {} });
        announce(`Saved ${name}`);
      } else {
        await api.post(kind.api, body);
        announce(`Created ${body.name}`);
      }
      navigate(`/portal/${kind.path}/${encodeURIComponent(body.name)}`);
    } catch (error) {
      if (error instanceof ApiError && error.fieldErrors.length) showErrors(error.fieldErrors, error.message);
      else showErrors([], describeError(error));
    } finally {
      submit.disabled = false;
    }
  });

  replace(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: `/portal/${kind.path}` }, kind.title), " / ", editing ? name : "new"),
    h("h1", { id: "form-title", tabindex: "-1" }, editing ? `Edit ${kind.singular} ${name}` : `New ${kind.singular}`),
    form);
  controls.get(editing ? "description" : "name").input.focus();
  return null;
}

function checkboxControl(field, input) {
  const errorId = `${input.id}-error`;
  input.setAttribute("aria-describedby", errorId);
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const wrapper = h("div", { class: "field check" }, input, h("label", { for: input.id }, field.label), error);
  return { wrapper, input, error };
}
