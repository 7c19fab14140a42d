// Org administration, for each org where the caller is an admin: service
// users and their keys, the credentials inventory, the PAT policy, the trail.
import { api, enc, issue } from "./api.js";
import { credentialActions, credentialCells, credentialColumns, credentialForm, lastUseCell } from "./tokens.js";
import {
  announce, confirmStep, date, el, field, formError, pagedTable, showAlert, showIssued, statusCell,
  submitting, uid,
} from "./ui.js";

const page = (list, key) => ({ items: list[key], next: list.next_cursor });
const more = (cursor) => (cursor ? `&cursor=${enc(cursor)}` : "");

function serviceUserForm(org, issuance, created) {
  const form = el("form", { class: "card", novalidate: true });
  const name = el("input", { name: "name", maxlength: "100", autocomplete: "off" });
  const role = el("select", { name: "role" }, issuance.roles.map((r) => el("option", { value: r, text: r })));
  form.append(field("Name", name, { field: "name" }), field("Role", role, { field: "role" }), formError(),
    el("button", { type: "submit", text: "Create service user" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const user = await api("POST", `/v1/orgs/${enc(org)}/service-users`, { name: name.value.trim(), role: role.value });
      form.reset();
      await created();
      announce(`Service user “${user.name}” created.`);
    });
  });
  return form;
}

// One service user's keys: list, create (shown once), rotate, revoke.
function keysPanel(org, user, issuance) {
  const base = `/v1/orgs/${enc(org)}/service-users/${enc(user.id)}/keys`;
  const heading = el("h4", { tabindex: "-1", text: `Keys of ${user.name}` });
  const table = pagedTable({
    caption: `API keys of ${user.name}, newest first`,
    columns: credentialColumns,
    empty: "No keys yet.",
    load: async (cursor) => page(await api("GET", `${base}?status=all&limit=20${more(cursor)}`), "keys"),
    row: (key) => credentialCells(key, credentialActions(key, {
      base: `${base}/${enc(key.id)}`, issuance, kind: "key", after: () => heading, changed: () => table.reload(),
    })),
  });
  const form = credentialForm({
    issuance,
    submitLabel: "Create key",
    create: async (body) => {
      const issued = await issue(base, body);
      await showIssued(issued.token, `The new key “${issued.name}” of ${user.name}`, form.querySelector('input[name="name"]'), table.reload);
    },
  });
  const panel = el("div", { class: "keys" }, heading, table.node,
    user.status === "active" ? [el("h4", { text: `New key for ${user.name}` }), form] : el("p", { class: "muted", text: "Disabled: no new keys." }));
  return { panel, load: () => table.reload() };
}

function serviceUsers(org, issuance) {
  const keysSlot = el("div");
  const table = pagedTable({
    caption: `Service users of ${org}, newest first`,
    columns: ["Name", "Role", "Status", "Created", "Actions"],
    empty: "No service users yet.",
    load: async (cursor) => page(await api("GET", `/v1/orgs/${enc(org)}/service-users?status=all&limit=20${more(cursor)}`), "service_users"),
    row: (user) => {
      const keys = el("button", { type: "button", text: "Keys", "aria-label": `Keys of ${user.name}` });
      keys.addEventListener("click", async () => {
        const { panel, load } = keysPanel(org, user, issuance);
        keysSlot.replaceChildren(panel);
        await load().catch((e) => showAlert(e.message));
        panel.querySelector("h4").focus();
      });
      const next = user.status === "active" ? "disabled" : "active";
      const toggle = el("button", { type: "button", class: next === "disabled" ? "danger" : "", text: next === "disabled" ? "Disable" : "Enable" });
      toggle.addEventListener("click", async () => {
        const data = await confirmStep({
          title: `${toggle.textContent} “${user.name}”?`,
          text: next === "disabled" ? "Its keys stop working at once, until it is enabled again." : "Its active keys work again.",
          action: toggle.textContent,
        });
        if (!data) return;
        try {
          await api("PATCH", `/v1/orgs/${enc(org)}/service-users/${enc(user.id)}`, { status: next });
          await table.reload();
          announce(`“${user.name}” is ${next}.`);
        } catch (error) {
          showAlert(error.message);
        }
      });
      return [user.name, user.role, el("span", { class: `badge ${user.status}`, text: user.status }), date(user.created_at), el("div", { class: "actions" }, keys, toggle)];
    },
  });
  const node = el("section", {}, el("h3", { text: "Service users" }), table.node,
    el("h4", { text: "New service user" }), serviceUserForm(org, issuance, () => table.reload()), keysSlot);
  return { node, load: () => table.reload() };
}

const APPROVAL_WORDS = { approved: "Approved", pending: "Pending approval", denied: "Denied" };

// A member's PAT's approval here, in words; a denial with its reason (the
// admin's own words, as text).
function approvalCell(c) {
  if (!c.approval) return c.type === "pat" ? "Not required" : "—";
  const { state, reason } = c.approval;
  const badge = el("span", { class: `badge ${state}`, text: APPROVAL_WORDS[state] || state });
  return [badge, state === "denied" && reason ? el("p", { class: "reason", text: `Reason: ${reason}` }) : null];
}

// Approve (a PAT pending or denied here, not in a rotation's grace: its
// successor is the one to approve) and deny (pending or approved): deny
// asks, in an inline form, for the reason its owner sees.
function approvalActions(org, c, changed) {
  const path = `/v1/orgs/${enc(org)}/credentials/${enc(c.id)}/approval`;
  const { state } = c.approval;
  const buttons = [];
  let form = null;
  if (state !== "approved" && !c.revoked_at) {
    const approve = el("button", { type: "button", text: "Approve", "aria-label": `Approve ${c.name}` });
    approve.addEventListener("click", async () => {
      approve.disabled = true;
      try {
        await api("POST", path, { decision: "approve" });
        await changed();
        announce(`“${c.name}” of ${c.owner} is approved in ${org}.`);
      } catch (error) {
        approve.disabled = false;
        showAlert(error.message);
      }
    });
    buttons.push(approve);
  }
  if (state !== "denied") {
    const deny = el("button", { type: "button", class: "danger", text: "Deny", "aria-label": `Deny ${c.name}`, "aria-expanded": "false" });
    const reason = el("input", { name: "reason", maxlength: "500", autocomplete: "off", required: true });
    const cancel = el("button", { type: "button", text: "Cancel" });
    form = el("form", { class: "deny", novalidate: true, hidden: true },
      field("Reason, which its owner sees", reason, { field: "reason", hint: "Up to 500 characters." }), formError(),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "danger", text: "Deny" }), cancel));
    const open = (shown) => {
      form.hidden = !shown;
      deny.setAttribute("aria-expanded", String(shown));
      (shown ? reason : deny).focus();
    };
    deny.addEventListener("click", () => open(form.hidden));
    cancel.addEventListener("click", () => open(false));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        await api("POST", path, { decision: "deny", reason: reason.value.trim() });
        await changed();
        announce(`“${c.name}” of ${c.owner} is denied in ${org}; its owner sees the reason.`);
      });
    });
    buttons.push(deny);
  }
  return { buttons, form };
}

function inventory(org) {
  const filter = el("select", { name: "approval", id: uid("approval") },
    [["", "Any approval"], ["pending", "Pending approval"], ["approved", "Approved"], ["denied", "Denied"]]
      .map(([value, text]) => el("option", { value, text })));
  const table = pagedTable({
    caption: `Credentials that can act in ${org}, newest first`,
    columns: ["Type", "Owner", "Name", "Token", "Last used", "Status", "Approval", "Actions"],
    empty: () => (filter.value ? "None in this org matches." : "No credentials act in this org."),
    load: async (cursor) => {
      const approval = filter.value ? `&approval=${enc(filter.value)}` : "";
      return page(await api("GET", `/v1/orgs/${enc(org)}/credentials?limit=20${approval}${more(cursor)}`), "credentials");
    },
    row: (c) => {
      const pat = c.type === "pat";
      const status = [statusCell(c), c.blocked_here ? [" ", el("span", { class: "badge revoked", text: "Blocked here" })] : null];
      const actions = [];
      const decisions = pat && c.approval && c.status === "active" && !c.blocked_here
        ? approvalActions(org, c, () => table.reload()) : { buttons: [], form: null };
      actions.push(...decisions.buttons);
      if (c.status === "active" && !c.blocked_here) {
        const label = pat ? "Block" : "Revoke";
        const button = el("button", { type: "button", class: "danger", text: label, "aria-label": `${label} ${c.name}` });
        button.addEventListener("click", async () => {
          const data = await confirmStep({
            title: `${label} “${c.name}”?`,
            text: pat ? `This PAT of ${c.owner} stops working in ${org}; elsewhere it is untouched.` : "This key stops working at once.",
            action: label,
          });
          if (!data) return;
          try {
            await api("DELETE", `/v1/orgs/${enc(org)}/credentials/${enc(c.id)}`);
            await table.reload();
            announce(`“${c.name}” ${pat ? "blocked" : "revoked"}.`);
          } catch (error) {
            showAlert(error.message);
          }
        });
        actions.push(button);
      }
      return [pat ? "PAT" : "Service key", c.owner, c.name, el("code", { text: c.hint }), lastUseCell(c), status, approvalCell(c),
        el("div", { class: "actions" }, actions, decisions.form)];
    },
  });
  filter.addEventListener("change", () => table.reload().catch((e) => showAlert(e.message)));
  const node = el("section", {}, el("h3", { text: "Credentials in this org" }),
    el("div", { class: "field inline" }, el("label", { for: filter.id, text: "Show" }), filter), table.node);
  return { node, load: () => table.reload() };
}

// What the stored approval rule means, under the PAT approval select.
function approvalHint(current) {
  return current.pat_approval === "required"
    ? "Required: a member's PAT acts here only once an admin of this org approves it; new ones wait."
    : "Required: a member's PAT acts here only once an admin of this org approves it.";
}

function policy(org, issuance) {
  const form = el("form", { class: "card", novalidate: true });
  const access = el("select", { name: "pat_access" },
    [["allowed", "Allowed: members' PATs act here"], ["limited_only", "Only PATs limited to this org"], ["blocked", "Blocked: no PAT acts here"]]
      .map(([value, text]) => el("option", { value, text })));
  const lifetime = el("input", { name: "pat_max_lifetime_days", type: "number", min: "1", max: "3650", inputmode: "numeric" });
  const deployment = issuance.idle_expiry_days;
  const idle = el("input", { name: "idle_expiry_days", type: "number", min: "30", max: String(deployment ?? 730), inputmode: "numeric" });
  const idleHint = deployment
    ? `30 to ${deployment}; empty: this deployment's ${deployment} days. Warned 7 days and 1 day before; one already past it goes within the hour.`
    : "30 to 730; empty: unused credentials never expire here. Warned 7 days and 1 day before; one already past it goes within the hour.";
  const approval = el("select", { name: "pat_approval" },
    [["not_required", "Not required"], ["required", "Required: an admin approves each member's PAT"]]
      .map(([value, text]) => el("option", { value, text })));
  const existing = el("select", { name: "existing_pats" },
    [["approved", "Approved: they keep working (default)"], ["pending", "Pending: they wait for approval too"]]
      .map(([value, text]) => el("option", { value, text })));
  const approvalField = field("PAT approval", approval, { field: "pat_approval", hint: approvalHint({}) });
  const existingField = field("PATs that already act here", existing, {
    field: "existing_pats", hint: "As approval is turned on: approved, each PAT acting here now is approved by you (denied ones stay denied).",
  });
  // The policy as stored: what the existing-PATs choice depends on.
  let stored = null;
  const showExisting = () => { existingField.hidden = approval.value !== "required" || stored?.pat_approval === "required"; };
  approval.addEventListener("change", showExisting);
  showExisting();
  const show = (current) => {
    stored = current;
    access.value = current.pat_access;
    lifetime.value = current.pat_max_lifetime_days ?? "";
    idle.value = current.idle_expiry_days ?? "";
    approval.value = current.pat_approval ?? "not_required";
    existing.value = "approved";
    approvalField.querySelector(".hint").textContent = approvalHint(current);
    showExisting();
  };
  form.append(field("Personal access tokens", access, { field: "pat_access" }),
    field("Longest PAT lifetime, in days (optional)", lifetime, { field: "pat_max_lifetime_days", hint: "Older PATs stop acting here." }),
    field("Revoke credentials acting here after this many days unused (optional)", idle, { field: "idle_expiry_days", hint: idleHint }),
    approvalField, existingField, formError(), el("button", { type: "submit", text: "Save policy" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const days = lifetime.value.trim();
      const idleDays = idle.value.trim();
      // The whole policy: a PUT replaces it.
      const body = {
        pat_access: access.value,
        pat_max_lifetime_days: days ? Number(days) : null,
        idle_expiry_days: idleDays ? Number(idleDays) : null,
        pat_approval: approval.value,
      };
      if (!existingField.hidden) body.existing_pats = existing.value;
      show(await api("PUT", `/v1/orgs/${enc(org)}/policy`, body));
      announce(`The PAT policy of ${org} is saved.`);
    });
  });
  const load = async () => show(await api("GET", `/v1/orgs/${enc(org)}/policy`));
  return { node: el("section", {}, el("h3", { text: "PAT policy" }), form), load };
}

function trail(org) {
  const table = pagedTable({
    caption: `What happened in ${org}, newest first`,
    columns: ["When", "Actor", "Action", "Target", "Detail"],
    empty: "Nothing yet.",
    load: async (cursor) => page(await api("GET", `/v1/orgs/${enc(org)}/audit?limit=20${more(cursor)}`), "events"),
    row: (e) => [new Date(e.at).toLocaleString(), e.actor, el("code", { text: e.action }), e.target || "—", e.detail || ""],
  });
  return { node: el("section", {}, el("h3", { text: "Audit trail" }), table.node), load: () => table.reload() };
}

// One section per org the caller administers.
export function renderOrgs(account) {
  const parts = [];
  const sections = account.orgs.filter((m) => m.admin).map(({ org }) => {
    const pieces = [serviceUsers(org, account.issuance), inventory(org), policy(org, account.issuance), trail(org)];
    parts.push(...pieces);
    const id = uid("org");
    return el("section", { class: "org", "aria-labelledby": id },
      el("h2", { id, text: `Org ${org}` }), el("p", { class: "muted", text: "You are an admin of this org." }), pieces.map((p) => p.node));
  });
  document.querySelector("#orgs").replaceChildren(...sections);
  return Promise.all(parts.map((p) => p.load()));
}
