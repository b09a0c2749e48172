// The REST client: the same API every other client uses, with the signed-in identity's headers, so the
// portal can show and do exactly what the API allows (RBAC is the API's, never the page's).

import { authHeaders, onUnauthorized } from "./auth.js";

export class ApiError extends Error {
  constructor(status, problem, fallbackText = "") {
    const title = problem?.title || `HTTP ${status}`;
    super(problem?.detail || fallbackText || title);
    this.status = status;
    this.title = title;
    this.problem = problem;
    /** [{field, message}] from a 400 problem's `errors`. */
    this.fieldErrors = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

async function readBody(response) {
  const type = response.headers.get("content-type") || "";
  if (response.status === 204 || response.status === 205) return null;
  if (type.includes("json")) return response.json();
  return response.text();
}

/** fetch with the identity's headers; JSON in and out; a non-2xx answer throws an ApiError. */
export async function apiFetch(method, path, { body, headers = {}, signal, raw = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...authHeaders(), ...headers }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (raw && response.ok) return response;
  if (!response.ok) {
    let problem = null;
    let text = "";
    try {
      const parsed = await readBody(response);
      if (parsed && typeof parsed === "object") problem = parsed;
      else text = String(parsed || "");
    } catch { /* an unreadable error body still has a status */ }
    if (response.status === 401) onUnauthorized();
    throw new ApiError(response.status, problem, text);
  }
  const data = await readBody(response);
  return { data, etag: response.headers.get("etag"), response };
}

export const api = {
  get: (path, options) => apiFetch("GET", path, options).then((r) => r.data),
  getVersioned: (path, options) => apiFetch("GET", path, options),
  post: (path, body, options) => apiFetch("POST", path, { ...options, body }).then((r) => r.data),
  put: (path, body, options) => apiFetch("PUT", path, { ...options, body }).then((r) => r.data),
  delete: (path, options) => apiFetch("DELETE", path, options).then((r) => r.data),
};

/** A sentence for an error shown to the user. */
export function describeError(error) {
  if (error instanceof ApiError) {
    if (error.status === 404) return `Not found: ${error.message}`;
    if (error.status === 403) return `Not permitted: ${error.message}`;
    return `${error.title}: ${error.message}`;
  }
  if (error?.name === "AbortError") return "Cancelled.";
  return error?.message || String(error);
}
