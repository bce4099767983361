// Back office, the Alerts section: what went, or is going, out of the hub (the outbox: every sale, refund and void
// the books wrote, to ERPNext; every sale's invoice, to the invoice archive; hub/books/outbox.py, pushed by
// hub/workers/outbox.py), so a send that needs a person is plain.
//
// The counts of pending, failed and done on top; under them the failed ones first, each with where it goes
// (ERPNext, Invoice archive), its kind and invoice, the error as it was answered, how many tries, and Retry
// (outbox.retry over the WebSocket: back to pending, tried again now); then the pending ones with when they are
// tried next; then the done ones with the document's name in ERPNext or the PDF's key in the archive, or
// "logged here (ERPNext not set up)" when ERPNEXT_URL is unset.
//
// Read (GET /api/v1/outbox, the latest 200) when the page opens, every REFRESH_MS while the Alerts section is
// shown, every HIDDEN_REFRESH_MS while it is not (the failed ones count in the nav's Alerts badge: a send that
// needs a person is news on any section), after each retry, and on REFRESH. A failed read keeps
// the last list and says in one line what went wrong and since when; a refused retry is said on its item
// ("Already sent: …") and in a notice.

import { explain, h, hhmm, toast } from "./ui.js";

export const REFRESH_MS = 10000;
export const HIDDEN_REFRESH_MS = 60000;
const LOGGED_ONLY = "ERPNEXT_URL is not set"; // the drain's words when there is no ERPNext to send to
const ORDER = { FAILED: 0, PENDING: 1, DONE: 2 };
const KIND_WORDS = { SALE: "Sale", REFUND: "Refund", VOID: "Void" };
// Where a row goes, in words; a target this page does not know yet shows as it is named.
export const TARGETS = { erpnext: "ERPNext", archive: "Invoice archive" };
export const targetName = (item) => TARGETS[item.target] || item.target || "?";

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const title = (item) => `${targetName(item)}: ${KIND_WORDS[item.kind] || item.kind} of invoice ${item.reference}`;
const tries = (n) => `tried ${plural(n, "time", "times")}`;
export const loggedOnly = (item) => item.status === "DONE" && !item.remote_id && String(item.last_error || "").startsWith(LOGGED_ONLY);

// Failed first, then pending, then done; the hub's order (latest first) within each.
export const forShow = (items) => items.map((item, at) => ({ item, at })).sort((a, b) => (ORDER[a.item.status] ?? 3) - (ORDER[b.item.status] ?? 3) || a.at - b.at).map((x) => x.item);

// A refusal of outbox.retry of `item`, in words.
export function retryRefusal(err, item = {}) {
  if (err && err.code === "INVALID_STATE") return item.target === "archive" ? "Already sent: the archive has it, nothing to retry." : `Already sent: ${targetName({ target: item.target || "erpnext" })} has it, nothing to retry.`;
  if (err && err.code === "NOT_FOUND") return "Not in the outbox any more: nothing to retry.";
  return explain(err);
}

// A failed read, in words: the hub's refusal, its answer without one, or no answer at all (offline).
function readProblem(err) {
  if (err && err.code) return explain(err);
  if (err instanceof TypeError || !(err && err.message)) return "no answer from the hub (offline?).";
  return `${err.message}.`;
}

// What became of a done item.
function doneWords(item) {
  if (loggedOnly(item)) return "logged here (ERPNext not set up)";
  if (item.target === "archive") return item.remote_id ? `archived as ${item.remote_id}` : item.last_error ? `nothing archived: ${item.last_error}` : "done";
  if (item.remote_id) return item.kind === "VOID" ? `cancelled in ERPNext: ${item.remote_id}` : `in ERPNext as ${item.remote_id}`;
  return item.last_error ? `nothing sent: ${item.last_error}` : "done";
}

// The panel in `box`. read(path) answers the body or throws (HubError); hub() is the page's Hub (act);
// openInvoice(id) shows an invoice whole.
// onCounts() is told after each read (the page counts the failed ones in its nav).
export function outboxPanel(box, { read, hub, openInvoice, onCounts = () => {} }) {
  let answer = null; // the last GET /api/v1/outbox
  let failed = null; // { message, at } when the last read failed
  let loadedAt = null;
  let seq = 0;
  let timer = null;
  let visible = false;
  const busy = new Set(); // outbox ids with a retry unanswered
  const said = new Map(); // outbox id -> the last refusal of a retry of it, in words

  async function load() {
    clearTimeout(timer);
    const mine = ++seq;
    try {
      const got = await read("/api/v1/outbox");
      if (mine !== seq) return;
      answer = got;
      failed = null;
      loadedAt = Date.now();
      const listed = new Set((got.items || []).map((item) => item.id));
      for (const id of said.keys()) if (!listed.has(id)) said.delete(id);
    } catch (err) {
      if (mine !== seq) return;
      failed = { message: readProblem(err), at: (failed && failed.at) || Date.now() };
    }
    render();
    onCounts();
    timer = setTimeout(load, visible ? REFRESH_MS : HIDDEN_REFRESH_MS);
  }

  // The Alerts section shown (true) or left (false): shown, it is read now and then every REFRESH_MS.
  function shown(now) {
    const was = visible;
    visible = now;
    if (now && !was && seq > 0) load();
  }

  async function retry(item) {
    busy.add(item.id);
    said.delete(item.id);
    render();
    try {
      await hub().act("outbox.retry", { outbox_id: item.id });
      toast(`${title(item)}: back in the queue: it is tried again now.`, "info");
    } catch (err) {
      const words = retryRefusal(err, item);
      said.set(item.id, words);
      toast(`${title(item)}: ${words}`, "error", (err && err.code) || null);
    } finally {
      busy.delete(item.id);
    }
    await load();
  }

  function entry(item) {
    const status = item.status;
    const note = said.get(item.id);
    const lines = [];
    if (status === "FAILED") {
      lines.push(h("span", { class: "ob-error" }, item.last_error || "no error was recorded"));
      lines.push(h("span", { class: "ob-tries" }, `${tries(item.attempts)}; not sent again until you press Retry`));
    } else if (status === "PENDING") {
      lines.push(h("span", { class: "ob-next" }, `next try ${hhmm(item.next_at)}`, item.attempts ? ` · ${tries(item.attempts)}` : ""));
      if (item.attempts && item.last_error) lines.push(h("span", { class: "ob-error soft" }, `last time: ${item.last_error}`));
    } else {
      lines.push(h("span", { class: loggedOnly(item) ? "ob-done logged" : "ob-done" }, doneWords(item)));
    }
    if (note) lines.push(h("span", { class: "ob-said", role: "alert" }, note));
    const when = status === "DONE" ? `done ${hhmm(item.done_at)}` : `since ${hhmm(item.created_at)}`;
    return h(
      "li",
      { class: `ob-item s-${status}`, dataset: { outboxId: item.id, status, target: item.target, kind: item.kind, reference: item.reference } },
      h("span", { class: "ob-status" }, status),
      h(
        "span",
        { class: "ob-what" },
        h("span", { class: `ob-target t-${item.target}` }, targetName(item)),
        " ",
        `${KIND_WORDS[item.kind] || item.kind} of invoice `,
        h("button", { type: "button", class: "ob-invoice", title: "Show the invoice", onclick: () => openInvoice(item.reference) }, item.reference),
      ),
      h("span", { class: "ob-when" }, when),
      status === "FAILED"
        ? h("button", { type: "button", class: "ob-retry go", disabled: busy.has(item.id), onclick: () => retry(item) }, busy.has(item.id) ? "Retrying…" : "Retry")
        : h("span", { class: "ob-act" }),
      h("div", { class: "ob-lines" }, ...lines),
    );
  }

  function render() {
    const counts = (answer && answer.counts) || {};
    const count = (status, word) =>
      h("b", { class: `ob-count s-${status}${counts[status] ? "" : " zero"}`, id: `outbox-count-${status}`, dataset: { count: counts[status] ?? "" } }, answer ? `${counts[status] ?? 0} ${word}` : `— ${word}`);
    const items = forShow((answer && answer.items) || []);
    box.replaceChildren(
      h(
        "div",
        { class: "col-head" },
        h("h2", {}, "Sent out: ERPNext, invoice archive"),
        h("span", { class: "ob-counts" }, count("FAILED", "failed"), count("PENDING", "pending"), count("DONE", "done")),
        h("span", { class: "hint", id: "outbox-updated" }, loadedAt ? `read ${hhmm(loadedAt)}` : ""),
        h("button", { type: "button", id: "outbox-reload", onclick: () => load() }, "REFRESH"),
      ),
      ...(failed ? [h("p", { class: "problem", id: "outbox-problem", role: "alert" }, `What was sent out could not be read (since ${hhmm(failed.at)}): ${failed.message}`)] : []),
      h(
        "ul",
        { class: "ob-list", id: "outbox-list", "aria-live": "polite" },
        items.length
          ? items.map(entry)
          : h("li", { class: "none" }, answer ? "Nothing sent out yet: each sale, refund and void goes to ERPNext, and each sale's invoice to the archive, once it is paid." : failed ? "Not read yet." : "Reading…"),
      ),
    );
  }

  return {
    load,
    shown,
    failedCount: () => (answer && answer.counts && answer.counts.FAILED) || 0,
    state: () => ({ answer, failed, loadedAt, busy: [...busy], said: Object.fromEntries(said) }),
  };
}
