// The manual list on a screen: print jobs no printer could print, or that an agent took and never
// said it printed (UNCONFIRMED), which a person must handle (hub/domain/printing.py, step 2 of the
// fallback chain). Kept from the snapshots' `manual` (`expo`, `manager`: every listed job;
// `kitchen:<station>`: that station's) and PRINT_JOB_CHANGED, so an entry leaves every screen the
// moment anybody handles it, with no reload.
//
//   const manual = new ManualJobs();
//   snapshot: manual.load(snapshots);
//   event:    manual.apply(ev);
//   expo, manager: showManualList(el, manual, { hub, redraw })   each job in words, how long it has
//                  waited, CRITICAL once nobody handled it in time, "Done by hand" (print.handled
//                  BY_HAND), "It printed" (FOUND_PRINTED, for a job that may have printed) and
//                  "Reprint" (print.reprint); a refusal said in words ("Already handled by expo-2").
//   kds:           flagCard(el, manual.ofCard(card.order_id, card.station), opts) flags a card whose
//                  ticket did not print; showUnflagged(el, jobs, opts) the listed jobs with no card;
//                  keepTicking(el, hub) keeps the waits shown under el counting.

import { clock, explain, h, toast } from "./ui.js";

// Whether a job waits for a person: on the manual list and nobody has handled it (printing.on_manual_list).
export const listed = (job) => Boolean(job && job.manual_since) && !job.handled_at;

const byAge = (a, b) => (a.created_at || 0) - (b.created_at || 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class ManualJobs {
  constructor() {
    this.jobs = new Map(); // job id -> the job, while it is listed
    this.busy = new Set(); // job ids with a command of this screen unanswered
    this.said = new Map(); // job id -> the last refusal for it, in words
  }

  // Start again from the snapshots that carry the list (`expo`, `manager`, each `kitchen:<station>`).
  load(snapshots) {
    const found = Object.values(snapshots).filter((snap) => snap && Array.isArray(snap.manual));
    if (!found.length) return;
    this.jobs.clear();
    for (const snap of found) for (const job of snap.manual) if (listed(job)) this.jobs.set(job.id, job);
  }

  apply(ev) {
    if (ev.type !== "PRINT_JOB_CHANGED" && ev.type !== "PRINT_JOB") return;
    const job = (ev.data || {}).job;
    if (!job) return;
    if (listed(job)) {
      this.jobs.set(job.id, job);
    } else {
      this.jobs.delete(job.id);
      this.said.delete(job.id);
    }
  }

  // Oldest first, as the hub's snapshot.
  list() {
    return [...this.jobs.values()].sort(byAge);
  }

  // The listed jobs of a kitchen card (one per order per station; a job is one ticket of it).
  ofCard(orderId, station) {
    return this.list().filter((job) => cardOf(job) === `${orderId}|${station}`);
  }
}

// The key of the kitchen card a job's ticket is on (tickets.js keys cards by order and station).
export function cardOf(job) {
  const ticket = job.ticket || {};
  return `${ticket.order_id || job.order_id}|${ticket.station || job.station}`;
}

const capital = (s) => (s ? s[0].toUpperCase() + s.slice(1) : "");
const unconfirmed = (job) => job.state === "UNCONFIRMED";

// "Order 12 — Grill ticket", "Order 12 — Grill VOID ticket", "Receipt of order 7", "Z-report".
export function jobTitle(job) {
  const ticket = job.ticket;
  if (job.kind === "RECEIPT") return `Receipt of order ${String(job.order_id).split(":").pop() || job.order_id}`;
  if (job.kind === "Z_REPORT") return "Z-report";
  const what = `${capital((ticket && ticket.station) || job.station)}${ticket && ticket.kind === "VOID" ? " VOID" : ""} ticket`;
  return ticket ? `Order ${ticket.order_number} — ${what}` : what;
}

// Why it is listed: "no printer could print it (offline)" / "check the printer: it may have printed (...)".
export function jobWhy(job) {
  const reason = job.reason ? ` (${job.reason})` : "";
  return unconfirmed(job) ? `check the printer: it may have printed${reason}` : `no printer could print it${reason}`;
}

// What the ticket says, to make it by hand: "2× Classic Burger (extra cheese) · 1× Fries".
export function jobLines(job) {
  const lines = (job.ticket && job.ticket.lines) || [];
  return lines
    .map((line) => {
      const extras = [...(line.modifiers || []), line.notes].filter(Boolean);
      const held = line.change === "HELD" ? " — held" : "";
      return `${line.quantity}× ${line.name}${extras.length ? ` (${extras.join(", ")})` : ""}${held}`;
    })
    .join(" · ");
}

// A refusal of print.handled or print.reprint, in words.
export function refusal(err) {
  const d = (err && err.frame && err.frame.details) || {};
  if (err && err.code === "INVALID_STATE") {
    if (d.handled_by) return `Already handled by ${d.handled_by}${d.handled ? ` (${d.handled})` : ""}.`;
    if (d.reprint_id) return `Already reprinted as ${d.reprint_id}: reprint that one if it is lost too.`;
    if (d.state === "PENDING" || d.state === "CLAIMED") return "Still printing: wait for it before reprinting.";
    if (d.job_id) return "Not on the list any more: nothing to handle.";
  }
  if (err && err.code === "FORBIDDEN" && d.station) return `That is ${d.station}'s ticket: a screen of another station cannot handle it.`;
  if (err && err.code === "NOT_FOUND") return "That print job is gone: nothing to handle.";
  return explain(err);
}

// Send a command about a job: its buttons wait while it is unanswered; a refusal is said in words.
async function send(manual, opts, job, type, data, done = null) {
  manual.busy.add(job.id);
  manual.said.delete(job.id);
  opts.redraw();
  try {
    const ack = await opts.hub.act(type, data);
    if (done) done(ack);
  } catch (err) {
    const words = refusal(err);
    manual.said.set(job.id, words);
    toast(`${jobTitle(job)}: ${words}`, "error", (err && err.code) || null);
  } finally {
    manual.busy.delete(job.id);
    opts.redraw();
  }
}

const handled = (manual, opts, job, how) => send(manual, opts, job, "print.handled", { job_id: job.id, how });

function reprint(manual, opts, job) {
  send(manual, opts, job, "print.reprint", { job_id: job.id }, (ack) => {
    const copy = ack && ack.result && ack.result.job;
    toast(`${jobTitle(job)}: reprinting${copy && copy.printer ? ` on printer ${copy.printer}` : ""}.`, "info");
  });
}

const waited = (job, now) => `waiting ${clock(now - job.manual_since)}`;

// Every second: the waits of the entries and flags under root, without redrawing them.
function tickWaits(root, now) {
  for (const el of root.querySelectorAll(".waited[data-since]")) el.textContent = `waiting ${clock(now - Number(el.dataset.since))}`;
}

// Keep the waits under el ticking every second (once per element).
export function keepTicking(el, hub) {
  if (el.dataset.ticking) return;
  el.dataset.ticking = "true";
  setInterval(() => tickWaits(el, hub.now()), 1000);
}

function entry(job, manual, opts, now) {
  const busy = manual.busy.has(job.id);
  const critical = Boolean(job.critical_at);
  const said = manual.said.get(job.id);
  const button = (cls, label, onclick) => h("button", { type: "button", class: cls, disabled: busy, onclick }, label);
  return h(
    "li",
    {
      class: `manual-job${critical ? " critical" : ""}`,
      dataset: { jobId: job.id, state: job.state, orderId: job.order_id, station: job.station, critical: critical ? "true" : null },
    },
    h("span", { class: "badge" }, critical ? "NOBODY HAS HANDLED IT" : unconfirmed(job) ? "MAY NOT HAVE PRINTED" : "NOT PRINTED"),
    h(
      "div",
      { class: "what" },
      h("span", { class: "title" }, jobTitle(job)),
      h("span", { class: "why" }, `: ${jobWhy(job)}`),
      critical && h("span", { class: "why" }, " — it may not be made: act now"),
      jobLines(job) && h("div", { class: "ticket-lines" }, jobLines(job)),
      said && h("div", { class: "problem", role: "alert" }, said),
    ),
    h("span", { class: "waited", dataset: { since: job.manual_since } }, waited(job, now)),
    h(
      "div",
      { class: "acts" },
      button("by-hand", "Done by hand", () => handled(manual, opts, job, "BY_HAND")),
      unconfirmed(job) && button("found", "It printed", () => handled(manual, opts, job, "FOUND_PRINTED")),
      button("reprint", "Reprint", () => reprint(manual, opts, job)),
    ),
  );
}

// The panel (expo, manager): hidden while nothing is listed. opts: { hub, redraw, heading }.
export function showManualList(el, manual, opts) {
  const jobs = manual.list();
  const now = opts.hub.now();
  el.hidden = jobs.length === 0;
  el.classList.toggle("critical", jobs.some((job) => job.critical_at));
  const heading = opts.heading || "Not printed — make these by hand, or reprint them";
  el.replaceChildren(
    h("h2", {}, heading, h("b", { class: "count" }, String(jobs.length))),
    h("ul", {}, jobs.map((job) => entry(job, manual, opts, now))),
  );
  keepTicking(el, opts.hub);
}

function gotIt(manual, opts, jobs) {
  for (const job of jobs) if (!manual.busy.has(job.id)) handled(manual, opts, job, "BY_HAND");
}

const COOK = "NOT PRINTED — cook from this screen";
const VOIDED = "VOID NOT PRINTED — go by this screen, not the paper";
const GONE = "NOT PRINTED — its card has left this screen: say Got it once it is made";

function flag(jobs, manual, opts, title = null, text = null) {
  const critical = jobs.some((job) => job.critical_at);
  const voids = jobs.every((job) => job.ticket && job.ticket.kind === "VOID");
  const maybe = jobs.every(unconfirmed);
  const said = jobs.map((job) => manual.said.get(job.id)).find(Boolean);
  const oldest = jobs.reduce((a, b) => (b.manual_since < a.manual_since ? b : a));
  return h(
    "div",
    { class: `print-flag${critical ? " critical" : ""}`, dataset: { jobIds: jobs.map((job) => job.id).join(" ") } },
    title && h("div", { class: "flag-title" }, title),
    h("strong", { class: "flag-text" }, text || (voids ? VOIDED : COOK)),
    h(
      "span",
      { class: "flag-why" },
      maybe ? "The printer may have printed it: check it before making it twice" : "No printer could print this ticket",
      " · ",
      h("span", { class: "waited", dataset: { since: oldest.manual_since } }, waited(oldest, opts.hub.now())),
    ),
    said && h("span", { class: "problem" }, said),
    h(
      "button",
      { type: "button", class: "got-it", disabled: jobs.every((job) => manual.busy.has(job.id)), onclick: () => gotIt(manual, opts, jobs) },
      "Got it",
    ),
  );
}

// A kitchen card whose ticket did not print (jobs: manual.ofCard of it): flagged under its header,
// "Got it" says it is being made from the screen (print.handled BY_HAND). opts: { hub, redraw, manual }.
export function flagCard(el, jobs, opts) {
  if (!jobs.length) return el;
  el.classList.add("unprinted");
  if (jobs.some((job) => job.critical_at)) el.classList.add("unprinted-critical");
  el.dataset.unprinted = jobs.map((job) => job.id).join(" ");
  el.querySelector("header").after(flag(jobs, opts.manual, opts));
  return el;
}

// The listed jobs with no card on this screen (bumped and gone, or the order closed): flagged alone.
export function showUnflagged(el, jobs, opts) {
  el.hidden = jobs.length === 0;
  el.replaceChildren(...jobs.map((job) => flag([job], opts.manual, opts, `${jobTitle(job)}: ${jobLines(job)}`, GONE)));
  keepTicking(el, opts.hub);
}
