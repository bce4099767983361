// Order taking: /pos?token=<WAITER, CASHIER, MANAGER or OWNER device token>
//
// A waiter's phone (390×844) or a counter tablet (1280×800). The floor plan first: the areas as
// tabs, each table where it stands (x, y of 0–1000 on its area's plan), coloured by its live status;
// a free table asks the guests and opens a dine-in order (order.open), a seated one opens its
// order. Takeaway and delivery ask the phone number first and look the customer up in the book
// (GET /api/v1/customers?phone=), saving a new one with customer.put.
//
// The order: the menu by category with a search box, the lines grouped by course. An item with
// modifier groups opens a sheet (required groups, choices, quantity, note, course); one without is
// added by a tap (its "…" opens the sheet for a note). Lines change quantity, are removed, served;
// courses are held and fired; the order is fired, rushed, noted, moved, merged, its bill requested.
// Order commands go one at a time, each with the version the last answer left (`version`); a
// VERSION_CONFLICT takes the hub's current order and says so. ORDER_READY of an order this device
// opened (`waiter:<device>`) shows a banner until dismissed.
//
// A fired order still being made shows when it should be ready, "Ready about 19:42 · in 6 min", from
// the hub's ORDER_PREDICTED (on `orders`): on the order's screen (in the bar with FIRE, always in
// view) and in the takeaway list and the table tiles of the floor; counted down each 15 s ("any
// minute" under a minute, "running late" once past it); gone once the order is READY or closed.
//
// Channels: `tables`, `menu`, `orders`, and `waiter:<device>` for a waiter. Money is integer
// minor units (money.js); a line keeps the unit_price it was added with.

import { Estimates } from "./estimates.js";
import { Hub } from "./fireflow.js";
import { formatMoney } from "./money.js";
import { beep, checkRole, deviceToken, explain, h, hhmm, noToken, setConnection, toast, unlockAudioOnFirstTouch } from "./ui.js";

const OPEN = new Set(["ACTIVE", "READY"]);
const TABLE_WORD = { FREE: "FREE", OCCUPIED: "SEATED", BILL_REQUESTED: "BILL", DIRTY: "DIRTY" };
const TYPE_WORD = { DINE_IN: "DINE-IN", TAKEAWAY: "TAKEAWAY", DELIVERY: "DELIVERY" };
const STATUS_WORD = { NOT_SENT: "NOT SENT", HELD: "HELD", PENDING: "SENT", PREPARING: "PREPARING", DONE: "READY", SERVED: "SERVED", SKIPPED: "SKIPPED" };
const COURSES = [1, 2, 3, 4];

const token = deviceToken("pos");
const tables = new Map(); // table id -> Table
const orders = new Map(); // order id -> Order (open ones)
const menu = { version: 0, categories: [], items: new Map() }; // items: MenuItem + sellable, out, remaining
const ready = new Map(); // order id -> { number, where }: banners until dismissed
const estimates = new Estimates(() => hub.now()); // predicted ready times (estimates.js)
const predicted = estimates.at; // order id -> predicted ready time (ms): ORDER_PREDICTED, and snapshots
let areas = [];
let currency = "INR";
let me = null; // this device (welcome)
let hub = null;
let loaded = false; // the first snapshot is in
let view = { order: fromHash() }; // the open order's id, or null: the floor
let area = null;
let category = null;
let search = "";
let menuRev = 0; // counts menu changes: the menu redraws only when something it shows changed
let queue = Promise.resolve(); // order commands, one at a time
let firing = false; // FIRE tapped twice sends once

const money = (minor) => formatMoney(minor, currency);
const byName = (a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id), undefined, { numeric: true });
const $ = (id) => document.getElementById(id);
const digits = (text) => String(text || "").replace(/\D/g, "");

// -- state from the hub ------------------------------------------------------------------------

function putOrder(order, force = false) {
  if (!order) return;
  const known = orders.get(order.id);
  if (!force && known && known.version > order.version) return; // a late event: a later answer is already here
  if (OPEN.has(order.status)) orders.set(order.id, order);
  else orders.delete(order.id);
}

function updateOrder(id, change) {
  const order = orders.get(id);
  if (order) orders.set(id, { ...order, ...change(order) });
}

function sellable(item, out, remaining) {
  return Boolean(item.available) && !out && (remaining === null || remaining === undefined || remaining > 0);
}

function setMenu(snap) {
  menu.version = snap.version || 0;
  menu.categories = snap.categories || [];
  menu.items = new Map((snap.items || []).map((item) => [item.id, item]));
  menuRev += 1;
}

function snapshot(snaps) {
  if (snaps.tables) {
    tables.clear();
    for (const table of snaps.tables.tables || []) tables.set(table.id, table);
    areas = snaps.tables.areas || [];
  }
  if (snaps.menu) {
    setMenu(snaps.menu);
    if (snaps.menu.currency) currency = snaps.menu.currency; // the menu's prices in the restaurant's own money
  }
  if (snaps.orders) {
    orders.clear();
    for (const snap of [snaps.orders, ...Object.entries(snaps).filter(([c]) => c.startsWith("waiter:")).map(([, s]) => s)]) {
      for (const order of (snap && snap.orders) || []) putOrder(order, true);
    }
  }
  estimates.fromOrders(orders.values());
  loaded = true;
  if (view.order && !orders.has(view.order)) fetchOrder(view.order);
}

// Whether an event is about an order this device opened (it is on our `waiter:` channel).
function mine(ev, orderId) {
  if (me && (ev.channels || []).includes(`waiter:${me}`)) return true;
  const order = orders.get(orderId);
  return Boolean(me && order && order.opened_by === me);
}

function gone(id, why) {
  orders.delete(id);
  predicted.delete(id);
  if (view.order === id) {
    toast(why, "info");
    go(null);
  }
}

function event(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "ORDER_OPENED":
    case "ORDER_UPDATED":
    case "ORDER_FIRED":
      putOrder(d.order);
      break;
    case "ORDER_RECALLED":
      predicted.delete(d.order.id); // made again: the hub predicts it afresh
      putOrder(d.order);
      break;
    case "ORDER_PREDICTED":
      predicted.set(d.order_id, d.ready_at);
      break;
    case "ORDER_MERGED":
      orders.delete(d.from_order_id);
      predicted.delete(d.from_order_id);
      putOrder(d.order);
      if (view.order === d.from_order_id) {
        toast(`Order #${d.from_order_number} was merged into order #${d.order.number}`, "info");
        go(d.order.id, true);
      }
      break;
    case "ORDER_READY":
      predicted.delete(d.order_id);
      updateOrder(d.order_id, () => ({ status: "READY", ready_at: d.ready_at }));
      if (mine(ev, d.order_id)) {
        ready.set(d.order_id, { number: d.order_number, where: where(orders.get(d.order_id) || { type: d.order_type, table_id: d.table_id, token: d.token }) });
        beep();
      }
      break;
    case "ITEM_STATUS_CHANGED":
      updateOrder(d.order_id, (o) =>
        d.order_version < o.version
          ? {}
          : { version: d.order_version, items: (o.items || []).map((line) => (line.id === d.line_id ? { ...line, status: d.status } : line)) },
      );
      break;
    case "ORDER_CANCELLED":
      gone(d.order_id, `Order #${d.order_number} was cancelled`);
      break;
    case "ORDER_PICKED_UP":
      gone(d.order_id, "The order was handed over");
      break;
    case "ORDER_SETTLED":
      for (const id of d.order_ids || []) if (!(d.awaiting_pickup || []).includes(id)) gone(id, `Paid: invoice #${d.invoice_number}`);
      break;
    case "PAYMENT_RECORDED":
      for (const id of d.order_ids || []) updateOrder(id, () => ({ payment_status: d.status }));
      break;
    case "TABLE_STATUS_CHANGED":
      tables.set(d.table.id, d.table);
      break;
    case "TABLES_CHANGED":
      for (const table of d.tables || []) tables.set(table.id, table);
      for (const id of d.removed || []) tables.delete(id);
      areas = d.areas || areas;
      break;
    case "MENU_CHANGED":
      menu.version = d.version;
      for (const item of d.items || []) {
        const was = menu.items.get(item.id) || {};
        const out = Boolean(was.out);
        const remaining = was.remaining ?? null;
        menu.items.set(item.id, { ...item, out, remaining, sellable: sellable(item, out, remaining) });
      }
      for (const id of d.removed || []) menu.items.delete(id);
      menu.categories = d.categories || menu.categories;
      menuRev += 1;
      break;
    case "STOCK_CHANGED": {
      const s = d.stock;
      const item = menu.items.get(s.menu_item_id);
      if (!item) break;
      const remaining = s.on_hand === null || s.on_hand === undefined ? null : Math.max(s.on_hand - s.reserved, 0);
      menu.items.set(item.id, { ...item, out: s.out, remaining, sellable: sellable(item, s.out, remaining) });
      menuRev += 1;
      break;
    }
    case "ITEM_86D":
    case "ITEM_AVAILABLE": {
      const item = menu.items.get(d.menu_item_id);
      if (item) menu.items.set(item.id, { ...item, sellable: ev.type === "ITEM_AVAILABLE", remaining: d.available ?? null });
      menuRev += 1;
      break;
    }
    case "PROFILE_CHANGED":
      if (d.restaurant && d.restaurant.currency) currency = d.restaurant.currency;
      if (d.restaurant && d.restaurant.areas) areas = d.restaurant.areas;
      menuRev += 1;
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

function authorized(url, init = {}) {
  return fetch(url, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${token}` } });
}

async function fetchOrder(id) {
  try {
    const res = await authorized(`/api/v1/orders/${encodeURIComponent(id)}`);
    const body = res.ok ? await res.json() : null;
    if (body && body.order && OPEN.has(body.order.status)) putOrder(body.order, true);
    else if (view.order === id) gone(id, res.ok || res.status === 404 ? "That order is no longer open" : `The order could not be read (${res.status})`);
  } catch (err) {
    console.warn("order", id, err.message);
  }
  render();
}

// -- commands ------------------------------------------------------------------------------------

// A refusal in plain words; the modifier and stock ones name the item and what to choose.
function say(err) {
  const details = (err && err.frame && err.frame.details) || {};
  const item = details.menu_item_id ? menu.items.get(details.menu_item_id) : null;
  if (err && err.code === "INVALID_MODIFIERS") {
    const asked = String(err.message || "").split(": ").pop(); // "choose Doneness", "choose at most 2 of Sides"
    if (item && asked.startsWith("choose ")) return `C${asked.slice(1)} for ${item.name}.`;
  }
  if (err && err.code === "OUT_OF_STOCK" && item && Number.isInteger(details.available)) return `Only ${details.available} left of ${item.name}.`;
  return explain(err);
}

function refused(err, orderId) {
  if (err.code === "VERSION_CONFLICT") {
    const current = err.frame && err.frame.details && err.frame.details.current;
    if (current) putOrder(current, true);
    else if (orderId) fetchOrder(orderId);
  }
  toast(say(err), "error", err.code || null);
}

// Send one command; the answer's order or table is applied. Resolves { result } or { error }.
async function send(type, data, orderId = null) {
  try {
    const ack = await hub.act(type, data);
    absorb(ack.result);
    return { result: ack.result || {} };
  } catch (err) {
    refused(err, orderId);
    return { error: err };
  } finally {
    render();
  }
}

// An order command, after the ones before it: `build(order)` makes { type, data } from the order
// as the last answer left it (or null: nothing to do); its `version` goes with it.
function orderStep(orderId, build, versioned = true) {
  const step = queue.then(() => {
    const order = orders.get(orderId);
    const cmd = order ? build(order) : null;
    if (!cmd) return { result: null };
    const data = { order_id: orderId, ...cmd.data };
    if (versioned) data.version = order.version;
    return send(cmd.type, data, orderId);
  });
  queue = step.catch(() => {});
  return step;
}

function unsent(line) {
  return Math.max(line.quantity - (line.sent || 0), 0);
}

function lineStatus(order, line) {
  if (unsent(line) > 0) return (order.held_courses || []).includes(line.course) ? "HELD" : "NOT_SENT";
  return line.status;
}

function toFire(order) {
  const held = new Set(order.held_courses || []);
  return (order.items || []).reduce((n, line) => n + (held.has(line.course) ? 0 : unsent(line)), 0);
}

function quickAdd(item) {
  const course = item.default_course || 1;
  orderStep(view.order, (order) => {
    // The same plain item, not sent yet, in the same course at today's price: one more of it.
    const same = (order.items || []).find(
      (l) => l.menu_item_id === item.id && !l.sent && !l.notes && !(l.modifiers || []).length && l.course === course && l.unit_price === item.price,
    );
    if (same) return { type: "order.change_item", data: { line_id: same.id, quantity: same.quantity + 1 } };
    return { type: "order.add_item", data: { menu_item_id: item.id, quantity: 1, course } };
  });
}

// One more (+1), one less (-1) or none (null: remove): counted from the line as the last answer left
// it, so quick taps add up; going below what the kitchen has is confirmed first (a VOID is sent).
function changeQuantity(order, line, delta) {
  const step = () =>
    orderStep(order.id, (o) => {
      const now = (o.items || []).find((l) => l.id === line.id);
      if (!now) return null;
      const quantity = delta === null ? 0 : now.quantity + delta;
      if (quantity < 1) return { type: "order.remove_item", data: { line_id: line.id } };
      return { type: "order.change_item", data: { line_id: line.id, quantity } };
    });
  const after = delta === null ? 0 : line.quantity + delta;
  const sent = line.sent || 0;
  if (after < sent) {
    confirmAsk(`Void ${sent - after}× ${line.name}?`, "The kitchen already has it: it gets told to stop making it.", "VOID", step);
  } else step();
}

async function fire(order, course = null) {
  if (firing) return;
  firing = true;
  render();
  try {
    const { result } = await orderStep(order.id, () => ({ type: "order.fire", data: course ? { course } : {} }));
    if (result && result.order) toast(course ? `Course ${course} sent to the kitchen` : "Sent to the kitchen", "info");
  } finally {
    firing = false;
    render();
  }
}

function hold(order, course) {
  orderStep(order.id, () => ({ type: "order.hold", data: { course } })).then(({ result }) => {
    if (result && result.order) toast(`Course ${course} held: fire it when the guests are ready`, "info");
  });
}

function billRequested(order) {
  const table = order.table_id ? tables.get(order.table_id) : null;
  if (table && table.order_id === order.id) return table.status === "BILL_REQUESTED";
  return Boolean(order.bill_lock && order.bill_lock.until > hub.now());
}

async function toggleBill(order) {
  const release = billRequested(order);
  const { result } = await send(release ? "bill.release" : "bill.request", { order_id: order.id }, order.id);
  if (result) toast(release ? "Bill released: the order can change again" : "Bill requested: the order is locked while it is paid", "info");
}

// -- views ----------------------------------------------------------------------------------------

function fromHash() {
  const m = /^#order=(.+)$/.exec(window.location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

// Open an order (or the floor: null). Opening pushes a history entry, so the phone's back goes to the floor.
function go(id, replace = false) {
  if (id === view.order) return render();
  const url = window.location.pathname + window.location.search + (id ? `#order=${encodeURIComponent(id)}` : "");
  if (id && !replace) history.pushState({ pos: true }, "", url);
  else if (!id && history.state && history.state.pos) return history.back(); // popstate shows the floor
  else history.replaceState(null, "", url);
  show(id);
}

function show(id) {
  view = { order: id };
  search = "";
  $("menu-search").value = "";
  if (id && !orders.has(id) && loaded) fetchOrder(id);
  render();
  window.scrollTo(0, 0);
}

function where(order) {
  if (order.type === "DINE_IN") {
    const table = tables.get(order.table_id);
    return table ? table.name : order.table_id || "Table";
  }
  const who = order.customer_name ? ` · ${order.customer_name}` : "";
  return `${order.type === "DELIVERY" ? "Delivery" : "Takeaway"}${order.token ? ` token ${order.token}` : ""}${who}`;
}

// -- predicted ready times ------------------------------------------------------------------------

const readyAt = (order) => estimates.readyAt(order);
const estimate = (order, cls, form = "full", id = null) => estimates.element(order, cls, form, id);

// Redraw `el` only when `key` changed: a tap landing while an unrelated event arrives is not lost.
function keyed(el, key, build) {
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  el.replaceChildren(...build().filter(Boolean));
}

function render() {
  if (!hub) return;
  const order = view.order ? orders.get(view.order) : null;
  document.body.dataset.view = view.order ? "order" : "floor";
  $("floor").hidden = Boolean(view.order);
  $("order-view").hidden = !view.order;
  $("back").hidden = !view.order;
  $("title").textContent = order ? where(order) : view.order ? "ORDER" : "ORDERS";
  if (view.order) renderOrder(order);
  else renderFloor();
  renderReady();
}

// -- the floor ------------------------------------------------------------------------------------

function floorAreas() {
  const list = [...areas];
  const known = new Set(list.map((a) => a.id));
  if ([...tables.values()].some((t) => !known.has(t.area))) list.push({ id: "", name: list.length ? "Other" : "Tables" });
  return list;
}

function tableButton(table) {
  const order = table.order_id ? orders.get(table.order_id) : null;
  const isReady = order && order.status === "READY";
  const info = order ? `#${order.number}${order.guests ? ` · ${order.guests}p` : ""}` : table.status === "FREE" ? `${table.seats} seats` : "";
  return h(
    "button",
    {
      type: "button",
      class: `table st-${table.status}${isReady ? " is-ready" : ""}`,
      style: `--x: ${table.x / 1000}; --y: ${table.y / 1000}`,
      dataset: { tableId: table.id, status: table.status, orderId: table.order_id },
      "aria-label": `${table.name}: ${TABLE_WORD[table.status] || table.status}${order ? `, order ${order.number}, ${order.guests || "?"} guests` : ""}${isReady ? ", ready" : ""}${readyAt(order) ? `, ready about ${hhmm(readyAt(order))}` : ""}`,
      onclick: () => tapTable(table.id),
    },
    h("span", { class: "t-name" }, table.name),
    h("span", { class: "t-status" }, isReady ? "READY" : TABLE_WORD[table.status] || table.status),
    info ? h("span", { class: "t-info" }, info) : null,
    estimate(order, "t-eta", "short"),
  );
}

function counterButton(order) {
  return h(
    "button",
    { type: "button", class: `togo${order.status === "READY" ? " is-ready" : ""}`, dataset: { orderId: order.id, type: order.type }, onclick: () => go(order.id) },
    h("span", { class: "num" }, `#${order.number}`),
    h("span", { class: "kind" }, TYPE_WORD[order.type] || order.type),
    order.token ? h("span", { class: "badge station" }, `TOKEN ${order.token}`) : null,
    order.customer_name ? h("span", { class: "who" }, order.customer_name) : null,
    order.status === "READY" ? h("span", { class: "badge ready" }, "READY") : !order.fired_at ? h("span", { class: "badge active" }, "NOT SENT") : null,
    estimate(order, "tg-eta"),
  );
}

function renderFloor() {
  const list = floorAreas();
  if (!list.some((a) => a.id === area)) area = list.length ? list[0].id : null;
  const known = new Set(areas.map((a) => a.id));
  const inArea = (t) => (known.has(t.area) ? t.area : "") === area;
  keyed($("areas"), JSON.stringify([list, area]), () =>
    list.length > 1
      ? list.map((a) =>
          h("button", { type: "button", class: "area-tab", dataset: { area: a.id }, "aria-pressed": String(a.id === area), onclick: () => ((area = a.id), render()) }, a.name),
        )
      : [],
  );
  const shown = [...tables.values()].filter(inArea).sort((a, b) => a.y - b.y || a.x - b.x || byName(a, b));
  const key = JSON.stringify([area, shown, shown.map((t) => t.order_id && orders.get(t.order_id)).map((o) => o && [o.number, o.guests, o.status, readyAt(o)])]);
  keyed($("plan"), key, () => (shown.length ? shown.map(tableButton) : [h("p", { class: "empty" }, loaded ? "No tables here" : "Loading the floor…")]));
  const counter = [...orders.values()].filter((o) => o.type !== "DINE_IN").sort((a, b) => a.created_at - b.created_at || a.number - b.number);
  keyed($("to-go"), JSON.stringify(counter.map((o) => [o.id, o.number, o.status, o.token, o.customer_name, o.fired_at, readyAt(o)])), () =>
    counter.length ? counter.map(counterButton) : [h("p", { class: "empty" }, "No takeaway or delivery orders open")],
  );
}

function tapTable(id) {
  const table = tables.get(id);
  if (!table) return;
  if (table.order_id) return go(table.order_id);
  if (table.status === "DIRTY") {
    return confirmAsk(`${table.name} needs cleaning`, "Clear and reset it, then mark it clean to seat new guests.", "MARK CLEAN", () =>
      send("table.clean", { table_id: id }).then(({ result }) => result && toast(`${table.name} is free`, "info")),
    );
  }
  askGuests(table);
}

// -- the order ------------------------------------------------------------------------------------

function renderOrder(order) {
  if (!order) {
    keyed($("o-head"), "none", () => [h("p", { class: "empty" }, loaded ? "Loading the order…" : "Connecting…")]);
    for (const id of ["o-lines", "o-actions", "o-notes"]) {
      $(id).replaceChildren();
      delete $(id).dataset.key;
    }
    $("o-total").textContent = "—";
    $("o-eta").hidden = true;
    $("fire").disabled = true;
    renderMenu(null);
    return;
  }
  const locked = billRequested(order);
  keyed($("o-head"), JSON.stringify([order.number, where(order), order.guests, order.status, order.rush, locked, order.payment_status]), () => [
    h("span", { class: "num" }, `#${order.number}`),
    h("span", { class: "where" }, where(order)),
    order.guests ? h("span", { class: "who" }, `${order.guests} guests`) : null,
    order.status === "READY" ? h("span", { class: "badge ready" }, "READY") : null,
    order.rush ? h("span", { class: "badge rush" }, "RUSH") : null,
    locked ? h("span", { class: "badge locked" }, "BILL REQUESTED") : null,
    order.payment_status === "PAID" ? h("span", { class: "badge paid" }, "PAID") : null,
  ]);
  keyed($("o-notes"), JSON.stringify([order.id, order.notes || []]), () =>
    (order.notes || []).map((n) => h("li", { class: n.internal ? "" : "public" }, n.internal ? "" : h("b", {}, "guest: "), n.text)),
  );
  keyed($("o-lines"), JSON.stringify([order.id, order.version, order.items, order.held_courses, currency]), () => lineGroups(order));
  keyed($("o-actions"), JSON.stringify([order.id, order.type, order.rush, locked]), () => actions(order));
  const total = (order.items || []).reduce((sum, line) => sum + line.unit_price * line.quantity, 0);
  const totalEl = $("o-total");
  totalEl.textContent = money(total);
  totalEl.dataset.minor = String(total);
  const eta = $("o-eta");
  const at = readyAt(order);
  eta.hidden = at === undefined;
  if (at === undefined) delete eta.dataset.readyAt;
  else {
    eta.dataset.readyAt = String(at);
    estimates.paint(eta);
  }
  const count = toFire(order);
  const button = $("fire");
  button.disabled = count === 0 || firing;
  button.textContent = count ? `FIRE ${count}` : "FIRE";
  button.title = count ? "" : (order.held_courses || []).length ? `Only held courses left: fire them from their course` : "Nothing new to send";
  renderMenu(order);
}

function lineGroups(order) {
  const items = order.items || [];
  if (!items.length) return [h("p", { class: "empty" }, "Nothing on this order yet: tap the menu")];
  const held = new Set(order.held_courses || []);
  const courses = [...new Set([...items.map((l) => l.course), ...held])].sort((a, b) => a - b);
  return courses.map((course) => {
    const lines = items.filter((l) => l.course === course);
    const waiting = lines.some((l) => unsent(l) > 0);
    return h(
      "section",
      { class: `course${held.has(course) ? " held" : ""}`, dataset: { course: String(course) } },
      h(
        "header",
        { class: "c-head" },
        h("span", { class: "c-name" }, `COURSE ${course}`),
        held.has(course) ? h("span", { class: "badge held" }, "HELD") : null,
        h("span", { class: "spacer" }),
        waiting && !held.has(course) ? h("button", { type: "button", class: "c-hold", onclick: () => hold(order, course) }, "HOLD") : null,
        waiting ? h("button", { type: "button", class: "c-fire", onclick: () => fire(order, course) }, `FIRE C${course}`) : null,
      ),
      h("ul", { class: "lines" }, ...lines.map((line) => lineRow(order, line))),
    );
  });
}

function lineRow(order, line) {
  const status = lineStatus(order, line);
  const mods = (line.modifiers || []).map((m) => m.name).join(", ");
  const left = unsent(line);
  const total = line.unit_price * line.quantity;
  return h(
    "li",
    { class: `o-line s-${status}`, dataset: { lineId: line.id, status, menuItemId: line.menu_item_id } },
    h(
      "div",
      { class: "l-main" },
      h("span", { class: "l-name" }, line.name),
      h("b", { class: "l-total", dataset: { minor: String(total), unit: String(line.unit_price) } }, money(total)),
    ),
    mods ? h("div", { class: "l-mods" }, mods) : null,
    line.notes ? h("div", { class: "l-note" }, `“${line.notes}”`) : null,
    h(
      "div",
      { class: "l-foot" },
      h("button", { type: "button", class: "step minus", "aria-label": `one ${line.name} less`, onclick: () => changeQuantity(order, line, -1) }, "−"),
      h("span", { class: "l-qty", "aria-label": "quantity" }, String(line.quantity)),
      h("button", { type: "button", class: "step plus", "aria-label": `one more ${line.name}`, onclick: () => changeQuantity(order, line, 1) }, "+"),
      h("span", { class: "l-status" }, left && line.sent ? `${left} ${STATUS_WORD[status]} · ${STATUS_WORD[line.status] || line.status}` : STATUS_WORD[status] || status),
      line.status === "DONE" && !left
        ? h("button", { type: "button", class: "serve", onclick: () => send("item.serve", { order_id: order.id, line_id: line.id }, order.id) }, "SERVED")
        : null,
      h("button", { type: "button", class: "remove", "aria-label": `remove ${line.name}`, onclick: () => changeQuantity(order, line, null) }, "✕"),
    ),
  );
}

function actions(order) {
  const dineIn = order.type === "DINE_IN";
  const button = (cls, text, onclick) => h("button", { type: "button", class: cls, onclick }, text);
  const now = () => orders.get(order.id) || order;
  return [
    button("a-rush", order.rush ? "UNRUSH" : "RUSH", () => send("order.rush", { order_id: order.id, rush: !now().rush }, order.id)),
    button("a-note", "NOTE", () => askNote(now())),
    dineIn ? button("a-move", "MOVE", () => askMove(now())) : null,
    dineIn ? button("a-merge", "MERGE", () => askMerge(now())) : null,
    button("a-bill", billRequested(order) ? "RELEASE BILL" : "BILL", () => toggleBill(now())),
  ];
}

// -- the menu -------------------------------------------------------------------------------------

function categories() {
  const used = new Set([...menu.items.values()].map((i) => i.category));
  const list = menu.categories.filter((c) => used.has(c.id));
  const known = new Set(list.map((c) => c.id));
  if ([...used].some((c) => !known.has(c))) list.push({ id: "", name: "Other" });
  return list;
}

function renderMenu(order) {
  const cats = categories();
  if (!cats.some((c) => c.id === category)) category = cats.length ? cats[0].id : null;
  const known = new Set(menu.categories.map((c) => c.id));
  const needle = search.trim().toLowerCase();
  keyed($("cats"), JSON.stringify([menuRev, category, Boolean(needle)]), () =>
    cats.map((c) =>
      h(
        "button",
        { type: "button", class: "cat", dataset: { category: c.id }, "aria-pressed": String(!needle && c.id === category), onclick: () => pickCategory(c.id) },
        c.name,
      ),
    ),
  );
  const items = [...menu.items.values()].filter((i) => (needle ? i.name.toLowerCase().includes(needle) : (known.has(i.category) ? i.category : "") === category));
  const counts = {};
  for (const line of (order && order.items) || []) counts[line.menu_item_id] = (counts[line.menu_item_id] || 0) + line.quantity;
  keyed($("menu-items"), JSON.stringify([menuRev, category, needle, counts, currency, Boolean(order)]), () =>
    items.length ? items.map((item) => menuRow(item, counts[item.id] || 0, order)) : [h("li", { class: "empty" }, needle ? `Nothing called “${search.trim()}”` : "No items")],
  );
}

function pickCategory(id) {
  category = id;
  search = "";
  $("menu-search").value = "";
  render();
}

function menuRow(item, count, order) {
  const can = item.sellable !== false && Boolean(order);
  const choices = (item.modifiers || []).length > 0;
  const why = item.sellable === false ? (item.out || item.remaining === 0 ? "86'd" : "not available") : "";
  return h(
    "li",
    { class: `mi-row${item.sellable === false ? " out" : ""}`, dataset: { itemId: item.id } },
    h(
      "button",
      {
        type: "button",
        class: "mi",
        dataset: { itemId: item.id, sellable: String(item.sellable !== false) },
        disabled: !can,
        "aria-label": `${item.name}, ${money(item.price)}${why ? `, ${why}` : ""}${choices ? ", choose options" : ""}`,
        onclick: () => (choices ? openSheet(item) : quickAdd(item)),
      },
      h("span", { class: "mi-name" }, item.name),
      h(
        "span",
        { class: "mi-sub" },
        h("span", { class: "mi-price", dataset: { minor: String(item.price) } }, money(item.price)),
        why ? h("span", { class: "badge void" }, why.toUpperCase()) : null,
        !why && Number.isInteger(item.remaining) ? h("span", { class: "mi-left" }, `${item.remaining} left`) : null,
        choices && !why ? h("span", { class: "mi-choose" }, "options ›") : null,
      ),
      count ? h("span", { class: "mi-count", "aria-label": `${count} on the order` }, String(count)) : null,
    ),
    !choices && can ? h("button", { type: "button", class: "mi-more", "aria-label": `${item.name} with a note or course`, onclick: () => openSheet(item) }, "…") : null,
  );
}

// -- dialogs ----------------------------------------------------------------------------------------

function dialogShow(dialog, ...content) {
  dialog.replaceChildren(...content.filter(Boolean));
  if (!dialog.open) dialog.showModal();
}

function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

function footer(dialog, label, cls = "go") {
  const ok = h("button", { type: "submit", class: cls, id: `${dialog.id}-ok` }, label);
  return [h("div", { class: "d-foot" }, h("button", { type: "button", class: "cancel", onclick: () => closeDialog(dialog) }, "CANCEL"), ok), ok];
}

function stepper(id, value, min, max, onchange, label) {
  const out = h("output", { id, class: "s-value", "aria-live": "polite" }, String(value));
  const set = (v) => {
    value = Math.min(max, Math.max(min, v));
    out.textContent = String(value);
    onchange(value);
  };
  return h(
    "div",
    { class: "stepper", role: "group", "aria-label": label },
    h("button", { type: "button", class: "step minus", "aria-label": `${label}: less`, onclick: () => set(value - 1) }, "−"),
    out,
    h("button", { type: "button", class: "step plus", "aria-label": `${label}: more`, onclick: () => set(value + 1) }, "+"),
  );
}

function confirmAsk(title, text, label, then) {
  const dialog = $("ask");
  const [foot] = footer(dialog, label, "danger");
  const form = h("form", { onsubmit: (e) => (e.preventDefault(), closeDialog(dialog), then()) }, h("h2", { id: "ask-title" }, title), h("p", {}, text), foot);
  dialogShow(dialog, form);
}

function askGuests(table) {
  const dialog = $("ask");
  let guests = 2;
  const [foot, ok] = footer(dialog, `OPEN ${table.name.toUpperCase()}`);
  const form = h(
    "form",
    {
      class: "guests",
      onsubmit: async (e) => {
        e.preventDefault();
        ok.disabled = true;
        const { result } = await send("order.open", { type: "DINE_IN", table_id: table.id, guests });
        closeDialog(dialog);
        if (result && result.order) go(result.order.id);
      },
    },
    h("h2", { id: "ask-title" }, `${table.name} — guests`),
    stepper("guests", guests, 1, 500, (v) => (guests = v), "guests"),
    foot,
  );
  dialogShow(dialog, form);
  ok.focus();
}

function askNote(order) {
  const dialog = $("ask");
  const text = h("textarea", { id: "note-text", maxlength: "500", rows: "3", "aria-label": "note to the kitchen", placeholder: "e.g. allergy: nuts; birthday — dessert with a candle" });
  const guest = h("input", { type: "checkbox", id: "note-guest" });
  const msg = h("p", { class: "d-msg", role: "alert" });
  const [foot] = footer(dialog, "ADD NOTE");
  const form = h(
    "form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        if (!text.value.trim()) return (msg.textContent = "Write the note first.");
        const { result, error } = await send("order.note", { order_id: order.id, text: text.value.trim(), internal: !guest.checked }, order.id);
        if (result) closeDialog(dialog);
        else msg.textContent = say(error);
      },
    },
    h("h2", { id: "ask-title" }, `Note on order #${order.number}`),
    text,
    h("label", { class: "check" }, guest, " The guest may see it (receipt)"),
    msg,
    foot,
  );
  dialogShow(dialog, form);
  text.focus();
}

function pickTable(title, text, candidates, label, then) {
  const dialog = $("ask");
  const list = candidates.length
    ? h("div", { class: "pick" }, ...candidates.map((t) => h("button", { type: "button", class: `table st-${t.status}`, dataset: { tableId: t.id }, onclick: () => (closeDialog(dialog), then(t)) }, label(t))))
    : h("p", { class: "empty" }, "No table to choose");
  const form = h("form", { method: "dialog" }, h("h2", { id: "ask-title" }, title), h("p", {}, text), list, footer(dialog, "")[0]);
  form.querySelector(".d-foot .go").remove();
  dialogShow(dialog, form);
}

function askMove(order) {
  const free = [...tables.values()].filter((t) => t.status === "FREE").sort(byName);
  pickTable(`Move order #${order.number}`, `From ${where(order)} to a free table:`, free, (t) => t.name, (t) =>
    orderStep(order.id, () => ({ type: "order.move", data: { table_id: t.id } })).then(({ result }) => result && result.order && toast(`Moved to ${t.name}`, "info")),
  );
}

function askMerge(order) {
  const others = [...tables.values()].filter((t) => t.order_id && t.order_id !== order.id && orders.has(t.order_id) && t.id !== order.table_id).sort(byName);
  pickTable(`Merge into order #${order.number}`, `The order at the table you choose joins this one (${where(order)}):`, others, (t) => `${t.name} · #${orders.get(t.order_id).number}`, (t) =>
    send("table.merge", { from_table_id: t.id, into_table_id: order.table_id }, order.id).then(({ result }) => result && result.order && toast(`${t.name} joined order #${result.order.number}`, "info")),
  );
}

// Takeaway or delivery: the phone first, the customer looked up in the book, then the order.
function askCustomer(type) {
  const dialog = $("ask");
  const delivery = type === "DELIVERY";
  let found = null; // the customer the phone matched
  const phone = h("input", { id: "cust-phone", type: "tel", inputmode: "tel", autocomplete: "off", maxlength: "32", placeholder: "98450 12345", "aria-label": "phone number" });
  const name = h("input", { id: "cust-name", type: "text", autocomplete: "off", maxlength: "120", "aria-label": "customer name" });
  const address = h("textarea", { id: "cust-address", rows: "2", maxlength: "300", "aria-label": "delivery address" });
  const saved = h("div", { class: "saved-addresses", id: "cust-addresses" });
  const promise = h(
    "select",
    { id: "cust-promise", "aria-label": "promised delivery time" },
    ...[30, 45, 60, 90].map((m) => h("option", { value: String(m), selected: m === 45 }, `${m} min`)),
  );
  const save = h("input", { type: "checkbox", id: "cust-save" });
  const saveLabel = h("label", { class: "check", id: "cust-save-label", hidden: true }, save, h("span", {}, " Save in the customer book"));
  const said = h("p", { class: "d-said", id: "cust-found", role: "status" });
  const msg = h("p", { class: "d-msg", role: "alert" });
  const changed = () => {
    const typedAddress = address.value.trim();
    const isNew = !found && digits(phone.value).length >= 3 && name.value.trim();
    const differs = found && (name.value.trim() !== found.name || (typedAddress && !found.addresses.some((a) => a.line === typedAddress)));
    saveLabel.hidden = !(isNew || differs);
    saveLabel.lastChild.textContent = found ? " Update the customer book" : " Save in the customer book";
  };
  const lookup = async () => {
    const number = digits(phone.value);
    if (number.length < 3) return (said.textContent = "Type the phone number first.");
    said.textContent = "Looking up…";
    try {
      const { status, customers } = await findCustomer(number);
      if (status !== 200) {
        said.textContent = status === 503 ? "The customer book cannot be reached: type the details." : `Not looked up (the hub answered ${status}): type the details.`;
        return;
      }
      found = customers[0] || null;
      if (found) {
        said.textContent = `Found: ${found.name}`;
        name.value = found.name;
        const lines = (found.addresses || []).map((a) => a.line);
        if (lines.length) address.value = lines[0];
        saved.replaceChildren(
          ...(found.addresses || []).map((a) => h("button", { type: "button", class: "chip", onclick: () => ((address.value = a.line), changed()) }, a.label ? `${a.label}: ${a.line}` : a.line)),
        );
        save.checked = false;
      } else {
        said.textContent = "New customer: type the name to save it.";
        saved.replaceChildren();
        save.checked = true;
      }
      changed();
      name.focus();
    } catch {
      said.textContent = "The hub did not answer: type the details.";
    }
  };
  phone.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      lookup();
    }
  });
  phone.addEventListener("input", () => {
    found = null;
    said.textContent = "";
    changed();
  });
  name.addEventListener("input", changed);
  address.addEventListener("input", changed);
  const [foot, ok] = footer(dialog, delivery ? "OPEN DELIVERY" : "OPEN TAKEAWAY");
  const submit = async (e) => {
    e.preventDefault();
    const number = digits(phone.value);
    const typedAddress = address.value.trim();
    const who = name.value.trim();
    if (delivery && (number.length < 3 || !typedAddress)) return (msg.textContent = "A delivery needs the phone number and the address.");
    if (phone.value.trim() && number.length < 3) return (msg.textContent = "That phone number is too short.");
    ok.disabled = true;
    msg.textContent = "";
    if (!saveLabel.hidden && save.checked && number && who) {
      const problem = await saveCustomer(found, who, phone.value.trim(), typedAddress);
      if (problem) toast(problem); // shown once the order opens; the order matters more than the book
    }
    const data = { type };
    if (number) data.phone = phone.value.trim();
    if (who) data.customer_name = who;
    if (typedAddress && delivery) {
      data.address = typedAddress;
      const known = found && (found.addresses || []).find((a) => a.line === typedAddress && a.location);
      if (known) data.location = known.location; // the customer book's place: the dispatch map and ETAs
      data.promised_at = Date.now() + Number(promise.value) * 60_000;
    }
    const { result, error } = await send("order.open", data);
    ok.disabled = false;
    if (!result || !result.order) return (msg.textContent = error ? say(error) : "");
    closeDialog(dialog);
    go(result.order.id);
  };
  const form = h(
    "form",
    { class: "customer", onsubmit: submit },
    h("h2", { id: "ask-title" }, delivery ? "New delivery" : "New takeaway"),
    h("label", { for: "cust-phone" }, "Phone"),
    h("div", { class: "row" }, phone, h("button", { type: "button", id: "cust-find", class: "find", onclick: lookup }, "FIND")),
    said,
    h("label", { for: "cust-name" }, "Name"),
    name,
    delivery ? h("label", { for: "cust-address" }, "Address") : null,
    delivery ? address : null,
    delivery ? h("label", { for: "cust-promise" }, "Promised in") : null,
    delivery ? promise : null,
    delivery ? saved : null,
    saveLabel,
    msg,
    foot,
  );
  dialogShow(dialog, form);
  phone.focus();
}

// The customer book's entries for a phone number: its exact digits, else a number saved with a
// country code ("+91 98450 12345" for "98450 12345"), or saved without one.
async function findCustomer(number) {
  const read = async (query) => {
    const res = await authorized(`/api/v1/customers?${query}`);
    return { status: res.status, customers: res.ok ? (await res.json()).customers || [] : [] };
  };
  const exact = await read(`phone=${encodeURIComponent(number)}`);
  if (exact.status !== 200 || exact.customers.length || number.length < 6) return exact;
  const near = await read(`q=${encodeURIComponent(number)}`);
  const same = (phone) => phone.endsWith(number) || number.endsWith(phone);
  return { status: near.status, customers: near.customers.filter((c) => (c.phones || []).some(same)) };
}

// Resolves to what went wrong, in words ("" when saved): the order opens either way.
async function saveCustomer(found, name, phone, address) {
  const data = found
    ? {
        customer_id: found.id,
        version: found.version,
        name,
        phones: found.phones,
        addresses: address && !found.addresses.some((a) => a.line === address) ? [...found.addresses, { label: "", line: address, notes: "" }] : found.addresses,
        notes: found.notes || "",
      }
    : { name, phones: [phone], addresses: address ? [{ label: "", line: address, notes: "" }] : [] };
  const { result, error } = await send("customer.put", data);
  if (result) toast(found ? `${name}: customer book updated` : `${name} saved in the customer book`, "info");
  return error ? `Not saved in the customer book: ${say(error)}` : "";
}

// The item sheet: modifier groups, quantity, note, course; "Add" checks the required choices first.
function openSheet(item) {
  const order = orders.get(view.order);
  if (!order) return;
  const dialog = $("sheet");
  const groups = item.modifiers || [];
  const picks = new Map(groups.map((g) => [g.id, new Set()]));
  let quantity = 1;
  let course = item.default_course || 1;
  const msg = h("p", { class: "d-msg sheet-msg", id: "sheet-msg", role: "alert" });
  const [foot, ok] = footer(dialog, "ADD");
  const price = () => (item.price + groups.reduce((sum, g) => sum + g.options.filter((o) => picks.get(g.id).has(o.id)).reduce((s, o) => s + o.price_delta, 0), 0)) * quantity;
  const showPrice = () => {
    ok.textContent = `ADD · ${money(price())}`;
    ok.dataset.minor = String(price());
  };
  const groupBox = (g) => {
    const one = g.max_choices === 1;
    const box = h(
      "fieldset",
      { class: "mod-group", dataset: { group: g.id, required: String(Boolean(g.required)) } },
      h(
        "legend",
        {},
        g.name,
        g.required ? h("span", { class: "badge req" }, "REQUIRED") : null,
        h("span", { class: "hint" }, one ? "choose 1" : `up to ${g.max_choices}`),
      ),
    );
    const inputs = [];
    const sync = () => {
      const full = !one && picks.get(g.id).size >= g.max_choices;
      for (const input of inputs) input.disabled = full && !input.checked;
      box.classList.toggle("missing", false);
      showPrice();
    };
    for (const o of g.options) {
      const input = h("input", { type: one ? "radio" : "checkbox", name: `mod-${g.id}`, value: o.id, dataset: { option: o.id } });
      input.addEventListener("change", () => {
        const set = picks.get(g.id);
        if (one) set.clear();
        if (input.checked) set.add(o.id);
        else set.delete(o.id);
        msg.textContent = "";
        sync();
      });
      inputs.push(input);
      box.append(h("label", { class: "opt" }, input, h("span", { class: "o-name" }, o.name), o.price_delta ? h("span", { class: "o-delta" }, `${o.price_delta > 0 ? "+" : ""}${money(o.price_delta)}`) : null));
    }
    return box;
  };
  const courses = [...new Set([...COURSES, course])].sort((a, b) => a - b);
  const courseBox = h(
    "div",
    { class: "course-pick", role: "radiogroup", "aria-label": "course" },
    ...courses.map((n) => {
      const input = h("input", { type: "radio", name: "sheet-course", value: String(n), checked: n === course, "aria-label": `course ${n}` });
      input.addEventListener("change", () => input.checked && (course = n));
      return h("label", { class: "seg" }, input, h("span", {}, String(n)));
    }),
  );
  const note = h("input", { type: "text", id: "sheet-note", maxlength: "500", autocomplete: "off", placeholder: "no onions, sauce on the side…", "aria-label": "note for the kitchen" });
  const form = h(
    "form",
    {
      class: "item-sheet",
      dataset: { itemId: item.id },
      onsubmit: async (e) => {
        e.preventDefault();
        const missing = groups.find((g) => g.required && !picks.get(g.id).size);
        if (missing) {
          msg.textContent = `Choose ${missing.name} for ${item.name}.`;
          const box = form.querySelector(`fieldset[data-group="${CSS.escape(missing.id)}"]`);
          box.classList.add("missing");
          box.scrollIntoView({ block: "nearest" });
          box.querySelector("input").focus();
          return;
        }
        const data = { menu_item_id: item.id, quantity, course, notes: note.value.trim() };
        const modifiers = Object.fromEntries(groups.filter((g) => picks.get(g.id).size).map((g) => [g.id, g.options.filter((o) => picks.get(g.id).has(o.id)).map((o) => o.id)]));
        if (Object.keys(modifiers).length) data.modifiers = modifiers;
        ok.disabled = true;
        const { result, error } = await orderStep(order.id, () => ({ type: "order.add_item", data }));
        ok.disabled = false;
        if (result) closeDialog(dialog);
        else if (error) msg.textContent = say(error);
      },
    },
    h("header", { class: "s-head" }, h("h2", { id: "sheet-title" }, item.name), h("span", { class: "s-price" }, money(item.price))),
    h(
      "div",
      { class: "s-body" },
      ...groups.map(groupBox),
      h("label", { class: "s-label", for: "sheet-note" }, "Note"),
      note,
      h(
        "div",
        { class: "s-row" },
        h("div", { class: "s-cell" }, h("span", { class: "s-label" }, "Qty"), stepper("sheet-qty", quantity, 1, 999, (v) => ((quantity = v), showPrice()), "quantity")),
        h("div", { class: "s-cell" }, h("span", { class: "s-label" }, "Course"), courseBox),
      ),
    ),
    msg,
    foot,
  );
  showPrice();
  dialogShow(dialog, form);
}

// -- ready banners --------------------------------------------------------------------------------

function renderReady() {
  keyed($("ready"), JSON.stringify([...ready]), () =>
    [...ready].map(([id, r]) =>
      h(
        "div",
        { class: "ready-banner", dataset: { orderId: id }, role: "alert" },
        h("button", { type: "button", class: "rb-open", onclick: () => go(id) }, `${r.where} — order #${r.number} ready`),
        h("button", { type: "button", class: "rb-ok", "aria-label": `dismiss: order ${r.number} ready`, onclick: () => (ready.delete(id), render()) }, "OK"),
      ),
    ),
  );
}

// -- start ----------------------------------------------------------------------------------------

if (!token) {
  noToken("pos");
} else {
  hub = new Hub(token, {
    channels: (welcome) => {
      checkRole(welcome);
      me = welcome.device || null;
      return ["tables", "menu", "orders", ...(welcome.role === "WAITER" && me ? [`waiter:${me}`] : [])];
    },
    snapshot,
    event,
    applied: render,
    state: (_, conn) => setConnection(conn),
    problem: (message) => toast(message),
  }).start();
  window.fireflow = { hub, tables, orders, menu, ready, predicted, state: () => ({ view, area, category, search, currency, me }) };
  unlockAudioOnFirstTouch();
  $("back").addEventListener("click", () => go(null));
  $("new-takeaway").addEventListener("click", () => askCustomer("TAKEAWAY"));
  $("new-delivery").addEventListener("click", () => askCustomer("DELIVERY"));
  $("fire").addEventListener("click", () => view.order && orders.has(view.order) && fire(orders.get(view.order)));
  $("menu-search").addEventListener("input", (e) => {
    search = e.target.value;
    render();
  });
  window.addEventListener("popstate", () => show(fromHash()));
  setInterval(() => estimates.tick(), 15_000); // the estimates count down
  render();
}
