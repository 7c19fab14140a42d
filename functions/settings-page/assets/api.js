// The management API: JSON in, JSON or problem+json out.
import { sessionFetch } from "./session.js";

// An API refusal (RFC 9457 problem+json): status, code, detail, field.
export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || `request failed (${status})`);
    this.status = status;
    this.code = body?.code || "error";
    this.field = body?.field || null;
  }
}

// The request never reached the API: nothing was changed.
export class NetworkError extends Error {}

export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await sessionFetch(path, init);
  } catch {
    throw new NetworkError("Could not reach the server. Nothing was changed; your input is kept.");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) throw new Problem(response.status, json);
  return json;
}

export const enc = encodeURIComponent;
