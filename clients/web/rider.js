// The rider's phone: /rider?token=<RIDER device token>. Offline first.
//
// The rider's stops in batch order (channel `rider:<device>`): order number, customer, the address
// as a navigation link, the phone as a tel: link, the cash to collect; PICKED UP, DELIVERED (cash
// collected, prefilled to what is due) and FAILED (with a reason).
//
// With no signal nothing is lost and nothing happens twice. A tap gives the action its command id
// at once and writes it to the outbox (IndexedDB) before anything is sent; the page shows it done
// (waiting to send). When the hub is reachable (now, on reconnect, or when the page opens again)
// the outbox is sent in order, one at a time, with the ORIGINAL ids: the hub runs an id once, so a
// copy sent again is answered with the first result. An entry leaves the outbox once the hub acked
// or refused it (a refusal is shown in words). The last snapshot is kept in IndexedDB too, and a
// service worker (/rider-sw.js) keeps the page's shell, so a reload with no signal still shows the
// stops and the actions waiting.
//
// While the rider has something to deliver, the phone's GPS fixes go to dispatch (rider_position.js,
// throttled, never queued offline); the line under the top bar says whether they do. "You hold ₹X":
// the rider's cash as the books hold it, from the RIDER_CASH events on its channel (the last value
// kept with the snapshot, so it shows offline; nothing shown before the first event).

import { Hub, HubError, randomHex } from "./fireflow.js";
import { formatMoney, parseAmount, placesOf, plainAmount } from "./money.js";
import { PositionSharer } from "./rider_position.js";
import { block, deviceToken, h, noToken, setConnection, tokenInfo } from "./ui.js";

const DB_NAME = "fireflow-rider";
const STATE_WORD = { ASSIGNED: "TO PICK UP", OUT_FOR_DELIVERY: "ON THE WAY", DELIVERED: "DELIVERED", FAILED: "FAILED" };
const ACTION_WORD = { "delivery.pickup": "Picked up", "delivery.deliver": "Delivered", "delivery.fail": "Failed" };
const AFTER = { "delivery.pickup": "OUT_FOR_DELIVERY", "delivery.deliver": "DELIVERED", "delivery.fail": "FAILED" };
const REASONS = ["Nobody home", "Wrong address", "Customer refused", "Not reachable by phone"];

const token = deviceToken("rider");
const device = tokenInfo(token)?.device || null;
const orders = new Map(); // order id -> Order, as the hub last told (or the saved snapshot)
let outbox = []; // { n, id, device, type, data, order_id, number, at }: not yet answered, in tap order
const refusals = []; // { id, text }
const adding = new Set(); // order ids whose tap is being written to the outbox
let hub = null;
let db = null;
let flushing = false;
let holds = null; // minor units the rider holds, as the last RIDER_CASH said; null: not told yet
const sharer = new PositionSharer({ hub: () => hub, changed: () => drawWhere() });

const $ = (id) => document.getElementById(id);
let currency = "INR"; // the restaurant's, from the rider's snapshot (a rider reads no menu)
const currencyOf = (order) => order.currency || currency;
const money = (minor, order) => formatMoney(minor, currencyOf(order));

// -- IndexedDB: the outbox and the last snapshot ------------------------------------------------

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function openDb() {
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore("outbox", { keyPath: "n", autoIncrement: true });
    req.result.createObjectStore("snapshots", { keyPath: "device" });
  };
  return request(req);
}

function store(name, mode = "readonly") {
  return db.transaction(name, mode).objectStore(name);
}

async function saveSnapshot() {
  if (!db || !device) return;
  try {
    await request(store("snapshots", "readwrite").put({ device, currency, holds, orders: [...orders.values()], at: Date.now() }));
  } catch (err) {
    console.warn("saving the snapshot", err);
  }
}

// -- state ---------------------------------------------------------------------------------------

function sortKey(order) {
  const d = order.delivery || {};
  return [d.assigned_at || 0, String(d.batch || ""), d.stop || 0];
}

function byStop(a, b) {
  const [x, y] = [sortKey(a), sortKey(b)];
  return x[0] - y[0] || x[1].localeCompare(y[1]) || x[2] - y[2];
}

function putOrder(order) {
  if (!order || !order.id) return;
  const known = orders.get(order.id);
  if (known && known.version > order.version) return;
  const status = order.delivery?.status;
  if (!order.delivery || order.delivery.rider !== device || status === "RETURNED" || order.status === "CANCELLED") {
    orders.delete(order.id);
  } else {
    orders.set(order.id, order);
  }
}

// The order as the rider sees it: the hub's, with the actions still in the outbox applied.
function shown(order) {
  let status = order.delivery?.status;
  const waiting = outbox.filter((e) => e.order_id === order.id);
  for (const entry of waiting) status = AFTER[entry.type];
  return { status, waiting };
}

function snapshot(snapshots) {
  const mine = snapshots[`rider:${device}`];
  if (!mine) return;
  if (mine.currency) currency = mine.currency;
  // Delivered ones this session stay in the list (done); the rest is replaced by the hub's.
  const done = [...orders.values()].filter((o) => o.delivery?.status === "DELIVERED");
  orders.clear();
  for (const order of [...done, ...(mine.orders || [])]) putOrder(order);
}

function event(ev) {
  const data = ev.data || {};
  if (ev.type === "RIDER_CASH") {
    if (data.rider === device && Number.isInteger(data.holds)) holds = data.holds;
  } else if (ev.type === "DELIVERY_UNASSIGNED" || ev.type === "ORDER_CANCELLED") {
    orders.delete(data.order_id);
  } else if (data.order) {
    putOrder(data.order);
  }
}

// -- the outbox ------------------------------------------------------------------------------------

async function act(order, type, data) {
  if (adding.has(order.id)) return;
  adding.add(order.id);
  try {
    const entry = {
      id: `${device}-${randomHex(8)}`, // its command id from the tap on, across reloads
      device,
      type,
      data: { order_id: order.id, ...data },
      order_id: order.id,
      number: order.number,
      at: Date.now(),
    };
    entry.n = await request(store("outbox", "readwrite").add(entry)); // durable before it is sent
    outbox.push(entry);
  } catch (err) {
    refusals.push({ id: randomHex(4), text: `Not saved on this phone (${err.message}): tap ${ACTION_WORD[type]} again.` });
  } finally {
    adding.delete(order.id);
  }
  draw();
  flush();
}

function online() {
  return hub && hub.live && navigator.onLine !== false;
}

// Send the outbox in order, one at a time, each with its own id; stop when the link goes.
async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    while (online() && outbox.length) {
      const entry = outbox[0];
      try {
        const ack = await hub.command(entry.type, entry.data, entry.id);
        putOrder(ack.result?.order);
      } catch (err) {
        if (!(err instanceof HubError) || err.code === "UNAUTHENTICATED") break; // kept for a later try
        refusals.push({ id: entry.id, text: `Order #${entry.number}, ${ACTION_WORD[entry.type]}: not done — ${err.message}` });
      }
      await request(store("outbox", "readwrite").delete(entry.n));
      outbox = outbox.filter((e) => e !== entry);
      draw();
      saveSnapshot();
    }
  } finally {
    flushing = false;
    draw();
  }
}

// -- drawing -------------------------------------------------------------------------------------

function navLink(address) {
  return `https://www.google.com/maps/dir/?api=1&destination=${encodeURIComponent(address)}`;
}

function card(order, index) {
  const { status, waiting } = shown(order);
  const d = order.delivery || {};
  const cod = d.cod || 0;
  const done = status === "DELIVERED" || status === "FAILED";
  const buttons = [];
  if (status === "ASSIGNED") {
    buttons.push(h("button", { type: "button", class: "main pickup", onclick: () => act(order, "delivery.pickup", {}) }, "PICKED UP"));
  } else if (status === "OUT_FOR_DELIVERY") {
    buttons.push(
      h("button", { type: "button", class: "main deliver", onclick: () => askDelivered(order) }, "DELIVERED"),
      h("button", { type: "button", class: "fail", onclick: () => askFailed(order) }, "FAILED"),
    );
  }
  const said = status === "FAILED" ? (waiting.find((e) => e.type === "delivery.fail")?.data.reason ?? d.reason) : null;
  return h(
    "li",
    { class: `stop${done ? " done" : ""}${status === "FAILED" ? " failed" : ""}`, dataset: { orderId: order.id, status } },
    h(
      "div",
      { class: "head" },
      h("span", { class: "n" }, `STOP ${index + 1}`),
      h("span", { class: "num" }, `#${order.number}`),
      waiting.length ? h("span", { class: "waiting" }, "NOT SENT YET") : null,
      h("span", { class: "state", dataset: { status } }, STATE_WORD[status] || status),
    ),
    h(
      "p",
      { class: "who" },
      h("span", { class: "name" }, order.customer_name || "Customer"),
      cod > 0
        ? h("span", { class: "cod", dataset: { minor: cod } }, `${status === "DELIVERED" ? "Collected" : "Collect"} ${money(cod, order)}`)
        : h("span", { class: "cod prepaid", dataset: { minor: 0 } }, "PREPAID"),
    ),
    done
      ? null
      : h(
          "div",
          { class: "links" },
          h("a", { class: "nav", href: navLink(order.address || ""), target: "_blank", rel: "noopener" }, `➜ ${order.address || "no address"}`),
          order.phone ? h("a", { class: "tel", href: `tel:${order.phone}` }, `☎ ${order.phone}`) : null,
        ),
    said ? h("p", { class: "said" }, `Reason: ${said}`) : null,
    buttons.length ? h("div", { class: "acts" }, buttons) : null,
  );
}

function draw() {
  const list = [...orders.values()].sort(byStop);
  const active = list.filter((o) => !["DELIVERED", "FAILED"].includes(shown(o).status));
  const done = list.filter((o) => ["DELIVERED", "FAILED"].includes(shown(o).status));
  $("stops").replaceChildren(...[...active, ...done].map((o) => card(o, list.indexOf(o))));
  $("empty").hidden = list.length > 0;
  sharer.want(active.length > 0); // watch the GPS only while there is something to deliver
  drawWhere();
  const held = $("holds");
  held.hidden = holds === null;
  held.textContent = holds === null ? "" : `You hold ${formatMoney(holds, currency)}`;
  if (holds !== null) held.dataset.minor = String(holds);
  $("refused").replaceChildren(
    ...refusals.map((r) =>
      h("li", { dataset: { id: r.id } }, h("span", {}, r.text), h("button", { type: "button", onclick: () => dismiss(r) }, "OK")),
    ),
  );
  const signal = $("signal");
  const n = outbox.length;
  const actions = `${n} action${n === 1 ? "" : "s"}`;
  if (n && !online()) {
    signal.textContent = `No signal — ${actions} waiting, they will be sent`;
    signal.dataset.kind = "offline";
  } else if (n) {
    signal.textContent = `Sending ${actions}…`;
    signal.dataset.kind = "sending";
  } else if (hub && !online() && !hub.stopped) {
    signal.textContent = "No signal — showing your stops as last seen";
    signal.dataset.kind = "offline";
  }
  signal.hidden = !(n || (hub && !online() && !hub.stopped));
  document.body.dataset.outbox = String(n);
}

function drawWhere() {
  const where = $("where");
  const text = sharer.text;
  if (where.textContent !== text) where.textContent = text;
  where.dataset.state = sharer.state;
}

function dismiss(refusal) {
  refusals.splice(refusals.indexOf(refusal), 1);
  draw();
}

// -- the two sheets: cash collected, and why it failed ----------------------------------------------

function openSheet(title, body, okText, ok) {
  const sheet = $("sheet");
  const problem = h("p", { class: "problem", role: "alert" });
  const okButton = h("button", { type: "submit", class: "main", id: "sheet-ok" }, okText);
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: "sheet-title" }, title),
    body,
    problem,
    h("div", { class: "row" }, h("button", { type: "button", id: "sheet-cancel", onclick: () => sheet.close() }, "BACK"), okButton),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const why = ok();
    if (why) problem.textContent = why;
    else sheet.close();
  });
  sheet.replaceChildren(form);
  sheet.showModal();
}

function askDelivered(order) {
  const cod = order.delivery?.cod || 0;
  const places = placesOf(currencyOf(order));
  if (cod <= 0) {
    openSheet(`#${order.number} delivered`, h("p", {}, "Prepaid: nothing to collect."), "DELIVERED", () => {
      act(order, "delivery.deliver", { collected: 0 });
    });
    return;
  }
  const input = h("input", { id: "collected", inputmode: "decimal", autocomplete: "off", value: plainAmount(cod, places) });
  openSheet(
    `#${order.number} delivered`,
    h("div", {}, h("p", {}, `Cash to collect: ${money(cod, order)}`), h("label", { for: "collected" }, "Cash collected"), input),
    "DELIVERED",
    () => {
      const collected = parseAmount(input.value, places);
      if (collected === null || Number.isNaN(collected)) return "Type the cash you collected, e.g. " + plainAmount(cod, places);
      if (collected !== cod) return `The customer owes ${money(cod, order)}: collect exactly that.`;
      act(order, "delivery.deliver", { collected });
      return null;
    },
  );
}

function askFailed(order) {
  const input = h("textarea", { id: "reason", rows: "2", maxlength: "200", "aria-label": "reason" });
  const quick = REASONS.map((r) => h("button", { type: "button", onclick: () => (input.value = r) }, r));
  openSheet(
    `#${order.number} not delivered`,
    h("div", {}, h("label", { for: "reason" }, "Why? (required)"), input, h("div", { class: "reasons" }, quick)),
    "FAILED",
    () => {
      const reason = input.value.trim();
      if (!reason) return "Say why it could not be delivered.";
      act(order, "delivery.fail", { reason: reason.slice(0, 200) });
      return null;
    },
  );
}

// -- start ---------------------------------------------------------------------------------------

async function restore() {
  try {
    db = await openDb();
    const saved = await request(store("snapshots").get(device));
    if (saved?.currency) currency = saved.currency;
    if (Number.isInteger(saved?.holds)) holds = saved.holds;
    for (const order of saved?.orders || []) putOrder(order);
    const all = await request(store("outbox").getAll()); // in key order: tap order
    outbox = all.filter((e) => e.device === device);
  } catch (err) {
    console.warn("no IndexedDB on this browser: actions are not kept across a reload", err);
    refusals.push({ id: "db", text: "This browser keeps nothing offline: stay in signal until each action is sent." });
  }
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/rider-sw.js", { scope: "/rider" }).catch((err) => console.warn("service worker", err));
}

let linkState = null;

async function start() {
  registerWorker();
  if (!token) {
    noToken("rider");
    return;
  }
  await restore();
  draw();
  hub = new Hub(token, {
    channels: (welcome) => {
      if (welcome.role !== "RIDER") {
        block("role", "Wrong token for this screen", "The rider's page needs a rider's token (fireflow token … --role RIDER --device <rider>).");
        throw new Error("wrong token for this screen");
      }
      return [`rider:${welcome.device}`];
    },
    snapshot,
    event,
    applied: () => {
      draw();
      saveSnapshot();
      flush();
    },
    state: (state, h) => {
      setConnection(h);
      draw();
      if (state !== linkState) {
        linkState = state;
        sharer.linkChanged();
      }
      if (state === "live") flush();
    },
  });
  window.addEventListener("online", () => flush());
  window.addEventListener("offline", () => {
    // A phone losing signal: drop the socket now rather than when the watchdog notices.
    const ws = hub.ws;
    if (ws) {
      ws.onclose = null;
      ws.close();
      hub._closed(ws, 4010, "no signal");
    }
    draw();
  });
  window.fireflow = { hub, orders, outbox: () => outbox, refusals, draw, positions: sharer, holds: () => holds };
  hub.start();
}

start();
