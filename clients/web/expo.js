// Expo: /expo?token=...   Every station's tickets of every order (channel `expo`), and which
// orders are settled (ORDER_SETTLED comes on `tables`).
//
// BUMP marks the whole order done (order.bump), RUSH / UNRUSH flags it for every station
// (order.rush), RECALL brings a ready order back (order.recall). Ready orders turn green; a
// settled order is marked PAID and offers nothing the hub would refuse (a closed order cannot
// be bumped or recalled). Counter orders (takeaway, delivery) are paid first: settled, they stay
// open (ORDER_SETTLED names them in `awaiting_pickup`), marked PAID and still bumpable; a READY
// one offers PICKED UP (order.pickup), which closes it (ORDER_PICKED_UP). Kitchen alerts (a station with no screen, a ticket nobody
// acknowledged) stay on top while they stand (alerts.js, by the rule of hub/domain/alerts.py: the
// ticket not acknowledged, the order open, something left to make at that station) or until
// dismissed; the snapshot carries those still standing, so a screen starting again keeps them.
// Each printer's state (printer_health.js: PRINTER_STATUS) is a strip under the top bar, big when one
// cannot print ("Grill printer: out of paper since 12:03").
// Tickets no printer could print are listed under the alerts (manual_jobs.js) until somebody says
// they were done by hand, found printed, or reprints them; a CRITICAL alert cannot be dismissed.

import { AlertBook, alertLabel, dismissable } from "./alerts.js";
import { Hub } from "./fireflow.js";
import { ManualJobs, showManualList } from "./manual_jobs.js";
import { PrinterHealth, showPrinterHealth } from "./printer_health.js";
import { CardBook, isActive, renderCard, tickAges } from "./tickets.js";
import { checkRole, deviceToken, h, noToken, reportFailure, setConnection, toast } from "./ui.js";

const token = deviceToken("expo");
const book = new CardBook();
const alerts = new AlertBook(book);
const manual = new ManualJobs(); // tickets no printer could print, until somebody handles them
const printerHealth = new PrinterHealth(); // each printer's state, as its print agent last read it
const awaitingPickup = new Set(); // ids of paid counter orders still open (ORDER_SETTLED `awaiting_pickup`)
const COUNTER = new Set(["TAKEAWAY", "DELIVERY"]);
let hub = null;

function snapshot(snapshots) {
  book.load(snapshots);
  awaitingPickup.clear(); // a reloaded screen learns who is paid from the cards (`paid`)
  for (const t of (snapshots.expo && snapshots.expo.tickets) || []) if (t.paid) awaitingPickup.add(t.order_id);
  alerts.load(snapshots);
  manual.load(snapshots);
  printerHealth.load(snapshots);
}

function event(ev) {
  const d = ev.data || {};
  alerts.apply(ev);
  manual.apply(ev);
  printerHealth.apply(ev);
  switch (ev.type) {
    case "ORDER_SETTLED": {
      const open = d.awaiting_pickup || [];
      book.apply(ev);
      for (const id of open) {
        awaitingPickup.add(id);
        for (const card of book.ofOrder(id)) card.closed = false; // paid, still cooking or waiting at the counter
      }
      return;
    }
    case "ORDER_PICKED_UP":
      awaitingPickup.delete(d.order_id);
      for (const card of book.ofOrder(d.order_id)) card.closed = true; // handed over: the hub takes no more for it
      break;
    default:
      break;
  }
  book.apply(ev);
}

function send(type, data) {
  return hub.act(type, data).catch(reportFailure);
}

// A paid order still open wears PAID like a closed one, but keeps its actions.
function markPaid(el, card) {
  if (!card.closed && awaitingPickup.has(card.order_id)) {
    el.querySelector("header .age").before(h("span", { class: "badge paid", title: "paid: waiting for pickup" }, "PAID"));
  }
  return el;
}

// Ready counter orders wait at the pass until handed over, however long ago they were bumped.
function atThePass(now) {
  const shown = book.bumped(now, 12);
  const waiting = [...book.cards.values()].filter(
    (c) => c.ready && !c.closed && COUNTER.has(c.order_type) && !isActive(c) && !shown.includes(c),
  );
  return [...shown, ...waiting];
}

function queueActions(card) {
  if (card.closed) return [["CLEAR", () => (book.dismiss(card.key), render()), "recall"]]; // the hub takes no more for it
  return [
    [card.rush ? "UNRUSH" : "RUSH", () => send("order.rush", { order_id: card.order_id, rush: !card.rush }), "rush-btn"],
    ["BUMP", () => send("order.bump", { order_id: card.order_id }), "bump"],
  ];
}

function doneActions(card) {
  if (card.closed) return [];
  const actions = [["RECALL", () => send("order.recall", { order_id: card.order_id }), "recall"]];
  if (card.ready && COUNTER.has(card.order_type) && awaitingPickup.has(card.order_id)) { // unpaid: the hub says "pay first"
    actions.push(["PICKED UP", () => send("order.pickup", { order_id: card.order_id }), "bump pickup"]);
  }
  return actions;
}

function render() {
  const now = hub.now();
  const settings = book.settingsFor("*");
  const queue = book.queue().map((card) =>
    markPaid(renderCard(card, { now, settings, showStation: true, actions: queueActions(card) }), card),
  );
  document.getElementById("queue").replaceChildren(...(queue.length ? queue : [h("p", { class: "empty" }, "No open tickets")]));
  const done = atThePass(now).map((card) =>
    markPaid(renderCard(card, { now, settings, showStation: true, actions: doneActions(card) }), card),
  );
  document.getElementById("done").replaceChildren(...done);
  const items = alerts.standing().map((alert) =>
    h(
      "li",
      { class: alert.severity === "CRITICAL" ? "critical" : null, dataset: { alertId: alert.id, kind: alert.kind, orderId: alert.order_id, severity: alert.severity } },
      h("span", { class: "kind" }, alertLabel(alert)),
      h("span", {}, alert.message || `#${alert.order_number} at ${alert.station}`),
      dismissable(alert)
        ? h("button", { type: "button", onclick: () => (alerts.dismiss(alert.id), render()) }, "OK")
        : h("span", { class: "must" }, "HANDLE IT BELOW"),
    ),
  );
  document.getElementById("alerts").replaceChildren(...items);
  showManualList(document.getElementById("manual"), manual, { hub, redraw: render });
  showPrinterHealth(document.getElementById("printer-health"), printerHealth);
}

if (!token) {
  noToken("expo");
} else {
  hub = new Hub(token, {
    channels: (welcome) => (checkRole(welcome), ["expo", "tables"]),
    snapshot,
    event,
    applied: render,
    state: (_, conn) => setConnection(conn),
    problem: (message) => toast(message),
  }).start();
  window.fireflow = { hub, book, alerts, manual, printerHealth, awaitingPickup };
  let ticks = 0;
  setInterval(() => {
    ticks += 1;
    if (ticks % 15 === 0) render();
    else tickAges(document.getElementById("queue"), hub.now());
  }, 1000);
}
