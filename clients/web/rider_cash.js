// Riders' cash, on the cashier's till and the dispatch screen: what each rider holds (floats given
// out, cash collected on delivery, less what was handed in at the counter), as the hub's books say.
//
// The list starts from GET /api/v1/riders, then follows RIDER_CASH events (the `cashier` and `dispatch`
// channels carry them), each with the rider's new balance (`holds`); a reload after a gap (a snapshot)
// reads the list again, and never lets an older answer overwrite a newer event. The till's panel
// sends rider.float (cash out of the drawer to a rider) and rider.handover (cash handed in, all or
// part); each action is a new command id once answered (Hub.act). A refusal shows the hub's own
// reason, in the rider's row and as a toast. Money is integer minor units throughout (money.js).

import { formatMoney, parseAmount, placesOf, plainAmount } from "./money.js";
import { explain, h, toast } from "./ui.js";

const RIDERS = "/api/v1/riders";

export class RiderCash {
  // token: the page's bearer token; hub(): the page's Hub (for act); changed(): redraw what shows the balances.
  constructor({ token, hub, changed = () => {} }) {
    this.token = token;
    this.hub = hub;
    this.changed = changed;
    this.currency = "INR";
    this.riders = new Map(); // rider id -> { rider, name, holds }
    this.seq = 0; // RIDER_CASH events applied
    this.touched = new Map(); // rider id -> this.seq when its last event came
    this.loaded = false;
    this.problem = ""; // why the list could not be read, in plain words
    this.rows = new Map(); // rider id -> the panel's row (built once, updated in place)
    this.panelEl = null;
    this.busy = new Set(); // "float:<rider>", "handover:<rider>"
  }

  money(minor) {
    return formatMoney(minor, this.currency);
  }

  holds(rider) {
    const known = this.riders.get(rider);
    return known ? known.holds : null;
  }

  names() {
    return [...this.riders.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  }

  total() {
    let sum = 0;
    for (const r of this.riders.values()) sum += r.holds;
    return sum;
  }

  // The list as the hub's books have it now; riders told of by an event meanwhile keep the event's figure.
  async load() {
    const from = this.seq;
    try {
      const res = await fetch(RIDERS, { headers: { Authorization: `Bearer ${this.token}` } });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        this.problem = `The riders' cash could not be read: ${body.message || `the hub answered ${res.status}`}.`;
      } else {
        this.problem = "";
        this.loaded = true;
        if (body.currency) this.currency = body.currency;
        for (const r of body.riders || []) {
          if ((this.touched.get(r.rider) || 0) > from) continue;
          this.riders.set(r.rider, { rider: r.rider, name: r.name || r.rider, holds: r.holds || 0 });
        }
      }
    } catch {
      this.problem = "The riders' cash could not be read: the hub did not answer.";
    }
    this.refresh();
  }

  setCurrency(currency) {
    if (currency) this.currency = currency;
  }

  // A hub event; true when it was a RIDER_CASH (the balance is applied).
  event(ev) {
    if (ev.type !== "RIDER_CASH") return false;
    const d = ev.data || {};
    if (!d.rider || !Number.isInteger(d.holds)) return true;
    this.seq += 1;
    this.touched.set(d.rider, this.seq);
    const known = this.riders.get(d.rider);
    this.riders.set(d.rider, { rider: d.rider, name: known ? known.name : d.rider, holds: d.holds });
    const row = this.rows.get(d.rider);
    if (row && d.kind !== "RIDER_FLOAT") row.handDirty = false; // the prefilled hand-in follows the new balance
    this.refresh();
    return true;
  }

  refresh() {
    if (this.panelEl) this.fillPanel();
    this.changed();
  }

  // -- dispatch: the cash a rider holds, for its card --------------------------------------------

  badge(rider) {
    const minor = this.holds(rider) ?? 0;
    return h(
      "span",
      { class: `rider-cash${minor ? " holds" : ""}`, dataset: { rider, minor: String(minor) }, title: "cash this rider holds" },
      h("span", { class: "rc-label" }, "CASH"),
      h("b", {}, this.money(minor)),
    );
  }

  // -- cashier: the panel ------------------------------------------------------------------------

  panel() {
    if (!this.panelEl) {
      this.list = h("ul", { class: "rc-list", id: "rc-list", "aria-label": "Riders and the cash each holds" });
      this.totalEl = h("b", { id: "rc-total", dataset: { minor: "0" } }, "—");
      this.noteEl = h("p", { class: "rc-note", id: "rc-note", role: "status" });
      const otherId = h("input", { id: "rc-new-rider", autocomplete: "off", maxlength: "64", placeholder: "rider device id", "aria-label": "another rider's device id" });
      const otherAmount = h("input", { id: "rc-new-amount", inputmode: "decimal", autocomplete: "off", placeholder: "0.00", "aria-label": "float for another rider" });
      const other = h(
        "form",
        {
          class: "rc-other",
          id: "rc-other",
          onsubmit: (e) => {
            e.preventDefault();
            const rider = otherId.value.trim();
            if (!rider) return toast("Type the rider's device id");
            this.send("float", rider, otherAmount.value, null, () => {
              otherId.value = "";
              otherAmount.value = "";
            });
          },
        },
        h("span", { class: "rc-other-label" }, "Float for another rider"),
        otherId,
        otherAmount,
        h("button", { type: "submit", class: "rc-float", id: "rc-new-float" }, "GIVE FLOAT"),
      );
      this.panelEl = h(
        "section",
        { class: "rider-cash-panel", id: "rider-cash", "aria-label": "Riders' cash" },
        h("header", { class: "rc-head" }, h("h2", {}, "Riders' cash"), h("span", { class: "rc-sum" }, "Riders hold ", this.totalEl)),
        this.noteEl,
        this.list,
        other,
      );
    }
    this.fillPanel();
    return this.panelEl;
  }

  fillPanel() {
    const names = this.names();
    const total = this.total();
    this.totalEl.textContent = this.money(total);
    this.totalEl.dataset.minor = String(total);
    this.noteEl.textContent = this.problem || (this.loaded && !names.length ? "No rider holds cash or is paired yet: give a float below." : "");
    this.noteEl.classList.toggle("bad", Boolean(this.problem));
    for (const rider of names) {
      if (!this.rows.has(rider)) this.rows.set(rider, this.row(rider));
      this.updateRow(this.rows.get(rider));
    }
    const want = names.map((n) => this.rows.get(n).el);
    if (want.length !== this.list.children.length || want.some((el, i) => this.list.children[i] !== el)) {
      const focused = document.activeElement;
      this.list.replaceChildren(...want);
      if (focused && this.list.contains(focused)) focused.focus();
    }
  }

  row(rider) {
    const row = { rider, handDirty: false, said: null };
    const field = (cls, label, oninput) => {
      const input = h("input", { class: cls, inputmode: "decimal", autocomplete: "off", placeholder: "0.00", "aria-label": `${label} ${rider}` });
      input.addEventListener("input", oninput);
      return input;
    };
    row.floatIn = field("rc-float-amount", "float for", () => {});
    row.handIn = field("rc-hand-amount", "amount handed in by", () => (row.handDirty = true));
    row.floatBtn = h("button", { type: "button", class: "rc-float", onclick: () => this.send("float", rider, row.floatIn.value, row) }, "GIVE FLOAT");
    row.handBtn = h("button", { type: "button", class: "rc-hand", onclick: () => this.send("handover", rider, row.handIn.value, row) }, "HAND IN");
    const enter = (input, button) =>
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          button.click();
        }
      });
    enter(row.floatIn, row.floatBtn);
    enter(row.handIn, row.handBtn);
    row.name = h("span", { class: "rc-name" }, rider);
    row.holdsEl = h("b", { class: "rc-holds" });
    row.saidEl = h("p", { class: "rc-said", role: "alert" });
    row.el = h(
      "li",
      { class: "rc-rider", dataset: { rider } },
      h("span", { class: "rc-who" }, row.name, h("span", { class: "rc-holds-label" }, "holds"), row.holdsEl),
      h("span", { class: "rc-act" }, row.floatIn, row.floatBtn),
      h("span", { class: "rc-act" }, row.handIn, row.handBtn),
      row.saidEl,
    );
    return row;
  }

  updateRow(row) {
    const known = this.riders.get(row.rider);
    const minor = known ? known.holds : 0;
    row.name.textContent = known && known.name !== row.rider ? `${known.name} (${row.rider})` : row.rider;
    row.holdsEl.textContent = this.money(minor);
    row.holdsEl.dataset.minor = String(minor);
    row.el.dataset.minor = String(minor);
    row.el.classList.toggle("holds", minor > 0);
    if (!row.handDirty && document.activeElement !== row.handIn) row.handIn.value = minor > 0 ? plainAmount(minor, placesOf(this.currency)) : "";
    row.floatBtn.disabled = this.busy.has(`float:${row.rider}`);
    row.handBtn.disabled = this.busy.has(`handover:${row.rider}`) || minor <= 0;
    row.saidEl.textContent = row.said ? row.said.text : "";
    row.saidEl.dataset.code = row.said ? row.said.code || "" : "";
    row.saidEl.className = `rc-said${row.said ? ` ${row.said.kind}` : ""}`;
  }

  // The hub's refusal in plain words; "holds more than it has" with the amounts as money (the
  // hub's message counts minor units: its details carry what the rider holds).
  refusal(err, rider, amount) {
    const details = (err && err.frame && err.frame.details) || {};
    if (err && err.code === "INVALID_STATE" && Number.isInteger(details.holds)) {
      return `Not done: ${details.rider || rider} holds only ${this.money(details.holds)}, so ${this.money(amount)} cannot be handed in.`;
    }
    return explain(err);
  }

  // Send rider.float / rider.handover for `text` (typed major units); a refusal says the hub's reason.
  async send(kind, rider, text, row, done) {
    const amount = parseAmount(text, placesOf(this.currency));
    const say = (message, cls = "bad", code = null) => {
      if (row) row.said = { text: message, kind: cls, code };
      else if (cls === "bad") toast(message, "error", code);
      this.refresh();
    };
    if (!Number.isInteger(amount) || amount <= 0) return say("Enter an amount above 0, e.g. 200 or 149.50");
    const key = `${kind}:${rider}`;
    if (this.busy.has(key)) return;
    this.busy.add(key);
    if (row) row.said = null;
    this.refresh();
    try {
      await this.hub().act(kind === "float" ? "rider.float" : "rider.handover", { rider, amount });
      const what = kind === "float" ? `Float of ${this.money(amount)} given to ${rider}` : `${this.money(amount)} handed in by ${rider}`;
      if (row) {
        if (kind === "float") row.floatIn.value = "";
        else row.handDirty = false;
      }
      if (done) done();
      if (row) say(what, "ok");
      else toast(what, "info");
    } catch (err) {
      const text = this.refusal(err, rider, amount);
      if (row) row.said = { text, kind: "bad", code: (err && err.code) || null };
      toast(text, "error", (err && err.code) || null);
    } finally {
      this.busy.delete(key);
      this.refresh();
    }
  }
}
