// Expo: /expo?token=...   Every station's tickets of every order (channel `expo`).
//
// BUMP marks the whole order done (order.bump), RUSH / UNRUSH flags it for every station
// (order.rush), RECALL brings a ready order back (order.recall). Ready orders turn green;
// kitchen alerts (a station with no screen, a ticket nobody acknowledged) stay on top until
// dismissed or until the ticket is acknowledged.

import { Hub } from "./fireflow.js";
import { CardBook, renderCard, tickAges } from "./tickets.js";
import { deviceToken, h, noToken, reportFailure, setConnection, toast } from "./ui.js";

const token = deviceToken("expo");
const book = new CardBook();
const alerts = new Map(); // alert id -> alert
let hub = null;

function event(ev) {
  const d = ev.data || {};
  if (ev.type === "KITCHEN_ALERT") alerts.set(d.alert.id, d.alert);
  if (ev.type === "TICKET_ACKED") {
    for (const [id, alert] of alerts) if (alert.ticket_id && alert.ticket_id === d.ticket_id) alerts.delete(id);
  }
  book.apply(ev);
}

function send(type, data) {
  return hub.act(type, data).catch(reportFailure);
}

function render() {
  const now = hub.now();
  const settings = book.settingsFor("*");
  const queue = book.queue().map((card) =>
    renderCard(card, {
      now,
      settings,
      showStation: true,
      actions: [
        [card.rush ? "UNRUSH" : "RUSH", () => send("order.rush", { order_id: card.order_id, rush: !card.rush }), "rush-btn"],
        ["BUMP", () => send("order.bump", { order_id: card.order_id }), "bump"],
      ],
    }),
  );
  document.getElementById("queue").replaceChildren(...(queue.length ? queue : [h("p", { class: "empty" }, "No open tickets")]));
  const done = book.bumped(now, 12).map((card) =>
    renderCard(card, {
      now,
      settings,
      showStation: true,
      actions: [["RECALL", () => send("order.recall", { order_id: card.order_id }), "recall"]],
    }),
  );
  document.getElementById("done").replaceChildren(...done);
  const items = [...alerts.values()].sort((a, b) => b.at - a.at).map((alert) =>
    h(
      "li",
      { dataset: { alertId: alert.id, kind: alert.kind } },
      h("span", { class: "kind" }, alert.kind.replace("_", " ")),
      h("span", {}, alert.message || `#${alert.order_number} at ${alert.station}`),
      h("button", { type: "button", onclick: () => (alerts.delete(alert.id), render()) }, "OK"),
    ),
  );
  document.getElementById("alerts").replaceChildren(...items);
}

if (!token) {
  noToken("expo");
} else {
  hub = new Hub(token, {
    channels: () => ["expo"],
    snapshot: (snapshots) => book.load(snapshots),
    event,
    applied: render,
    state: (_, conn) => setConnection(conn),
    problem: (message) => toast(message),
  }).start();
  window.fireflow = { hub, book, alerts };
  let ticks = 0;
  setInterval(() => {
    ticks += 1;
    if (ticks % 15 === 0) render();
    else tickAges(document.getElementById("queue"), hub.now());
  }, 1000);
}
