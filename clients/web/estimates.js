// Predicted ready times on the front's screens (the waiter's /pos, the cashier's /cashier): when each
// fired order still being made should be ready, from the hub's ORDER_PREDICTED and, for a page that
// connects later, the order's own `predicted_ready_at` in its snapshot. Drawn as "Ready about 19:42 ·
// in 6 min" (minutes rounded up; "any minute" under one, "running late" once past), or short for a
// table's tile ("≈ 19:42", "late"), and counted down by `tick`.

import { h, hhmm } from "./ui.js";

export class Estimates {
  // now(): the hub's clock (ms)
  constructor(now) {
    this.now = now;
    this.at = new Map(); // order id -> predicted ready time (ms)
  }

  // A snapshot's orders: the predictions they carry, and none for orders gone.
  fromOrders(orders) {
    const ids = new Set();
    for (const order of orders) {
      ids.add(order.id);
      if (order.status === "ACTIVE" && order.predicted_ready_at) this.at.set(order.id, order.predicted_ready_at);
    }
    for (const id of [...this.at.keys()]) if (!ids.has(id)) this.at.delete(id);
  }

  // When an order still being made is predicted ready (ms); undefined when not fired, ready or not predicted yet.
  readyAt(order) {
    return order && order.status === "ACTIVE" && order.fired_at ? this.at.get(order.id) : undefined;
  }

  paint(el) {
    const at = Number(el.dataset.readyAt);
    const left = at - this.now();
    const late = left <= 0;
    const when = late ? "running late" : left < 60_000 ? "any minute" : `in ${Math.ceil(left / 60_000)} min`;
    const text = el.dataset.form === "short" ? (late ? "late" : `≈ ${hhmm(at)}`) : `Ready about ${hhmm(at)} · ${when}`;
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("late", late);
  }

  // The estimate of `order` as an element (form "full" or "short"), or null when there is none.
  element(order, cls, form = "full", id = null) {
    const at = this.readyAt(order);
    if (at === undefined) return null;
    const el = h("span", { class: `ready-eta ${cls}`, id, dataset: { readyAt: String(at), form } });
    this.paint(el);
    return el;
  }

  // Every estimate on the page, drawn again as the minutes go.
  tick() {
    for (const el of document.querySelectorAll(".ready-eta[data-ready-at]")) this.paint(el);
  }
}
