// Back office: /manager?token=<MANAGER device token>
//
// One page in ten sections (left nav, the section kept in the address's #hash):
//   dashboard  prep times, queues, predicted against actual ready times, takings by hour and alerts, drawn
//            as charts (manager_dashboard.js: GET /api/v1/stats/dashboard, refreshed while shown); a
//            second page, Unusual & ahead: the day's anomalies and the orders forecast (manager_ahead.js);
//   alerts   the standing kitchen alerts, live: raised by the `manager` snapshot and KITCHEN_ALERT, ended
//            as on expo (alerts.js: the `expo` channel's cards and TICKET_ACKED, bumps, cancels, merges,
//            settles and pickups), so the count in the nav drops the moment an alert stops standing;
//            under them the tickets no printer could print (manual_jobs.js: done by hand, found
//            printed, reprint), and a CRITICAL alert cannot be dismissed; then what the hub's own
//            checks found (manager_sweeps.js: SWEEP_FOUND, "Fixed by the hub" or "Needs you"), those
//            that need someone counted in the nav too; last, what was sent out to ERPNext and the invoice
//            archive (manager_outbox.js: GET /api/v1/outbox, failed ones first with a Retry: outbox.retry,
//            and counted in the nav as well);
//   day      the day's figures (GET /api/v1/reports/day, then REVENUE_UPDATED), float, payout,
//            day close with counted cash, and the Z-report: printable, or on a printer (print.z_report);
//   invoices history (GET /api/v1/invoices: customer, from/to, status, pages), one invoice whole,
//            refund and void with the manager's PIN;
//   groups   saved group bills: list, new or changed (group.save, the orders picked from the open
//            ones: the `orders` channel), previewed and paid as one invoice (manager_groups.js);
//   menu     items by category (the `menu` channel, MENU_CHANGED re-renders at once), edit or add an
//            item with its choices (modifier groups, checked here before sending), categories and
//            stations (setup.* with the menu version held);
//   floor    areas and tables on their plan (the `tables` channel; setup.area.put, setup.table.*);
//   staff    the people who work here (the `manager` snapshot's `staff`, then STAFF_CHANGED): add, edit
//            (name, role, a new PIN; a PIN is never shown) and remove (setup.staff.*, with the
//            restaurant's version held: every staff change moves it, so the page keeps it in step);
//   devices  GET /api/v1/devices, pair (device.pair: the code shown big) and revoke (device.revoke);
//   restaurant the profile (name, time zone, the currency shown) and the billing rules
//            (setup.profile, setup.billing with the restaurant's version; manager_settings.js).
// Above every section, each printer's state (printer_health.js: PRINTER_STATUS), big when one cannot print.
//
// Money commands (float, payout, close, refund, void, a group's payment) go over HTTP
// POST /api/v1/commands with an Idempotency-Key kept until the hub answers, so a retry never pays
// twice. Setup and device commands, and group.save, go over the WebSocket (hub.act). Amounts are
// integer minor units (money.js).

import { AlertBook, alertLabel, dismissable } from "./alerts.js";
import { Hub, HubError, randomHex } from "./fireflow.js";
import { DAY_FIGURES, TENDER_METHODS, formatMoney, parseAmount, placesOf, plainAmount } from "./money.js";
import { dashboardSection } from "./manager_dashboard.js";
import { groupsSection } from "./manager_groups.js";
import { outboxPanel } from "./manager_outbox.js";
import { webhooksPanel } from "./manager_webhooks.js";
import { ManualJobs, showManualList } from "./manual_jobs.js";
import { PrinterHealth, showPrinterHealth } from "./printer_health.js";
import { settingsSection } from "./manager_settings.js";
import { SweepFindings, showSweepFindings } from "./manager_sweeps.js";
import { CardBook } from "./tickets.js";
import { checkRole, deviceToken, explain, h, noToken, setConnection, toast } from "./ui.js";

const SECTIONS = ["dashboard", "alerts", "day", "invoices", "groups", "menu", "floor", "staff", "devices", "restaurant", "webhooks"];
const METHODS = TENDER_METHODS;
const PER_PAGE = 12;
const FIGURES = [["revenue", "Revenue", true], ...DAY_FIGURES];

const token = deviceToken("manager");
const me = { device: null };
let hub = null;
let started = false; // the first snapshot came
let section = "alerts";
let currency = "INR";
let restaurantName = "";
let restaurantVersion = null; // the restaurant's version as last told (snapshot, PROFILE_CHANGED, STAFF_CHANGED, acks)
let restaurant = null; // the restaurant's settings as last told (snapshot, PROFILE_CHANGED, own saves)

const book = new CardBook(); // the expo cards: what each station still has to make
const alerts = new AlertBook(book);
const manual = new ManualJobs(); // tickets no printer could print, until somebody handles them
const printerHealth = new PrinterHealth(); // each printer's state, as its print agent last read it
const sweeps = new SweepFindings(); // what the hub's self-healing sweeps found, since this page opened
let figures = null;
let figureEvents = 0;
const drawerLog = []; // DRAWER_MOVED and DAY_CLOSED seen by this page, newest first
let lastClose = null;

const menu = { version: 0, items: new Map(), categories: [], stations: [] };
const stationSettings = new Map(); // station id -> StationSettings, when the hub has told us
const taxCodes = new Set();
let editing = { item: null, sub: "item", category: null, station: null }; // ids being edited (null: new)

const tables = new Map();
let areas = [];
let area = null; // the area shown on the plan
let editingTable = null;

const staff = new Map(); // staff id -> { id, name, role } (never a PIN)
let editingStaff = null; // the id being edited (null: a new person)

const openOrders = new Map(); // order id -> Order: the open orders (the `orders` channel), to put in groups
const orderNumbers = new Map(); // order id -> its number, for every order seen (a cancelled one too)

let devices = [];
let offer = null; // { device_id, code, expires_at }

const query = { customer: "", from: "", to: "", status: "", page: 1 };
let invoices = null; // the last page read
let invoice = null; // the selected invoice, whole
let invoiceSeq = 0;

const money = (minor) => formatMoney(minor, currency);
const places = () => placesOf(currency);
const $ = (id) => document.getElementById(id);
const slug = (text) => String(text).toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64);
const byName = (a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id), undefined, { numeric: true });

// -- talking to the hub ---------------------------------------------------------------------------

function api(path, options = {}) {
  return fetch(path, { ...options, headers: { Authorization: `Bearer ${token}`, ...(options.headers || {}) } });
}

async function read(path) {
  const res = await api(path);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new HubError({ code: body.code || null, message: body.message || `the hub answered ${res.status}`, details: body.details });
  return body;
}

const moneyIds = new Map(); // "type data" -> the command id, until the hub has answered it

function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A money command over HTTP. The same action asked again (a retry after no answer) keeps its id,
// so the hub runs it once; BUSY / UNAVAILABLE are retried here with the same id.
async function moneyCommand(type, data) {
  const key = `${type} ${JSON.stringify(data)}`;
  let id = moneyIds.get(key);
  if (!id) {
    id = `${me.device || "manager"}-${randomHex(8)}`;
    moneyIds.set(key, id);
  }
  for (let attempt = 1; ; attempt += 1) {
    let res;
    let body;
    try {
      res = await api("/api/v1/commands", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": id },
        body: JSON.stringify({ id, type, data }),
      });
      body = await res.json().catch(() => ({}));
    } catch {
      if (attempt < 3) {
        await pause(600 * attempt);
        continue;
      }
      throw new HubError({ message: "no answer from the hub; press again: it will not be done twice" });
    }
    if (res.ok) {
      moneyIds.delete(key);
      return body;
    }
    if (body.retryable && attempt < 3) {
      const after = body.details && body.details.retry_after_s;
      await pause(typeof after === "number" ? Math.ceil(after * 1000) : 600 * attempt);
      continue;
    }
    if (!body.retryable) moneyIds.delete(key);
    throw new HubError(body);
  }
}

// A refusal of a setup command, in words (the setup's own problems listed).
function setupRefusal(err) {
  if (err.code === "INVALID_SETUP") {
    const problems = (err.frame.details && err.frame.details.problems) || [];
    return `Not saved: ${problems.length ? problems.join("; ") : err.message}.`;
  }
  if (err.code === "INVALID_COMMAND") return `Not saved: ${err.message}.`;
  if (err.code === "VERSION_CONFLICT") return "Someone changed this at the same moment: the page shows what is there now; check it, then save again.";
  return explain(err);
}

function fail(err, words = explain) {
  toast(words(err), "error", err && err.code);
}

// Run `work` with the form's buttons off; a refusal is a toast in plain words.
async function busy(form, work, words = explain) {
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    return await work();
  } catch (err) {
    fail(err, words);
    return undefined;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

function amountOf(input, allowZero = false) {
  const minor = parseAmount(input.value, places());
  if (minor === null || Number.isNaN(minor) || (!allowZero && minor <= 0)) {
    toast(`Type an amount, like ${plainAmount(12550, places())}`);
    input.focus();
    return null;
  }
  return minor;
}

function confirmAsk(title, text, yes) {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true }));
}

// -- state from the hub ---------------------------------------------------------------------------

function setMenu(snap) {
  menu.version = snap.version || 0;
  menu.items.clear();
  for (const item of snap.items || []) menu.items.set(item.id, item);
  menu.categories = snap.categories || [];
  menu.stations = snap.stations || [];
  for (const item of menu.items.values()) if (item.tax_code) taxCodes.add(item.tax_code);
}

function setRestaurant(told) {
  if (!told) return;
  restaurant = told;
  if (typeof told.version === "number") restaurantVersion = told.version;
  restaurantName = told.name || restaurantName;
  if (told.currency) currency = told.currency;
  for (const station of (told.kitchen && told.kitchen.stations) || []) stationSettings.set(station.id, station);
  for (const tax of (told.billing && told.billing.taxes) || []) taxCodes.add(tax.code);
  settings.changed();
}

// What this page just saved (setup.profile, setup.billing), before its PROFILE_CHANGED comes.
function savedRestaurant(patch) {
  if (!restaurant) return;
  restaurant = { ...restaurant, ...patch, version: restaurantVersion ?? restaurant.version };
  restaurantName = restaurant.name || restaurantName;
  if (patch.billing) {
    taxCodes.clear();
    for (const tax of patch.billing.taxes) taxCodes.add(tax.code);
    for (const item of menu.items.values()) if (item.tax_code) taxCodes.add(item.tax_code);
  }
  render();
}

// -- open orders (for the groups) -------------------------------------------------------------------

const OPEN_STATUSES = new Set(["ACTIVE", "READY"]);

function putOrder(order) {
  orderNumbers.set(order.id, order.number);
  if (OPEN_STATUSES.has(order.status)) openOrders.set(order.id, order);
  else openOrders.delete(order.id);
}

function orderEvent(ev) {
  const d = ev.data || {};
  if (d.order_id && d.order_number) orderNumbers.set(d.order_id, d.order_number);
  switch (ev.type) {
    case "ORDER_OPENED":
    case "ORDER_UPDATED":
    case "ORDER_FIRED":
    case "ORDER_RECALLED":
      putOrder(d.order);
      break;
    case "ORDER_MERGED":
      if (d.from_order_number) orderNumbers.set(d.from_order_id, d.from_order_number);
      openOrders.delete(d.from_order_id);
      putOrder(d.order);
      break;
    case "ORDER_READY": {
      const order = openOrders.get(d.order_id);
      if (order) openOrders.set(order.id, { ...order, status: "READY", ready_at: d.ready_at });
      break;
    }
    case "ORDER_MOVED": {
      const order = openOrders.get(d.order_id);
      if (order) openOrders.set(order.id, { ...order, table_id: d.to_table_id });
      break;
    }
    case "ORDER_CANCELLED":
    case "ORDER_PICKED_UP":
      openOrders.delete(d.order_id);
      break;
    case "ORDER_SETTLED": {
      const waiting = new Set(d.awaiting_pickup || []);
      for (const id of d.order_ids || []) {
        const order = openOrders.get(id);
        if (order && waiting.has(id)) openOrders.set(id, { ...order, payment_status: "PAID", invoice_id: d.invoice_id, invoice_number: d.invoice_number });
        else openOrders.delete(id);
      }
      break;
    }
    case "PAYMENT_RECORDED":
      for (const id of d.order_ids || []) {
        const order = openOrders.get(id);
        if (order && d.order_ids.length === 1) openOrders.set(id, { ...order, paid: d.paid, payment_status: d.status });
      }
      break;
    default:
      return;
  }
  groups.orderEvent(ev);
}

function snapshot(snapshots) {
  book.load(snapshots);
  alerts.load(snapshots);
  manual.load(snapshots);
  printerHealth.load(snapshots);
  if (snapshots.manager) {
    setRestaurant(snapshots.manager.restaurant); // station colours and timings, tax codes, currency, version
    staff.clear();
    for (const person of snapshots.manager.staff || []) staff.set(person.id, person);
  }
  if (snapshots.menu) setMenu(snapshots.menu);
  if (snapshots.orders) {
    openOrders.clear();
    for (const order of snapshots.orders.orders || []) putOrder(order);
    groups.orderEvent({ type: "SNAPSHOT", data: {} });
  }
  if (snapshots.tables) {
    tables.clear();
    for (const table of snapshots.tables.tables || []) tables.set(table.id, table);
    areas = snapshots.tables.areas || [];
  }
  if (!started) {
    started = true; // the empty forms take the restaurant's first station, tax code, area and a free table id
    editItem(null, false);
    editTable(null);
  }
  loadFigures();
  loadDevices();
  loadFindings();
  outbox.load();
  if (section === "invoices") loadInvoices();
  if (section === "groups") groups.shown();
}

function event(ev) {
  const d = ev.data || {};
  alerts.apply(ev);
  sweeps.apply(ev);
  dashboard.event(ev);
  manual.apply(ev);
  printerHealth.apply(ev);
  book.apply(ev);
  orderEvent(ev);
  switch (ev.type) {
    case "KITCHEN_SETTINGS_CHANGED":
      for (const station of (d.kitchen && d.kitchen.stations) || []) stationSettings.set(station.id, station);
      break;
    case "MENU_CHANGED":
      menu.version = d.version;
      for (const item of d.items || []) {
        const was = menu.items.get(item.id) || {};
        const out = Boolean(was.out);
        menu.items.set(item.id, { ...item, out, remaining: was.remaining ?? null, sellable: item.available && !out });
        if (item.tax_code) taxCodes.add(item.tax_code);
      }
      for (const id of d.removed || []) menu.items.delete(id);
      menu.categories = d.categories || menu.categories;
      menu.stations = d.stations || menu.stations;
      break;
    case "STOCK_CHANGED": {
      const item = menu.items.get(d.stock.menu_item_id);
      if (item) menu.items.set(item.id, { ...item, out: d.stock.out, sellable: item.available && !d.stock.out });
      break;
    }
    case "ITEM_86D":
    case "ITEM_AVAILABLE": {
      const item = menu.items.get(d.menu_item_id);
      if (item) menu.items.set(item.id, { ...item, sellable: ev.type === "ITEM_AVAILABLE", remaining: d.available });
      break;
    }
    case "PROFILE_CHANGED":
      setRestaurant(d.restaurant);
      break;
    case "STAFF_CHANGED":
      restaurantVersion = d.version;
      for (const person of d.staff || []) staff.set(person.id, person);
      for (const id of d.removed || []) staff.delete(id);
      if (editingStaff && (d.removed || []).includes(editingStaff)) editStaff(null);
      break;
    case "TABLES_CHANGED":
      for (const table of d.tables || []) tables.set(table.id, table);
      for (const id of d.removed || []) tables.delete(id);
      areas = d.areas || areas;
      break;
    case "TABLE_STATUS_CHANGED":
      tables.set(d.table.id, d.table);
      break;
    case "DEVICE_CHANGED": {
      const at = devices.findIndex((x) => x.id === d.device.id);
      const known = at >= 0 ? devices[at] : { last_seen: null, live: false };
      const device = { ...known, ...d.device };
      if (at >= 0) devices[at] = device;
      else devices = [...devices, device].sort((a, b) => a.id.localeCompare(b.id));
      break;
    }
    case "REVENUE_UPDATED":
      figures = { ...d };
      if (d.currency) currency = d.currency;
      figureEvents += 1;
      break;
    case "DRAWER_MOVED":
      drawerLog.unshift({ ...d, at: ev.ts });
      break;
    case "DAY_CLOSED":
      lastClose = d.report;
      drawerLog.unshift({ kind: "CLOSE", amount: d.report.counted_cash, at: ev.ts, report: d.report });
      break;
    case "ORDER_SETTLED":
    case "PAYMENT_REFUNDED":
    case "ORDER_VOIDED":
      if (section === "invoices") loadInvoices();
      if (invoice && d.invoice_id === invoice.id) loadInvoice(invoice.id);
      break;
    default:
      break;
  }
}

async function loadFigures() {
  const before = figureEvents;
  try {
    const loaded = await read("/api/v1/reports/day");
    if (figureEvents === before) {
      figures = loaded;
      if (loaded.currency) currency = loaded.currency;
    }
  } catch (err) {
    toast(`Today's figures could not be read: ${explain(err)}`);
  }
  render();
}

// What the sweeps reported that still stands: told before this page opened (or while it was offline).
async function loadFindings() {
  try {
    for (const finding of (await read("/api/v1/sweeps/findings")).findings || []) sweeps.apply({ type: "SWEEP_FOUND", data: { finding } });
  } catch (err) {
    toast(`What the hub's checks found could not be read: ${explain(err)}`);
  }
  render();
}

async function loadDevices() {
  try {
    devices = (await read("/api/v1/devices")).devices || [];
  } catch (err) {
    fail(err);
  }
  render();
}

async function loadInvoices() {
  const params = new URLSearchParams({ page: String(query.page), per_page: String(PER_PAGE) });
  for (const key of ["customer", "from", "to", "status"]) if (query[key]) params.set(key, query[key]);
  const seq = ++invoiceSeq;
  try {
    const page = await read(`/api/v1/invoices?${params}`);
    if (seq !== invoiceSeq) return;
    invoices = page;
  } catch (err) {
    if (seq === invoiceSeq) fail(err, (e) => (e.code === "INVALID_COMMAND" ? `Check the filters: ${e.message}.` : explain(e)));
  }
  renderInvoices();
}

async function loadInvoice(id) {
  try {
    invoice = (await read(`/api/v1/invoices/${encodeURIComponent(id)}`)).invoice;
  } catch (err) {
    fail(err);
  }
  renderInvoices();
}

// -- sections -------------------------------------------------------------------------------------

function go(name) {
  section = SECTIONS.includes(name) ? name : "alerts";
  if (window.location.hash !== `#${section}`) history.replaceState(null, "", `${window.location.pathname}${window.location.search}#${section}`);
  document.body.dataset.section = section;
  for (const el of document.querySelectorAll("[data-section]")) el.hidden = el.dataset.section !== section;
  for (const b of document.querySelectorAll("[data-go]")) b.setAttribute("aria-current", b.dataset.go === section ? "page" : "false");
  if (section === "invoices" && !invoices) loadInvoices();
  if (section === "devices") loadDevices();
  if (section === "groups") groups.shown();
  dashboard.shown(section === "dashboard");
  outbox.shown(section === "alerts");
  webhooks.shown(section === "webhooks");
  render();
}

function render() {
  $("where").textContent = [restaurantName, figures && figures.day].filter(Boolean).join(" · ");
  const standing = alerts.standing();
  const counted = standing.length + sweeps.needsYou().length + outbox.failedCount();
  $("nav-alerts").textContent = counted ? String(counted) : "";
  $("nav-alerts").classList.toggle("critical", standing.some((alert) => alert.severity === "CRITICAL"));
  renderAlerts(standing);
  showPrinterHealth($("printer-health"), printerHealth); // every section: a printer that cannot print is news anywhere
  renderDay();
  renderMenu();
  renderFloor();
  renderStaff();
  renderDevices();
  settings.render();
}

function since(ms) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((hub.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return new Date(ms).toLocaleString();
}

function renderAlerts(standing) {
  const items = standing.map((alert) =>
    h(
      "li",
      { class: alert.severity === "CRITICAL" ? "critical" : null, dataset: { alertId: alert.id, kind: alert.kind, orderId: alert.order_id, severity: alert.severity } },
      h("span", { class: "kind" }, alertLabel(alert)),
      h("span", { class: "what" }, alert.message || `Order #${alert.order_number} at ${alert.station}`),
      h("span", { class: "when" }, since(alert.at)),
      dismissable(alert)
        ? h("button", { type: "button", onclick: () => (alerts.dismiss(alert.id), render()) }, "OK")
        : h("span", { class: "must" }, "HANDLE IT BELOW"),
    ),
  );
  showManualList($("manual"), manual, { hub, redraw: render });
  showSweepFindings($("sweeps"), sweeps, { since, redraw: render });
  $("alerts-list").replaceChildren(...(items.length ? items : [h("li", { class: "none" }, "No kitchen alerts standing: every station has a screen and every ticket was seen.")]));
}

function renderDay() {
  const f = figures || {};
  $("day-name").textContent = f.day || "";
  const z = new URLSearchParams({ token });
  if (f.day) z.set("day", f.day);
  $("z-link").href = `/api/v1/reports/z.html?${z}`;
  renderZPrinters();
  const figs = FIGURES.map(([key, label, isMoney]) =>
    h("div", { class: `fig ${key}` }, h("span", {}, label), h("b", { id: `fig-${key}`, dataset: { minor: f[key] ?? "" } }, isMoney ? money(f[key]) : String(f[key] ?? "—"))),
  );
  for (const [method, amount] of Object.entries(f.by_method || {})) figs.push(h("div", { class: "fig" }, h("span", {}, method), h("b", {}, money(amount))));
  $("day-figures").replaceChildren(...figs);
  const result = $("close-result");
  if (lastClose) {
    const diff = lastClose.cash_difference;
    result.replaceChildren(
      h("div", {}, "Expected cash ", h("b", { id: "close-expected" }, money(lastClose.expected_cash))),
      h("div", {}, "Counted ", h("b", {}, money(lastClose.counted_cash))),
      h("div", { class: diff === 0 ? "even" : diff > 0 ? "over" : "short" }, diff === 0 ? "Drawer balances" : diff > 0 ? "Over by " : "Short by ", diff === 0 ? "" : h("b", { id: "close-diff" }, money(Math.abs(diff)))),
    );
    result.dataset.difference = String(diff);
  }
  const words = { FLOAT: "Float in", PAYOUT: "Paid out", CLOSE: "Day closed, counted" };
  $("drawer-log").replaceChildren(
    ...(drawerLog.length
      ? drawerLog.slice(0, 20).map((m) =>
          h("li", { dataset: { kind: m.kind } }, h("b", {}, `${words[m.kind] || m.kind} ${money(m.amount)}`), m.category ? ` · ${m.category}` : "", m.note ? ` · ${m.note}` : "", m.by ? ` · ${m.by}` : "", h("span", { class: "when" }, new Date(m.at || Date.now()).toLocaleTimeString())),
        )
      : [h("li", { class: "none" }, "Nothing moved yet on this screen.")]),
  );
}

function renderInvoices() {
  const rows = ((invoices && invoices.invoices) || []).map((inv) =>
    h(
      "tr",
      {
        tabindex: "0",
        class: invoice && invoice.id === inv.id ? "selected" : "",
        dataset: { invoiceId: inv.id, status: inv.status },
        onclick: () => loadInvoice(inv.id),
        onkeydown: (e) => e.key === "Enter" && loadInvoice(inv.id),
      },
      h("td", {}, `#${inv.number}`),
      h("td", {}, inv.business_day),
      h("td", {}, inv.customer_name || "—"),
      h("td", {}, h("span", { class: `status s-${inv.status}` }, inv.status)),
      h("td", { class: "num" }, formatMoney(inv.total, inv.currency || currency)),
    ),
  );
  $("inv-rows").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "5", class: "none" }, invoices ? "No invoice matches." : "Reading…"))]));
  const pages = (invoices && invoices.pages) || 1;
  $("inv-page").textContent = invoices ? `page ${invoices.page} of ${pages} · ${invoices.total} invoices` : "";
  $("inv-prev").disabled = !invoices || invoices.page <= 1;
  $("inv-next").disabled = !invoices || invoices.page >= pages;
  renderInvoice();
}

function renderInvoice() {
  const box = $("inv-detail");
  if (!invoice) {
    box.replaceChildren(h("p", { class: "empty" }, "Select an invoice"));
    return;
  }
  const inv = invoice;
  const cur = inv.currency || currency;
  const m = (minor) => formatMoney(minor, cur);
  const bill = inv.bill || {};
  const lines = (bill.lines || []).map((l) => h("li", {}, h("span", {}, `${l.quantity}× ${l.name}`), h("b", {}, m(l.total))));
  const payments = (inv.payments || []).map((p) => h("li", {}, h("span", {}, p.method), h("b", {}, m(p.amount))));
  const open = inv.status === "ISSUED" || inv.status === "REFUNDED";
  const children = [
    h("div", { class: "inv-head" }, h("h2", {}, `Invoice #${inv.number}`), h("span", { class: `status s-${inv.status}`, id: "inv-status" }, inv.status)),
    h("p", { class: "hint" }, `${inv.business_day} · ${inv.customer_name || "no name"} · by ${inv.created_by || "?"}`),
    h("ul", { class: "inv-lines" }, lines),
    h("div", { class: "inv-total" }, h("span", {}, "Total"), h("b", { id: "inv-total", dataset: { minor: inv.total } }, m(inv.total))),
    h("ul", { class: "inv-lines pays" }, payments),
  ];
  if (inv.status === "ISSUED") children.push(refundForm(inv), voidForm(inv));
  else if (!open || inv.status === "REFUNDED") children.push(h("p", { class: "hint" }, inv.status === "VOIDED" ? "Voided: nothing more to give back." : "Refunded in full."));
  box.replaceChildren(...children);
}

function pinInput(id) {
  return h("input", { id, type: "password", inputmode: "numeric", autocomplete: "off", maxlength: "12", required: true, placeholder: "••••", class: "pin" });
}

function refundForm(inv) {
  const form = h(
    "form",
    { class: "box", id: "refund-form" },
    h("h3", {}, "Refund"),
    h(
      "div",
      { class: "row" },
      h("label", {}, "Amount ", h("input", { id: "refund-amount", inputmode: "decimal", autocomplete: "off", required: true, placeholder: `up to ${plainAmount(inv.total, placesOf(inv.currency || currency))}` })),
      h("label", {}, "Back by ", h("select", { id: "refund-method" }, METHODS.map((x) => h("option", {}, x)))),
      h("label", {}, "PIN ", pinInput("refund-pin")),
    ),
    h("div", { class: "row" }, h("label", { class: "grow" }, "Reason ", h("input", { id: "refund-reason", maxlength: "500", required: true })), h("button", { type: "submit", id: "refund-go", class: "go" }, "REFUND")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const amount = amountOf($("refund-amount"));
    if (amount === null) return;
    const data = { invoice_id: inv.id, amount, method: $("refund-method").value, reason: $("refund-reason").value.trim(), pin: $("refund-pin").value };
    const answer = await busy(form, () => moneyCommand("invoice.refund", data));
    if (!answer) return;
    toast(`Refunded ${money(amount)} by ${data.method} on invoice #${inv.number}`, "info");
    loadInvoice(inv.id);
    loadInvoices();
  });
  return form;
}

function voidForm(inv) {
  const form = h(
    "form",
    { class: "box", id: "void-form" },
    h("h3", {}, "Void the whole invoice"),
    h(
      "div",
      { class: "row" },
      h("label", { class: "grow" }, "Reason ", h("input", { id: "void-reason", maxlength: "500", required: true })),
      h("label", {}, "PIN ", pinInput("void-pin")),
      h("button", { type: "submit", id: "void-go", class: "danger" }, "VOID"),
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!(await confirmAsk(`Void invoice #${inv.number}?`, `All ${formatMoney(inv.total, inv.currency || currency)} goes back the way it was paid. This cannot be undone.`, "VOID"))) return;
    const data = { invoice_id: inv.id, reason: $("void-reason").value.trim(), pin: $("void-pin").value };
    const answer = await busy(form, () => moneyCommand("invoice.void", data));
    if (!answer) return;
    toast(`Invoice #${inv.number} voided`, "info");
    loadInvoice(inv.id);
    loadInvoices();
  });
  return form;
}

// -- menu -----------------------------------------------------------------------------------------

function categoryName(id) {
  const c = menu.categories.find((x) => x.id === id);
  return c ? c.name : id || "No category";
}

function renderMenu() {
  $("menu-version").textContent = `version ${menu.version}`;
  const groups = new Map(menu.categories.map((c) => [c.id, []]));
  for (const item of menu.items.values()) {
    if (!groups.has(item.category)) groups.set(item.category, []);
    groups.get(item.category).push(item);
  }
  const blocks = [];
  for (const [id, items] of groups) {
    if (!items.length) continue;
    blocks.push(h("h3", { class: "strip-title" }, categoryName(id)));
    blocks.push(
      h(
        "ul",
        { class: "items" },
        items.sort(byName).map((item) => {
          const colour = stationSettings.get(item.station)?.colour;
          return h(
            "li",
            { class: `item${editing.item === item.id ? " selected" : ""}${item.available ? "" : " off"}`, dataset: { itemId: item.id } },
            h("button", { type: "button", class: "item-edit", onclick: () => editItem(item.id) }, h("span", { class: "i-name" }, item.name), h("span", { class: "i-price", dataset: { minor: item.price } }, money(item.price))),
            h("span", { class: "badge station", style: colour ? `background:${colour};color:#fff` : null }, item.station),
            h("button", { type: "button", class: `avail ${item.available ? "on" : "off"}`, title: "on sale or not", onclick: () => toggleItem(item.id) }, item.available ? (item.sellable === false ? "86'd" : "ON SALE") : "OFF"),
          );
        }),
      ),
    );
  }
  $("menu-list").replaceChildren(...(blocks.length ? blocks : [h("p", { class: "empty" }, "No items yet: add one.")]));
  const options = (select, list, value, blank) => {
    const wanted = value ?? select.value;
    select.replaceChildren(...(blank ? [h("option", { value: "" }, blank)] : []), ...list.map(([id, name]) => h("option", { value: id }, name)));
    select.value = wanted;
    if (!blank && !select.value && list.length) select.value = list[0][0];
  };
  options($("item-category"), menu.categories.map((c) => [c.id, c.name]), null, "(none)");
  options($("item-station"), menu.stations.map((s) => [s, stationSettings.get(s)?.name || s]), null);
  $("tax-codes").replaceChildren(...[...taxCodes].sort().map((code) => h("option", { value: code })));
  $("station-ids").replaceChildren(...menu.stations.map((s) => h("option", { value: s })));
  $("cat-list").replaceChildren(...menu.categories.map((c) => h("li", {}, h("button", { type: "button", class: editing.category === c.id ? "selected" : "", onclick: () => editCategory(c.id) }, c.name))));
  $("station-list").replaceChildren(
    ...menu.stations.map((s) => h("li", {}, h("button", { type: "button", class: editing.station === s ? "selected" : "", style: stationSettings.get(s)?.colour ? `border-color:${stationSettings.get(s).colour}` : null, onclick: () => editStation(s) }, stationSettings.get(s)?.name || s))),
  );
  for (const el of document.querySelectorAll("#sec-menu .sub")) el.hidden = el.dataset.sub !== editing.sub;
  for (const b of document.querySelectorAll("#sec-menu [data-sub]:not(.sub)")) b.setAttribute("aria-selected", String(b.dataset.sub === editing.sub));
}

function editItem(id, focus = true) {
  const item = id ? menu.items.get(id) : null;
  editing = { ...editing, item: item ? item.id : null, sub: "item" };
  $("item-title").textContent = item ? `Edit ${item.name}` : "New item";
  $("item-id").value = item ? item.id : "";
  $("item-id").readOnly = Boolean(item);
  $("item-name").value = item ? item.name : "";
  $("item-price").value = item ? plainAmount(item.price, places()) : "";
  renderMenu();
  $("item-category").value = item ? item.category : menu.categories[0]?.id || "";
  $("item-station").value = item ? item.station : menu.stations[0] || "";
  $("item-tax").value = item ? item.tax_code : [...taxCodes][0] || "";
  $("item-available").checked = item ? item.available : true;
  $("item-prep").checked = item ? item.requires_prep : true;
  $("item-course").value = String(item ? item.default_course || 1 : 1);
  renderChoices(item ? item.modifiers || [] : []);
  showProblem(null);
  $("item-body").scrollTop = 0;
  if (focus) (item ? $("item-price") : $("item-name")).focus();
}

// -- the item's choices (modifier groups) ---------------------------------------------------------
//
// The groups being edited live in the form itself (one .group box each, its options as rows), so a
// MENU_CHANGED arriving mid-edit re-renders the list but never what the manager is typing. A group
// or option read from the menu keeps its id (orders name it); a new one takes slug(name).

const MAX_CHOICES = 20;

// Typed price change -> signed minor units: "" 0, "50" 5000, "+50.00" 5000, "-10" -1000; NaN if not an amount.
function parseDelta(text) {
  const s = String(text ?? "").trim().replace(/^\u2212/, "-");
  const sign = s[0] === "-" || s[0] === "+" ? s[0] : "";
  const rest = s.slice(sign.length).trim();
  if (rest === "") return sign ? NaN : 0;
  const minor = parseAmount(rest, places());
  if (minor === null || Number.isNaN(minor)) return NaN;
  return sign === "-" && minor ? -minor : minor;
}

function sr(text) {
  return h("span", { class: "sr" }, text);
}

function optionRow(option) {
  const row = h(
    "div",
    { class: "option", dataset: { optionId: option ? option.id : null } },
    h("label", { class: "o-name" }, sr("Option"), h("input", { class: "o-name-input", maxlength: "80", autocomplete: "off", value: option ? option.name : "" })),
    h(
      "label",
      { class: "o-delta" },
      sr("Price change"),
      h("input", { class: "o-delta-input", inputmode: "decimal", autocomplete: "off", placeholder: plainAmount(0, places()), value: option && option.price_delta ? plainAmount(option.price_delta, places()) : "" }),
    ),
    h("button", { type: "button", class: "o-remove icon", onclick: () => removeOption(row) }, h("span", { "aria-hidden": "true" }, "✕"), sr("Remove option")),
  );
  return row;
}

function groupBox(group) {
  const options = h("div", { class: "options" }, ((group && group.options) || [null]).map(optionRow));
  const box = h(
    "div",
    { class: "group", role: "group", dataset: { groupId: group ? group.id : null } },
    h(
      "div",
      { class: "g-head" },
      h("label", { class: "g-name" }, "Group name", h("input", { class: "g-name-input", maxlength: "80", autocomplete: "off", required: true, placeholder: "e.g. Doneness", value: group ? group.name : "", oninput: relabel })),
      h("label", { class: "g-max" }, "Up to", h("input", { class: "g-max-input", type: "number", inputmode: "numeric", min: "1", max: String(MAX_CHOICES), step: "1", required: true, value: String(group ? group.max_choices : 1) })),
      h("label", { class: "check g-required" }, h("input", { class: "g-required-input", type: "checkbox", checked: Boolean(group && group.required) }), "Required"),
    ),
    h("div", { class: "o-head", "aria-hidden": "true" }, h("span", {}, "Option"), h("span", {}, "Price ±")),
    options,
    h(
      "div",
      { class: "g-foot" },
      h("button", { type: "button", class: "o-add add", onclick: () => addOption(box) }, "+ ADD OPTION"),
      h("button", { type: "button", class: "g-remove danger", onclick: () => removeGroup(box) }, "REMOVE GROUP"),
    ),
  );
  return box;
}

// Every control says which group and option it is, for a screen reader and for a test.
function relabel() {
  const boxes = [...$("groups").querySelectorAll(".group")];
  boxes.forEach((box, g) => {
    const name = box.querySelector(".g-name-input").value.trim() || `group ${g + 1}`;
    box.setAttribute("aria-label", `Choices: ${name}`);
    box.querySelector(".g-remove").setAttribute("aria-label", `Remove the group ${name}`);
    box.querySelector(".o-add").setAttribute("aria-label", `Add an option to ${name}`);
    box.querySelectorAll(".option").forEach((row, o) => {
      row.querySelector(".o-name .sr").textContent = `${name}: option ${o + 1}`;
      row.querySelector(".o-delta .sr").textContent = `${name}: option ${o + 1} price change`;
      row.querySelector(".o-remove .sr").textContent = `Remove ${name} option ${o + 1}`;
    });
  });
  $("item-choices").dataset.groups = String(boxes.length);
}

function renderChoices(groups) {
  $("groups").replaceChildren(...groups.map(groupBox));
  relabel();
}

function addGroup() {
  const box = groupBox(null);
  $("groups").append(box);
  relabel();
  box.scrollIntoView({ block: "nearest" });
  box.querySelector(".g-name-input").focus();
}

function removeGroup(box) {
  const next = box.nextElementSibling || box.previousElementSibling;
  box.remove();
  relabel();
  showProblem(null);
  (next ? next.querySelector(".g-name-input") : $("group-add")).focus();
}

function addOption(box) {
  const row = optionRow(null);
  box.querySelector(".options").append(row);
  relabel();
  row.scrollIntoView({ block: "nearest" });
  row.querySelector(".o-name-input").focus();
}

function removeOption(row) {
  const box = row.closest(".group");
  const next = row.nextElementSibling || row.previousElementSibling;
  row.remove();
  relabel();
  showProblem(null);
  (next ? next.querySelector(".o-name-input") : box.querySelector(".o-add")).focus();
}

// A problem found before sending: said next to the Save button (read out: role=alert), its field
// marked and focused; typing again clears it.
function showProblem(message, input = null) {
  const p = $("item-problem");
  for (const el of $("item-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  p.hidden = !message;
  p.textContent = message || "";
  if (!message) return;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.scrollIntoView({ block: "nearest" });
    input.focus();
  }
}

function uniqueId(wanted, taken, fallback) {
  const base = (wanted || fallback).slice(0, 60);
  let id = base;
  for (let n = 2; taken.has(id); n += 1) id = `${base}-${n}`;
  taken.add(id);
  return id;
}

// The groups as typed, checked: { groups } or { problem, input } in plain words.
function readChoices() {
  const groups = [];
  const groupIds = new Set([...$("groups").querySelectorAll(".group[data-group-id]")].map((b) => b.dataset.groupId));
  const names = new Set();
  for (const [g, box] of [...$("groups").querySelectorAll(".group")].entries()) {
    const nameInput = box.querySelector(".g-name-input");
    const name = nameInput.value.trim();
    if (!name) return { problem: `Group ${g + 1} has no name: type one (like “Doneness”), or remove the group.`, input: nameInput };
    if (names.has(name.toLowerCase())) return { problem: `Two groups are called “${name}”: give them different names.`, input: nameInput };
    names.add(name.toLowerCase());
    const options = [];
    const optionIds = new Set([...box.querySelectorAll(".option[data-option-id]")].map((r) => r.dataset.optionId));
    const optionNames = new Set();
    for (const row of box.querySelectorAll(".option")) {
      const optionInput = row.querySelector(".o-name-input");
      const deltaInput = row.querySelector(".o-delta-input");
      const optionName = optionInput.value.trim();
      if (!optionName && !deltaInput.value.trim()) continue; // a row left empty is no option
      if (!optionName) return { problem: `An option in “${name}” has a price but no name: type its name, or remove it.`, input: optionInput };
      if (optionNames.has(optionName.toLowerCase())) return { problem: `“${name}” has “${optionName}” twice: remove one.`, input: optionInput };
      optionNames.add(optionName.toLowerCase());
      const delta = parseDelta(deltaInput.value);
      if (Number.isNaN(delta)) {
        const like = `${plainAmount(5000, places())} or -${plainAmount(1000, places())}`;
        return { problem: `The price change of “${optionName}” in “${name}” is not a number: type it like ${like}, or leave it empty for no change.`, input: deltaInput };
      }
      const id = row.dataset.optionId || uniqueId(slug(optionName), optionIds, `option-${options.length + 1}`);
      options.push({ id, name: optionName, price_delta: delta });
    }
    if (!options.length) return { problem: `“${name}” has no option: add at least one, or remove the group.`, input: box.querySelector(".o-name-input") || box.querySelector(".o-add") };
    const maxInput = box.querySelector(".g-max-input");
    const max = Number(maxInput.value);
    if (!Number.isInteger(max) || max < 1 || max > MAX_CHOICES) return { problem: `“Up to” in “${name}” must be a whole number from 1 to ${MAX_CHOICES}.`, input: maxInput };
    if (max > options.length) {
      const has = options.length === 1 ? "only 1 option" : `only ${options.length} options`;
      return { problem: `“${name}” lets a guest choose up to ${max} but has ${has}: add options, or lower “Up to”.`, input: maxInput };
    }
    const id = box.dataset.groupId || uniqueId(slug(name), groupIds, `group-${g + 1}`);
    groups.push({ id, name, required: box.querySelector(".g-required-input").checked, max_choices: max, options });
  }
  return { groups };
}

// The whole item as setup.menu_item.put wants it (the snapshot's own extras left out).
function wholeItem(item, change) {
  const { id, name, price, station, category, tax_code, requires_prep, available, default_course, modifiers } = { ...item, ...change };
  return { id, name, price, station, category, tax_code, requires_prep, available, default_course, modifiers: modifiers || [] };
}

async function reloadMenuAfter(err) {
  if (!err || err.code !== "VERSION_CONFLICT") return;
  try {
    setMenu(await read("/api/v1/menu/stock"));
  } catch (e) {
    fail(e);
  }
  render();
}

// Setup commands whose `version` is the restaurant's (the others hold the menu's or a table's).
const RESTAURANT_VERSIONED = /^setup\.(area|profile|billing|staff)\b/;

function noteVersion(result) {
  if (result && typeof result.restaurant_version === "number") restaurantVersion = Math.max(restaurantVersion ?? 0, result.restaurant_version);
}

async function sendSetup(form, type, data, words = setupRefusal) {
  try {
    form.querySelectorAll("button").forEach((b) => (b.disabled = true));
    const ack = await hub.act(type, data);
    noteVersion(ack.result);
    return ack;
  } catch (err) {
    fail(err, words);
    if (err.code === "VERSION_CONFLICT" && RESTAURANT_VERSIONED.test(type)) {
      const now = err.frame.details && err.frame.details.version; // what the hub holds now: saving again lands
      if (typeof now === "number") restaurantVersion = now;
    } else {
      await reloadMenuAfter(err);
    }
    return null;
  } finally {
    form.querySelectorAll("button").forEach((b) => (b.disabled = false));
  }
}

async function saveItem(e) {
  e.preventDefault();
  const form = $("item-form");
  const price = parseAmount($("item-price").value, places());
  if (price === null || Number.isNaN(price)) {
    toast(`Type the price like ${plainAmount(34900, places())}`);
    $("item-price").focus();
    return;
  }
  const was = (editing.item && menu.items.get(editing.item)) || { default_course: 1, modifiers: [] };
  const name = $("item-name").value.trim();
  const id = editing.item || $("item-id").value.trim() || slug(name);
  if (!editing.item && menu.items.has(id)) {
    showProblem(`There is already an item “${id}”: choose another id.`, $("item-id"));
    return;
  }
  const course = Number($("item-course").value);
  if (!Number.isInteger(course) || course < 1 || course > 9) {
    showProblem("The course must be a whole number from 1 to 9.", $("item-course"));
    return;
  }
  const choices = readChoices();
  if (choices.problem) {
    showProblem(choices.problem, choices.input);
    return;
  }
  showProblem(null);
  const item = wholeItem(was, {
    id,
    name,
    price,
    category: $("item-category").value,
    station: $("item-station").value,
    tax_code: $("item-tax").value.trim(),
    available: $("item-available").checked,
    requires_prep: $("item-prep").checked,
    default_course: course,
    modifiers: choices.groups,
  });
  const ack = await sendSetup(form, "setup.menu_item.put", { item, version: menu.version });
  if (!ack) return;
  toast(`${name} saved`, "info");
  editing.item = id;
  $("item-id").readOnly = true;
  $("item-title").textContent = `Edit ${name}`;
  renderChoices(item.modifiers); // new groups and options now hold the ids they were saved with
  renderMenu();
}

async function toggleItem(id) {
  const item = menu.items.get(id);
  if (!item) return;
  const ack = await sendSetup($("menu-list"), "setup.menu_item.put", { item: wholeItem(item, { available: !item.available }), version: menu.version });
  if (ack) toast(`${item.name} ${item.available ? "taken off sale" : "back on sale"}`, "info");
}

function editCategory(id) {
  const c = menu.categories.find((x) => x.id === id);
  editing = { ...editing, category: c ? c.id : null, sub: "category" };
  $("cat-id").value = c ? c.id : "";
  $("cat-id").readOnly = Boolean(c);
  $("cat-name").value = c ? c.name : "";
  renderMenu();
}

async function saveCategory(e) {
  e.preventDefault();
  const name = $("cat-name").value.trim();
  const id = editing.category || $("cat-id").value.trim() || slug(name);
  const ack = await sendSetup($("cat-form"), "setup.category.put", { category: { id, name }, version: menu.version });
  if (!ack) return;
  toast(`Category ${name} saved`, "info");
  editCategory(null);
}

function editStation(id) {
  const s = id ? stationSettings.get(id) || { id } : null;
  editing = { ...editing, station: id, sub: "station" };
  $("station-id").value = s ? s.id : "";
  $("station-id").readOnly = Boolean(s);
  $("station-name").value = s ? s.name || s.id : "";
  $("station-colour").value = (s && /^#[0-9a-f]{6}$/i.test(s.colour || "") && s.colour) || "#1c7ed6";
  $("station-warn").value = s && s.warn_after_s ? s.warn_after_s : 300;
  $("station-late").value = s && s.late_after_s ? s.late_after_s : 600;
  $("station-hint").textContent =
    s && !stationSettings.has(id) ? "This screen has not been told this station's colour and timings yet: check them before saving." : "";
  renderMenu();
}

async function saveStation(e) {
  e.preventDefault();
  const name = $("station-name").value.trim();
  const station = {
    id: editing.station || $("station-id").value.trim() || slug(name),
    name,
    colour: $("station-colour").value,
    warn_after_s: Number($("station-warn").value),
    late_after_s: Number($("station-late").value),
  };
  if (!(station.warn_after_s < station.late_after_s)) {
    toast("The warning must come before “late”: make the first number smaller");
    return;
  }
  const ack = await sendSetup($("station-form"), "setup.station.put", { station, version: menu.version });
  if (!ack) return;
  stationSettings.set(station.id, station);
  toast(`Station ${name} saved`, "info");
  editStation(null);
}

// -- floor ----------------------------------------------------------------------------------------

function renderFloor() {
  const known = areas.map((a) => [a.id, a.name]);
  if ([...tables.values()].some((t) => !t.area || !areas.some((a) => a.id === t.area))) known.push(["", "No area"]);
  if (area === null || !known.some(([id]) => id === area)) area = known.length ? known[0][0] : "";
  $("area-tabs").replaceChildren(
    ...known.map(([id, name]) => h("button", { type: "button", class: id === area ? "selected" : "", dataset: { area: id }, onclick: () => ((area = id), renderFloor()) }, name)),
  );
  const inArea = (t) => (area === "" ? !t.area || !areas.some((a) => a.id === t.area) : t.area === area);
  const tiles = [...tables.values()].filter(inArea).sort(byName).map((t) =>
    h(
      "button",
      {
        type: "button",
        class: `spot st-${t.status}${editingTable === t.id ? " selected" : ""}`,
        style: `left:${t.x / 10}%;top:${t.y / 10}%`,
        dataset: { tableId: t.id },
        onclick: () => editTable(t.id),
      },
      h("b", {}, t.name),
      h("span", {}, `${t.seats} seats`),
    ),
  );
  $("floor-plan").replaceChildren(...(tiles.length ? tiles : [h("p", { class: "empty" }, "No table here yet.")]));
  const select = $("table-area");
  const wanted = select.value;
  select.replaceChildren(h("option", { value: "" }, "(none)"), ...areas.map((a) => h("option", { value: a.id }, a.name)));
  select.value = wanted;
}

function editTable(id) {
  const t = id ? tables.get(id) : null;
  editingTable = t ? t.id : null;
  $("table-title").textContent = t ? `Edit ${t.name}` : "New table";
  let n = tables.size + 1;
  while (!t && tables.has(`T${n}`)) n += 1;
  $("table-id").value = t ? t.id : `T${n}`;
  $("table-id").readOnly = Boolean(t);
  $("table-name").value = t ? t.name : `Table ${n}`;
  $("table-seats").value = t ? t.seats : 4;
  $("table-x").value = t ? t.x : 500;
  $("table-y").value = t ? t.y : 500;
  $("table-remove").hidden = !t;
  renderFloor();
  $("table-area").value = t ? t.area : area || "";
}

async function saveTable(e) {
  e.preventDefault();
  const t = editingTable ? tables.get(editingTable) : null;
  const data = {
    table_id: $("table-id").value.trim(),
    name: $("table-name").value.trim(),
    seats: Number($("table-seats").value),
    area: $("table-area").value,
    x: Number($("table-x").value),
    y: Number($("table-y").value),
  };
  if (t) data.version = t.version;
  if (!t && tables.has(data.table_id)) {
    toast(`There is already a table “${data.table_id}”: choose another id`);
    return;
  }
  const ack = await sendSetup($("table-form"), "setup.table.put", data);
  if (!ack) return;
  for (const table of ack.result.tables || []) tables.set(table.id, table);
  toast(`${data.name} saved`, "info");
  area = data.area;
  editTable(data.table_id);
}

async function removeTable() {
  const t = editingTable && tables.get(editingTable);
  if (!t || !(await confirmAsk(`Remove ${t.name}?`, "It leaves the floor plan on every screen. Only a free table with no order can go.", "REMOVE"))) return;
  const ack = await sendSetup($("table-form"), "setup.table.remove", { table_id: t.id });
  if (!ack) return;
  tables.delete(t.id);
  toast(`${t.name} removed`, "info");
  editTable(null);
}

async function saveArea(e) {
  e.preventDefault();
  const name = $("area-name").value.trim();
  const id = $("area-id").value.trim() || slug(name);
  const ack = await sendSetup($("area-form"), "setup.area.put", { area: { id, name } });
  if (!ack) return;
  toast(`Area ${name} saved`, "info");
  $("area-id").value = "";
  $("area-name").value = "";
  area = id;
  render();
}

// -- staff ----------------------------------------------------------------------------------------

const ROLES = { MANAGER: "Manager", OWNER: "Owner", CASHIER: "Cashier", WAITER: "Waiter" };
const APPROVERS = new Set(["MANAGER", "OWNER"]); // whose PIN approves refunds, voids and discounts over a till's limit

function renderStaff() {
  const rows = [...staff.values()].sort(byName).map((person) =>
    h(
      "tr",
      {
        tabindex: "0",
        class: editingStaff === person.id ? "selected" : "",
        dataset: { staffId: person.id, role: person.role },
        onclick: () => editStaff(person.id),
        onkeydown: (e) => e.key === "Enter" && editStaff(person.id),
      },
      h("td", {}, h("b", { class: "s-name" }, person.name)),
      h("td", { class: "hint s-id" }, person.id),
      h("td", {}, h("span", { class: `role r-${person.role}` }, ROLES[person.role] || person.role)),
      h("td", {}, APPROVERS.has(person.role) ? "refunds, voids, discounts" : "—"),
    ),
  );
  $("staff-rows").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "4", class: "none" }, "Nobody yet."))]));
}

function showStaffProblem(text, input = null) {
  const box = $("staff-problem");
  for (const el of $("staff-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  box.textContent = text || "";
  box.hidden = !text;
  if (text && input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

// What is wrong with the form before it goes to the hub, in words (null: nothing).
function staffFormProblem(name, id, role, pin) {
  if (!name) return ["Type their name.", $("staff-name")];
  if (!/^[A-Za-z0-9_.:-]+$/.test(id)) return ["Type an id for them: letters, digits, - or _, no spaces.", $("staff-id")];
  if (!editingStaff && staff.has(id)) return [`There is already someone with the id “${id}”: choose another id, or edit them.`, $("staff-id")];
  if (pin && !/^[0-9]{4,8}$/.test(pin)) return ["A PIN is 4 to 8 digits.", $("staff-pin")];
  if (!pin && !editingStaff && APPROVERS.has(role)) return [`A ${ROLES[role].toLowerCase()} needs a PIN to approve: type 4 to 8 digits.`, $("staff-pin")];
  return null;
}

function staffHint() {
  $("staff-hint").textContent = APPROVERS.has($("staff-role").value)
    ? "Their PIN approves refunds, voids and discounts over a till's limit."
    : "A cashier or waiter approves nothing with a PIN.";
}

function editStaff(id) {
  const person = id ? staff.get(id) : null;
  editingStaff = person ? person.id : null;
  $("staff-title").textContent = person ? `Edit ${person.name}` : "New person";
  $("staff-name").value = person ? person.name : "";
  $("staff-id").value = person ? person.id : "";
  $("staff-id").readOnly = Boolean(person);
  $("staff-role").value = person ? person.role : "MANAGER";
  $("staff-pin").value = "";
  $("staff-pin").placeholder = person ? "leave empty to keep" : "4 to 8 digits";
  $("staff-pin-label").firstChild.textContent = person ? "New PIN " : "PIN ";
  $("staff-remove").hidden = !person;
  showStaffProblem(null);
  staffHint();
  renderStaff();
}

// A refusal in words, said in the form too (it stays until the next change).
function staffRefusal(verb) {
  return (err) => {
    let words;
    if (err.code === "INVALID_SETUP" || err.code === "INVALID_COMMAND") {
      const problems = (err.frame.details && err.frame.details.problems) || [];
      words = `Not ${verb}: ${err.message || problems.join("; ")}.`;
    } else if (err.code === "VERSION_CONFLICT") {
      words = "Someone changed the setup at the same moment: the page now holds what is there; check it, then press again.";
    } else {
      words = explain(err);
    }
    showStaffProblem(words);
    return words;
  };
}

async function saveStaff(e) {
  e.preventDefault();
  const name = $("staff-name").value.trim();
  const id = editingStaff || $("staff-id").value.trim() || slug(name);
  const role = $("staff-role").value;
  const pin = $("staff-pin").value.trim();
  const problem = staffFormProblem(name, id, role, pin);
  showStaffProblem(...(problem || [null]));
  if (problem) return;
  const data = { staff_id: id, name, role };
  if (pin) data.pin = pin;
  if (restaurantVersion !== null) data.version = restaurantVersion;
  const ack = await sendSetup($("staff-form"), "setup.staff.put", data, staffRefusal("saved"));
  if (!ack) {
    if (editingStaff && staff.has(editingStaff)) $("staff-role").value = staff.get(editingStaff).role; // as it is now
    staffHint();
    return;
  }
  if (!staff.has(id)) staff.set(id, { id, name, role }); // STAFF_CHANGED brings the same
  toast(`${name} saved${pin ? " with a new PIN" : ""}`, "info");
  editStaff(id);
}

async function removeStaff() {
  const person = editingStaff && staff.get(editingStaff);
  if (!person || !(await confirmAsk(`Remove ${person.name}?`, "Their PIN stops approving at once, on every till.", "REMOVE"))) return;
  const data = { staff_id: person.id };
  if (restaurantVersion !== null) data.version = restaurantVersion;
  const ack = await sendSetup($("staff-form"), "setup.staff.remove", data, staffRefusal("removed"));
  if (!ack) return;
  staff.delete(person.id);
  toast(`${person.name} removed`, "info");
  editStaff(null);
}

// -- devices --------------------------------------------------------------------------------------

function renderDevices() {
  const rows = devices.map((d) => {
    const state = d.revoked_at ? "revoked" : d.live ? "live" : d.paired === false ? "unpaired" : "paired";
    const self = d.id === me.device;
    return h(
      "tr",
      { dataset: { deviceId: d.id, state } },
      h("td", {}, h("b", {}, d.id), d.name ? h("div", { class: "hint" }, d.name) : null),
      h("td", {}, d.role || "—", d.stations && d.stations.length ? h("div", { class: "hint" }, d.stations.join(", ")) : null),
      h("td", {}, since(d.last_seen)),
      h("td", {}, h("span", { class: `state ${state}` }, state === "revoked" ? "REVOKED" : state === "live" ? "LIVE" : state === "unpaired" ? "TOKEN ONLY" : "OFFLINE")),
      h("td", {}, self ? h("span", { class: "hint" }, "this screen") : d.revoked_at ? null : h("button", { type: "button", class: "danger revoke", onclick: () => revoke(d) }, "REVOKE")),
    );
  });
  $("dev-rows").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "5", class: "none" }, "No device yet."))]));
  const box = $("offer");
  box.hidden = !offer;
  if (offer) {
    const left = Math.max(0, Math.ceil((offer.expires_at - hub.now()) / 60000));
    box.replaceChildren(
      h("p", {}, `Pairing code for ${offer.device_id}`),
      h("b", { id: "offer-code" }, offer.code),
      h("p", { class: left ? "" : "gone" }, left ? `Type it on that screen (open ${offer.page}) before ${new Date(offer.expires_at).toLocaleTimeString()} — ${left} min left. It works once.` : "Expired: get a new code."),
    );
  }
}

// The page a paired device opens ("" : the hub's home page, which says what each page is for).
const PAGE_OF = { KITCHEN: "/kds", EXPO: "/expo", DISPLAY: "/board", CASHIER: "/cashier or /pos", MANAGER: "/manager", WAITER: "/pos", RIDER: "/", DISPATCHER: "/" };

async function pairDevice(e) {
  e.preventDefault();
  const form = $("add-device-form");
  const role = $("dev-role").value;
  const data = {
    device_id: $("dev-id").value.trim(),
    role,
    stations: $("dev-stations").value.split(/[\s,]+/).filter(Boolean),
    name: $("dev-name").value.trim(),
  };
  const ack = await busy(form, () => hub.act("device.pair", data));
  if (!ack) return;
  offer = { ...ack.result, page: PAGE_OF[role] || "/" };
  loadDevices();
}

async function revoke(device) {
  if (!(await confirmAsk(`Revoke ${device.id}?`, "Its screen stops at once and its token is refused; it can be paired again later.", "REVOKE"))) return;
  try {
    await hub.act("device.revoke", { device_id: device.id });
    toast(`${device.id} revoked`, "info");
  } catch (err) {
    fail(err);
  }
  loadDevices();
}

// -- the day's money ------------------------------------------------------------------------------

async function addFloat(e) {
  e.preventDefault();
  const amount = amountOf($("float-amount"));
  if (amount === null) return;
  if (await busy($("float-form"), () => moneyCommand("drawer.float", { amount }))) {
    toast(`Float of ${money(amount)} recorded`, "info");
    $("float-amount").value = "";
  }
}

async function payout(e) {
  e.preventDefault();
  const amount = amountOf($("payout-amount"));
  if (amount === null) return;
  const data = { amount, category: $("payout-category").value.trim(), note: $("payout-note").value.trim() };
  if (await busy($("payout-form"), () => moneyCommand("drawer.payout", data))) {
    toast(`Paid out ${money(amount)} for ${data.category}`, "info");
    for (const id of ["payout-amount", "payout-note"]) $(id).value = "";
  }
}

// The Z-report on one of the restaurant's printers (print.z_report): offered when it has printers.
function renderZPrinters() {
  const printers = (restaurant && restaurant.printers) || [];
  const select = $("z-printer");
  const chosen = select.value;
  const ids = printers.map((p) => p.id).join(" ");
  if (select.dataset.ids !== ids) {
    select.replaceChildren(...printers.map((p) => h("option", { value: p.id }, p.name || p.id)));
    select.dataset.ids = ids;
    if (printers.some((p) => p.id === chosen)) select.value = chosen;
  }
  $("z-print-box").hidden = printers.length === 0;
}

async function printZReport() {
  const printer = $("z-printer").value;
  if (!printer) return;
  const day = figures && figures.day;
  try {
    await hub.act("print.z_report", day ? { printer, day } : { printer });
    toast(`Z-report sent to printer ${printer}`, "info");
  } catch (err) {
    toast(explain(err), "error", err.code || null);
  }
}

async function closeDay(e) {
  e.preventDefault();
  const counted = amountOf($("close-counted"), true);
  if (counted === null) return;
  if (!(await confirmAsk("Close the day?", `Counted cash ${money(counted)}. The Z-report is computed now; closing again later records a new count.`, "CLOSE DAY"))) return;
  const answer = await busy($("close-form"), () => moneyCommand("day.close", { counted_cash: counted }));
  if (!answer) return;
  lastClose = answer.result.report;
  toast("Day closed: the Z-report is ready", "info");
  render();
}

// -- the Restaurant and Groups sections (their own modules) --------------------------------------

const settings = settingsSection({
  restaurant: () => restaurant,
  version: () => restaurantVersion,
  menuItems: () => [...menu.items.values()],
  sendSetup,
  setupRefusal,
  saved: savedRestaurant,
});

const dashboard = dashboardSection({
  read,
  alerts: () => [...alerts.alerts.values()],
  currency: () => currency,
});

const outbox = outboxPanel($("outbox"), { read, hub: () => hub, openInvoice: (id) => openInvoice(id), onCounts: () => render() });

const webhooks = webhooksPanel($("webhooks"), { read, hub: () => hub }); // the Webhooks section (manager_webhooks.js)

const groups = groupsSection({
  hub: () => hub,
  read,
  moneyCommand,
  fail,
  currency: () => currency,
  orders: () => openOrders,
  orderNumber: (id) => orderNumbers.get(id) ?? null,
  openInvoice: (id) => openInvoice(id),
});

// -- start ----------------------------------------------------------------------------------------

function wire() {
  for (const b of document.querySelectorAll("[data-go]")) b.addEventListener("click", () => go(b.dataset.go));
  window.addEventListener("hashchange", () => go(window.location.hash.slice(1)));
  $("float-form").addEventListener("submit", addFloat);
  $("payout-form").addEventListener("submit", payout);
  $("close-form").addEventListener("submit", closeDay);
  $("z-print").addEventListener("click", printZReport);
  $("inv-search").addEventListener("submit", (e) => {
    e.preventDefault();
    Object.assign(query, { customer: $("inv-customer").value.trim(), from: $("inv-from").value, to: $("inv-to").value, status: $("inv-status").value, page: 1 });
    loadInvoices();
  });
  $("inv-prev").addEventListener("click", () => ((query.page = Math.max(1, query.page - 1)), loadInvoices()));
  $("inv-next").addEventListener("click", () => ((query.page += 1), loadInvoices()));
  $("item-new").addEventListener("click", () => editItem(null));
  $("item-form").addEventListener("submit", saveItem);
  $("group-add").addEventListener("click", addGroup);
  $("item-form").addEventListener("input", () => ($("item-problem").hidden ? null : showProblem(null)));
  for (const b of document.querySelectorAll("#sec-menu .subtabs [data-sub]")) {
    b.addEventListener("click", () => {
      editing.sub = b.dataset.sub;
      renderMenu();
    });
  }
  $("cat-form").addEventListener("submit", saveCategory);
  $("station-form").addEventListener("submit", saveStation);
  $("table-new").addEventListener("click", () => editTable(null));
  $("table-form").addEventListener("submit", saveTable);
  $("table-remove").addEventListener("click", removeTable);
  $("area-form").addEventListener("submit", saveArea);
  $("staff-new").addEventListener("click", () => editStaff(null));
  $("staff-form").addEventListener("submit", saveStaff);
  $("staff-remove").addEventListener("click", removeStaff);
  $("staff-role").addEventListener("change", staffHint);
  $("staff-form").addEventListener("input", () => ($("staff-problem").hidden ? null : showStaffProblem(null)));
  $("add-device-form").addEventListener("submit", pairDevice);
  $("dev-reload").addEventListener("click", loadDevices);
  $("confirm-dialog").addEventListener("cancel", () => ($("confirm-dialog").returnValue = "no"));
  settings.wire();
  groups.wire();
}

// The invoice whole in the Invoices section (from a paid group's "Open invoice").
function openInvoice(id) {
  go("invoices");
  loadInvoice(id);
}

if (!token) {
  noToken("manager");
} else {
  hub = new Hub(token, {
    channels: (welcome) => {
      checkRole(welcome);
      me.device = welcome.device || null;
      return ["manager", "menu", "tables", "expo", "orders"]; // expo: when an alert stops standing; orders: for groups
    },
    snapshot,
    event,
    applied: () => (section === "invoices" ? renderInvoices() : null, groups.applied(), render()),
    state: (_, conn) => setConnection(conn),
    problem: (message) => toast(message),
  }).start();
  window.fireflow = {
    hub,
    menu,
    tables,
    staff,
    book,
    alerts,
    manual,
    printerHealth,
    sweeps,
    openOrders,
    dashboard,
    outbox,
    webhooks,
    state: () => ({ section, figures, currency, restaurantVersion, restaurant, devices, invoices, invoice, offer, lastClose, settings: settings.state(), groups: groups.state() }),
  };
  wire();
  editItem(null, false);
  editTable(null);
  editStaff(null);
  go(window.location.hash.slice(1) || "alerts");
  setInterval(() => section === "devices" || section === "alerts" ? render() : null, 15000);
}
