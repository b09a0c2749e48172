// Building DOM nodes without innerHTML: every text from the API or a server goes in as a text node, so
// nothing a record, a log line or a tool result contains can become markup or script.

let idCounter = 0;

/** A unique id for label/for and aria-describedby pairs. */
export function uid(prefix = "id") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Close"}, "text", child, ...)
 * Attributes: `class`, `text`, `on<event>` handlers, `dataset` (object), booleans (set when true),
 * anything else as an attribute. Children: nodes, strings, numbers, arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (name === "text") el.textContent = String(value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "value" && "value" in el) el.value = value;
    else if (name === "checked" || name === "selected") el[name] = Boolean(value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

/** A labelled control: returns {wrapper, input, error} so forms can show field errors next to it. */
export function labelled(labelText, input, { hint = null, required = false } = {}) {
  if (!input.id) input.id = uid("field");
  const errorId = `${input.id}-error`;
  const hintId = hint ? `${input.id}-hint` : null;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const described = [hintId, errorId].filter(Boolean).join(" ");
  input.setAttribute("aria-describedby", described);
  if (required) input.setAttribute("aria-required", "true");
  // The required mark sits beside the label, not in it: the control's name stays the label's words, and
  // aria-required says "required" to assistive technology.
  const label = h("span", { class: "label-row" }, h("label", { for: input.id }, labelText),
    required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null);
  const wrapper = h("div", { class: "field" }, label, hint ? h("p", { class: "hint", id: hintId }, hint) : null, input, error);
  return { wrapper, input, error };
}

export function showFieldError(control, message) {
  control.error.textContent = message;
  control.error.hidden = !message;
  if (message) control.input.setAttribute("aria-invalid", "true");
  else control.input.removeAttribute("aria-invalid");
}

/** Brief announcement in the polite live region (copy done, saved, deleted...). */
export function announce(message) {
  const toast = document.getElementById("toast");
  if (!toast) return;
  toast.textContent = "";
  // A fresh text node after a tick makes screen readers announce repeated messages too.
  setTimeout(() => { toast.textContent = message; }, 30);
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { toast.textContent = ""; }, 6000);
}

export function formatTime(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** A scrollable code block, focusable so keyboard users can scroll it. */
export function codeBlock(text, label, extraClass = "") {
  return h("pre", { class: ["code", extraClass], tabindex: "0", "aria-label": label }, text);
}

/** A copy-to-clipboard button for `text()`; announces the result. */
export function copyButton(text, label) {
  return h("button", {
    type: "button", class: "secondary small",
    "aria-label": label,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(typeof text === "function" ? text() : text);
        announce("Copied to the clipboard");
      } catch {
        announce("Copying failed: select the text and copy it yourself");
      }
    },
  }, "Copy");
}
