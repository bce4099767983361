// Kitchen alerts on a screen (expo, the back office): which stand, by the hub's rule
// (hub/domain/alerts.py), kept from the snapshot and the events, so an alert leaves every
// screen the moment it stops standing, with no reload.
//
// An alert (a station with no live screen, a ticket nobody acknowledged) stands while
//   - its ticket is not acknowledged                  TICKET_ACKED ends it;
//   - its order is open                               ORDER_CANCELLED, ORDER_MERGED (the merged-away
//                                                     order), ORDER_SETTLED (unless the order waits for
//                                                     pickup), ORDER_PICKED_UP end it;
//   - its station has a line of the order to make     read from the expo cards (a CardBook of
//                                                     tickets.js loaded from the `expo` channel):
//                                                     bumped, voided or made anyway ends it.
// A ticket carries its latest alert only: TICKET_UNACKED replaces the STATION_OFFLINE of the same
// ticket. OK on a screen dismisses an alert there only. A STATION_BOTTLENECK (tickets predicted late
// soon; hub/domain/ready_times.py) names the first of them: it stands like that ticket's alert would.
//
// Printing alerts (hub/domain/printing.py) are about a print job (`job_id`), not a ticket:
//   PRINT_MANUAL, PRINT_UNHANDLED  stand while the job is on the manual list, whatever the cards say:
//                                  a PRINT_JOB_CHANGED with the job handled (or off the list) ends
//                                  them; TICKET_ACKED and the order's events do not (as the hub's
//                                  snapshot); PRINT_UNHANDLED replaces the PRINT_MANUAL of its job;
//   PRINT_REROUTED                 told once per failed printer: stands like a kitchen alert.
// A CRITICAL alert cannot be dismissed while it stands (`dismissable`): somebody must act.
//
//   const alerts = new AlertBook(book);      // book: the page's CardBook, subscribed to `expo`
//   snapshot: alerts.load(snapshots);        // the `expo` or `manager` snapshot's alerts
//   event:    alerts.apply(ev);              // before or after book.apply(ev): either order
//   render:   alerts.standing();             // CRITICAL first, then newest first

import { ACTIVE } from "./tickets.js";

const LISTED = new Set(["PRINT_MANUAL", "PRINT_UNHANDLED"]); // stand while their job is on the manual list
const WORDS = {
  STATION_OFFLINE: "STATION OFFLINE",
  TICKET_UNACKED: "NOT ACKNOWLEDGED",
  PRINT_REROUTED: "SENT TO THE BACKUP",
  PRINT_MANUAL: "NOT PRINTED",
  PRINT_UNHANDLED: "NOT PRINTED · ACT NOW",
  STATION_BOTTLENECK: "LATE TICKETS AHEAD",
};

// One entry per ticket (its latest alert), per listed job (its latest printing alert), else per alert.
function alertKey(alert) {
  if (alert.job_id) return LISTED.has(alert.kind) ? `job:${alert.job_id}` : `job:${alert.job_id}:${alert.kind}`;
  return alert.ticket_id || alert.id;
}

const listed = (alert) => Boolean(alert.job_id) && LISTED.has(alert.kind);

// What an alert is, in a word or three for its badge.
export const alertLabel = (alert) => WORDS[alert.kind] || String(alert.kind).replaceAll("_", " ");

// Whether OK may hide it on this screen: not a CRITICAL one while it stands.
export const dismissable = (alert) => alert.severity !== "CRITICAL";

export class AlertBook {
  constructor(book) {
    this.book = book;
    this.alerts = new Map(); // alertKey -> the latest alert of that ticket, job or kind
    this.dismissed = new Set(); // alert ids dismissed on this screen
    this.cards = false; // whether the book holds the expo cards (an `expo` snapshot came)
  }

  // Start again from the snapshots that carry alerts (`expo`, `manager`: the same ones).
  load(snapshots) {
    const found = ["expo", "manager"].map((channel) => snapshots[channel]).filter((snap) => snap && Array.isArray(snap.alerts));
    if (snapshots.expo) this.cards = true;
    if (!found.length) return;
    this.alerts.clear();
    for (const snap of found) for (const alert of snap.alerts) this.alerts.set(alertKey(alert), alert);
  }

  apply(ev) {
    const d = ev.data || {};
    switch (ev.type) {
      case "KITCHEN_ALERT":
        this.alerts.set(alertKey(d.alert), d.alert);
        break;
      case "TICKET_ACKED":
        this.alerts.delete(d.ticket_id);
        break;
      case "PRINT_JOB_CHANGED": {
        const job = d.job || {};
        if (job.handled_at || !job.manual_since) this.alerts.delete(`job:${job.id}`); // handled, or off the list
        break;
      }
      case "ORDER_CANCELLED":
      case "ORDER_PICKED_UP":
        this.forget([d.order_id]);
        break;
      case "ORDER_SETTLED": {
        const open = d.awaiting_pickup || [];
        this.forget((d.order_ids || []).filter((id) => !open.includes(id)));
        break;
      }
      case "ORDER_MERGED":
        this.forget([d.from_order_id]);
        break;
      default:
        break;
    }
  }

  // The alerts of orders that are closed; a listed job's stand until it is handled (as in the hub's snapshot).
  forget(orderIds) {
    for (const [key, alert] of this.alerts) if (orderIds.includes(alert.order_id) && !listed(alert)) this.alerts.delete(key);
  }

  dismiss(id) {
    this.dismissed.add(id);
  }

  // The same rule as the hub's snapshot: an alert stands while its station has something of the order to make.
  // Without the expo cards (no `expo` snapshot yet) only the events above end an alert.
  stands(alert) {
    if (this.dismissed.has(alert.id) && dismissable(alert)) return false;
    if (!this.cards || listed(alert)) return true;
    for (const card of this.book.ofOrder(alert.order_id)) {
      for (const line of card.lines.values()) {
        if (line.station === alert.station && ACTIVE.has(line.status) && line.mark !== "VOIDED" && !line.held) return true;
      }
    }
    return false;
  }

  standing() {
    const critical = (alert) => (alert.severity === "CRITICAL" ? 1 : 0);
    return [...this.alerts.values()]
      .filter((alert) => this.stands(alert))
      .sort((a, b) => critical(b) - critical(a) || (b.at || 0) - (a.at || 0));
  }
}
