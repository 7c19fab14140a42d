// How the page proves who is calling: the one place that knows the session.
//
// The platform's web app owns sign-in. The management routes accept its
// session as a bearer JWT (API Gateway's JWT authorizer). Two ways to reach it:
// - `cog-session-token-url` set: a same-origin URL of the web app that answers
//   `{"access_token": "...", "expires_in": 300}` for its own session cookie;
//   the page keeps that token in memory only and sends it as `Authorization`.
// - not set (the local gateway): the session is the gateway's HttpOnly
//   cookie, sent by the browser with each same-origin request.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";

const tokenUrl = meta("cog-session-token-url");
let cached = null; // {value, until}: the web app's access token, never stored.

async function accessToken(renew) {
  if (!renew && cached && Date.now() < cached.until) return cached.value;
  cached = null;
  const response = await fetch(tokenUrl, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) return null;
  const body = await response.json();
  if (typeof body.access_token !== "string") return null;
  const seconds = Number(body.expires_in) || 60;
  cached = { value: body.access_token, until: Date.now() + (seconds - 10) * 1000 };
  return cached.value;
}

// `fetch` with the session. A 401 renews the access token once, then stands.
export async function sessionFetch(url, init = {}) {
  const send = async (renew) => {
    const headers = new Headers(init.headers);
    if (tokenUrl) {
      const token = await accessToken(renew);
      if (token) headers.set("Authorization", `Bearer ${token}`);
    }
    return fetch(url, { ...init, headers, credentials: "same-origin", cache: "no-store" });
  };
  const response = await send(false);
  return response.status === 401 && tokenUrl ? send(true) : response;
}

export const signInUrl = () => meta("cog-sign-in-url") || "/";
