// Personal access tokens: the create form, the list, rotate and revoke.
// `credentialForm` and `credentialActions` serve service-user keys too.
import { api, enc, issue } from "./api.js";
import {
  $, announce, checkboxes, confirmStep, date, el, field, formError, pagedTable, showAlert, showIssued,
  statusCell, submitting, uid,
} from "./ui.js";

const PRESETS = [7, 30, 60, 90];
const DAY = 86_400_000;

// The expiry control: presets, a date, or never (where allowed).
function expiryField(issuance) {
  const select = el("select", { name: "expiry" });
  for (const days of PRESETS.filter((d) => d <= issuance.max_expiry_days)) {
    select.append(el("option", { value: String(days), text: `${days} days`, defaultSelected: days === issuance.default_expiry_days }));
  }
  select.append(el("option", { value: "date", text: "On a date…" }));
  if (issuance.allow_non_expiring) select.append(el("option", { value: "never", text: "Never" }));
  const day = (offset) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10);
  const picker = el("input", { type: "date", name: "expiry_date", min: day(1), max: day(issuance.max_expiry_days), hidden: true, "aria-label": "Expiry date" });
  select.addEventListener("change", () => {
    picker.hidden = select.value !== "date";
    if (!picker.hidden) picker.focus();
  });
  const wrap = field("Expires", select, { field: "expires_in_days", hint: `At most ${issuance.max_expiry_days} days.` });
  wrap.querySelector(".field-error").before(picker);
  return wrap;
}

// `expires_in_days` from the form; throws a field problem for a bad date.
function expiresInDays(form) {
  const choice = form.elements.expiry.value;
  if (choice === "never") return null;
  if (choice !== "date") return Number(choice);
  const picked = form.elements.expiry_date.value;
  const end = Date.parse(`${picked}T23:59:59`);
  if (!picked || Number.isNaN(end) || end <= Date.now()) {
    throw Object.assign(new Error("Pick a date after today."), { field: "expires_in_days" });
  }
  return Math.ceil((end - Date.now()) / DAY);
}

const lines = (text) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

// The rate limit inputs (requests per second, burst), both under the
// `rate_limit` problem field; `current` fills them (the burst only where it
// is not the default, so changing the rate alone keeps it the default).
function rateFields(issuance, current) {
  const max = issuance.max_rate_limit;
  const custom = current && current.burst !== Math.min(current.requests_per_second, max.burst);
  const perSecond = el("input", { name: "rate_per_second", type: "number", min: "1", max: String(max.requests_per_second), inputmode: "numeric", value: current ? String(current.requests_per_second) : "" });
  const burst = el("input", { name: "rate_burst", type: "number", min: "1", max: String(max.burst), inputmode: "numeric", value: custom ? String(current.burst) : "" });
  return [
    field("Rate limit, requests per second (optional)", perSecond, {
      field: "rate_limit",
      hint: `1 to ${max.requests_per_second}; empty: unlimited. Over it, requests are refused (403).`,
    }),
    field("Burst (optional)", burst, { hint: `Requests at once, up to ${max.burst}; empty: the rate.` }),
  ];
}

// `rate_limit` from the rate inputs under `node`: null when the rate is
// empty. Text that is no number reads as empty in a number input: it is
// refused here, never taken for "unlimited".
function rateLimit(node) {
  const [perSecond, burst] = ["rate_per_second", "rate_burst"].map((name) => node.querySelector(`input[name="${name}"]`));
  if (perSecond.validity.badInput || burst.validity.badInput) {
    throw Object.assign(new Error("The rate limit must be whole numbers."), { field: "rate_limit" });
  }
  const rate = perSecond.value.trim();
  if (!rate) return null;
  const size = burst.value.trim();
  return { requests_per_second: Number(rate), ...(size ? { burst: Number(size) } : {}) };
}

export const rateText = (limit) => `${limit.requests_per_second}/s, burst ${limit.burst}`;

// The create form of a PAT (`orgs` given) or a service user's key.
export function credentialForm({ issuance, orgs, submitLabel, create }) {
  const form = el("form", { class: "card", novalidate: true });
  const name = el("input", { name: "name", maxlength: "100", autocomplete: "off" });
  const ips = el("textarea", { name: "allowed_ips", rows: "2", spellcheck: "false" });
  form.append(
    field("Name", name, { field: "name", hint: "What uses it, e.g. “CI deploys”." }),
    checkboxes("Scopes", "scopes", issuance.scopes, { field: "scopes", hint: "What the token may do." }),
    expiryField(issuance),
    field("Allowed IP addresses (optional)", ips, {
      field: "allowed_ips",
      hint: `One address or CIDR per line, at most ${issuance.max_allowed_ips}; empty: any address.`,
    }),
    ...rateFields(issuance),
    ...(orgs?.length
      ? [checkboxes("Limit to orgs (optional)", "orgs", orgs, { field: "orgs", hint: "None chosen: every org you belong to." })]
      : []),
    formError(),
    el("button", { type: "submit", text: submitLabel }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const body = {
        name: name.value.trim(),
        scopes: [...form.querySelectorAll('input[name="scopes"]:checked')].map((c) => c.value),
        expires_in_days: expiresInDays(form),
      };
      const allowed = lines(ips.value);
      if (allowed.length) body.allowed_ips = allowed;
      const limit = rateLimit(form);
      if (limit) body.rate_limit = limit;
      const chosen = [...form.querySelectorAll('input[name="orgs"]:checked')].map((c) => c.value);
      if (chosen.length) body.orgs = chosen;
      await create(body);
      form.reset();
      form.querySelector('input[name="expiry_date"]').hidden = true;
    });
  });
  return form;
}

// Rate limit, rotate and revoke buttons of one credential at `base` (`/v1/tokens/{id}`).
export function credentialActions(item, { base, issuance, kind, after, changed }) {
  if (item.status !== "active") return [];
  const rate = el("button", { type: "button", text: "Rate limit", "aria-label": `Rate limit of ${kind} ${item.name}` });
  rate.addEventListener("click", async () => {
    const fields = el("div", {}, rateFields(issuance, item.rate_limit));
    const data = await confirmStep({
      title: `Rate limit of “${item.name}”`,
      text: `Requests per second and burst the ${kind} may make, from its next request; an empty rate lifts the limit.`,
      action: "Save",
      extra: fields,
    });
    if (!data) return;
    try {
      const limit = rateLimit(fields);
      await api("PATCH", base, { rate_limit: limit });
      await changed();
      announce(limit ? `The ${kind} “${item.name}” is limited to ${limit.requests_per_second} requests per second.` : `The ${kind} “${item.name}” has no rate limit.`);
    } catch (error) {
      showAlert(error.message);
    }
  });
  const rotate = el("button", { type: "button", text: "Rotate", "aria-label": `Rotate ${kind} ${item.name}` });
  const revoke = el("button", { type: "button", class: "danger", text: "Revoke", "aria-label": `Revoke ${kind} ${item.name}` });
  rotate.addEventListener("click", async () => {
    const choices = [0, 300, 3600, 86_400].filter((s) => s <= issuance.max_rotation_grace_seconds);
    const labels = { 0: "No: revoke it now", 300: "5 minutes", 3600: "1 hour", 86400: "1 day" };
    const grace = el("select", { name: "grace_seconds", id: uid("grace") },
      choices.map((s) => el("option", { value: String(s), text: labels[s] })));
    const data = await confirmStep({
      title: `Rotate “${item.name}”?`,
      text: `A new ${kind} replaces it, with the same name, scopes and limits.`,
      action: "Rotate",
      extra: el("div", { class: "field" }, el("label", { for: grace.id, text: "Keep the old one working for" }), grace),
    });
    if (!data) return;
    try {
      const issued = await issue(`${base}/rotate`, { grace_seconds: Number(data.get("grace_seconds")) });
      await showIssued(issued.token, `Your rotated ${kind} “${issued.name}”`, after(), changed);
    } catch (error) {
      showAlert(error.message);
    }
  });
  revoke.addEventListener("click", async () => {
    const data = await confirmStep({
      title: `Revoke “${item.name}”?`,
      text: `Anything using this ${kind} stops working at once. This cannot be undone.`,
      action: "Revoke",
    });
    if (!data) return;
    try {
      await api("DELETE", base);
      await changed();
      announce(`The ${kind} “${item.name}” is revoked.`);
      after()?.focus();
    } catch (error) {
      showAlert(error.message);
    }
  });
  return [el("div", { class: "actions" }, rate, rotate, revoke)];
}

export const credentialColumns = ["Name", "Token", "Scopes", "Created", "Expires", "Last used", "Status", "Actions"];

// When a credential was last used, from where, and with what; the recent
// distinct addresses behind a disclosure. Text only: a user agent is the
// caller's own words.
export function lastUseCell(item) {
  if (!item.last_used_at) return "Never";
  const use = item.last_use || { recent_addresses: [] };
  const when = date(item.last_used_at);
  const summary = use.source_ip ? `${when} from ${use.source_ip}` : when;
  if (!use.user_agent && use.recent_addresses.length === 0) return summary;
  const rows = use.recent_addresses.map((a) => el("li", {}, el("code", { text: a.ip }), ` ${date(a.last_seen_at)}`));
  return el("details", { class: "last-use" },
    el("summary", { text: summary }),
    use.user_agent ? el("p", {}, "User agent: ", el("code", { text: use.user_agent })) : null,
    rows.length ? el("p", { text: "Recent addresses:" }) : null,
    rows.length ? el("ul", { "aria-label": `Recent addresses of ${item.name}` }, rows) : null);
}

// Where an active PAT waits, or was denied, in its owner's orgs that require
// an admin's approval; approvals go unsaid. Text only: a reason is an
// admin's own words.
function approvalNotes(item) {
  if (item.status !== "active") return [];
  return (item.org_approvals || []).filter((a) => a.state !== "approved").map((a) => el("p", {
    class: `approval ${a.state}`,
    text: a.state === "denied" ? `Denied in ${a.org}${a.reason ? `: ${a.reason}` : ""}` : `Pending approval in ${a.org}`,
  }));
}

// What the shown-once panel says of a new PAT that waits for approval.
function waitingNote(issued) {
  const orgs = (issued.org_approvals || []).filter((a) => a.state === "pending").map((a) => a.org);
  return orgs.length ? `It acts in ${orgs.join(", ")} only once an admin there approves it.` : "";
}

export function credentialCells(item, actions) {
  return [
    item.rate_limit ? [item.name, el("p", { class: "muted rate", text: `Limit ${rateText(item.rate_limit)}` })] : item.name,
    el("code", { text: item.hint }),
    item.scopes.join(", "),
    date(item.created_at),
    item.expires_at ? date(item.expires_at) : "Never",
    lastUseCell(item),
    [statusCell(item), ...approvalNotes(item)],
    actions,
  ];
}

// The whole PAT section for `account`.
export function renderPats(account) {
  $("#pats").hidden = false;
  if (!account.pats.available) {
    const notice = $("#pats-unavailable");
    notice.textContent = account.pats.code === "pat_unavailable_for_sso"
      ? "Personal access tokens are not available for accounts that sign in with SSO; ask your org admin for a service-user key."
      : account.pats.detail;
    notice.hidden = false;
    return;
  }
  const issuance = account.issuance;
  const heading = el("h3", { id: "pat-list-title", tabindex: "-1", text: "Your tokens" });
  const status = el("select", { id: "pat-status" },
    ["active", "all", "expired", "revoked"].map((s) => el("option", { value: s, text: s[0].toUpperCase() + s.slice(1) })));
  const table = pagedTable({
    caption: "Your personal access tokens, newest first",
    columns: credentialColumns,
    empty: "No tokens here yet.",
    load: async (cursor) => {
      const query = `status=${status.value}&limit=20${cursor ? `&cursor=${enc(cursor)}` : ""}`;
      const page = await api("GET", `/v1/tokens?${query}`);
      return { items: page.tokens, next: page.next_cursor };
    },
    row: (item) => credentialCells(item, credentialActions(item, {
      base: `/v1/tokens/${enc(item.id)}`, issuance, kind: "token", after: () => heading, changed: () => table.reload(),
    })),
  });
  status.addEventListener("change", () => table.reload().catch((e) => showAlert(e.message)));
  const form = credentialForm({
    issuance,
    orgs: account.orgs.map((m) => m.org),
    submitLabel: "Create token",
    create: async (body) => {
      const issued = await issue("/v1/tokens", body);
      await showIssued(issued.token, `Your new token “${issued.name}”`, form.querySelector('input[name="name"]'), table.reload, waitingNote(issued));
    },
  });
  $("#pats-body").replaceChildren(
    heading,
    el("div", { class: "field inline" }, el("label", { for: "pat-status", text: "Show" }), status),
    table.node,
    el("h3", { text: "New token" }), form,
  );
  $("#pats-body").hidden = false;
  return table.reload();
}
