// Dispatch: /dispatch?token=<DISPATCHER or MANAGER device token>
//
// Left, the delivery orders waiting for a rider (never assigned, or RETURNED to the restaurant):
// number, customer, address, age since ready (or since opened, marked COOKING), and what the rider
// collects (PREPAID; the cash due, from the snapshot's `due` while the order is as it was then, or as the
// hub set it on an assignment; else CASH ON DELIVERY). Tick several: the
// order they are ticked in is the order the rider takes them (the stops). Right, the riders: those
// the `dispatch` snapshot names, those the page has seen orders go to, the RIDER devices of the
// device list when the token may read it (a manager's), and any id typed in the field. Each rider
// shows its orders stop by stop with where each is (ASSIGNED, OUT FOR DELIVERY, DELIVERED, FAILED
// with the reason, RETURNED).
//
// Actions: "Assign N to <rider>" (delivery.assign: one command, one batch, in the ticked order);
// "Move to" another rider for an ASSIGNED order (delivery.assign of that one order); "Back at the
// restaurant" for a FAILED one (delivery.return). A refusal shows the hub's own reason.
//
// Each rider's card shows the cash it holds (rider_cash.js: GET /api/v1/riders, then RIDER_CASH on
// `dispatch`); riders the hub knows of (paired, or holding cash) are listed too.
//
// Suggested batches above the waiting list: dispatch_suggestions.js.
//
// Times: a waiting order shows its promised time (HH:MM) and how long until it, or "LATE by N min";
// an order out for delivery shows its ETA (delivery.eta, moved by DELIVERY_ETA) and, once
// delivery.late_at is set or DELIVERY_LATE came, LATE in words with the alert's message.
//
// The map (dispatch_map.js) sits in the right column above the riders: the restaurant (the
// snapshot's `origin`), the open orders' pins and the riders' dots, moved by `positions` frames.
// "Hide map" folds it away (remembered in this browser) when many riders need the room.
//
// Channels: `menu` (only for the currency) and `dispatch` (every open DELIVERY order, each rider's held orders, the hub's clock; then the
// order events of delivery orders and the DELIVERY_* events). Delivered orders stay under their rider
// for this session; a snapshot after a long gap starts from the hub's view again.

import { Hub } from "./fireflow.js";
import { formatMoney } from "./money.js";
import { DispatchMap, pinsOf } from "./dispatch_map.js";
import { Suggestions } from "./dispatch_suggestions.js";
import { RiderCash } from "./rider_cash.js";
import { block, clock, deviceToken, h, hhmm, noToken, reportFailure, setConnection, toast } from "./ui.js";

const ROLES = new Set(["DISPATCHER", "MANAGER", "OWNER"]);
const OPEN = new Set(["ACTIVE", "READY"]);
const STATE_LABEL = {
  ASSIGNED: "ASSIGNED",
  OUT_FOR_DELIVERY: "OUT FOR DELIVERY",
  DELIVERED: "DELIVERED",
  FAILED: "FAILED",
  RETURNED: "RETURNED",
};

const token = deviceToken("dispatch");
const orders = new Map(); // order id -> Order (delivery orders: open ones, and delivered ones seen here)
const riders = new Map(); // rider id -> order ids in stop order (as last known)
const extraRiders = new Set(); // riders typed in, or from the device list
let checked = []; // ticked order ids, in the order ticked
const busy = new Set(); // what is being sent: "assign:<rider>", "move:<order>", "return:<order>"
let currency = "INR";
let hub = null;
const riderCash = new RiderCash({ token, hub: () => hub, changed: () => render() });
const lateSaid = new Map(); // order id -> the DELIVERY_LATE alert's message
const map = new DispatchMap(document.getElementById("map"), { now: () => (hub ? hub.now() : Date.now()) });
const suggestions = new Suggestions({
  token,
  orders,
  riders,
  waiting,
  busy,
  send,
  assigned: (ids) => (checked = checked.filter((id) => !ids.includes(id))),
  changed: () => render(),
});

const money = (minor) => formatMoney(minor, currency);
const byNumber = (a, b) => a.number - b.number;

// -- state from the hub ------------------------------------------------------------------------

function waiting(order) {
  return OPEN.has(order.status) && (!order.delivery || order.delivery.status === "RETURNED");
}

function tripOrder(a, b) {
  const x = a.delivery;
  const y = b.delivery;
  return x.assigned_at - y.assigned_at || String(x.batch).localeCompare(String(y.batch)) || x.stop - y.stop;
}

// Put the order under its rider (and only there); a waiting one is under nobody.
function place(order) {
  const trip = order.delivery;
  const rider = trip && trip.status !== "RETURNED" ? trip.rider : null;
  for (const [name, ids] of riders) {
    if (name !== rider && ids.includes(order.id)) riders.set(name, ids.filter((id) => id !== order.id));
  }
  if (rider) {
    const ids = riders.get(rider) || [];
    if (!ids.includes(order.id)) ids.push(order.id);
    riders.set(
      rider,
      ids
        .map((id) => orders.get(id))
        .filter(Boolean)
        .sort(tripOrder)
        .map((o) => o.id),
    );
  }
}

function put(order) {
  if (!order || order.type !== "DELIVERY") return;
  const delivered = order.delivery && order.delivery.status === "DELIVERED";
  if (!OPEN.has(order.status) && !delivered) {
    drop(order.id);
    return;
  }
  orders.set(order.id, order);
  place(order);
  if (!waiting(order)) checked = checked.filter((id) => id !== order.id);
}

function drop(id) {
  orders.delete(id);
  checked = checked.filter((c) => c !== id);
  for (const [name, ids] of riders) riders.set(name, ids.filter((c) => c !== id));
}

function update(id, change) {
  const order = orders.get(id);
  if (order) put({ ...order, ...change(order) });
}

let dueAtSnapshot = new Map(); // order id -> { minor, version }: what a waiting order's rider collects (snapshot)

function snapshot(snapshots) {
  if (snapshots.menu && snapshots.menu.currency) currency = snapshots.menu.currency;
  const view = snapshots.dispatch;
  if (!view) return;
  orders.clear();
  riders.clear();
  dueAtSnapshot = new Map(Object.entries(view.due || {}).map(([id, minor]) => [id, { minor, version: null }]));
  for (const order of view.orders || []) {
    orders.set(order.id, order);
    const due = dueAtSnapshot.get(order.id);
    if (due) due.version = order.version;
  }
  for (const { rider, order_ids: ids } of view.riders || []) riders.set(rider, ids.filter((id) => orders.has(id)));
  for (const order of orders.values()) place(order);
  checked = checked.filter((id) => orders.has(id) && waiting(orders.get(id)));
  map.setOrigin(view.origin);
  map.snapshot(view.positions);
  riderCash.setCurrency(currency);
  riderCash.load();
}

function event(ev) {
  const d = ev.data || {};
  if (ev.type.startsWith("DELIVERY_") && d.order) {
    put(d.order);
    if (ev.type === "DELIVERY_FAILED") toast(`Order #${d.order.number} failed: ${d.order.delivery.reason}`, "error");
    return;
  }
  switch (ev.type) {
    case "RIDER_CASH":
      riderCash.event(ev);
      break;
    case "PROFILE_CHANGED":
      if (d.restaurant && d.restaurant.currency) currency = d.restaurant.currency;
      if (d.restaurant && "location" in d.restaurant) map.setOrigin(d.restaurant.location);
      break;
    case "DELIVERY_ETA":
      update(d.order_id, (o) => ({ delivery: { ...o.delivery, eta: d.eta } }));
      break;
    case "DELIVERY_LATE":
      if (d.alert && d.alert.message) lateSaid.set(d.order_id, d.alert.message);
      update(d.order_id, (o) => ({ delivery: { ...o.delivery, eta: d.eta, late_at: o.delivery?.late_at || ev.ts || hub.now() } }));
      break;
    case "ORDER_READY":
      update(d.order_id, () => ({ status: "READY", ready_at: d.ready_at }));
      break;
    case "ORDER_CANCELLED":
    case "ORDER_PICKED_UP":
      drop(d.order_id);
      break;
    case "PAYMENT_RECORDED":
      for (const id of d.order_ids || []) update(id, () => ({ payment_status: d.status }));
      break;
    case "ORDER_SETTLED":
      for (const id of d.order_ids || []) {
        if (!(d.awaiting_pickup || []).includes(id)) drop(id);
        else update(id, () => ({ payment_status: "PAID", invoice_id: d.invoice_id }));
      }
      break;
    default:
      if (d.order) put(d.order);
  }
}

// -- actions -----------------------------------------------------------------------------------

async function send(key, type, data, done) {
  if (busy.has(key)) return;
  busy.add(key);
  render();
  try {
    await hub.act(type, data);
    done?.();
  } catch (err) {
    reportFailure(err);
  } finally {
    busy.delete(key);
    render();
  }
}

function assignTo(rider) {
  const ids = checked.filter((id) => orders.has(id));
  if (!ids.length) return;
  send(`assign:${rider}`, "delivery.assign", { order_ids: ids, rider }, () => {
    checked = checked.filter((id) => !ids.includes(id));
    toast(`${ids.length === 1 ? "1 order" : `${ids.length} orders`} to ${rider}`, "info");
  });
}

function toggle(id) {
  checked = checked.includes(id) ? checked.filter((c) => c !== id) : [...checked, id];
  render();
}

function addRider(name) {
  const id = String(name || "").trim();
  if (!id) return;
  extraRiders.add(id);
  if (!riders.has(id)) riders.set(id, []);
  render();
}

// -- drawing -----------------------------------------------------------------------------------

function since(order) {
  return order.status === "READY" && order.ready_at ? order.ready_at : order.created_at;
}

function age(order) {
  const cooking = order.status !== "READY";
  return h(
    "span",
    { class: `age${cooking ? " cooking" : ""}`, dataset: { since: String(since(order)) } },
    cooking ? h("span", { class: "badge cooking" }, "COOKING") : null,
    h("b", { class: "clock" }, clock(hub.now() - since(order))),
  );
}

function collect(order) {
  const trip = order.delivery;
  if (trip && trip.status === "DELIVERED" && Number.isInteger(trip.collected) && trip.collected > 0) {
    return h("span", { class: "collect cod", dataset: { minor: String(trip.collected) } }, `COLLECTED ${money(trip.collected)}`);
  }
  if (order.payment_status === "PAID" || (trip && trip.cod === 0)) {
    return h("span", { class: "collect prepaid", dataset: { minor: "0" } }, "PREPAID");
  }
  if (trip && Number.isInteger(trip.cod)) {
    const minor = trip.status === "DELIVERED" ? trip.collected : trip.cod;
    return h("span", { class: "collect cod", dataset: { minor: String(minor) } }, `COLLECT ${money(minor)}`);
  }
  const due = dueAtSnapshot.get(order.id); // the hub's figure for a waiting order, while the order is as it was
  if (due && Number.isInteger(due.minor) && due.minor > 0 && due.version === order.version) {
    return h("span", { class: "collect cod", dataset: { minor: String(due.minor) } }, `COLLECT ${money(due.minor)}`);
  }
  return h("span", { class: "collect cod" }, "CASH ON DELIVERY");
}

function customer(order) {
  return h(
    "span",
    { class: "cust" },
    h("span", { class: "who" }, order.customer_name || order.phone || "—"),
    h("span", { class: "addr" }, order.address || "no address"),
    waiting(order) ? promise(order) : null,
  );
}

// -- promised times and ETAs ------------------------------------------------------------------

function minutes(ms) {
  const m = Math.round(Math.abs(ms) / 60000);
  return m >= 60 ? `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min` : `${m} min`;
}

// "in 12 min", "due now", or "LATE by 3 min" (late: the promised time has passed)
function untilText(promised, now) {
  const left = promised - now;
  if (left >= 60000) return { late: false, text: `in ${minutes(left)}` };
  if (left > -60000) return { late: left < 0, text: left < 0 ? "LATE" : "due now" };
  return { late: true, text: `LATE by ${minutes(left)}` };
}

function promise(order) {
  if (!Number.isFinite(order.promised_at)) return h("span", { class: "promise none" }, "no promised time");
  const { late, text } = untilText(order.promised_at, hub.now());
  return h(
    "span",
    { class: `promise${late ? " late" : ""}`, dataset: { promised: String(order.promised_at) } },
    `promised ${hhmm(order.promised_at)} · `,
    h("b", { class: "until" }, text),
  );
}

function isLate(order) {
  const trip = order.delivery;
  return Boolean(trip && (trip.late_at || lateSaid.has(order.id)));
}

// Under the rider: promised time, and once out for delivery the ETA, LATE and why.
function eta(order) {
  const trip = order.delivery;
  const promised = Number.isFinite(order.promised_at) ? `promised ${hhmm(order.promised_at)}` : "no promised time";
  if (trip.status !== "OUT_FOR_DELIVERY") {
    return trip.status === "ASSIGNED" ? h("span", { class: "eta" }, promised) : null;
  }
  const late = isLate(order);
  const expected = Number.isFinite(trip.eta) ? `ETA ${hhmm(trip.eta)}` : "ETA: waiting for the rider's position";
  const said = lateSaid.get(order.id) || (late ? `ETA ${hhmm(trip.eta)}, promised ${hhmm(order.promised_at)}` : "");
  return h(
    "span",
    { class: `eta${late ? " late" : ""}`, dataset: { eta: Number.isFinite(trip.eta) ? String(trip.eta) : "" } },
    late ? h("span", { class: "badge late" }, "LATE") : null,
    h("b", { class: "eta-at" }, expected),
    ` · ${promised}`,
    late ? h("span", { class: "late-why" }, said) : null,
  );
}

function waitingRow(order) {
  const pick = checked.indexOf(order.id);
  const box = h("input", {
    type: "checkbox",
    class: "pick",
    checked: pick >= 0,
    "aria-label": `pick order ${order.number}`,
    onchange: () => toggle(order.id),
  });
  const returned = order.delivery && order.delivery.status === "RETURNED";
  return h(
    "li",
    { class: `w-order${pick >= 0 ? " checked" : ""}`, dataset: { orderId: order.id, number: String(order.number) } },
    h(
      "label",
      { class: "w-label" },
      box,
      h("span", { class: "stop-pick" }, pick >= 0 ? String(pick + 1) : ""),
      h("span", { class: "num" }, `#${order.number}`),
      customer(order),
      h(
        "span",
        { class: "w-side" },
        returned ? h("span", { class: "badge returned" }, "RETURNED") : null,
        age(order),
        collect(order),
      ),
    ),
  );
}

function riderOrder(order, rider, names, stop) {
  const trip = order.delivery;
  const state = trip.status;
  const actions = [];
  if (state === "ASSIGNED") {
    const others = names.filter((n) => n !== rider);
    if (others.length) {
      const select = h(
        "select",
        {
          class: "move",
          "aria-label": `move order ${order.number} to another rider`,
          disabled: busy.has(`move:${order.id}`),
          onchange: (e) => {
            const to = e.target.value;
            if (to) send(`move:${order.id}`, "delivery.assign", { order_ids: [order.id], rider: to });
          },
        },
        h("option", { value: "" }, "Move to…"),
        others.map((n) => h("option", { value: n }, n)),
      );
      actions.push(select);
    }
  }
  if (state === "FAILED") {
    actions.push(
      h(
        "button",
        {
          class: "back",
          type: "button",
          disabled: busy.has(`return:${order.id}`),
          onclick: () => send(`return:${order.id}`, "delivery.return", { order_id: order.id }),
        },
        "Back at the restaurant",
      ),
    );
  }
  return h(
    "li",
    { class: `r-order st-${state}${isLate(order) ? " late" : ""}`, dataset: { orderId: order.id, state, number: String(order.number) } },
    h("span", { class: "stop" }, String(stop)),
    h("span", { class: "num" }, `#${order.number}`),
    customer(order),
    h(
      "span",
      { class: "r-side" },
      h("span", { class: `state st-${state}` }, STATE_LABEL[state] || state),
      collect(order),
    ),
    eta(order),
    state === "FAILED" && trip.reason ? h("span", { class: "reason" }, `Reason: ${trip.reason}`) : null,
    actions.length ? h("span", { class: "r-actions" }, actions) : null,
  );
}

function riderCard(rider, names) {
  const held = (riders.get(rider) || []).map((id) => orders.get(id)).filter(Boolean);
  const key = `assign:${rider}`;
  const n = checked.length;
  const assign = h(
    "button",
    {
      class: "assign",
      type: "button",
      disabled: !n || busy.has(key),
      dataset: { rider },
      onclick: () => assignTo(rider),
    },
    n ? `Assign ${n} to ${rider}` : `Assign to ${rider}`,
  );
  const out = held.filter((o) => o.delivery.status === "OUT_FOR_DELIVERY").length;
  const status = held.length ? (out ? "ON THE ROAD" : "HAS ORDERS") : "FREE";
  return h(
    "article",
    { class: "rider", dataset: { rider } },
    h(
      "header",
      {},
      h("h3", {}, rider),
      h("span", { class: `r-status s-${status.replace(/ /g, "_")}` }, status),
      riderCash.badge(rider),
      map.badge(rider),
      h("span", { class: "spacer" }),
      assign,
    ),
    held.length
      ? h("ol", { class: "r-orders" }, held.map((o, i) => riderOrder(o, rider, names, i + 1)))
      : h("p", { class: "r-empty" }, "No orders"),
  );
}

function render() {
  if (!hub) return;
  const list = [...orders.values()].filter(waiting).sort((a, b) => since(a) - since(b) || byNumber(a, b));
  const box = document.getElementById("waiting");
  box.replaceChildren(
    ...(list.length ? list.map(waitingRow) : [h("li", { class: "empty" }, "No delivery order is waiting")]),
  );
  const names = [...new Set([...riders.keys(), ...extraRiders, ...riderCash.names()])].sort((a, b) =>
    a.localeCompare(b, undefined, { numeric: true }),
  );
  const ridersBox = document.getElementById("riders");
  ridersBox.replaceChildren(
    ...(names.length ? names.map((r) => riderCard(r, names)) : [h("p", { class: "empty" }, "Type a rider's device id to add one")]),
  );
  const picked = document.getElementById("picked");
  picked.textContent = checked.length
    ? `${checked.length} picked: ${checked.map((id) => `#${orders.get(id)?.number ?? "?"}`).join(" → ")}`
    : "";
  suggestions.render(names);
  map.draw(pinsOf(orders.values(), { isLate, now: hub.now() }));
}

function tick() {
  for (const el of document.querySelectorAll(".age[data-since]")) {
    const text = clock(hub.now() - Number(el.dataset.since));
    const b = el.querySelector(".clock");
    if (b && b.textContent !== text) b.textContent = text;
  }
  for (const el of document.querySelectorAll(".promise[data-promised]")) {
    const { late, text } = untilText(Number(el.dataset.promised), hub.now());
    const b = el.querySelector(".until");
    if (b && b.textContent !== text) b.textContent = text;
    el.classList.toggle("late", late);
  }
  for (const el of document.querySelectorAll(".seen[data-rider]")) map.badge(el.dataset.rider, el);
  map.redraw();
}

// The RIDER devices of the device list, when this token may read it (a manager's; a dispatcher types ids).
async function loadRiders() {
  try {
    const res = await fetch("/api/v1/devices", { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) return;
    const body = await res.json();
    for (const device of body.devices || []) {
      if (device.role === "RIDER" && !device.revoked_at) extraRiders.add(device.id);
    }
    render();
  } catch {
    // no device list: riders are typed in
  }
}

function start() {
  if (!token) {
    noToken("dispatch");
    return;
  }
  document.getElementById("add-rider").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("rider-id");
    addRider(input.value);
    input.value = "";
  });
  hub = new Hub(token, {
    channels: (welcome) => {
      if (!ROLES.has(welcome.role)) {
        const text = `This is a ${String(welcome.role).toLowerCase()} token; the dispatch screen needs a dispatcher's or a manager's token.`;
        block("role", "Wrong token for this screen", text, "Ask a manager for a dispatcher's token (fireflow token --restaurant <id> --role DISPATCHER --device <name>), then open /dispatch?token=<the token>.");
        throw new Error("wrong token for this screen");
      }
      if (welcome.role !== "DISPATCHER") loadRiders();
      return ["dispatch", "menu"]; // the menu only for the currency
    },
    snapshot,
    event,
    applied: render,
    positions: (frame) => map.positions(frame),
    state: (_state, h2) => setConnection(h2),
    problem: (message) => toast(message, "error"),
  });
  window.fireflow = { hub, riderCash, map };
  map.foldable(document.getElementById("map-panel"), document.getElementById("map-toggle"));
  hub.start();
  setInterval(tick, 1000);
}

start();
