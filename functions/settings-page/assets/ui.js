// Small DOM helpers shared by the page's sections. No framework: the page
// is a few forms and tables.

export const $ = (selector, root = document) => root.querySelector(selector);

// `el("button", {type: "button", class: "x", onclick: fn}, "Label")`
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key in node && key !== "list") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  // Any depth: a cell may be a list of pieces, each a list itself.
  node.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

let unique = 0;
export const uid = (prefix) => `${prefix}-${++unique}`;

// A status change, read out by screen readers (aria-live) and shown.
export function announce(text) {
  // A newer outcome replaces an older failure's alert.
  showAlert("");
  const status = $("#status");
  status.textContent = "";
  // A new text node in the next frame is announced even if the text repeats.
  requestAnimationFrame(() => (status.textContent = text));
}

export function showAlert(text) {
  const alert = $("#alert");
  alert.textContent = text;
  alert.hidden = !text;
}

export function date(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

const DAY = 86_400_000;
const SOON_DAYS = 7;

// A credential's status as words; colour only repeats them.
export function statusCell(item) {
  const words = { active: "Active", expired: "Expired", revoked: "Revoked" };
  const cell = el("span", { class: `badge ${item.status}`, text: words[item.status] || item.status });
  const left = item.expires_at ? Date.parse(item.expires_at) - Date.now() : Infinity;
  if (item.status === "active" && left < SOON_DAYS * DAY) {
    const days = Math.max(0, Math.ceil(left / DAY));
    return [cell, " ", el("span", { class: "badge soon", text: `Expires in ${days} day${days === 1 ? "" : "s"}` })];
  }
  return [cell];
}

// A labelled control with its error slot; `field` is the API's problem field.
export function field(label, control, { field: name, hint } = {}) {
  control.id ||= uid("f");
  const error = el("p", { class: "field-error", id: uid("err"), hidden: true });
  const hintNode = hint ? el("p", { class: "muted hint", id: uid("hint"), text: hint }) : null;
  const described = [hintNode?.id, error.id].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  return el("div", { class: "field", "data-field": name }, el("label", { for: control.id, text: label }), control, hintNode, error);
}

// A group of checkboxes as one labelled field (fieldset and legend).
export function checkboxes(legend, name, values, { field: fieldName, hint, checked = [] } = {}) {
  const error = el("p", { class: "field-error", id: uid("err"), hidden: true });
  const boxes = values.map((value) => {
    const id = uid(name);
    return el("label", { class: "check", for: id },
      el("input", { type: "checkbox", id, name, value, defaultChecked: checked.includes(value) }), ` ${value}`);
  });
  return el("fieldset", { class: "field", "data-field": fieldName, "aria-describedby": error.id },
    el("legend", { text: legend }), hint ? el("p", { class: "muted hint", text: hint }) : null,
    el("div", { class: "checks" }, boxes), error);
}

// Shows an API refusal next to the control it is about (problem `field`),
// else at the form's foot. A network failure says so; input is kept.
export function showError(form, error) {
  clearErrors(form);
  const text = error?.message || "Something went wrong.";
  const target = (error.field && form.querySelector(`[data-field="${error.field}"]`)) || form.querySelector('[data-field="_form"]');
  const slot = target.querySelector(".field-error");
  slot.textContent = text;
  slot.hidden = false;
  const control = target.querySelector("input, select, textarea");
  if (target.dataset.field !== "_form" && control) {
    target.querySelectorAll("input, select, textarea").forEach((c) => c.setAttribute("aria-invalid", "true"));
    control.focus();
  }
  announce(text);
}

export function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; e.hidden = true; });
  form.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
}

export const formError = () => el("div", { "data-field": "_form" }, el("p", { class: "field-error", role: "alert", hidden: true }));

// Runs `work` with the form's controls locked; errors shown in the form.
export async function submitting(form, work) {
  const controls = [...form.elements].filter((c) => !c.disabled);
  controls.forEach((c) => (c.disabled = true));
  form.setAttribute("aria-busy", "true");
  try {
    clearErrors(form);
    await work();
  } catch (error) {
    controls.forEach((c) => (c.disabled = false));
    form.removeAttribute("aria-busy");
    showError(form, error);
    return;
  }
  controls.forEach((c) => (c.disabled = false));
  form.removeAttribute("aria-busy");
}

// The confirm step before anything irreversible. Resolves to the dialog's
// form data (with `extra`'s controls) when confirmed, else null.
export function confirmStep({ title, text, action, extra }) {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-extra").replaceChildren(...(extra ? [extra] : []));
  $("#confirm-ok").textContent = action;
  const opener = document.activeElement;
  dialog.returnValue = "";
  dialog.showModal();
  $("#confirm-cancel").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const data = dialog.returnValue === "ok" ? new FormData($("#confirm-form")) : null;
      if (opener?.isConnected) opener.focus();
      resolve(data);
    }, { once: true });
  });
}

// The copy-once panel: the new token in a read-only field, focused; gone
// from the page when dismissed, and on leaving the page.
let returnFocus = null;

export function showSecret(token, title, after, note = "") {
  $("#new-secret-title").textContent = title;
  $("#new-secret-note").textContent = note;
  $("#new-secret-note").hidden = !note;
  const input = $("#new-secret-value");
  input.value = token;
  $("#new-secret").hidden = false;
  returnFocus = after;
  input.focus();
  input.select();
  announce(`${title}. Copy it now: you won't see it again.${note ? ` ${note}` : ""}`);
}

// A credential just issued: the panel first (with `note`, if any), then
// `reload` of its list. A failed reload is said in the alert; the panel
// and its token stay.
export async function showIssued(token, title, after, reload, note = "") {
  showSecret(token, title, after, note);
  try {
    await reload();
  } catch (error) {
    const reason = error?.status ? error.message : "the server could not be reached";
    showAlert(`The list could not be refreshed (${reason}). Your new token is still shown: copy it, then reload the page.`);
  }
}

function hideSecret() {
  $("#new-secret-value").value = "";
  $("#new-secret-note").textContent = "";
  $("#new-secret").hidden = true;
  const target = returnFocus;
  returnFocus = null;
  if (target?.isConnected) target.focus();
}

export function setUpSecretPanel() {
  const input = $("#new-secret-value");
  $("#copy-secret").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      announce("Copied to the clipboard.");
    } catch {
      input.focus();
      input.select();
      announce("Press Ctrl+C (or ⌘C) to copy the selected token.");
    }
  });
  $("#dismiss-secret").addEventListener("click", () => {
    hideSecret();
    announce("The token is hidden and gone from this page.");
  });
  // Not kept for the back/forward cache either.
  addEventListener("pagehide", () => { input.value = ""; });
}

// A table whose rows come a page at a time (`load(cursor)` → {items, next});
// `empty`, the words for no rows, may be a function of the moment.
export function pagedTable({ caption, columns, load, row, empty }) {
  const body = el("tbody");
  const more = el("button", { type: "button", class: "more", hidden: true, text: "Show more" });
  const note = el("p", { class: "muted", hidden: true });
  const table = el("table", {},
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", text: c })))),
    body);
  let cursor = null;
  const fetchPage = async (reset) => {
    if (reset) cursor = null;
    const page = await load(cursor);
    if (reset) body.replaceChildren();
    for (const item of page.items) {
      body.append(el("tr", {}, row(item).map((cell, i) => el("td", { "data-label": columns[i] }, cell))));
    }
    cursor = page.next;
    more.hidden = !cursor;
    note.textContent = typeof empty === "function" ? empty() : empty;
    note.hidden = body.children.length > 0;
  };
  more.addEventListener("click", () => fetchPage(false).catch((e) => showAlert(e.message)));
  const node = el("div", { class: "table-wrap" }, table, note, more);
  return { node, reload: () => fetchPage(true) };
}
