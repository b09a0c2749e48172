// The portal's entry point: read /portal/config, finish a sign-in if the browser just came back from the
// issuer, draw the header (navigation, identity) and hand <main> to the routes.

import { describeError } from "./api.js";
import { authMode, devIdentity, displayIdentity, initAuth, isSignedIn, onAuthChange, setDevIdentity, signOut } from "./auth.js";
import { h, labelled, replace } from "./dom.js";
import { beginSignIn, completeSignIn } from "./oidc.js";
import { navigate, notFound, onRender, render, route, startRouter } from "./router.js";
import { renderConsole } from "./pages/console.js";
import { renderDetail } from "./pages/detail.js";
import { renderForm } from "./pages/form.js";
import { renderList } from "./pages/list.js";
import { KINDS } from "./kinds.js";

const main = document.getElementById("main");
let config = null;

export function portalConfig() {
  return config;
}

function setTitle(text) {
  document.title = text ? `${text} · MCP Gateway` : "MCP Gateway";
}

function highlightNav(path) {
  const section = path.split("/")[1] || "";
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// --- identity ---------------------------------------------------------------------------------------------

function devDialog() {
  const identity = devIdentity();
  const userId = labelled("User id", h("input", { name: "userId", value: identity.userId, autocomplete: "off" }), { required: true });
  const name = labelled("Display name", h("input", { name: "name", value: identity.name, autocomplete: "off" }));
  const roles = labelled("Roles", h("input", { name: "roles", value: identity.roles, autocomplete: "off" }), { hint: "Comma-separated, e.g. mcp.dev,mcp.admin" });
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "identity-title" });
  const form = h("form", {
    method: "dialog",
    onsubmit: (event) => {
      event.preventDefault();
      setDevIdentity({ userId: userId.input.value, name: name.input.value, roles: roles.input.value });
      dialog.close();
      dialog.remove();
      render();
    },
  },
  h("h2", { id: "identity-title" }, "Development identity"),
  h("p", { class: "hint" }, "Development mode: the gateway believes the X-Dev-* headers the portal sends. Pick who to be."),
  userId.wrapper, name.wrapper, roles.wrapper,
  h("div", { class: "actions" },
    h("button", { type: "submit", class: "primary" }, "Use this identity"),
    h("button", { type: "button", class: "secondary", onclick: () => { dialog.close(); dialog.remove(); } }, "Cancel")));
  dialog.append(form);
  document.body.append(dialog);
  dialog.showModal();
  userId.input.focus();
}

function drawIdentity() {
  const box = document.getElementById("identity");
  const who = displayIdentity();
  if (authMode() === "dev") {
    replace(box,
      h("span", { class: "who" }, h("span", { class: "who-name", "data-testid": "identity-name" }, who.name), h("span", { class: "who-detail" }, who.detail)),
      h("button", { type: "button", class: "secondary small", onclick: devDialog }, "Switch identity"));
  } else if (isSignedIn()) {
    replace(box,
      h("span", { class: "who" }, h("span", { class: "who-name", "data-testid": "identity-name" }, who.name)),
      h("button", { type: "button", class: "secondary small", onclick: () => { signOut(); render(); } }, "Sign out"));
  } else {
    replace(box, h("button", { type: "button", class: "primary small", onclick: startSignIn }, "Sign in"));
  }
}

async function startSignIn() {
  try {
    await beginSignIn(config.signIn, window.location.pathname + window.location.search);
  } catch (error) {
    showSignIn(describeError(error));
  }
}

function showSignIn(problem = "") {
  setTitle("Sign in");
  replace(main,
    h("section", { class: "panel narrow" },
      h("h1", {}, "Sign in"),
      h("p", {}, "The gateway accepts tokens from its identity provider. Sign in to see the adapters, tools and servers you may use."),
      problem ? h("p", { class: "error", role: "alert" }, problem) : null,
      h("button", { type: "button", class: "primary", onclick: startSignIn }, "Sign in with your organization")));
}

// --- routes -----------------------------------------------------------------------------------------------

function guarded(handler) {
  return (params, query, signal) => {
    if (!isSignedIn()) {
      showSignIn();
      return null;
    }
    return handler(params, query, signal);
  };
}

function registerRoutes() {
  route("/", guarded(() => navigate("/portal/adapters", { replace: true })));
  for (const kind of Object.values(KINDS)) {
    route(`/${kind.path}`, guarded((_, query, signal) => renderList(main, kind, { setTitle, signal, query })));
    route(`/${kind.path}/new`, guarded((_, query, signal) => renderForm(main, kind, null, { setTitle, signal })));
    route(`/${kind.path}/:name`, guarded(({ name }, query, signal) => renderDetail(main, kind, name, { setTitle, signal, config })));
    route(`/${kind.path}/:name/edit`, guarded(({ name }, query, signal) => renderForm(main, kind, name, { setTitle, signal })));
  }
  route("/console", guarded((_, query, signal) => renderConsole(main, { setTitle, signal, query, config })));
  notFound(() => {
    setTitle("Not found");
    replace(main, h("section", { class: "panel" }, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/portal/adapters" }, "Go to the adapters"))));
  });
}

async function boot() {
  try {
    const response = await fetch("/portal/config", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`GET /portal/config answered ${response.status}`);
    config = await response.json();
  } catch (error) {
    replace(main, h("p", { class: "error", role: "alert" }, `The portal could not load its configuration: ${describeError(error)}`));
    return;
  }
  initAuth(config.authMode);
  onAuthChange(drawIdentity);
  onRender((path) => { highlightNav(path); drawIdentity(); });
  registerRoutes();
  if (config.signIn) {
    try {
      const returnTo = await completeSignIn(config.signIn);
      if (returnTo) window.history.replaceState(null, "", returnTo);
    } catch (error) {
      drawIdentity();
      showSignIn(describeError(error));
      return;
    }
  }
  drawIdentity();
  await startRouter();
}

boot();
