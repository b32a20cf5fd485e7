import { Auth, decodeJWT } from "/app/auth.js";
import { API } from "/app/api.js";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const PALETTE = ["#1f4fb8", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d"];

let auth;
let api;
let nextCursor = null;

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function banner(message) {
  const node = $("#banner");
  node.textContent = message || "";
  node.hidden = !message;
}

/** Shows an API error next to what caused it: field errors on their inputs, the rest at the form or action. */
function showError(error, form, area = "") {
  if (form) clearErrors(form);
  const fields = error.fieldErrors || [];
  let placed = false;
  for (const item of fields) {
    const input = form && form.elements.namedItem(item.field);
    if (input && input.setAttribute) {
      input.setAttribute("aria-invalid", "true");
      const note = element("p", { class: "field-error", id: `error-${item.field}` }, item.message);
      input.setAttribute("aria-describedby", note.id);
      input.closest("label").append(note);
      placed = true;
    }
  }
  const target = $(`[data-error-for="${area}"]`, form || document) || $(`[data-error-for="${area}"]`);
  if (target && (!placed || fields.length === 0)) target.textContent = error.message;
  if (error.retryable) banner(error.message);
}

function clearErrors(form) {
  $$(".field-error", form).forEach((node) => node.remove());
  $$("[aria-invalid]", form).forEach((node) => { node.removeAttribute("aria-invalid"); node.removeAttribute("aria-describedby"); });
  $$(".form-error", form).forEach((node) => { node.textContent = ""; });
}

function can(permission) { return auth.permissions.has(permission); }

function applyPermissions() {
  $$("[data-needs]").forEach((node) => { node.hidden = !can(node.dataset.needs); });
}

// ---- views ----------------------------------------------------------------------------------------------

function statusBadge(status) { return element("span", { class: `badge ${status}` }, status); }

function entryRow(entry) {
  const actions = element("td", { class: "row-actions" });
  actions.append(element("button", { type: "button", onclick: () => showEntryDetail(entry), "aria-label": `History of the entry of ${entry.date}` }, "History"));
  if (entry.status === "pending") {
    if (can("update:timesheets")) actions.append(element("button", { type: "button", onclick: () => startEdit(entry), "aria-label": `Edit entry of ${entry.date}` }, "Edit"));
    if (can("delete:timesheets")) actions.append(element("button", { type: "button", onclick: () => removeEntry(entry), "aria-label": `Delete entry of ${entry.date}` }, "Delete"));
  }
  return element("tr", { "data-id": entry.id },
    element("td", {}, entry.date),
    element("td", {}, entry.project),
    element("td", { class: "num" }, entry.hours),
    element("td", {}, statusBadge(entry.status)),
    actions);
}

async function loadEntries(append = false) {
  const filters = new FormData($("#filters"));
  const query = new URLSearchParams({ limit: "20" });
  for (const [name, value] of filters) if (value) query.set(name, value);
  if (append && nextCursor) query.set("cursor", nextCursor);
  $('[data-error-for="list"]').textContent = "";
  try {
    const page = await api.get(`/timesheets?${query}`);
    const body = $("#entries");
    if (!append) body.replaceChildren();
    for (const entry of page.items) body.append(entryRow(entry));
    if (!append && page.items.length === 0) body.append(element("tr", {}, element("td", { colspan: "5" }, "No entries yet.")));
    nextCursor = page.next_cursor;
    $("#more").hidden = !nextCursor;
  } catch (error) { showError(error, null, "list"); }
}

function startEdit(entry) {
  const form = $("#entry-form");
  clearErrors(form);
  form.elements.id.value = entry.id;
  form.elements.date.value = entry.date;
  form.elements.project.value = entry.project;
  form.elements.hours.value = entry.hours;
  form.elements.notes.value = entry.notes || "";
  $("#entry-title").textContent = "Edit entry";
  $("#entry-submit").textContent = "Save changes";
  $("#entry-cancel").hidden = false;
  form.elements.date.focus();
}

function resetForm() {
  const form = $("#entry-form");
  form.reset();
  form.elements.id.value = "";
  clearErrors(form);
  $("#entry-title").textContent = "Add an entry";
  $("#entry-submit").textContent = "Add entry";
  $("#entry-cancel").hidden = true;
}

async function submitEntry(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  banner("");
  const values = Object.fromEntries(new FormData(form));
  const id = values.id;
  const body = { date: values.date, project: values.project, hours: values.hours === "" ? null : values.hours };
  body.notes = values.notes ? values.notes : null;
  try {
    if (id) await api.put(`/timesheets/${id}`, body);
    else await api.post("/timesheets", body);
    resetForm();
    await loadEntries();
  } catch (error) { showError(error, form); }
}

async function removeEntry(entry) {
  if (!window.confirm(`Delete the entry of ${entry.date} for ${entry.project}?`)) return;
  try {
    await api.del(`/timesheets/${entry.id}`);
    await loadEntries();
  } catch (error) { showError(error, null, "list"); }
}

async function loadSummary() {
  const chart = $("#chart");
  try {
    const summary = await api.get("/timesheets/summary");
    drawChart(chart, summary);
  } catch (error) {
    chart.textContent = error.message;
  }
}

/** A stacked bar per ISO week, one colour per project, drawn as SVG. */
function drawChart(container, summary) {
  const ns = "http://www.w3.org/2000/svg";
  const weeks = [...new Set(summary.weeks.map((w) => w.week))];
  const projects = [...new Set(summary.weeks.map((w) => w.project))].sort();
  const colour = (project) => PALETTE[projects.indexOf(project) % PALETTE.length];
  container.replaceChildren();
  $("#legend").replaceChildren(...projects.map((p) => element("li", {}, Object.assign(element("span"), { style: `background:${colour(p)}` }), p)));
  if (weeks.length === 0) { container.textContent = "No hours recorded in the last 12 weeks."; return; }
  const totals = weeks.map((week) => summary.weeks.filter((w) => w.week === week).reduce((sum, w) => sum + w.hours, 0));
  const max = Math.max(8, ...totals);
  const width = 640, height = 260, left = 40, bottom = 30, barWidth = Math.min(48, (width - left) / weeks.length - 8);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", "100%");
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, stroke: "#888" });
  add("text", { x: 4, y: 14, "font-size": 11, fill: "#4a5263" }, `${max} h`);
  weeks.forEach((week, index) => {
    const x = left + 8 + index * ((width - left) / weeks.length);
    let y = height - bottom;
    for (const item of summary.weeks.filter((w) => w.week === week)) {
      const h = (item.hours / max) * (height - bottom - 20);
      y -= h;
      const rect = add("rect", { x, y, width: barWidth, height: h, fill: colour(item.project) });
      const title = document.createElementNS(ns, "title");
      title.textContent = `${week} · ${item.project}: ${item.hours} h`;
      rect.append(title);
    }
    add("text", { x: x + barWidth / 2, y: height - 10, "font-size": 11, "text-anchor": "middle", fill: "#1d2430" }, week.slice(5));
    add("text", { x: x + barWidth / 2, y: y - 4, "font-size": 11, "text-anchor": "middle", fill: "#1d2430" }, totals[index]);
  });
  container.append(svg);
}

// ---- an entry's detail and history ------------------------------------------------------------------------

const HISTORY_FIELDS = { date: "Date", project: "Project", hours: "Hours", notes: "Notes" };

/** One event of GET /timesheets/{id}/history: who did what when, an edit's fields before and after, a rejection's reason. */
function historyItem(event) {
  const item = element("li", { "data-action": event.action },
    element("span", { class: `badge ${event.action}` }, event.action), " by ",
    element("strong", {}, event.actor), " · ",
    element("time", { datetime: event.at }, new Date(event.at).toLocaleString()));
  if (event.action === "updated") {
    const changes = element("ul", { class: "changes" });
    for (const [field, label] of Object.entries(HISTORY_FIELDS)) {
      if (!event.after || !(field in event.after)) continue;
      const shown = (value) => (value === null || value === "" ? "—" : value);
      changes.append(element("li", {}, `${label}: ${shown(event.before[field])} → ${shown(event.after[field])}`));
    }
    item.append(changes);
  }
  if (event.action === "rejected") item.append(element("p", { class: "reason" }, event.reason ? `Reason: ${event.reason}` : "No reason given."));
  return item;
}

/** Opens the detail panel of an entry of the list: its fields, who recorded it, and every change, oldest first. */
async function showEntryDetail(entry) {
  const panel = $("#entry-detail");
  panel.hidden = false;
  $("#detail-close").onclick = () => { panel.hidden = true; };
  $("#detail-title").textContent = `Entry of ${entry.date}`;
  const facts = [["Project", entry.project], ["Hours", entry.hours], ["Status", entry.status], ["Notes", entry.notes || "—"],
    ["Recorded by", entry.created_by], ["Created", new Date(entry.created_at).toLocaleString()]];
  $("#detail-facts").replaceChildren(...facts.flatMap(([term, value]) => [element("dt", {}, term), element("dd", {}, value)]));
  const list = $("#history");
  list.replaceChildren();
  $('[data-error-for="history"]').textContent = "";
  try {
    const history = await api.get(`/timesheets/${entry.id}/history`);
    list.replaceChildren(...history.items.map(historyItem));
  } catch (error) { showError(error, null, "history"); }
  panel.scrollIntoView({ block: "nearest" });
}

async function loadApprovals() {
  const body = $("#pending");
  $('[data-error-for="approvals"]').textContent = "";
  try {
    const page = await api.get("/approvals?limit=100");
    body.replaceChildren(...page.items.map((entry) => {
      const reason = element("input", { type: "text", "aria-label": `Reason for rejecting entry ${entry.id}`, placeholder: "Reason (optional)" });
      return element("tr", { "data-id": entry.id },
        element("td", {}, entry.user_id), element("td", {}, entry.date), element("td", {}, entry.project),
        element("td", { class: "num" }, entry.hours),
        element("td", { class: "row-actions" },
          element("button", { type: "button", class: "primary", onclick: () => review(entry, "approve") }, "Approve"),
          reason,
          element("button", { type: "button", onclick: () => review(entry, "reject", reason.value) }, "Reject")));
    }));
    if (page.items.length === 0) body.append(element("tr", {}, element("td", { colspan: "5" }, "Nothing waits for approval.")));
  } catch (error) { showError(error, null, "approvals"); }
}

async function review(entry, action, reason) {
  try {
    if (action === "approve") await api.put(`/approvals/${entry.id}`);
    else await api.post(`/approvals/${entry.id}/reject`, reason ? { reason } : {});
    await loadApprovals();
  } catch (error) { showError(error, null, "approvals"); }
}

async function loadProfile() {
  const list = $("#profile");
  try {
    const me = await api.get("/me");
    const rows = [["User", me.user_id], ["Subject", me.subject], ["Permissions", me.permissions.join(", ") || "none"], ["Client", me.client_id || "—"], ["Machine client", me.is_machine ? "yes" : "no"], ["Token expires", new Date(me.expires_at).toLocaleString()]];
    list.replaceChildren(...rows.flatMap(([term, value]) => [element("dt", {}, term), element("dd", {}, value)]));
  } catch (error) { list.textContent = error.message; }
  $("#raw-token").textContent = JSON.stringify(decodeJWT(auth.token), null, 2);
}

/** Calls one of the quickstart endpoints and shows its status with the message, or the problem's detail. */
async function callMessage(button) {
  const output = $("output", button.closest(".message-check"));
  output.className = "";
  output.textContent = "…";
  const headers = {};
  if (button.hasAttribute("data-token") && auth.token) Object.assign(headers, await auth.authorizationHeaders("GET", button.dataset.call));
  try {
    const response = await fetch(button.dataset.call, { headers });
    const payload = await response.json().catch(() => ({}));
    output.className = response.ok ? "ok" : "failed";
    output.textContent = response.ok
      ? `${response.status}: ${payload.message}`
      : `${response.status} ${payload.code || ""}: ${payload.detail || payload.title || "no details"}`;
  } catch {
    output.className = "failed";
    output.textContent = "The network is unavailable.";
  }
}

function showAPICheck() {
  $$("[data-view-section]").forEach((section) => { section.hidden = section.id !== "view-api-check"; });
  $$("nav a").forEach((link) => link.toggleAttribute("aria-current", link.dataset.view === "api-check"));
  $$("nav a[aria-current]").forEach((link) => link.setAttribute("aria-current", "page"));
}

const views = { timesheets: () => loadEntries(), summary: loadSummary, approvals: loadApprovals, reports: () => loadReport(), profile: loadProfile, "api-check": () => {} };

function route() {
  const requested = window.location.hash.replace(/^#\//, "");
  if (!auth.token) {
    showLoggedOut();
    // The check works logged out too: the public endpoint answers, the others show their 401.
    if (requested === "api-check") { $("#welcome").hidden = true; showAPICheck(); }
    return;
  }
  let name = (requested || "timesheets");
  if (!views[name] || (name === "approvals" && !can("approve:timesheets"))) name = "timesheets";
  if (name === "reports" && !can("read:reports")) name = "timesheets";
  $$("[data-view-section]").forEach((section) => { section.hidden = section.id !== `view-${name}`; });
  $$("nav a").forEach((link) => link.toggleAttribute("aria-current", link.dataset.view === name));
  $$("nav a[aria-current]").forEach((link) => link.setAttribute("aria-current", "page"));
  views[name]();
}

function showLoggedOut() {
  $("#welcome").hidden = false;
  $("#nav").hidden = true;
  $("#login").hidden = false;
  $("#logout").hidden = true;
  $("#who").textContent = "";
  $$("[data-view-section]").forEach((section) => { section.hidden = true; });
}

function showLoggedIn() {
  const claims = auth.claims;
  $("#welcome").hidden = true;
  $("#nav").hidden = false;
  $("#login").hidden = true;
  $("#logout").hidden = false;
  $("#who").textContent = claims["https://api.exampleco.com/email"] || claims.sub;
  applyPermissions();
}

async function start() {
  const config = await (await fetch("/config.json")).json();
  auth = new Auth(config);
  api = new API(auth, () => { banner("Your session has ended. Log in again; nothing you typed is lost."); $("#login").hidden = false; });
  for (const button of [$("#login"), $("#login-big")]) button.addEventListener("click", () => { saveDraft(); auth.login(); });
  $("#logout").addEventListener("click", () => auth.logout());
  $("#entry-form").addEventListener("submit", submitEntry);
  $("#entry-cancel").addEventListener("click", resetForm);
  $("#filters").addEventListener("submit", (event) => { event.preventDefault(); loadEntries(); });
  $("#more").addEventListener("click", () => loadEntries(true));
  $$("[data-call]").forEach((button) => button.addEventListener("click", () => callMessage(button)));
  $("#report-form").addEventListener("submit", (event) => { event.preventDefault(); loadReport(); });
  $("#report-csv").addEventListener("click", downloadReport);
  window.addEventListener("hashchange", route);
  try {
    await auth.handleRedirect();
    await auth.ensureFresh();
  } catch (error) {
    banner(error.message);
  }
  if (auth.token) showLoggedIn();
  route();
  restoreDraft();
}

// A half-typed entry survives a trip to the login page (session storage, this tab only).
const DRAFT_KEY = "timesheets.draft";
function saveDraft() {
  const values = Object.fromEntries(new FormData($("#entry-form")));
  if (values.project || values.hours || values.notes) sessionStorage.setItem(DRAFT_KEY, JSON.stringify(values));
}
function restoreDraft() {
  const draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
  sessionStorage.removeItem(DRAFT_KEY);
  if (!draft || !auth.token) return;
  const form = $("#entry-form");
  for (const [name, value] of Object.entries(draft)) if (form.elements.namedItem(name)) form.elements.namedItem(name).value = value;
}

// ---- reports (managers, read:reports) --------------------------------------------------------------------

const REPORT_KEYS = { user: ["user_id", "User"], project: ["project", "Project"], week: ["week", "Week"], day: ["day", "Day"] };

/** The report form's query; an empty range becomes this month so far (UTC). */
function reportQuery() {
  const form = $("#report-form");
  if (!form.elements.from.value && !form.elements.to.value) {
    const today = new Date().toISOString().slice(0, 10);
    form.elements.from.value = today.slice(0, 8) + "01";
    form.elements.to.value = today;
  }
  const values = Object.fromEntries(new FormData(form));
  return new URLSearchParams({ from: values.from, to: values.to, group_by: values.group_by, status: values.status });
}

async function loadReport() {
  const form = $("#report-form");
  const query = reportQuery();
  clearErrors(form);
  try {
    renderReport(await api.get(`/reports/hours?${query}`));
  } catch (error) { showError(error, form, "report"); }
}

function reportLabel(report, row) {
  return report.group_by.map((key) => row[REPORT_KEYS[key][0]]).join(" · ");
}

function renderReport(report) {
  const columns = report.group_by.map((key) => REPORT_KEYS[key]);
  $("#report-head").replaceChildren(element("tr", {},
    ...columns.map(([, heading]) => element("th", { scope: "col" }, heading)),
    element("th", { scope: "col", class: "num" }, "Hours"), element("th", { scope: "col", class: "num" }, "Entries")));
  $("#report-rows").replaceChildren(...report.rows.map((row) => element("tr", {},
    ...columns.map(([field]) => element("td", {}, row[field])),
    element("td", { class: "num" }, row.hours), element("td", { class: "num" }, row.entries))));
  if (report.rows.length === 0) {
    $("#report-rows").append(element("tr", {}, element("td", { colspan: String(columns.length + 2) }, "No hours in this range.")));
  }
  const entries = report.rows.reduce((sum, row) => sum + row.entries, 0);
  $("#report-foot").replaceChildren(element("tr", {},
    element("th", { scope: "row", colspan: String(columns.length) }, `Total, ${report.status} entries ${report.from} to ${report.to}`),
    element("td", { class: "num" }, report.total_hours), element("td", { class: "num" }, entries)));
  drawReportChart($("#report-chart"), report);
}

/** One horizontal bar per row (the 30 largest), drawn as SVG by hand. */
function drawReportChart(container, report) {
  const ns = "http://www.w3.org/2000/svg";
  container.replaceChildren();
  if (report.rows.length === 0) { container.textContent = "Nothing to chart."; return; }
  const rows = [...report.rows].sort((a, b) => b.hours - a.hours).slice(0, 30);
  const max = Math.max(...rows.map((row) => row.hours));
  const width = 640, left = 200, right = 60, barHeight = 18, gap = 6, top = 8;
  const height = top * 2 + rows.length * (barHeight + gap);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", "100%");
  const add = (parent, tag, attributes, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    parent.append(node);
    return node;
  };
  const first = [...new Set(report.rows.map((row) => row[REPORT_KEYS[report.group_by[0]][0]]))];
  rows.forEach((row, index) => {
    const y = top + index * (barHeight + gap);
    const label = reportLabel(report, row);
    const length = Math.max(1, (row.hours / max) * (width - left - right));
    const colour = PALETTE[first.indexOf(row[REPORT_KEYS[report.group_by[0]][0]]) % PALETTE.length];
    add(svg, "text", { x: left - 8, y: y + barHeight - 5, "font-size": 11, "text-anchor": "end", fill: "#1d2430" },
      label.length > 32 ? label.slice(0, 31) + "…" : label);
    const bar = add(svg, "rect", { x: left, y, width: length, height: barHeight, fill: colour, rx: 2 });
    add(bar, "title", {}, `${label}: ${row.hours} h in ${row.entries} entries`);
    add(svg, "text", { x: left + length + 6, y: y + barHeight - 5, "font-size": 11, fill: "#4a5263" }, `${row.hours} h`);
  });
  if (report.rows.length > rows.length) {
    container.append(element("p", { class: "hint" }, `The ${rows.length} largest of ${report.rows.length} rows; the table lists them all.`));
  }
  container.prepend(svg);
}

/** Saves the report as CSV (Accept: text/csv), under the name the server gives it. */
async function downloadReport() {
  const form = $("#report-form");
  const query = reportQuery();
  clearErrors(form);
  try {
    const { blob, name } = await api.download(`/reports/hours?${query}`, "text/csv");
    const url = URL.createObjectURL(blob);
    const link = element("a", { href: url, download: name, hidden: "" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) { showError(error, form, "report"); }
}

start().catch((error) => banner(`The app could not start: ${error.message}`));
