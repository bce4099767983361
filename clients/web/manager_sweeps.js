// Back office, the Alerts section: what the hub's self-healing sweeps found (SWEEP_FOUND on `manager`).
//
// Each finding is said as the hub worded it, marked "Fixed by the hub" when the hub repaired it itself or
// "Needs you: <what to do>" when a person must act. A finding's id is stable while its fault stands and the
// hub says it once, so the same id is shown once (a repeat replaces it in place, a dismissed one stays
// dismissed). The ones that need someone count in the nav's alert badge until they are dismissed (OK) or
// seen put right on this page: a dirty table cleaned (TABLE_STATUS_CHANGED), an unfired order fired,
// cancelled or settled. A page that opens later reads those still standing (GET /api/v1/sweeps/findings);
// the audit log holds them all.

import { h } from "./ui.js";

const KEPT = 200;
const KIND_LABELS = {
  TABLE_WITHOUT_ORDER: "TABLE, NO ORDER",
  TABLE_DIRTY: "TABLE DIRTY",
  ORDER_EMPTY: "EMPTY ORDER",
  ORDER_UNFIRED: "NEVER FIRED",
  SETTLED_NOT_CLOSED: "PAID, NOT CLOSED",
  TICKET_UNSEEN: "TICKETS UNSEEN",
};

export class SweepFindings {
  constructor() {
    this.findings = new Map(); // finding id -> finding, in the order first told
    this.dismissed = new Set();
  }

  // Take an event; true when the findings changed.
  apply(ev) {
    const d = ev.data || {};
    if (ev.type === "SWEEP_FOUND" && d.finding && d.finding.id) {
      const finding = d.finding;
      if (this.dismissed.has(finding.id)) return false;
      this.findings.set(finding.id, { ...finding, at: finding.at || ev.ts });
      while (this.findings.size > KEPT) this.findings.delete(this.findings.keys().next().value);
      return true;
    }
    if (ev.type === "TABLE_STATUS_CHANGED" && d.table && d.table.status !== "DIRTY") return this.settled("TABLE_DIRTY", d.table.id);
    if (ev.type === "ORDER_FIRED" || ev.type === "ORDER_CANCELLED") return this.settled("ORDER_UNFIRED", d.order_id || (d.order && d.order.id));
    if (ev.type === "ORDER_SETTLED") return (d.order_ids || []).map((id) => this.settled("ORDER_UNFIRED", id)).some(Boolean);
    return false;
  }

  // A fault seen put right: its finding goes.
  settled(kind, subject) {
    let changed = false;
    for (const [id, finding] of this.findings) {
      if (finding.kind === kind && finding.subject === subject && !finding.repaired) {
        this.findings.delete(id);
        changed = true;
      }
    }
    return changed;
  }

  dismiss(id) {
    this.dismissed.add(id);
    this.findings.delete(id);
  }

  // Newest first.
  all() {
    return [...this.findings.values()].reverse();
  }

  // The ones a person must act on.
  needsYou() {
    return this.all().filter((finding) => !finding.repaired);
  }
}

export const sweepLabel = (finding) => KIND_LABELS[finding.kind] || String(finding.kind).replaceAll("_", " ");

// The findings into `box` (hidden when there are none); `since(ms)` words when, `redraw()` after a dismiss.
export function showSweepFindings(box, findings, { since, redraw }) {
  const all = findings.all();
  box.hidden = all.length === 0;
  if (!all.length) return box.replaceChildren();
  const needing = all.filter((finding) => !finding.repaired).length;
  box.replaceChildren(
    h(
      "div",
      { class: "col-head" },
      h("h2", {}, "Found by the hub's checks"),
      h("span", { class: "hint" }, needing ? `${needing} ${needing === 1 ? "needs" : "need"} you; the rest the hub put right itself` : "all put right by the hub itself"),
    ),
    h(
      "ul",
      { class: "m-sweeps", id: "sweeps-list", "aria-live": "polite" },
      ...all.map((finding) =>
        h(
          "li",
          { class: finding.repaired ? "fixed" : "needs", dataset: { findingId: finding.id, kind: finding.kind, subject: finding.subject } },
          h("span", { class: "kind" }, sweepLabel(finding)),
          h("span", { class: "what" }, finding.message),
          finding.repaired
            ? h("span", { class: "done" }, "Fixed by the hub")
            : h("span", { class: "todo" }, finding.action ? `Needs you: ${finding.action}` : "Needs you"),
          h("span", { class: "when" }, since(finding.at)),
          h("button", { type: "button", onclick: () => (findings.dismiss(finding.id), redraw()) }, "OK"),
        ),
      ),
    ),
  );
}
