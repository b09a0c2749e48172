// Who the portal acts as. Development mode: an identity the user picks, sent as X-Dev-* headers (the
// gateway trusts them only on a loopback bind). entra/oidc: an access token from the issuer, kept in this
// module's memory only (never in storage, a URL or a log), sent as a bearer token.

const DEV_IDENTITY_KEY = "mcp-gateway-portal.dev-identity";
const DEFAULT_DEV = Object.freeze({ userId: "dev", name: "", roles: "mcp.dev" });

const state = {
  mode: "dev",
  dev: { ...DEFAULT_DEV },
  token: null,        // access token (memory only)
  expiresAt: 0,       // ms since epoch
  claims: null,       // from the id token, for display only (the gateway validates the access token)
};
const listeners = new Set();

export function initAuth(mode) {
  state.mode = mode;
  if (mode === "dev") state.dev = loadDevIdentity();
}

export function authMode() {
  return state.mode;
}

function loadDevIdentity() {
  try {
    const stored = JSON.parse(localStorage.getItem(DEV_IDENTITY_KEY) || "null");
    if (stored && typeof stored.userId === "string") {
      return { userId: stored.userId, name: String(stored.name || ""), roles: String(stored.roles || "") };
    }
  } catch { /* a damaged entry means the default identity */ }
  return { ...DEFAULT_DEV };
}

export function devIdentity() {
  return { ...state.dev };
}

export function setDevIdentity(identity) {
  state.dev = {
    userId: identity.userId.trim() || DEFAULT_DEV.userId,
    name: identity.name.trim(),
    roles: identity.roles.split(",").map((r) => r.trim()).filter(Boolean).join(","),
  };
  localStorage.setItem(DEV_IDENTITY_KEY, JSON.stringify(state.dev));
  changed();
}

export function setToken({ accessToken, expiresIn, claims }) {
  state.token = accessToken;
  state.expiresAt = Date.now() + (Number(expiresIn) || 3600) * 1000;
  state.claims = claims || null;
  changed();
}

export function signOut() {
  state.token = null;
  state.expiresAt = 0;
  state.claims = null;
  changed();
}

export function isSignedIn() {
  if (state.mode === "dev") return true;
  return Boolean(state.token) && Date.now() < state.expiresAt;
}

/** What to show in the header: a user id or name, and the roles in development mode. */
export function displayIdentity() {
  if (state.mode === "dev") {
    return { name: state.dev.name || state.dev.userId, detail: state.dev.roles || "mcp.dev" };
  }
  const c = state.claims || {};
  return { name: c.name || c.preferred_username || c.email || c.sub || "signed in", detail: "" };
}

/** Headers that identify the caller to the REST API and the MCP endpoints. */
export function authHeaders() {
  if (state.mode === "dev") {
    const headers = { "X-Dev-UserId": state.dev.userId };
    if (state.dev.name) headers["X-Dev-Name"] = state.dev.name;
    if (state.dev.roles) headers["X-Dev-Roles"] = state.dev.roles;
    return headers;
  }
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

/** A 401 from the API: the token expired or was refused; forget it so the page offers sign-in again. */
export function onUnauthorized() {
  if (state.mode !== "dev" && state.token) signOut();
}

export function onAuthChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed() {
  for (const listener of listeners) listener();
}
