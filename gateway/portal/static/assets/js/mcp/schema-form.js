// A form generated from a JSON Schema object (a tool's inputSchema, an elicitation's requestedSchema, a
// prompt's arguments): one labelled control per property, typed by the schema (string, number, integer,
// boolean, enums and titled oneOf enums, arrays of enums, anything else as JSON), with the required marks,
// the defaults and the descriptions as hints. read() checks required fields and types and shows problems
// at the field.

import { h, labelled, showFieldError, uid } from "../dom.js";

/** `{type: X}` or `anyOf: [{type: X}, {type: "null"}]` (pydantic's Optional) → the non-null schema. */
function effective(schema) {
  if (!schema || typeof schema !== "object") return {};
  for (const key of ["anyOf", "oneOf"]) {
    const options = schema[key];
    if (Array.isArray(options) && !options.every((o) => "const" in o)) {
      const nonNull = options.filter((o) => o.type !== "null");
      if (nonNull.length === 1) return { ...schema, ...nonNull[0], [key]: undefined, nullable: true };
    }
  }
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((t) => t !== "null");
    if (types.length === 1) return { ...schema, type: types[0], nullable: true };
  }
  return schema;
}

/** [{value, label}] for enum-like schemas: `enum` (with optional enumNames) or oneOf/anyOf of `const`. */
function choicesOf(schema) {
  if (Array.isArray(schema.enum)) {
    return schema.enum.map((value, i) => ({ value, label: schema.enumNames?.[i] ?? String(value) }));
  }
  for (const key of ["oneOf", "anyOf"]) {
    const options = schema[key];
    if (Array.isArray(options) && options.length && options.every((o) => "const" in o)) {
      return options.map((o) => ({ value: o.const, label: o.title ?? String(o.const) }));
    }
  }
  return null;
}

function kindOf(schema) {
  const choices = choicesOf(schema);
  if (choices) return { kind: "choice", choices };
  if (schema.type === "array") {
    const items = effective(schema.items || {});
    const itemChoices = choicesOf(items);
    if (itemChoices) return { kind: "multi", choices: itemChoices };
    if (["string", "number", "integer"].includes(items.type)) return { kind: "lines", itemType: items.type };
    return { kind: "json" };
  }
  if (["string", "number", "integer", "boolean"].includes(schema.type)) return { kind: schema.type };
  return { kind: "json" };
}

function inputFor(name, schema, shape, value, idPrefix) {
  const id = `${idPrefix}-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const common = { id, name, "data-arg": name };
  switch (shape.kind) {
    case "choice": {
      const current = value === undefined ? "" : JSON.stringify(value);
      return h("select", common,
        h("option", { value: "" }, "(not set)"),
        shape.choices.map((c) => h("option", { value: JSON.stringify(c.value), selected: current === JSON.stringify(c.value) }, c.label)));
    }
    case "multi": {
      const selected = new Set((value || []).map((v) => JSON.stringify(v)));
      return h("select", { ...common, multiple: true, size: Math.min(6, shape.choices.length) },
        shape.choices.map((c) => h("option", { value: JSON.stringify(c.value), selected: selected.has(JSON.stringify(c.value)) }, c.label)));
    }
    case "boolean":
      return h("input", { ...common, type: "checkbox", checked: Boolean(value) });
    case "number":
    case "integer":
      return h("input", { ...common, type: "number", step: shape.kind === "integer" ? "1" : "any",
        min: schema.minimum, max: schema.maximum, value: value ?? "" });
    case "lines":
      return h("textarea", { ...common, rows: 3 }, (value || []).join("\n"));
    case "json":
      return h("textarea", { ...common, rows: 4, class: "mono", spellcheck: "false" }, value === undefined ? "" : JSON.stringify(value, null, 2));
    default: {
      const long = (schema.maxLength ?? 0) > 200 || schema.format === "textarea";
      const type = { email: "email", uri: "url", date: "date", "date-time": "datetime-local" }[schema.format] || "text";
      return long ? h("textarea", { ...common, rows: 3 }, value ?? "")
        : h("input", { ...common, type, value: value ?? "", autocomplete: "off", spellcheck: "false" });
    }
  }
}

function numberOf(text, integer) {
  const number = Number(text);
  if (text.trim() === "" || Number.isNaN(number)) throw new Error("must be a number");
  if (integer && !Number.isInteger(number)) throw new Error("must be a whole number");
  return number;
}

function readControl(shape, input) {
  switch (shape.kind) {
    case "choice": return input.value === "" ? undefined : JSON.parse(input.value);
    case "multi": return Array.from(input.selectedOptions, (o) => JSON.parse(o.value));
    case "boolean": return input.checked;
    case "number":
    case "integer": return input.value.trim() === "" ? undefined : numberOf(input.value, shape.kind === "integer");
    case "lines": {
      const lines = input.value.split("\n").map((l) => l.trim()).filter(Boolean);
      return shape.itemType === "string" ? lines : lines.map((l) => numberOf(l, shape.itemType === "integer"));
    }
    case "json": {
      if (!input.value.trim()) return undefined;
      try { return JSON.parse(input.value); } catch { throw new Error("is not valid JSON"); }
    }
    default: return input.value === "" ? undefined : input.value;
  }
}

/**
 * buildSchemaForm(schema, {idPrefix, values}) → {element, read, empty}.
 * read() returns {ok: true, value} or {ok: false} after marking the fields at fault.
 */
export function buildSchemaForm(schema, { idPrefix = uid("arg"), values = {} } = {}) {
  const root = effective(schema || {});
  const properties = root.properties || {};
  const required = new Set(root.required || []);
  const rows = [];
  for (const [name, raw] of Object.entries(properties)) {
    const property = effective(raw);
    const shape = kindOf(property);
    const initial = values[name] !== undefined ? values[name] : property.default;
    const input = inputFor(name, property, shape, initial, idPrefix);
    const label = property.title && property.title.toLowerCase() !== name.toLowerCase() ? `${property.title} (${name})` : name;
    const typeHint = shape.kind === "json" ? "JSON" : shape.kind === "lines" ? "one per line" : shape.kind === "multi" ? "choose any" : property.type || "";
    const hint = [property.description, typeHint && `(${typeHint})`].filter(Boolean).join(" ");
    let control;
    if (shape.kind === "boolean") {
      const errorId = `${input.id}-error`;
      input.setAttribute("aria-describedby", errorId);
      const error = h("p", { class: "field-error", id: errorId, hidden: true });
      const wrapper = h("div", { class: "field check" }, input, h("label", { for: input.id }, label), property.description ? h("p", { class: "hint" }, property.description) : null, error);
      control = { wrapper, input, error };
    } else {
      control = labelled(label, input, { hint, required: required.has(name) });
    }
    rows.push({ name, shape, control, required: required.has(name) && shape.kind !== "boolean" });
  }
  const element = h("div", { class: "schema-form" }, rows.length ? rows.map((r) => r.control.wrapper) : h("p", { class: "hint" }, "No arguments."));

  function read() {
    const value = {};
    let ok = true;
    for (const row of rows) {
      let item;
      try {
        item = readControl(row.shape, row.control.input);
        const missing = item === undefined || (row.shape.kind === "multi" && item.length === 0 && row.required);
        if (missing && row.required) throw new Error("is required");
        showFieldError(row.control, "");
      } catch (error) {
        showFieldError(row.control, `${row.name} ${error.message}`);
        if (ok) row.control.input.focus();
        ok = false;
        continue;
      }
      if (item !== undefined) value[row.name] = item;
    }
    return ok ? { ok, value } : { ok };
  }
  return { element, read, empty: rows.length === 0 };
}

/** A prompt's `arguments` list as an object schema, so prompts get the same form. */
export function promptArgumentsSchema(args = []) {
  return {
    type: "object",
    properties: Object.fromEntries(args.map((a) => [a.name, { type: "string", title: a.title, description: a.description }])),
    required: args.filter((a) => a.required).map((a) => a.name),
  };
}
