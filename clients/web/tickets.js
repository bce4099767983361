// Kitchen cards: what a KDS (one or several stations) and expo (station "*") show, built
// from snapshots and events, and how a card is drawn. One card per order per station, keyed
// by order id and station; its lines keyed by line id.
//
// How events change a card (see schema/PROTOCOL.md):
//   NEW_KITCHEN_ORDER (FIRE ticket)  add NEW lines, raise ADDED lines to line_quantity (+N),
//                                    HELD lines shown greyed; then the screen acks the ticket
//   TICKET_VOID (VOID ticket)        line_quantity 0: struck-through VOID; else lower it (-N VOID)
//   TICKET_UPDATED (CARD)            the station's whole view of the order: replace the card
//   ITEM_STATUS_CHANGED              patch one line; a card with nothing left to make leaves
//                                    the queue for the recently-bumped strip
//   ORDER_READY / ORDER_CANCELLED / ORDER_MERGED / TICKET_ACKED / ORDER_RUSHED / ...
//   ORDER_SETTLED (on `tables`)      the order is paid and closed: its cards stay, marked PAID,
//                                    and a page offers no action on them (the hub would refuse)

import { clock, h, hhmm } from "./ui.js";

export const EXPO = "*";
export const ACTIVE = new Set(["PENDING", "PREPARING"]);
export const FINISHED = new Set(["DONE", "SERVED", "SKIPPED"]);
const DEFAULT_SETTINGS = { warn_after_s: 300, late_after_s: 600 };
const HELD = ":held"; // a held part of a line is kept beside the part already sent
const FRESH_MS = 60_000; // how long a new ticket wears its NEW badge (unless a line is touched first)

// The older ticket shape (`items` of order lines, `fired_at`) and expo snapshots of orders are
// read too, so a screen keeps working against a hub one version behind.
function normalLine(l) {
  return {
    line_id: l.line_id ?? l.id,
    name: l.name,
    station: l.station,
    course: l.course ?? 1,
    quantity: l.quantity,
    line_quantity: l.line_quantity ?? l.quantity,
    change: l.change ?? "SAME",
    status: l.status ?? "PENDING",
    notes: l.notes ?? "",
    modifiers: (l.modifiers ?? []).map((m) => (typeof m === "string" ? m : m.name)),
    done_at: l.done_at ?? null,
  };
}

function normalNotes(notes) {
  if (Array.isArray(notes)) return notes.map((n) => (typeof n === "string" ? { text: n } : n));
  return notes ? [{ text: String(notes) }] : [];
}

export function normalTicket(t) {
  return {
    ...t,
    kind: t.kind ?? (t.items ? "FIRE" : "CARD"),
    sent_at: t.sent_at ?? t.fired_at ?? Date.now(),
    order_fired_at: t.order_fired_at ?? t.fired_at ?? null,
    notes: normalNotes(t.notes),
    lines: (t.lines ?? t.items ?? []).map(normalLine),
  };
}

function orderAsCard(order) {
  return normalTicket({
    kind: "CARD",
    order_id: order.id,
    order_number: order.number,
    order_type: order.type,
    station: EXPO,
    table_id: order.table_id,
    token: order.token,
    rush: order.rush,
    notes: order.notes,
    sent_at: order.fired_at,
    lines: (order.items || []).filter((i) => i.fired),
    acked: true,
  });
}

export function isActive(card) {
  for (const l of card.lines.values()) if (ACTIVE.has(l.status) && l.mark !== "VOIDED") return true;
  return false;
}

function hasFinished(card) {
  for (const l of card.lines.values()) if (FINISHED.has(l.status) && l.mark !== "VOIDED") return true;
  return false;
}

function lastDone(card) {
  let at = 0;
  for (const l of card.lines.values()) if (l.done_at && l.done_at > at) at = l.done_at;
  return at || null;
}

function makeLine(tl, qty, mark = null, delta = 0) {
  return {
    line_id: tl.line_id,
    name: tl.name,
    station: tl.station,
    course: tl.course,
    qty,
    status: tl.status,
    notes: tl.notes,
    modifiers: tl.modifiers ?? [],
    done_at: tl.done_at,
    held: tl.change === "HELD",
    mark,
    delta,
  };
}

export class CardBook {
  constructor() {
    this.cards = new Map(); // `${order_id}|${station}` -> card
    this.settings = new Map(); // station -> { warn_after_s, late_after_s }
    this.recallWindowS = 600;
    this.acks = []; // [{ order_id, ticket_ids }] for the page to send once the cards are drawn
    this.acksSent = new Set();
    this.ackedIds = new Set(); // tickets some screen's ticket.ack has acknowledged (TICKET_ACKED)
    this.beeps = 0;
  }

  // Start again from `subscribed.snapshot` (every kitchen:<station> / expo channel in it).
  load(snapshots) {
    this.cards.clear();
    for (const [channel, snap] of Object.entries(snapshots)) {
      if (!(channel === "expo" || channel.startsWith("kitchen:"))) continue;
      const station = channel === "expo" ? EXPO : channel.slice("kitchen:".length);
      this.settings.set(station, { ...DEFAULT_SETTINGS, ...(snap.station || {}) });
      if (typeof snap.recall_window_s === "number") this.recallWindowS = snap.recall_window_s;
      for (const t of snap.tickets || []) this.replace(normalTicket({ station, ...t }));
      for (const o of snap.orders || []) {
        const card = this.replace(orderAsCard(o));
        card.ready = o.status === "READY";
      }
    }
  }

  apply(event) {
    const d = event.data || {};
    const at = d.at || event.ts || Date.now();
    switch (event.type) {
      case "NEW_KITCHEN_ORDER":
        this.fire(normalTicket(d.ticket));
        break;
      case "TICKET_VOID":
        this.void(normalTicket(d.ticket));
        break;
      case "TICKET_UPDATED":
        this.replace(normalTicket(d.ticket));
        break;
      case "ITEM_STATUS_CHANGED":
        this.status(d, at);
        break;
      case "ORDER_READY":
        for (const card of this.ofOrder(d.order_id)) {
          card.ready = true;
          card.bumpedAt ??= d.ready_at || at;
        }
        break;
      case "ORDER_RECALLED":
        for (const card of this.ofOrder(d.order?.id)) card.ready = false;
        break;
      case "ORDER_CANCELLED":
        for (const card of this.ofOrder(d.order_id)) this.cards.delete(card.key);
        break;
      case "ORDER_MERGED":
        for (const card of this.ofOrder(d.from_order_id)) this.cards.delete(card.key);
        break;
      case "ORDER_SETTLED":
        for (const id of d.order_ids || []) for (const card of this.ofOrder(id)) card.closed = true;
        break;
      case "TICKET_ACKED":
        this.ackedIds.add(d.ticket_id);
        for (const card of this.ofOrder(d.order_id)) if (card.station === d.station) card.acked = true;
        break;
      case "ORDER_RUSHED":
        for (const card of this.ofOrder(d.order_id)) if (!d.station || d.station === card.station) card.rush = d.rush;
        break;
      case "ORDER_NOTE_ADDED":
        for (const card of this.ofOrder(d.order_id))
          if (!card.notes.some((n) => n.id && n.id === d.note.id)) card.notes.push(d.note);
        break;
      case "KITCHEN_SETTINGS_CHANGED": {
        const kitchen = d.kitchen || {};
        if (typeof kitchen.recall_window_s === "number") this.recallWindowS = kitchen.recall_window_s;
        for (const s of kitchen.stations || []) {
          if (this.settings.has(s.id)) this.settings.set(s.id, { ...DEFAULT_SETTINGS, ...s });
        }
        break;
      }
      case "ORDER_MOVED":
        for (const card of this.ofOrder(d.order_id)) card.table_id = d.to_table_id;
        break;
      default:
        break;
    }
  }

  *ofOrder(orderId) {
    for (const card of [...this.cards.values()]) if (card.order_id === orderId) yield card;
  }

  // A card with this ticket's header; a new card (or one coming back from the bumped strip)
  // is fresh: it gets the NEW badge and its age restarts.
  header(t) {
    const key = `${t.order_id}|${t.station}`;
    const prev = this.cards.get(key);
    const back = !prev || !isActive(prev);
    const card = {
      key,
      lines: new Map(),
      since: t.sent_at,
      fresh: false,
      ready: false,
      acked: true,
      bumpedAt: null,
      dismissed: false,
      closed: false,
      ...prev,
      order_id: t.order_id,
      order_number: t.order_number,
      order_type: t.order_type,
      station: t.station,
      table_id: t.table_id,
      token: t.token,
      rush: Boolean(t.rush),
      notes: t.notes,
      priority: t.priority ?? prev?.priority ?? null,
    };
    if (back && t.kind === "FIRE") {
      Object.assign(card, { since: t.sent_at, fresh: true, freshAt: t.sent_at, ready: false, bumpedAt: null });
    }
    this.cards.set(key, card);
    const existed = Boolean(prev) && [...prev.lines.values()].some((l) => !l.held);
    return { card, existed };
  }

  fire(t) {
    const { card, existed } = this.header(t);
    for (const tl of t.lines) {
      if (tl.change === "HELD") {
        card.lines.set(tl.line_id + HELD, makeLine(tl, tl.quantity, "HELD"));
        continue;
      }
      card.lines.delete(tl.line_id + HELD);
      const line = card.lines.get(tl.line_id);
      const qty = tl.line_quantity || tl.quantity;
      if (tl.change === "ADDED") {
        card.lines.set(tl.line_id, { ...(line || makeLine(tl, qty)), qty, status: tl.status, mark: "ADDED", delta: tl.quantity });
      } else {
        card.lines.set(tl.line_id, makeLine(tl, qty, existed ? "NEW" : null));
      }
    }
    card.dismissed = false;
    this.needAck(t);
    this.beeps += 1;
  }

  void(t) {
    const { card } = this.header(t);
    for (const tl of t.lines) {
      const line = card.lines.get(tl.line_id) || makeLine(tl, tl.quantity);
      if (tl.line_quantity === 0) Object.assign(line, { mark: "VOIDED", delta: tl.quantity, qty: line.qty || tl.quantity });
      else Object.assign(line, { qty: tl.line_quantity, mark: "VOID", delta: tl.quantity });
      card.lines.set(tl.line_id, line);
    }
    card.dismissed = false;
    this.needAck(t);
  }

  replace(t) {
    const key = `${t.order_id}|${t.station}`;
    const prev = this.cards.get(key);
    this.cards.delete(key); // a card is the whole truth: nothing of the old one's lines survives
    const { card } = this.header(t);
    card.since = prev ? prev.since : (t.order_fired_at ?? t.sent_at);
    for (const tl of t.lines) {
      const id = tl.change === "HELD" ? tl.line_id + HELD : tl.line_id;
      const line = makeLine(tl, tl.quantity, tl.change === "HELD" ? "HELD" : null);
      const old = prev && prev.lines.get(id);
      if (old && old.qty === line.qty && old.status === line.status && !line.held) {
        Object.assign(line, { mark: old.mark, delta: old.delta }); // keep "+2" / NEW until the line moves on
      }
      card.lines.set(id, line);
    }
    card.acked = t.acked !== false;
    if (isActive(card)) {
      Object.assign(card, { bumpedAt: null, ready: false, fresh: Boolean(prev && prev.fresh), freshAt: prev && prev.freshAt });
    } else {
      card.bumpedAt = (prev && prev.bumpedAt) || lastDone(card);
      // Cards say whether the order is READY; older hubs did not, so fall back to "every line finished".
      card.ready = typeof t.ready === "boolean" ? t.ready : prev ? prev.ready : t.station === EXPO && hasFinished(card);
    }
    if (!card.acked) this.needAck(t);
    return card;
  }

  status(d, at) {
    for (const card of this.ofOrder(d.order_id)) {
      if (card.station !== EXPO && card.station !== d.station) continue;
      const line = card.lines.get(d.line_id);
      if (!line) continue;
      const was = isActive(card);
      line.status = d.status;
      line.done_at = FINISHED.has(d.status) ? at : null;
      if (line.mark !== "VOIDED") Object.assign(line, { mark: null, delta: 0 });
      card.fresh = false;
      const now = isActive(card);
      if (was && !now) card.bumpedAt = at;
      if (now) Object.assign(card, { bumpedAt: null, ready: false });
    }
  }

  // FIRE and VOID tickets are acknowledged by the screen that showed them (not by expo); a
  // CARD that is not acked names its tickets in `unacked_ticket_ids` when the hub sends them.
  needAck(t) {
    if (t.station === EXPO) return;
    const ids = t.kind === "CARD" ? t.unacked_ticket_ids || [] : [t.id];
    const fresh = ids.filter((id) => id && !this.acksSent.has(id));
    if (!fresh.length) return;
    for (const id of fresh) this.acksSent.add(id);
    this.acks.push({ order_id: t.order_id, ticket_ids: fresh });
  }

  takeAcks() {
    const acks = this.acks;
    this.acks = [];
    return acks;
  }

  // Those of `ticketIds` no screen has acknowledged yet, as far as this one has heard.
  unacked(ticketIds) {
    return ticketIds.filter((id) => !this.ackedIds.has(id));
  }

  takeBeeps() {
    const beeps = this.beeps;
    this.beeps = 0;
    return beeps;
  }

  dismiss(key) {
    const card = this.cards.get(key);
    if (card) card.dismissed = true;
  }

  // The queue: cards with something to make (or a void to see), rush first, then earliest due
  // (the hub's priority: the order type's grace after the fire, or a promised time), then oldest
  // first; a paid order's card until it is cleared.
  queue() {
    const shown = [...this.cards.values()].filter(
      (c) =>
        (isActive(c) && !(c.closed && c.dismissed)) ||
        (!c.dismissed && !hasFinished(c) && [...c.lines.values()].some((l) => l.mark === "VOIDED")),
    );
    return shown.sort(
      (a, b) =>
        b.rush - a.rush ||
        dueAt(a) - dueAt(b) ||
        a.since - b.since ||
        a.order_number - b.order_number ||
        (a.station < b.station ? -1 : 1),
    );
  }

  // Cards with nothing left to make that can still be recalled, newest first.
  bumped(now, limit = 8) {
    const horizon = now - this.recallWindowS * 1000;
    return [...this.cards.values()]
      .filter((c) => !isActive(c) && hasFinished(c) && (c.bumpedAt || 0) >= horizon)
      .sort((a, b) => (b.bumpedAt || 0) - (a.bumpedAt || 0))
      .slice(0, limit);
  }

  // All-day counts: per station, how many of each item are still to make on the queue's cards.
  allDay() {
    const totals = new Map();
    for (const card of this.queue()) {
      for (const l of card.lines.values()) {
        if (!ACTIVE.has(l.status) || l.mark === "VOIDED") continue;
        const station = l.station || card.station;
        if (!totals.has(station)) totals.set(station, new Map());
        const items = totals.get(station);
        items.set(l.name, (items.get(l.name) || 0) + l.qty);
      }
    }
    return totals;
  }

  settingsFor(station) {
    return this.settings.get(station) || DEFAULT_SETTINGS;
  }
}

function where(card) {
  if (card.table_id) return `TABLE ${card.table_id}`;
  if (card.token !== null && card.token !== undefined) return `TOKEN ${card.token}`;
  return card.order_type || "";
}

function dueAt(card) {
  return card.priority?.due_at ?? Number.MAX_SAFE_INTEGER;
}

const BECAUSE = {
  PROMISED: "promised to the customer",
  DELIVERY: "delivery",
  TAKEAWAY: "takeaway, customer waiting",
  DINE_IN: "dine-in",
};

// Why a card stands where it does in the queue, in a cook's words: "delivery · out by 19:42".
export function whyText(card) {
  if (card.rush) return "RUSH · ahead of everything";
  const p = card.priority;
  if (!p) return "";
  return `${BECAUSE[p.reason] || p.reason.toLowerCase()} · out by ${hhmm(p.due_at)}`;
}

function ageClass(ageMs, settings) {
  if (ageMs >= settings.late_after_s * 1000) return "late";
  if (ageMs >= settings.warn_after_s * 1000) return "warn";
  return "ok";
}

function markBadge(line) {
  switch (line.mark) {
    case "NEW":
      return h("span", { class: "badge new" }, "NEW");
    case "ADDED":
      return h("span", { class: "badge added" }, `+${line.delta}`);
    case "VOID":
      return h("span", { class: "badge void" }, `−${line.delta} VOID`);
    case "VOIDED":
      return h("span", { class: "badge void" }, "VOID");
    default:
      return null;
  }
}

function renderLine(line, card, opts) {
  const cls = ["line", `s-${line.status}`, line.mark && `m-${line.mark}`, line.held && "held"].filter(Boolean);
  const onclick = opts.onLine ? () => opts.onLine(card, line) : null;
  return h(
    "li",
    { class: cls.join(" "), dataset: { lineId: line.line_id, status: line.status }, onclick },
    h("span", { class: "qty" }, `${line.qty}×`),
    h("span", { class: "name" }, line.name),
    markBadge(line),
    line.held
      ? h("span", { class: "course held" }, `COURSE ${line.course} — HELD`)
      : line.course > 1 && h("span", { class: "course" }, `COURSE ${line.course}`),
    opts.showStation && line.station && h("span", { class: "station" }, line.station.toUpperCase()),
    h("span", { class: "status" }, line.mark === "VOIDED" ? "VOID" : line.status),
    line.modifiers.length > 0 && h("div", { class: "lmods" }, line.modifiers.join(" · ")),
    line.notes && h("div", { class: "lnotes" }, line.notes),
  );
}

// One card. opts: { now, settings, stationTag (name the card's station), showStation (each line's),
// onLine(card, line), actions: [[label, fn, class]], selected, first (the top of the queue: it
// says FIRST and why) }
export function renderCard(card, opts) {
  const finished = !isActive(card) && card.bumpedAt; // a bumped card shows how long it took, frozen
  const age = (finished ? card.bumpedAt : opts.now) - card.since;
  const settings = opts.settings || DEFAULT_SETTINGS;
  const lines = [...card.lines.values()].sort((a, b) => a.course - b.course);
  const fresh = card.fresh && opts.now - card.freshAt < FRESH_MS;
  const cls = ["card", card.rush && "rush", card.ready && "ready", fresh && "fresh", opts.selected && "selected"];
  return h(
    "article",
    {
      class: cls.filter(Boolean).join(" "),
      tabindex: 0,
      dataset: {
        key: card.key,
        orderId: card.order_id,
        orderNumber: card.order_number,
        station: card.station,
        since: finished ? null : card.since,
        warn: settings.warn_after_s,
        late: settings.late_after_s,
        ready: card.ready ? "true" : "false",
        due: card.priority?.due_at ?? null,
        closed: card.closed ? "true" : null,
      },
    },
    h(
      "header",
      {},
      h("span", { class: "num" }, `#${card.order_number}`),
      h("span", { class: "where" }, where(card)),
      opts.stationTag && h("span", { class: "badge station" }, card.station.toUpperCase()),
      card.rush && h("span", { class: "badge rush" }, "RUSH"),
      fresh && h("span", { class: "badge new" }, "NEW"),
      card.ready && h("span", { class: "badge ready" }, "READY"),
      card.closed && h("span", { class: "badge paid", title: "settled: the order is closed" }, "PAID"),
      h("span", { class: `age ${ageClass(age, settings)}` }, clock(age)),
    ),
    !finished &&
      (card.rush || card.priority) &&
      h(
        "p",
        { class: opts.first ? "why first" : "why", dataset: { reason: card.rush ? "RUSH" : card.priority.reason } },
        opts.first && h("b", {}, "FIRST: "),
        whyText(card),
      ),
    card.notes.length > 0 &&
      h(
        "ul",
        { class: "notes" },
        card.notes.map((n) => h("li", {}, n.text)),
      ),
    h(
      "ol",
      { class: "lines" },
      lines.map((l) => renderLine(l, card, opts)),
    ),
    opts.actions &&
      opts.actions.length > 0 &&
      h(
        "footer",
        {},
        opts.actions.map(([label, fn, cls2]) => h("button", { class: cls2, onclick: fn, type: "button" }, label)),
      ),
  );
}

// Every second: redraw the age timers (and their colours) without redrawing the cards.
export function tickAges(root, now) {
  for (const el of root.querySelectorAll(".card[data-since]")) {
    const age = now - Number(el.dataset.since);
    const span = el.querySelector(".age");
    if (!span) continue;
    const settings = { warn_after_s: Number(el.dataset.warn), late_after_s: Number(el.dataset.late) };
    span.textContent = clock(age);
    span.className = `age ${ageClass(age, settings)}`;
  }
}
