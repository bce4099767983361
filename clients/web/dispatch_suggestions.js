// Suggested batches on /dispatch: GET /api/v1/deliveries/suggestions, read on load and when the
// waiting list changes (at most every few seconds), and every half minute as times move. Each shows
// the hub's reason and "Assign to <rider>": one delivery.assign of its orders in the suggested stop
// order. The orders the hub cannot place (no location) are named, to assign by hand.
//
//   const suggestions = new Suggestions({ token, orders, riders, waiting, busy, send, assigned, changed });
//   suggestions.render(names);   // draws #suggestions and #unplaced (only when what they show changed)
//   suggestions.want();          // read again if the waiting list changed since the last answer

import { h, hhmm, toast } from "./ui.js";

const EVERY_MS = 3000; // at most one read of the suggestions this often
const REFRESH_MS = 30000; // and again this often, as promised times draw near

export class Suggestions {
  // orders: id -> Order; riders: rider -> order ids; waiting(order); busy: keys being sent;
  // send(key, type, data, done); assigned(ids): they went out (untick them); changed(): redraw the page.
  constructor({ token, orders, riders, waiting, busy, send, assigned, changed }) {
    Object.assign(this, { token, orders, riders, waiting, busy, send, assigned, changed });
    this.answer = null; // the hub's last answer: { at, suggestions, unplaced }
    this.note = ""; // why no suggestions show, in plain words
    this.answeredFor = null; // the waiting list (ids and statuses) the last answer was for
    this.readAt = 0; // when the last read started (ms)
    this.timer = null;
    this.loading = false;
    this.drawn = ""; // what the section shows, to redraw only when it changes
    this.picked = new Map(); // batch key -> the rider picked for it
    setInterval(() => {
      this.answeredFor = null; // times move on: read them again
      this.want();
    }, REFRESH_MS);
  }

  waitingKey() {
    return [...this.orders.values()]
      .filter(this.waiting)
      .map((o) => `${o.id}:${o.status}`)
      .sort()
      .join(",");
  }

  want() {
    if (this.timer || this.loading || this.waitingKey() === this.answeredFor) return;
    this.timer = setTimeout(() => this.load(), Math.max(0, this.readAt + EVERY_MS - Date.now()));
  }

  async load() {
    this.timer = null;
    this.loading = true;
    this.readAt = Date.now();
    const key = this.waitingKey();
    try {
      const res = await fetch("/api/v1/deliveries/suggestions", { headers: { Authorization: `Bearer ${this.token}` } });
      const body = await res.json().catch(() => ({}));
      if (res.ok) {
        this.answer = body;
        this.note = "";
      } else {
        this.answer = null;
        this.note =
          res.status === 404 && !body.code
            ? "This hub does not suggest batches yet: tick the orders by hand."
            : `No suggestions: ${body.message || `the hub answered ${res.status}`}.`;
      }
    } catch {
      this.note = "No suggestions: the hub did not answer.";
    } finally {
      this.answeredFor = key;
      this.loading = false;
    }
    this.changed();
  }

  numberOf(id, fallback) {
    const order = this.orders.get(id);
    return order ? order.number : fallback ?? "?";
  }

  assign(s, rider) {
    const ids = s.order_ids.filter((id) => this.orders.has(id));
    if (!rider || ids.length !== s.order_ids.length) return;
    this.send(`suggest:${ids.join(",")}`, "delivery.assign", { order_ids: ids, rider }, () => {
      this.assigned(ids);
      toast(`${ids.map((id) => `#${this.numberOf(id)}`).join(" → ")} to ${rider}`, "info");
    });
  }

  item(s, names, free) {
    const key = s.order_ids.join(",");
    const picked = this.picked.get(key);
    const rider = picked && names.includes(picked) ? picked : free[0] || "";
    const sending = this.busy.has(`suggest:${key}`);
    const numbers = s.order_ids.map((id, i) => this.numberOf(id, s.numbers?.[i]));
    const button = h(
      "button",
      { type: "button", class: "s-assign", disabled: !rider || sending, onclick: () => this.assign(s, select.value) },
      `Assign ${s.order_ids.length === 1 ? "it" : `these ${s.order_ids.length}`} to`,
    );
    const select = h(
      "select",
      {
        class: "s-rider",
        "aria-label": `rider for ${numbers.map((n) => `order ${n}`).join(", ")}`,
        disabled: sending,
        onchange: (e) => {
          this.picked.set(key, e.target.value);
          button.disabled = !e.target.value;
        },
      },
      h("option", { value: "" }, names.length ? "rider…" : "no rider yet"),
      names.map((n) => h("option", { value: n, selected: n === rider }, free.includes(n) ? n : `${n} (busy)`)),
    );
    return h(
      "li",
      { class: `suggestion${s.late ? " late" : ""}`, dataset: { orders: key } },
      h(
        "div",
        { class: "s-top" },
        h("span", { class: "s-orders" }, numbers.map((n) => `#${n}`).join(" → ")),
        s.late ? h("span", { class: "badge late" }, "LATE") : null,
        h("span", { class: "s-times" }, `leaves ${hhmm(s.leaves_at)} · back ${hhmm(s.back_at)}`),
        h("span", { class: "s-go" }, button, select),
      ),
      s.reason ? h("p", { class: "s-reason" }, s.reason) : null,
    );
  }

  render(names) {
    const still = (id) => this.orders.has(id) && this.waiting(this.orders.get(id));
    const list = ((this.answer && this.answer.suggestions) || []).filter((s) => s.order_ids.length && s.order_ids.every(still));
    const unplaced = ((this.answer && this.answer.unplaced) || []).filter(still);
    const holding = (n) => (this.riders.get(n) || []).some((id) => this.orders.get(id)?.delivery?.status !== "DELIVERED" && this.orders.has(id));
    const free = names.filter((n) => !holding(n));
    const sending = [...this.busy].filter((k) => k.startsWith("suggest:"));
    // Whether the hub has answered is part of what shows: an empty answer replaces "Asking the hub…".
    const drawn = JSON.stringify([list, unplaced, names, free, sending, this.note, !!this.answer, [...this.picked]]);
    if (drawn !== this.drawn) {
      this.drawn = drawn;
      const items = list.map((s) => this.item(s, names, free));
      if (!items.length) {
        const none = this.note || (this.answer ? "No batch to suggest right now" : "Asking the hub for suggestions…");
        items.push(h("li", { class: `s-empty${this.note ? " bad" : ""}` }, none));
      }
      document.getElementById("suggestions").replaceChildren(...items);
      const hand = document.getElementById("unplaced");
      hand.hidden = !unplaced.length;
      hand.dataset.orders = unplaced.join(",");
      hand.textContent = unplaced.length ? `No location: assign by hand ${unplaced.map((id) => `#${this.numberOf(id)}`).join(", ")}` : "";
    }
    this.want();
  }
}
