// Cashier: /cashier?token=<CASHIER or MANAGER device token>
//
// A live table map (FREE / OCCUPIED / BILL REQUESTED / DIRTY) with the takeaway and delivery
// orders beside it; a click (or Enter) on one shows its lines and the exact bill from the hub
// (bill.preview). From there: request or release the bill (bill.request / bill.release), give a
// discount (order.discount; a manager PIN is asked for when the hub says PIN_REQUIRED), split the
// payment over tenders while the remaining amount follows the typing, and settle (order.pay; items
// not ready come back with guidance and "Settle anyway" resends with force). A settled table turns
// DIRTY and offers Clean (table.clean). The day's figures come from GET /api/v1/reports/day, then
// from REVENUE_UPDATED events. A till with a desk printer (the `cashier` snapshot's `desks`, then
// PROFILE_CHANGED) offers PRINT RECEIPT on a settled order (print.receipt: one original per invoice).
//
// Counter orders (takeaway, delivery) are paid first: settled, they stay open, PAID, until handed
// over (ORDER_SETTLED names them in `awaiting_pickup`; a snapshot shows them with `invoice_id` and
// `payment_status` PAID). They leave the takeaway list for "Paid · waiting for pickup", where
// nothing charges them again; once ready they offer HANDED OVER (order.pickup), and
// ORDER_PICKED_UP (from any screen) takes them off the till.
//
// Channels: `tables`, `cashier` (payments, settlements, revenue, ready / cancelled / moved /
// merged orders) and `orders` (opened, updated, fired, item statuses: the `cashier` channel does
// not carry them). Money is integer minor units throughout (money.js).
//
// A fired order still being made shows when it should be ready, "Ready about 19:42 · in 6 min", from
// the hub's ORDER_PREDICTED (on `cashier`): in the takeaway list, on its table's tile and in its detail
// (the pay panel, or the paid one while it waits for pickup), so the cashier can tell the customer.
// Counted down each 15 s ("any minute" under a minute, "running late" once past); gone once READY.
//
// RIDERS' CASH (top bar) opens the riders' cash panel in the detail pane (rider_cash.js): what each
// rider holds, live from RIDER_CASH on `cashier`, with GIVE FLOAT and HAND IN.

import { Estimates } from "./estimates.js";
import { Hub } from "./fireflow.js";
import { RiderCash } from "./rider_cash.js";
import { DAY_FIGURES, TENDER_METHODS, currencySymbol, formatBp, formatMoney, parseAmount, placesOf, plainAmount } from "./money.js";
import { checkRole, clock, deviceToken, explain, h, hhmm, noToken, reportFailure, setConnection, toast } from "./ui.js";

const OPEN = new Set(["ACTIVE", "READY"]);
const COUNTER = new Set(["TAKEAWAY", "DELIVERY"]); // paid first, handed over at the counter
const FINISHED = new Set(["DONE", "SERVED", "SKIPPED"]);
const METHODS = TENDER_METHODS;
const TABLE_LABEL = { FREE: "FREE", OCCUPIED: "OCCUPIED", BILL_REQUESTED: "BILL REQUESTED", DIRTY: "DIRTY" };
const TYPE_LABEL = { DINE_IN: "DINE-IN", TAKEAWAY: "TAKEAWAY", DELIVERY: "DELIVERY" };
const FIGURES = DAY_FIGURES;

const token = deviceToken("cashier");
const tables = new Map(); // table id -> Table
const orders = new Map(); // order id -> Order (open orders only)
const receipts = new Map(); // order id -> { invoice_number, total, change, table_ids } once paid
const estimates = new Estimates(() => hub.now()); // predicted ready times (estimates.js)
const predicted = estimates.at; // order id -> predicted ready time (ms): ORDER_PREDICTED, and snapshots
let currency = "INR";
let figures = null; // the day's figures (REVENUE_UPDATED shape)
let figureEvents = 0; // REVENUE_UPDATED applied: a slower GET must not overwrite them
let selected = { order: null, table: null };
let view = ""; // which detail is built: "order:<id>", "receipt:<id>", "table:<id>" or ""
let preview = null; // { orderId, bill, paid, due } or { orderId, error }
let previewSeq = 0;
let stale = false; // the selected order changed: ask for its bill again
let pay = null; // { orderId, rows: [{ id, method, amount, received, reference }], busy, guidance, last }
let rowSeq = 0;
let linesKey = "";
let pinAsk = null; // { type, data, what, then }: the command waiting for a manager's PIN
let hub = null;
let device = null; // this till's device id (the hub's welcome): its desk says where its receipts print
let desks = []; // the restaurant's desks: [{ id (a till's device id), name, printer }]
const riderCash = new RiderCash({ token, hub: () => hub, changed: () => renderRidersButton() });

const money = (minor) => formatMoney(minor, currency);
const places = () => placesOf(currency);
const byName = (a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id), undefined, { numeric: true });

// -- state from the hub ------------------------------------------------------------------------

// A counter order paid first, still open: nothing is left to charge, it waits to be handed over.
function awaitingPickup(order) {
  if (!order || !COUNTER.has(order.type) || !OPEN.has(order.status)) return false;
  return order.payment_status === "PAID" || Boolean(order.invoice_id);
}

// The hub's rule for order.pickup: READY, or no line that needs preparing left unsent or unfinished.
function canHandOver(order) {
  if (order.status === "READY") return true;
  return !(order.items || []).some((l) => l.requires_prep !== false && (l.quantity > (l.sent || 0) || !FINISHED.has(l.status)));
}

function handedOver(id) {
  const order = orders.get(id);
  orders.delete(id);
  receipts.delete(id);
  predicted.delete(id);
  if (selected.order === id) {
    selected = { order: null, table: null };
    if (order) toast(`Order #${order.number} handed over`, "info");
  }
}

function putOrder(order) {
  if (!order) return;
  if (OPEN.has(order.status)) orders.set(order.id, order);
  else orders.delete(order.id);
}

function updateOrder(id, change) {
  const order = orders.get(id);
  if (order) orders.set(id, { ...order, ...change(order) });
}

function touched(id) {
  if (id && id === selected.order) stale = true;
}

function snapshot(snapshots) {
  if (snapshots.tables) {
    tables.clear();
    for (const table of snapshots.tables.tables || []) tables.set(table.id, table);
  }
  if (snapshots.cashier) desks = snapshots.cashier.desks || [];
  if (snapshots.cashier || snapshots.orders) {
    orders.clear();
    for (const snap of [snapshots.cashier, snapshots.orders]) for (const order of (snap && snap.orders) || []) putOrder(order);
    estimates.fromOrders(orders.values());
  }
  stale = true;
  loadFigures();
  riderCash.load();
}

function receipt(id, fields) {
  receipts.set(id, { ...(receipts.get(id) || {}), ...fields });
}

function event(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "ORDER_OPENED":
    case "ORDER_UPDATED":
    case "ORDER_FIRED":
    case "ORDER_RECALLED":
      if (ev.type === "ORDER_RECALLED") predicted.delete(d.order.id); // made again: the hub predicts it afresh
      putOrder(d.order);
      touched(d.order && d.order.id);
      break;
    case "ORDER_PREDICTED":
      predicted.set(d.order_id, d.ready_at);
      break;
    case "ORDER_MERGED":
      orders.delete(d.from_order_id);
      predicted.delete(d.from_order_id);
      putOrder(d.order);
      if (selected.order === d.from_order_id) selected = { order: d.order.id, table: d.order.table_id };
      touched(d.order.id);
      break;
    case "ORDER_READY":
      predicted.delete(d.order_id);
      updateOrder(d.order_id, () => ({ status: "READY", ready_at: d.ready_at }));
      break;
    case "ITEM_STATUS_CHANGED":
      updateOrder(d.order_id, (o) => ({
        items: (o.items || []).map((line) => (line.id === d.line_id ? { ...line, status: d.status } : line)),
      }));
      break;
    case "ORDER_CANCELLED":
      if (orders.has(d.order_id) && selected.order === d.order_id) toast(`Order #${d.order_number} was cancelled`, "info");
      orders.delete(d.order_id);
      predicted.delete(d.order_id);
      break;
    case "ORDER_MOVED":
      updateOrder(d.order_id, () => ({ table_id: d.to_table_id }));
      if (selected.order === d.order_id) selected = { ...selected, table: d.to_table_id };
      break;
    case "PAYMENT_RECORDED":
      for (const id of d.order_ids || []) {
        updateOrder(id, () => ({ payment_status: d.status, ...(d.order_ids.length === 1 ? { paid: d.paid } : {}) }));
        receipt(id, { change: d.change, total: d.total, paid: d.paid, status: d.status });
        touched(id);
      }
      break;
    case "ORDER_SETTLED": {
      const waiting = new Set(d.awaiting_pickup || []); // counter orders: open, PAID, until order.pickup
      for (const id of d.order_ids || []) {
        receipt(id, { invoice_number: d.invoice_number, invoice_id: d.invoice_id, total: d.total, table_ids: d.table_ids });
        if (waiting.has(id)) updateOrder(id, () => ({ payment_status: "PAID", invoice_id: d.invoice_id, invoice_number: d.invoice_number, settling: null }));
        else {
          orders.delete(id);
          predicted.delete(id);
        }
      }
      break;
    }
    case "ORDER_PICKED_UP":
      handedOver(d.order_id);
      break;
    case "TABLE_STATUS_CHANGED":
      tables.set(d.table.id, d.table);
      break;
    case "PROFILE_CHANGED":
      desks = (d.restaurant && d.restaurant.desks) || [];
      break;
    case "RIDER_CASH":
      riderCash.event(ev);
      break;
    case "REVENUE_UPDATED":
      figures = { ...d };
      if (d.currency) currency = d.currency;
      figureEvents += 1;
      break;
    default:
      break;
  }
}

// A command's answer that carries the order or the table is applied at once (its events follow).
function absorb(result) {
  if (!result) return;
  if (result.order) putOrder(result.order);
  if (result.table) tables.set(result.table.id, result.table);
}

function zeros() {
  return { day: "", currency, revenue: 0, invoices: 0, average_bill: 0, by_method: {}, discounts: 0, tax: 0, service_charge: 0 };
}

async function loadFigures() {
  const before = figureEvents;
  let loaded = null;
  try {
    const res = await fetch("/api/v1/reports/day", { headers: { Authorization: `Bearer ${token}` } });
    if (res.ok) loaded = await res.json();
    else if (res.status !== 404) toast(`Today's figures could not be read (the hub answered ${res.status}): they follow the next payment`);
  } catch (err) {
    console.warn("today's figures", err.message);
  }
  if (figureEvents === before && loaded) {
    figures = { ...zeros(), ...loaded };
    if (loaded.currency) currency = loaded.currency;
  }
  if (!figures) figures = zeros();
  renderFigures();
}

async function fetchOrder(id) {
  try {
    const res = await fetch(`/api/v1/orders/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) return;
    const body = await res.json();
    if (body.order && !orders.has(id)) putOrder(body.order);
    stale = true;
    render();
  } catch (err) {
    console.warn("order", id, err.message);
  }
}

async function refreshPreview() {
  stale = false;
  const id = selected.order;
  if (!id || !orders.has(id) || awaitingPickup(orders.get(id))) return;
  const seq = ++previewSeq;
  try {
    const ack = await hub.command("bill.preview", { order_ids: [id] });
    if (seq !== previewSeq) return;
    preview = { orderId: id, ...ack.result };
    if (ack.result.bill && ack.result.bill.currency) currency = ack.result.bill.currency;
  } catch (err) {
    if (seq !== previewSeq) return;
    preview = { orderId: id, error: err };
  }
  renderDetail();
}

// -- commands ------------------------------------------------------------------------------------

async function run(type, data, done) {
  try {
    const ack = await hub.act(type, data);
    absorb(ack.result);
    if (done) done(ack.result || {});
  } catch (err) {
    reportFailure(err);
  }
  render();
}

function billRequested(order) {
  const table = order.table_id ? tables.get(order.table_id) : null;
  if (table && table.order_id === order.id) return table.status === "BILL_REQUESTED";
  return Boolean(order.bill_lock && order.bill_lock.until > hub.now());
}

function toggleBill(order) {
  const release = billRequested(order);
  run(release ? "bill.release" : "bill.request", { order_id: order.id }, () => {
    toast(release ? "Bill released: the order can be changed again" : "Bill requested: the order is locked", "info");
    stale = true;
  });
}

function handOver(order) {
  run("order.pickup", { order_id: order.id }, () => handedOver(order.id));
}

function clean(table) {
  run("table.clean", { table_id: table.id }, () => toast(`${table.name} is clean`, "info"));
}

// This till's desk printer, if a manager gave the till a desk: its receipts print there.
function deskPrinter() {
  const desk = desks.find((d) => d.id === device);
  return desk ? desk.printer : null;
}

// PRINT RECEIPT on a settled order, when this till has a desk printer; asked again, the hub names the job.
function printButton(orderId, invoiceId) {
  const printer = deskPrinter();
  if (!printer || !orderId || !invoiceId) return null;
  const send = () => run("print.receipt", { order_id: orderId }, () => toast(`Receipt sent to printer ${printer}`, "info"));
  return h("button", { type: "button", class: "big-btn print-receipt", id: "print-receipt", onclick: send }, "PRINT RECEIPT");
}

// Run a command that a manager's PIN may have to approve: PIN_REQUIRED opens the PIN prompt and
// the command goes again with `pin` (a new command id: the data differ); WRONG_PIN asks again.
async function withPin(type, data, what, then) {
  try {
    const ack = await hub.act(type, data);
    closePin();
    absorb(ack.result);
    if (then) then(ack.result || {});
  } catch (err) {
    const base = { ...data };
    delete base.pin;
    if (err.code === "PIN_REQUIRED") askPin({ type, data: base, what, then }, "");
    else if (err.code === "WRONG_PIN") {
      const left = err.frame.details && err.frame.details.attempts_left;
      askPin({ type, data: base, what, then }, `Wrong PIN — try again${Number.isInteger(left) ? ` (${left} tries left)` : ""}`);
    }
    else if (err.code === "RATE_LIMITED") {
      closePin();
      toast("Too many wrong PINs from this terminal: wait, then try again");
    } else {
      closePin();
      reportFailure(err);
    }
  }
  render();
}

function askPin(request, message) {
  pinAsk = request;
  const dialog = document.getElementById("pin-dialog");
  document.getElementById("pin-why").textContent = `${request.what}: a manager must approve it.`;
  document.getElementById("pin-msg").textContent = message;
  dialog.dataset.state = message ? "wrong" : "ask";
  const input = document.getElementById("pin-input");
  input.value = "";
  input.disabled = false;
  document.getElementById("pin-ok").disabled = false;
  if (!dialog.open) dialog.showModal();
  input.focus();
}

function closePin() {
  pinAsk = null;
  const dialog = document.getElementById("pin-dialog");
  if (dialog.open) dialog.close();
}

function submitPin(e) {
  e.preventDefault();
  const input = document.getElementById("pin-input");
  const pin = input.value;
  if (!/^[0-9]{4,12}$/.test(pin)) {
    document.getElementById("pin-msg").textContent = "A PIN is 4 to 12 digits";
    return;
  }
  if (!pinAsk) return closePin();
  const { type, data, what, then } = pinAsk;
  input.disabled = true;
  document.getElementById("pin-ok").disabled = true;
  document.getElementById("pin-msg").textContent = "Checking…";
  withPin(type, { ...data, pin }, what, then);
}

function submitDiscount(order) {
  const kind = document.getElementById("disc-kind").value;
  const text = document.getElementById("disc-value").value;
  const lineId = document.getElementById("disc-line").value;
  const reason = document.getElementById("disc-reason").value.trim();
  const value = parseAmount(text, kind === "PERCENT" ? 2 : places()); // PERCENT in basis points: 12.5 -> 1250
  if (!Number.isInteger(value) || value <= 0) return toast(kind === "PERCENT" ? "Enter a percentage, e.g. 10 or 12.5" : "Enter an amount, e.g. 50 or 49.50");
  if (kind === "PERCENT" && value > 10000) return toast("A discount is at most 100%");
  if (!reason) return toast("Give a reason for the discount");
  const data = { order_id: order.id, kind, value, reason };
  if (lineId) data.line_id = lineId;
  const what = `Discount of ${kind === "PERCENT" ? formatBp(value) : money(value)} on order #${order.number}`;
  withPin("order.discount", data, what, () => {
    toast(`${what} applied`, "info");
    document.getElementById("disc-value").value = "";
    document.getElementById("disc-reason").value = "";
    stale = true;
  });
}

function removeDiscount(order, discount) {
  withPin("order.remove_discount", { order_id: order.id, discount_id: discount.id }, "Removing a discount", () => {
    stale = true;
  });
}

function courtesy(order, bp) {
  withPin(
    "order.discount",
    { order_id: order.id, kind: "PERCENT", value: bp, reason: "courtesy: items not ready" },
    `Courtesy discount of ${formatBp(bp)}`,
    () => {
      if (pay) pay.guidance = null;
      toast(`Courtesy discount of ${formatBp(bp)} applied: check the amounts`, "info");
      stale = true;
    },
  );
}

// -- payment -------------------------------------------------------------------------------------

function computePay() {
  const due = preview && pay && preview.orderId === pay.orderId && !preview.error ? preview.due : null;
  const p = places();
  let sum = 0;
  let change = 0;
  let ok = pay.rows.length > 0;
  const rows = pay.rows.map((row) => {
    const amount = parseAmount(row.amount, p);
    let problem = "";
    if (amount === null) problem = "enter the amount";
    else if (!Number.isInteger(amount)) problem = "not an amount";
    else if (amount <= 0) problem = "the amount must be above 0";
    let received = null;
    if (row.method === "CASH" && row.received.trim() !== "") {
      received = parseAmount(row.received, p);
      if (!Number.isInteger(received)) problem = problem || "received: not an amount";
      else if (Number.isInteger(amount) && received < amount) problem = problem || "received is less than the amount";
    }
    const rowChange = !problem && received !== null ? received - amount : 0;
    if (problem) ok = false;
    else {
      sum += amount;
      change += rowChange;
    }
    return { row, amount, received, change: rowChange, problem };
  });
  const remaining = due === null ? null : due - sum;
  if (due === null || remaining < 0 || sum <= 0) ok = false;
  return { due, rows, sum, change, remaining, ok, settles: remaining === 0 };
}

function tenders(calc) {
  return calc.rows.map(({ row, amount, received }) => {
    const tender = { method: row.method, amount };
    if (row.method === "CASH" && received !== null) tender.received = received;
    if (row.method !== "CASH" && row.reference.trim()) tender.reference = row.reference.trim();
    return tender;
  });
}

function addTender(method) {
  if (!pay || !orders.has(pay.orderId)) return;
  const calc = computePay();
  const rest = calc.remaining !== null && calc.remaining > 0 ? plainAmount(calc.remaining, places()) : "";
  const row = { id: `r${++rowSeq}`, method, amount: rest, received: "", reference: "" };
  pay.rows.push(row);
  pay.guidance = null;
  drawTenders();
  renderGuidance();
  const input = document.querySelector(`.tender[data-row="${row.id}"] input.amount`);
  if (input) {
    input.focus();
    input.select();
  }
}

function removeTender(row) {
  pay.rows = pay.rows.filter((r) => r !== row);
  drawTenders();
}

function tenderRow(row) {
  const field = (cls, key, label, extra = {}) => {
    const input = h("input", { type: "text", class: cls, autocomplete: "off", "aria-label": `${row.method} ${label}`, value: row[key], ...extra });
    input.addEventListener("input", () => {
      row[key] = input.value;
      updatePay();
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        settle(false);
      }
    });
    return h("label", {}, label, input);
  };
  return h(
    "li",
    { class: `tender m-${row.method}`, dataset: { row: row.id, method: row.method } },
    h("span", { class: "method" }, row.method),
    field("amount", "amount", "amount", { inputmode: "decimal", placeholder: "0.00" }),
    row.method === "CASH"
      ? field("received", "received", "received", { inputmode: "decimal", placeholder: "0.00", title: "cash handed over" })
      : field("reference", "reference", "ref", { placeholder: "transaction ref" }),
    h("span", { class: "row-change", "aria-live": "polite" }),
    h("button", { type: "button", class: "remove", "aria-label": `remove the ${row.method} tender`, onclick: () => removeTender(row) }, "✕"),
    h("span", { class: "problem" }),
  );
}

function drawTenders() {
  const list = document.getElementById("tenders");
  if (!list || !pay) return;
  list.replaceChildren(...pay.rows.map(tenderRow));
  updatePay();
}

function setMoney(id, minor, text = minor === null ? "—" : money(minor)) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = text;
  if (minor === null) delete el.dataset.minor;
  else el.dataset.minor = String(minor);
}

// Only the computed figures change while the cashier types: the inputs stay as they are.
function updatePay() {
  if (!pay || !document.getElementById("d-pay")) return;
  const calc = computePay();
  for (const item of calc.rows) {
    const li = document.querySelector(`.tender[data-row="${item.row.id}"]`);
    if (!li) continue;
    li.classList.toggle("invalid", Boolean(item.problem) && item.row.amount.trim() !== "");
    li.querySelector(".problem").textContent = item.row.amount.trim() === "" && item.problem === "enter the amount" ? "" : item.problem;
    const changeEl = li.querySelector(".row-change");
    changeEl.textContent = item.received !== null && !item.problem ? `change ${money(item.change)}` : "";
    changeEl.dataset.minor = String(item.change);
  }
  setMoney("pay-due", calc.due);
  const remaining = document.getElementById("remaining");
  const over = calc.remaining !== null && calc.remaining < 0;
  setMoney("remaining", calc.remaining, calc.remaining === null ? "—" : money(over ? -calc.remaining : calc.remaining));
  remaining.className = calc.remaining === null ? "" : over ? "over" : calc.remaining === 0 ? "zero" : "left";
  document.getElementById("remaining-label").textContent = over ? "Over by" : "Remaining";
  setMoney("change", calc.change);
  let hint = "";
  if (over) hint = "The tenders pay more than is due: put the cash handed over under “received”.";
  else if (calc.ok && !calc.settles) hint = `A part payment: ${money(calc.remaining)} stays due.`;
  document.getElementById("pay-hint").textContent = hint;
  const button = document.getElementById("settle");
  button.disabled = !calc.ok || pay.busy;
  button.textContent = pay.busy
    ? "SETTLING…"
    : calc.ok && !calc.settles
      ? `TAKE PART PAYMENT ${money(calc.sum)}`
      : `SETTLE${calc.ok ? ` ${money(calc.sum)}` : ""}`;
}

async function settle(force) {
  const current = pay; // the events of this very payment may close the order (and this form) first
  if (!current || current.busy) return;
  const order = orders.get(current.orderId);
  const calc = computePay();
  if (!order || !calc.ok) return;
  const data = { order_ids: [order.id], tenders: tenders(calc) };
  if (force) data.force = true; // different data: a new command id, not a retry of the refused one
  current.busy = true;
  updatePay();
  try {
    const ack = await hub.act("order.pay", data);
    const result = ack.result || {};
    current.guidance = null;
    if (result.status === "PAID") {
      receipt(order.id, { ...result, table_ids: receipts.get(order.id)?.table_ids || [] });
      if (COUNTER.has(order.type)) {
        const paid = { payment_status: "PAID", paid: result.paid, invoice_id: result.invoice_id, invoice_number: result.invoice_number, settling: null };
        updateOrder(order.id, () => paid); // stays open until handed over (unless ORDER_PICKED_UP came first)
      } else orders.delete(order.id);
    } else {
      toast(`Part payment of ${money(calc.sum)} taken: ${money(result.remaining)} still due`, "info");
      current.rows = [];
      if (pay === current) drawTenders();
      stale = true;
    }
  } catch (err) {
    if (err.code === "ITEMS_NOT_READY") current.guidance = (err.frame.details && err.frame.details.guidance) || { items: [] };
    else reportFailure(err);
  } finally {
    current.busy = false;
  }
  render();
}

// -- rendering -----------------------------------------------------------------------------------

function render() {
  renderRidersButton();
  renderMap();
  renderFigures();
  renderDetail();
  if (stale) refreshPreview();
}

// Redraw a list of buttons without losing the keyboard focus on the one that was focused.
function redraw(container, children) {
  const focused = container.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  container.replaceChildren(...children);
  if (focused) container.querySelector(`[data-key="${focused}"]`)?.focus();
}

// replaceChildren without the null / false placeholders of optional parts.
function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

const readyAt = (order) => estimates.readyAt(order);
const estimate = (order, cls, form = "full", id = null) => estimates.element(order, cls, form, id);

function orderBadges(order) {
  return [
    order.status === "READY"
      ? h("span", { class: "badge ready" }, "READY")
      : h("span", { class: "badge active" }, order.fired_at ? "IN KITCHEN" : "NOT SENT"),
    order.payment_status === "PARTIALLY_PAID" ? h("span", { class: "badge part" }, "PART PAID") : null,
    awaitingPickup(order) ? h("span", { class: "badge paid", title: "paid: waiting for pickup" }, "PAID") : null,
    order.settling ? h("span", { class: "badge locked" }, "PAYING") : null,
  ];
}

function tile(table) {
  const order = table.order_id ? orders.get(table.order_id) : null;
  const isSelected = selected.table === table.id && (!selected.order || !order || selected.order === order.id);
  return h(
    "button",
    {
      type: "button",
      class: `tile st-${table.status}${isSelected ? " selected" : ""}`,
      dataset: { key: `t:${table.id}`, tableId: table.id, status: table.status, orderId: table.order_id },
      "aria-pressed": isSelected ? "true" : "false",
      "aria-label": `${table.name}: ${TABLE_LABEL[table.status] || table.status}${order ? `, order ${order.number}` : ""}${readyAt(order) ? `, ready about ${hhmm(readyAt(order))}` : ""}`,
      onclick: () => selectTable(table.id),
    },
    h("span", { class: "t-name" }, table.name),
    h("span", { class: "t-status" }, TABLE_LABEL[table.status] || table.status),
    order
      ? h(
          "span",
          { class: "t-order" },
          h("span", {}, `#${order.number}`),
          order.guests ? h("span", {}, `· ${order.guests} guests`) : null,
          ...orderBadges(order),
          estimate(order, "t-eta", "short"),
        )
      : h("span", { class: "t-seats" }, table.status === "DIRTY" ? "to clean" : `${table.seats} seats`),
  );
}

function renderMap() {
  const map = document.getElementById("map");
  const list = [...tables.values()].sort(byName);
  redraw(map, list.length ? list.map(tile) : [h("p", { class: "empty" }, "No tables")]);
  const seated = new Set([...tables.values()].map((t) => t.order_id).filter(Boolean));
  const offMap = [...orders.values()]
    .filter((o) => o.type !== "DINE_IN" || !seated.has(o.id))
    .sort((a, b) => a.created_at - b.created_at || a.number - b.number);
  const toGo = offMap.filter((o) => !awaitingPickup(o)).map(toGoEntry);
  const waiting = offMap.filter(awaitingPickup);
  const none = waiting.length ? "No takeaway or delivery order to charge" : "No takeaway or delivery orders open";
  redraw(document.getElementById("to-go"), toGo.length ? toGo : [h("p", { class: "empty" }, none)]);
  const strip = document.getElementById("pickup");
  strip.hidden = !waiting.length;
  document.getElementById("pickup-title").hidden = !waiting.length;
  redraw(
    strip,
    waiting.map((order) =>
      h(
        "div",
        { class: "pickup-row", dataset: { orderId: order.id, status: order.status } },
        toGoEntry(order),
        canHandOver(order)
          ? h("button", { type: "button", class: "handover", dataset: { key: `h:${order.id}` }, title: "key H", onclick: () => handOver(order) }, "HANDED OVER")
          : null,
      ),
    ),
  );
}

function toGoEntry(order) {
  return h(
    "button",
    {
      type: "button",
      class: `togo${selected.order === order.id ? " selected" : ""}`,
      dataset: { key: `o:${order.id}`, orderId: order.id, type: order.type },
      "aria-pressed": selected.order === order.id ? "true" : "false",
      onclick: () => selectOrder(order.id),
    },
    h("span", { class: "num" }, `#${order.number}`),
    h("span", { class: "kind" }, TYPE_LABEL[order.type] || order.type),
    order.token ? h("span", { class: "badge station" }, `TOKEN ${order.token}`) : null,
    order.customer_name ? h("span", { class: "who" }, order.customer_name) : null,
    ...orderBadges(order),
    estimate(order, "tg-eta"),
  );
}

function renderFigures() {
  const f = figures || zeros();
  const fig = (id, label, value, minor, cls = "") =>
    h("div", { class: `fig ${cls}` }, h("span", {}, label), h("b", { id, dataset: { minor: minor === null ? null : String(minor) } }, value));
  const methods = [...new Set([...METHODS, ...Object.keys(f.by_method || {})])];
  document.getElementById("day").textContent = f.day ? `TODAY ${f.day}` : "TODAY";
  const parts = [
    fig("day-revenue", "Revenue", money(f.revenue || 0), f.revenue || 0, "revenue"),
    ...FIGURES.map(([key, label, isMoney]) =>
      fig(`day-${key}`, label, isMoney ? money(f[key] || 0) : String(f[key] || 0), isMoney ? f[key] || 0 : null),
    ),
    ...methods.map((m) => fig(`day-method-${m}`, m, money((f.by_method || {})[m] || 0), (f.by_method || {})[m] || 0)),
  ];
  document.getElementById("figures").replaceChildren(...parts);
}

function selectTable(id) {
  const table = tables.get(id);
  if (!table) return;
  if (selected.table === id && selected.order === (table.order_id || null)) return;
  selected = { table: id, order: table.order_id || null };
  if (table.order_id && !orders.has(table.order_id)) fetchOrder(table.order_id);
  stale = true;
  render();
}

function selectOrder(id) {
  const order = orders.get(id);
  if (!order || selected.order === id) return;
  selected = { order: id, table: order.table_id || null };
  stale = true;
  render();
}

function deselect() {
  selected = { order: null, table: null };
  render();
}

function renderDetail() {
  const box = document.getElementById("detail");
  const order = selected.order ? orders.get(selected.order) : null;
  const paid = selected.order ? receipts.get(selected.order) : null;
  const table = selected.table ? tables.get(selected.table) : null;
  let key = "";
  if (awaitingPickup(order)) key = `paid:${order.id}`;
  else if (order) key = `order:${order.id}`;
  else if (paid && paid.invoice_number !== undefined && paid.invoice_number !== null) key = `receipt:${selected.order}`;
  else if (table) key = `table:${table.id}`;
  else if (selected.riders) key = "riders";
  if (key !== view) {
    view = key;
    box.dataset.view = key.split(":")[0];
    if (key.startsWith("order:")) {
      pay = { orderId: order.id, rows: [], busy: false, guidance: null };
      linesKey = "";
      if (!preview || preview.orderId !== order.id) preview = null;
      box.replaceChildren(...orderSkeleton(order));
    } else if (!key) {
      pay = null;
      box.replaceChildren(h("p", { class: "empty" }, "Select a table or an order"), keysHelp());
    } else if (key === "riders") {
      pay = null;
      box.replaceChildren(riderCash.panel());
    } else {
      pay = null;
      box.replaceChildren(h("div", { id: "d-static" }));
    }
  }
  if (key.startsWith("paid:")) fillPaid(order, paid || {});
  else if (order) fillOrder(order);
  else if (key.startsWith("receipt:")) fillReceipt(paid, table);
  else if (table) fillTable(table);
}

// The top bar's RIDERS' CASH button: what riders hold in all; pressed, the panel is in the detail pane.
function renderRidersButton() {
  const button = document.getElementById("riders-cash-btn");
  if (!button) return;
  const total = riderCash.total();
  button.dataset.minor = String(total);
  button.setAttribute("aria-pressed", selected.riders ? "true" : "false");
  button.textContent = total ? `RIDERS' CASH ${money(total)}` : "RIDERS' CASH";
}

function showRiders() {
  selected = { order: null, table: null, riders: true };
  render();
  document.querySelector("#rider-cash input")?.focus();
}

function keysHelp() {
  const keys = [
    ["click / tap", "select a table or an order"],
    ["arrows, Enter", "move across tables, select"],
    ["1 – 4", "add a CASH / UPI / CARD / WALLET tender"],
    ["Enter in a tender", "settle"],
    ["D", "discount"],
    ["B", "request or release the bill"],
    ["C", "clean a dirty table"],
    ["H", "hand over a paid takeaway once ready"],
    ["R", "riders' cash: floats and handovers"],
    ["Esc", "deselect"],
  ];
  return h("dl", { class: "keys" }, ...keys.flatMap(([key, what]) => [h("dt", {}, key), h("dd", {}, what)]));
}

function orderSkeleton(order) {
  const kind = h(
    "select",
    { id: "disc-kind", "aria-label": "discount kind" },
    h("option", { value: "PERCENT" }, "%"),
    h("option", { value: "AMOUNT" }, `${currencySymbol(currency)} amount`),
  );
  const discount = h(
    "form",
    { class: "discount", id: "d-discount", onsubmit: (e) => (e.preventDefault(), submitDiscount(orders.get(order.id) || order)) },
    h("h3", {}, "Discount"),
    h(
      "div",
      { class: "disc-row" },
      kind,
      h("input", { id: "disc-value", type: "text", inputmode: "decimal", autocomplete: "off", placeholder: "10", "aria-label": "discount value" }),
      h("select", { id: "disc-line", "aria-label": "discount on" }),
    ),
    h(
      "div",
      { class: "disc-row" },
      h("input", { id: "disc-reason", type: "text", maxlength: "200", placeholder: "reason", "aria-label": "discount reason" }),
      h("button", { type: "submit", id: "disc-apply" }, "APPLY"),
    ),
    h("ul", { class: "disc-list", id: "disc-list" }),
  );
  const paySection = h(
    "section",
    { class: "pay", id: "d-pay", "aria-label": "payment" },
    h("h3", {}, "Payment"),
    h(
      "div",
      { class: "add-tender" },
      ...METHODS.map((m, n) =>
        h("button", { type: "button", class: `add-${m.toLowerCase()}`, dataset: { method: m }, title: `key ${n + 1}`, onclick: () => addTender(m) }, `+ ${m}`),
      ),
    ),
    h("div", { class: "pay-body" }, h("ul", { class: "tenders", id: "tenders" })),
    h("div", { class: "pay-guidance", id: "d-guidance" }),
    h(
      "div",
      { class: "pay-sum" },
      h("div", {}, h("span", {}, "Due"), h("b", { id: "pay-due" }, "—")),
      h("div", { class: "remaining-row" }, h("span", { id: "remaining-label" }, "Remaining"), h("b", { id: "remaining", "aria-live": "polite" }, "—")),
      h("div", { class: "change-row" }, h("span", {}, "Change to give"), h("b", { id: "change", "aria-live": "polite" }, "—")),
    ),
    h("p", { class: "pay-hint", id: "pay-hint" }),
    h("button", { type: "button", class: "settle", id: "settle", disabled: true, onclick: () => settle(false) }, "SETTLE"),
  );
  // Two columns, each a screen high: what is on the order (its total always in view at the foot) and
  // the payment (SETTLE always in view at the foot); what is long scrolls in between.
  const orderSection = h(
    "section",
    { class: "d-order", "aria-label": "order" },
    h(
      "div",
      { class: "d-top" },
      h("header", { class: "d-head", id: "d-head" }),
      h("div", { class: "d-actions", id: "d-actions" }),
      h("p", { class: "d-when", id: "d-when" }),
    ),
    h(
      "div",
      { class: "d-body" },
      h("ul", { class: "d-lines", id: "d-lines" }),
      h("h3", {}, "Bill"),
      h("section", { class: "bill-box", id: "d-bill" }),
      discount,
    ),
    h("div", { class: "sums", id: "d-sums" }),
  );
  return [orderSection, paySection];
}

function fillOrder(order) {
  const table = order.table_id ? tables.get(order.table_id) : null;
  fill(
    document.getElementById("d-head"),
    h("span", { class: "num" }, `#${order.number}`),
    h("span", { class: "where" }, table ? table.name : order.table_id || TYPE_LABEL[order.type] || order.type),
    order.guests ? h("span", { class: "who" }, `${order.guests} guests`) : null,
    order.token ? h("span", { class: "badge station" }, `TOKEN ${order.token}`) : null,
    ...orderBadges(order),
    billRequested(order) ? h("span", { class: "badge locked" }, "BILL REQUESTED") : null,
  );
  fill(document.getElementById("d-when"), estimate(order, "d-eta", "full", "d-eta"));
  document.getElementById("d-lines").replaceChildren(...lineItems(order));
  fillBill(order);
  document.getElementById("d-actions").replaceChildren(
    h(
      "button",
      { type: "button", class: "request", id: "bill-toggle", onclick: () => toggleBill(orders.get(order.id) || order) },
      billRequested(order) ? "RELEASE BILL" : "REQUEST BILL",
    ),
  );
  fillDiscounts(order);
  updatePay();
  renderGuidance();
}

function lineItems(order) {
  return (order.items || []).map((line) => {
    const status = line.quantity > (line.sent || 0) ? "NOT_FIRED" : line.status;
    return h(
      "li",
      { class: `s-${status}`, dataset: { lineId: line.id, status } },
      h("span", { class: "qty" }, `${line.quantity}\u00d7`),
      h("span", { class: "name" }, line.name),
      h("span", { class: "status" }, status === "NOT_FIRED" ? "NOT SENT" : status),
    );
  });
}

function fillBill(order) {
  const box = document.getElementById("d-bill");
  const sums = document.getElementById("d-sums");
  if (!preview || preview.orderId !== order.id || preview.error) sums.replaceChildren();
  if (!preview || preview.orderId !== order.id) {
    box.replaceChildren(h("p", { class: "bill-note" }, "Asking the hub for the bill…"));
    return;
  }
  if (preview.error) {
    box.replaceChildren(h("p", { class: "bill-note", dataset: { code: preview.error.code } }, `No bill: ${explain(preview.error)}`));
    return;
  }
  const bill = preview.bill;
  const rows = [];
  for (const line of bill.lines) {
    rows.push(
      h(
        "tr",
        { dataset: { lineId: line.line_id } },
        h("td", {}, line.name),
        h("td", {}, String(line.quantity)),
        h("td", {}, money(line.unit_price)),
        h("td", {}, money(line.gross)),
      ),
    );
    if (line.discount) rows.push(h("tr", { class: "off" }, h("td", { class: "off", colspan: "3" }, "discount"), h("td", { class: "off" }, money(-line.discount))));
  }
  const sum = (label, minor, cls = "", id = null) =>
    h("div", { class: cls }, h("span", {}, label), h("b", { id, dataset: { minor: String(minor) } }, money(minor)));
  const inclusive = bill.tax_mode === "INCLUSIVE";
  box.replaceChildren(
    h("table", { class: "bill" }, h("thead", {}, h("tr", {}, h("th", {}, "Item"), h("th", {}, "Qty"), h("th", {}, "Price"), h("th", {}, "Amount"))), h("tbody", {}, ...rows)),
  );
  fill(
    sums,
    sum("Subtotal", bill.gross, "", "bill-gross"),
    bill.discount ? sum("Discount", -bill.discount, "minus", "bill-discount") : null,
    bill.service_charge ? sum("Service charge", bill.service_charge, "", "bill-service") : null,
    ...bill.taxes.map((t) =>
      h(
        "div",
        { class: "tax", dataset: { code: t.code } },
        h("span", {}, `${t.code} ${formatBp(t.rate_bp)} on ${money(t.taxable)}${inclusive ? " (included)" : ""}`),
        h("b", { dataset: { minor: String(t.tax) } }, money(t.tax)),
      ),
    ),
    sum("Total", bill.total, "total", "bill-total"),
    preview.paid ? sum("Paid", preview.paid, "", "bill-paid") : null,
    preview.paid ? sum("Due", preview.due, "due", "bill-due") : null,
  );
}

function fillDiscounts(order) {
  const select = document.getElementById("disc-line");
  const key = (order.items || []).map((l) => `${l.id}:${l.quantity}:${l.name}`).join("|");
  if (key !== linesKey && document.activeElement !== select) {
    linesKey = key;
    const value = select.value;
    select.replaceChildren(
      h("option", { value: "" }, "whole order"),
      ...(order.items || []).map((l) => h("option", { value: l.id }, `${l.quantity}\u00d7 ${l.name}`)),
    );
    if ([...select.options].some((o) => o.value === value)) select.value = value;
  }
  const names = new Map((order.items || []).map((l) => [l.id, l.name]));
  document.getElementById("disc-list").replaceChildren(
    ...(order.discounts || []).map((d) =>
      h(
        "li",
        { dataset: { discountId: d.id } },
        h("span", {}, d.kind === "PERCENT" ? formatBp(d.value) : money(d.value)),
        h("span", {}, d.line_id ? `on ${names.get(d.line_id) || d.line_id}` : "on the order"),
        d.reason ? h("span", { class: "who" }, `“${d.reason}”`) : null,
        d.approved_by ? h("span", { class: "who" }, `approved by ${d.approved_by}`) : null,
        h("button", { type: "button", onclick: () => removeDiscount(order, d) }, "REMOVE"),
      ),
    ),
  );
}

function renderGuidance() {
  const box = document.getElementById("d-guidance");
  if (!box) return;
  const g = pay && pay.guidance;
  const order = pay && orders.get(pay.orderId);
  if (!g || !order) {
    box.replaceChildren();
    return;
  }
  const fresh = !box.firstChild;
  const bp = g.suggested_discount_bp || 0;
  const options = g.options || [];
  box.replaceChildren(
    h(
      "div",
      { class: "guidance", role: "alert", id: "guidance" },
      h("h3", {}, "Items not ready"),
      h(
        "ul",
        {},
        ...(g.items || []).map((item) =>
          h(
            "li",
            { dataset: { lineId: item.line_id } },
            h("b", {}, item.name),
            ` — ${item.status === "NOT_FIRED" ? "not sent to the kitchen" : item.status}`,
            item.status === "NOT_FIRED" ? null : ` · ${item.wait}`, // the hub words it: "ready in about 2:05", "overdue by 4:10"
          ),
        ),
      ),
      g.longest_wait_s ? h("p", {}, `Longest wait: about ${clock(g.longest_wait_s * 1000)}.`) : null,
      bp ? h("p", {}, `Suggested courtesy discount: ${formatBp(bp)}.`) : null,
      h(
        "div",
        { class: "g-actions" },
        h("button", { type: "button", class: "wait", onclick: () => ((pay.guidance = null), renderGuidance(), toast("Ask the guest to wait", "info")) }, "ASK TO WAIT"),
        bp && options.includes("SETTLE_WITH_DISCOUNT")
          ? h("button", { type: "button", class: "courtesy", onclick: () => courtesy(order, bp) }, `GIVE ${formatBp(bp)} OFF`)
          : null,
        h("button", { type: "button", class: "force", id: "settle-anyway", onclick: () => settle(true) }, "SETTLE ANYWAY"),
      ),
    ),
  );
  if (fresh) box.scrollIntoView({ block: "nearest" });
}

function tableBlock(table) {
  if (!table) return null;
  return h(
    "div",
    { class: "r-table" },
    h("span", { class: `tile-label badge`, dataset: { status: table.status } }, `${table.name}: ${TABLE_LABEL[table.status] || table.status}`),
    table.status === "DIRTY" ? h("button", { type: "button", class: "clean", id: "clean", onclick: () => clean(table) }, "CLEAN") : null,
  );
}

function fillReceipt(paid, table) {
  document.getElementById("d-static").replaceChildren(
    h(
      "div",
      { class: "receipt", id: "receipt", dataset: { invoice: String(paid.invoice_number) } },
      h("span", { class: "settled" }, "SETTLED"),
      h("div", { class: "invoice", id: "invoice-number" }, `Invoice #${paid.invoice_number}`),
      h("div", { class: "r-total" }, `Total ${money(paid.total)}`),
      h(
        "div",
        { class: "r-change", id: "receipt-change", dataset: { minor: String(paid.change || 0) } },
        h("span", {}, "CHANGE TO GIVE"),
        money(paid.change || 0),
      ),
      tableBlock(table),
      printButton(selected.order, paid.invoice_id),
      h("button", { type: "button", class: "big-btn", onclick: deselect }, "DONE"),
    ),
  );
}

// A paid counter order still open: its receipt, what the kitchen still makes, and HANDED OVER once ready.
function fillPaid(order, paid) {
  const ready = canHandOver(order);
  const invoice = order.invoice_number ?? paid.invoice_number;
  fill(
    document.getElementById("d-static"),
    h(
      "div",
      { class: "d-head" },
      h("span", { class: "num" }, `#${order.number}`),
      h("span", { class: "where" }, TYPE_LABEL[order.type] || order.type),
      order.token ? h("span", { class: "badge station" }, `TOKEN ${order.token}`) : null,
      order.customer_name ? h("span", { class: "who" }, order.customer_name) : null,
      ...orderBadges(order),
    ),
    h(
      "div",
      { class: "receipt", id: "receipt", dataset: { invoice: String(invoice ?? ""), orderId: order.id } },
      h("span", { class: "settled" }, "PAID"),
      h("div", { class: "invoice", id: "invoice-number" }, invoice === null || invoice === undefined ? "Invoice —" : `Invoice #${invoice}`),
      h("div", { class: "r-total" }, `Total ${money(paid.total ?? order.paid)}`),
      paid.change === undefined
        ? null
        : h("div", { class: "r-change", id: "receipt-change", dataset: { minor: String(paid.change || 0) } }, h("span", {}, "CHANGE TO GIVE"), money(paid.change || 0)),
      h(
        "p",
        { class: `pickup-state${ready ? " ready" : ""}`, id: "pickup-state", dataset: { ready: String(ready) } },
        ready ? "Ready: hand it over" : "In the kitchen: hand it over once it is ready",
      ),
      ready ? null : estimate(order, "d-eta", "full", "d-eta"),
      h(
        "div",
        { class: "r-table" },
        ready ? h("button", { type: "button", class: "big-btn handover", id: "handed-over", onclick: () => handOver(order) }, "HANDED OVER") : null,
        printButton(order.id, order.invoice_id ?? paid.invoice_id),
        h("button", { type: "button", class: "big-btn", onclick: deselect }, "DONE"),
      ),
    ),
    h("ul", { class: "d-lines", id: "d-lines" }, ...lineItems(order)),
  );
}

function fillTable(table) {
  const lines = [h("div", { class: "d-head" }, h("span", { class: "num" }, table.name), h("span", { class: "where" }, `${table.seats} seats`)), tableBlock(table)];
  if (table.status === "FREE") lines.push(h("p", { class: "empty" }, "Free: no order at this table"));
  else if (table.order_id && !orders.has(table.order_id)) lines.push(h("p", { class: "empty" }, "Loading the order…"));
  fill(document.getElementById("d-static"), lines);
}

// -- keyboard ------------------------------------------------------------------------------------

function moveFocus(key) {
  const tiles = [...document.querySelectorAll("#map .tile")];
  const at = tiles.indexOf(document.activeElement);
  if (!tiles.length) return false;
  if (at < 0) {
    tiles[0].focus();
    return true;
  }
  const columns = getComputedStyle(document.getElementById("map")).gridTemplateColumns.split(" ").length || 1;
  const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns }[key];
  tiles[Math.min(Math.max(at + step, 0), tiles.length - 1)].focus();
  return true;
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || document.getElementById("pin-dialog").open) return;
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement;
  if (e.key === "Escape") {
    if (typing) e.target.blur();
    else deselect();
    return;
  }
  if (typing) return;
  const open = selected.order ? orders.get(selected.order) : null;
  const order = awaitingPickup(open) ? null : open; // paid: nothing to charge, discount or lock
  const table = selected.table ? tables.get(selected.table) : null;
  if (e.key.startsWith("Arrow")) {
    if (moveFocus(e.key)) e.preventDefault();
  } else if (/^[1-4]$/.test(e.key) && order) {
    addTender(METHODS[Number(e.key) - 1]);
    e.preventDefault();
  } else if (e.key === "d" && order) {
    document.getElementById("disc-value").focus();
    e.preventDefault();
  } else if (e.key === "b" && order) {
    toggleBill(order);
  } else if (e.key === "c" && table && table.status === "DIRTY") {
    clean(table);
  } else if (e.key === "h" && awaitingPickup(open) && canHandOver(open)) {
    handOver(open);
  } else if (e.key === "r") {
    showRiders();
    e.preventDefault();
  }
}

// -- start ---------------------------------------------------------------------------------------

if (!token) {
  noToken("cashier");
} else {
  hub = new Hub(token, {
    channels: (welcome) => (checkRole(welcome), (device = welcome.device || null), ["tables", "cashier", "orders"]),
    snapshot,
    event,
    applied: render,
    state: (_, conn) => setConnection(conn),
    problem: (message) => toast(message),
  }).start();
  window.fireflow = { hub, tables, orders, receipts, predicted, riderCash, state: () => ({ selected, preview, pay, figures, currency }) };
  document.addEventListener("keydown", onKey);
  document.getElementById("riders-cash-btn").addEventListener("click", showRiders);
  document.getElementById("pin-form").addEventListener("submit", submitPin);
  document.getElementById("pin-input").addEventListener("input", (e) => {
    const digits = e.target.value.replace(/\D/g, "");
    if (digits !== e.target.value) e.target.value = digits;
  });
  document.getElementById("pin-cancel").addEventListener("click", () => {
    closePin();
    toast("Not approved: nothing changed", "info");
  });
  document.getElementById("pin-dialog").addEventListener("cancel", () => {
    pinAsk = null;
  });
  renderFigures();
  setInterval(() => estimates.tick(), 15_000); // the estimates count down
  setInterval(() => {
    const order = selected.order ? orders.get(selected.order) : null;
    if (order && order.bill_lock) renderDetail(); // a bill lock expires by itself
  }, 5000);
}
