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

export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
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

// Requests that issue a token, by what they ask, with the Idempotency-Key
// each was first sent with; dropped once one succeeds.
const retryKeys = new Map();

function newRetryKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// POST a request that issues a token, with an Idempotency-Key. Sent again
// unchanged after its answer was lost, it gets the token the first one
// issued back, never a second token; other input is a new request.
export async function issue(path, body) {
  const request = `${path}\n${JSON.stringify(body)}`;
  const key = retryKeys.get(request) ?? newRetryKey();
  retryKeys.set(request, key);
  try {
    const issued = await api("POST", path, body, { "Idempotency-Key": key });
    retryKeys.delete(request);
    return issued;
  } catch (error) {
    if (error instanceof NetworkError) {
      throw new NetworkError("No answer from the server. Your input is kept: submit again, and a token issued meanwhile is shown, never issued twice.");
    }
    throw error;
  }
}

export const enc = encodeURIComponent;
