// A small OpenID Connect client for the authorization code flow with PKCE (RFC 7636), enough for Entra
// and any standards-following issuer, so no identity library has to be vendored.
//
// - The code verifier, state and nonce wait in sessionStorage for the one round trip to the issuer and
//   are deleted as soon as the browser is back; the tokens themselves stay in memory (auth.js).
// - The answer comes back in the URL fragment when the issuer supports it (response_mode=fragment), so
//   the code never reaches a server log, and the address bar is cleaned before the code is redeemed.

import { setToken } from "./auth.js";

const PENDING_KEY = "mcp-gateway-portal.sign-in";

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(digest);
}

/** The JSON payload of a JWT, unverified: for display only. */
export function jwtPayload(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

const discovered = new Map();

export async function discover(issuer) {
  const base = issuer.replace(/\/+$/, "");
  if (!discovered.has(base)) {
    const response = await fetch(`${base}/.well-known/openid-configuration`, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`The issuer's discovery document could not be read (HTTP ${response.status}).`);
    discovered.set(base, await response.json());
  }
  return discovered.get(base);
}

function redirectUri(signIn) {
  return new URL(signIn.redirectPath || "/portal/", window.location.origin).href;
}

/** Leaves the page for the issuer's sign-in; `returnTo` is the portal path to come back to. */
export async function beginSignIn(signIn, returnTo) {
  if (!signIn.clientId) throw new Error("Sign-in is not configured: set MCPGW_PORTAL__CLIENT_ID on the gateway.");
  const metadata = await discover(signIn.issuer);
  const verifier = randomString(48);
  const pending = {
    state: randomString(16),
    nonce: randomString(16),
    verifier,
    returnTo: returnTo.startsWith("/portal/") ? returnTo : "/portal/",
    tokenEndpoint: metadata.token_endpoint,
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: signIn.clientId,
    redirect_uri: redirectUri(signIn),
    scope: signIn.scopes.join(" "),
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  });
  if ((metadata.response_modes_supported || []).includes("fragment")) params.set("response_mode", "fragment");
  window.location.assign(`${metadata.authorization_endpoint}?${params}`);
}

/** The issuer's answer in the current URL (fragment or query), or null when this is no sign-in return. */
function answerInUrl() {
  for (const raw of [window.location.hash.slice(1), window.location.search.slice(1)]) {
    const params = new URLSearchParams(raw);
    if (params.has("state") && (params.has("code") || params.has("error"))) return params;
  }
  return null;
}

/**
 * Finishes a sign-in when the browser just came back from the issuer. Returns the portal path to show
 * next, or null when there was nothing to finish. Throws with a readable message when the issuer refused.
 */
export async function completeSignIn(signIn) {
  const answer = answerInUrl();
  if (!answer) return null;
  // The code leaves the address bar (and the history entry) before anything else happens.
  window.history.replaceState(null, "", window.location.pathname);
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  sessionStorage.removeItem(PENDING_KEY);
  if (!pending || answer.get("state") !== pending.state) {
    throw new Error("The sign-in answer did not match a sign-in started here; please sign in again.");
  }
  if (answer.has("error")) {
    throw new Error(`The issuer refused the sign-in: ${answer.get("error_description") || answer.get("error")}`);
  }
  const response = await fetch(pending.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: answer.get("code"),
      redirect_uri: redirectUri(signIn),
      client_id: signIn.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    throw new Error(`The token request failed: ${body.error_description || body.error || `HTTP ${response.status}`}`);
  }
  const claims = body.id_token ? jwtPayload(body.id_token) : jwtPayload(body.access_token);
  if (body.id_token && claims && claims.nonce !== pending.nonce) {
    throw new Error("The id token's nonce does not match this sign-in; please sign in again.");
  }
  setToken({ accessToken: body.access_token, expiresIn: body.expires_in, claims });
  return pending.returnTo;
}
