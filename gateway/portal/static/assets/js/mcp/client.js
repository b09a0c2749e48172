// A Streamable HTTP MCP client for the browser, in either protocol era:
//
// - "2025-11-25" (handshake era): initialize → notifications/initialized; the Mcp-Session-Id the server
//   issues and MCP-Protocol-Version go on every later request; DELETE ends the session. Server requests
//   (elicitation/create) arrive on a POST's event stream and are answered with a POST of the response.
// - "2026-07-28" (stateless): no session and no initialize; server/discover first, and every request carries
//   MCP-Protocol-Version, Mcp-Method (Mcp-Name for tools/call, prompts/get, resources/read) and the client's
//   version, info and capabilities in params._meta. A server that needs input answers a request with
//   resultType "input_required"; the client fulfils `inputRequests` and sends the request again with
//   `inputResponses` and the opaque `requestState`.
//
// Every message is one POST with Accept: application/json, text/event-stream; a reply is JSON or an event
// stream read from the fetch body (so notifications such as progress show as they arrive).

import { authHeaders } from "../auth.js";
import { readEvents } from "../sse.js";

export const SESSION_ERA = "2025-11-25";
export const STATELESS_ERA = "2026-07-28";
const CLIENT_INFO = { name: "mcp-gateway-portal", title: "MCP Gateway portal", version: "0.1.0" };
const CAPABILITIES = { elicitation: { form: {} } };
const NAME_PARAM = { "tools/call": "name", "prompts/get": "name", "resources/read": "uri" };

export class McpError extends Error {
  constructor(message, { code = null, status = null, data = null } = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.data = data;
  }
}

/** A header value as the 2026-07-28 transport wants it: printable ASCII as is, anything else base64-wrapped. */
export function headerValue(value) {
  const text = String(value);
  if (/^[\x20-\x7E]*$/.test(text) && text === text.trim() && !/^=\?base64\?.*\?=$/.test(text)) return text;
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `=?base64?${btoa(binary)}?=`;
}

export class McpClient {
  /**
   * url: the MCP endpoint (same origin). era: SESSION_ERA, STATELESS_ERA or "auto" (stateless when the
   * server answers server/discover, else the handshake).
   */
  constructor(url, era = "auto") {
    this.url = url;
    this.requestedEra = era;
    this.era = null;
    this.sessionId = null;
    this.protocolVersion = null;
    this.serverInfo = null;
    this.capabilities = {};
    this.instructions = null;
    this.nextId = 1;
    this.logLevel = "debug";
  }

  async connect() {
    if (this.requestedEra !== SESSION_ERA) {
      try {
        const discovered = await this.#discover();
        this.era = STATELESS_ERA;
        return discovered;
      } catch (error) {
        if (this.requestedEra === STATELESS_ERA) throw error;
        // auto: a server (or bridge) without the stateless era refuses discover; use the handshake.
      }
    }
    this.era = SESSION_ERA;
    return this.#initialize();
  }

  async #discover() {
    this.era = STATELESS_ERA;
    this.protocolVersion = STATELESS_ERA;
    const result = await this.request("server/discover", {});
    if (!(result.supportedVersions || []).includes(STATELESS_ERA)) {
      throw new McpError(`The server supports ${(result.supportedVersions || []).join(", ") || "no listed version"}, not ${STATELESS_ERA}.`);
    }
    this.capabilities = result.capabilities || {};
    this.instructions = result.instructions || null;
    this.serverInfo = result._meta?.["io.modelcontextprotocol/serverInfo"] || null;
    return result;
  }

  async #initialize() {
    this.protocolVersion = null;
    this.sessionId = null;
    const result = await this.request("initialize", { protocolVersion: SESSION_ERA, capabilities: CAPABILITIES, clientInfo: CLIENT_INFO });
    this.protocolVersion = result.protocolVersion;
    this.capabilities = result.capabilities || {};
    this.serverInfo = result.serverInfo || null;
    this.instructions = result.instructions || null;
    await this.notify("notifications/initialized");
    if (this.capabilities.logging) {
      await this.request("logging/setLevel", { level: this.logLevel }).catch(() => {});
    }
    return result;
  }

  #headers(method, params) {
    const headers = {
      Accept: "application/json, text/event-stream",
      "Content-Type": "application/json",
      ...authHeaders(),
    };
    if (this.era === STATELESS_ERA) {
      headers["MCP-Protocol-Version"] = STATELESS_ERA;
      headers["Mcp-Method"] = headerValue(method);
      const nameKey = NAME_PARAM[method];
      if (nameKey && params?.[nameKey] !== undefined) headers["Mcp-Name"] = headerValue(params[nameKey]);
    } else {
      if (this.sessionId) headers["Mcp-Session-Id"] = this.sessionId;
      if (this.protocolVersion) headers["MCP-Protocol-Version"] = this.protocolVersion;
    }
    return headers;
  }

  #withMeta(params, extraMeta) {
    const meta = { ...(params?._meta || {}), ...extraMeta };
    if (this.era === STATELESS_ERA) {
      meta["io.modelcontextprotocol/protocolVersion"] = STATELESS_ERA;
      meta["io.modelcontextprotocol/clientInfo"] = CLIENT_INFO;
      meta["io.modelcontextprotocol/clientCapabilities"] = CAPABILITIES;
      if (this.logLevel) meta["io.modelcontextprotocol/logLevel"] = this.logLevel;
    }
    return Object.keys(meta).length ? { ...(params || {}), _meta: meta } : params;
  }

  /**
   * Sends a request; resolves with its result. Options:
   *   onNotification(message): progress, log and other notifications on this request's stream;
   *   onRequest(message) → result: a server request on the stream (handshake era: elicitation/create);
   *   onInputRequired(inputRequests) → inputResponses: the stateless era's input_required round trip;
   *   progressToken: asks for progress notifications; signal: aborts (closing the stream cancels).
   */
  async request(method, params = {}, options = {}) {
    const extraMeta = options.progressToken !== undefined ? { progressToken: options.progressToken } : {};
    let current = this.#withMeta(params, extraMeta);
    for (let round = 0; round < 10; round += 1) {
      const id = this.nextId++;
      const result = await this.#send({ jsonrpc: "2.0", id, method, params: current }, method, options);
      if (result?.resultType !== "input_required") return result;
      if (!options.onInputRequired) throw new McpError("The server asked for input, and this request cannot give any.");
      const inputResponses = await options.onInputRequired(result.inputRequests || {});
      const { inputResponses: _old, requestState: _state, ...rest } = current;
      current = { ...rest, inputResponses };
      if (result.requestState !== undefined) current.requestState = result.requestState;
    }
    throw new McpError("The server kept asking for input (10 rounds); giving up.");
  }

  async notify(method, params) {
    const message = { jsonrpc: "2.0", method };
    if (params) message.params = params;
    await this.#send(message, method, {});
  }

  async #respond(id, result) {
    await this.#send({ jsonrpc: "2.0", id, result }, null, {});
  }

  async #send(message, method, options) {
    let response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: this.#headers(method, message.params),
        body: JSON.stringify(message),
        signal: options.signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new McpError(`The gateway could not be reached: ${error.message}`);
    }
    if (method === "initialize" && response.ok) this.sessionId = response.headers.get("mcp-session-id");
    if (response.status === 202 || response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    if (!response.ok) throw await httpError(response, type, Boolean(this.sessionId));
    if (type.includes("text/event-stream")) return this.#readStream(response, message.id, options);
    const body = await response.json();
    return this.#handle(body, message.id, options);
  }

  async #readStream(response, id, options) {
    for await (const event of readEvents(response, options.signal)) {
      if (!event.data) continue; // priming events carry only an id
      let message;
      try { message = JSON.parse(event.data); } catch { continue; }
      const done = await this.#dispatch(message, id, options);
      if (done) return done.value;
    }
    if (id === undefined) return null;
    throw new McpError("The stream ended before the response arrived.");
  }

  /** Returns {value} when `message` is the response to `id`; handles notifications and server requests. */
  async #dispatch(message, id, options) {
    if (message.id !== undefined && message.id === id && ("result" in message || "error" in message)) {
      if (message.error) throw new McpError(message.error.message, { code: message.error.code, data: message.error.data });
      return { value: message.result };
    }
    if (message.method && message.id !== undefined) {
      try {
        const result = options.onRequest ? await options.onRequest(message) : null;
        if (result) await this.#respond(message.id, result);
        else await this.#send({ jsonrpc: "2.0", id: message.id, error: { code: -32601, message: `${message.method} is not supported by the portal` } }, null, {});
      } catch (error) {
        await this.#send({ jsonrpc: "2.0", id: message.id, error: { code: -32603, message: error.message } }, null, {}).catch(() => {});
      }
      return null;
    }
    if (message.method) options.onNotification?.(message);
    return null;
  }

  async #handle(body, id, options) {
    const messages = Array.isArray(body) ? body : [body];
    for (const message of messages) {
      const done = await this.#dispatch(message, id, options);
      if (done) return done.value;
    }
    if (id === undefined) return null;
    throw new McpError("The reply did not contain the response.");
  }

  /** Ends the session (handshake era); nothing to do for a stateless connection. */
  async close() {
    if (this.era !== SESSION_ERA || !this.sessionId) return;
    const headers = { ...authHeaders(), "Mcp-Session-Id": this.sessionId };
    if (this.protocolVersion) headers["MCP-Protocol-Version"] = this.protocolVersion;
    this.sessionId = null;
    await fetch(this.url, { method: "DELETE", headers }).catch(() => {});
  }
}

async function httpError(response, type, hadSession) {
  let detail = "";
  let code = null;
  try {
    if (type.includes("json")) {
      const body = await response.json();
      detail = body.error?.message || body.detail || body.title || "";
      code = body.error?.code ?? null;
    } else {
      detail = (await response.text()).slice(0, 500);
    }
  } catch { /* the status says enough */ }
  let message = `HTTP ${response.status}${detail ? `: ${detail}` : ""}`;
  if (response.status === 404 && hadSession) message += " (the session ended; connect again)";
  if (response.status === 401) message += " (sign in again)";
  return new McpError(message, { code, status: response.status });
}
