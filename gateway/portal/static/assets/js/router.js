// Client-side routes under /portal/: links within the portal change the page without a reload (the
// in-memory token survives), and the gateway serves the same document for every route, so deep links
// and the browser's back button work.

const routes = [];
let current = { cleanup: null, controller: null };
let renderer = null;

/** route("/adapters/:name", handler): handler(params, query, signal) renders into <main>, may return a cleanup. */
export function route(pattern, handler) {
  const names = [];
  const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, name) => { names.push(name); return "([^/]+)"; })}/?$`);
  routes.push({ regex, names, handler });
}

export function onRender(callback) {
  renderer = callback;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, "", path);
  else window.history.pushState(null, "", path);
  return render();
}

export async function render() {
  current.controller?.abort();
  if (typeof current.cleanup === "function") current.cleanup();
  const controller = new AbortController();
  current = { cleanup: null, controller };
  const path = window.location.pathname.replace(/^\/portal/, "") || "/";
  const query = new URLSearchParams(window.location.search);
  for (const { regex, names, handler } of routes) {
    const match = regex.exec(path);
    if (!match) continue;
    const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
    renderer?.(path);
    const cleanup = await handler(params, query, controller.signal);
    if (current.controller === controller) current.cleanup = cleanup;
    else if (typeof cleanup === "function") cleanup();
    return;
  }
  renderer?.(path);
  routes.find((r) => r.notFound)?.handler();
}

export function notFound(handler) {
  routes.push({ regex: /$^/, names: [], handler, notFound: true });
}

export function startRouter() {
  window.addEventListener("popstate", () => render());
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest("a[href]");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith("/portal/") || url.pathname.startsWith("/portal/assets/")) return;
    if (url.pathname === window.location.pathname && url.hash) return; // in-page anchors (the skip link)
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  return render();
}
