// Printer health on a screen (expo, the back office): each printer's state as its print agent last read
// it from the printer (hub/domain/printer_health.py), in plain words: "Grill printer: out of paper since
// 12:03". Kept from the snapshots' `printer_health` (`expo`, `manager`, `printing`: every printer of the
// setup, UNKNOWN when no agent has said) and PRINTER_STATUS; PROFILE_CHANGED renames printers and drops
// those taken out of the setup. A printer that is not ONLINE is shown big, amber or red; the ones that
// are fine stay a small green line.
//
//   const printers = new PrinterHealth();
//   snapshot: printers.load(snapshots);
//   event:    printers.apply(ev);
//   render:   showPrinterHealth(el, printers);     el: the page's strip (hidden while there is no printer)

import { h } from "./ui.js";

const PROBLEM = { OFFLINE: "offline", PAPER_OUT: "out of paper", COVER_OPEN: "cover open" };

// "12:03": the time of day on this screen's clock.
function timeOfDay(ms) {
  const at = new Date(ms);
  return `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
}

// "Grill printer", "Kitchen printer 2" (a name that says printer already is left alone).
export function printerLabel(health) {
  const name = (health.name || health.printer || "").trim();
  return /printer/i.test(name) ? name : `${name} printer`;
}

// The state in plain words, after the printer's label: "out of paper since 12:03", "ready".
export function stateWords(health) {
  const since = health.since ? ` since ${timeOfDay(health.since)}` : "";
  const detail = health.detail ? ` (${health.detail})` : "";
  if (health.state === "ONLINE") return `ready${detail}`;
  if (PROBLEM[health.state]) return `${PROBLEM[health.state]}${since}${detail}`;
  return health.detail ? `not known: ${health.detail}${since}` : `not known${since}`; // UNKNOWN: no agent to say
}

export class PrinterHealth {
  constructor() {
    this.printers = new Map(); // printer id -> its PrinterHealth, in the setup's order
  }

  // Start again from a snapshot that carries `printer_health` (`expo`, `manager`, `printing`: the same list).
  load(snapshots) {
    const found = Object.values(snapshots).find((snap) => snap && Array.isArray(snap.printer_health));
    if (!found) return;
    this.printers = new Map(found.printer_health.map((health) => [health.printer, health]));
  }

  apply(ev) {
    const d = ev.data || {};
    if (ev.type === "PRINTER_STATUS" && d.health) {
      const known = this.printers.get(d.health.printer);
      if (!known || (d.health.version || 0) >= (known.version || 0)) this.printers.set(d.health.printer, d.health);
    } else if (ev.type === "PROFILE_CHANGED" && d.restaurant && Array.isArray(d.restaurant.printers)) {
      const before = this.printers;
      this.printers = new Map(
        d.restaurant.printers.map((p) => [
          p.id,
          { ...(before.get(p.id) || { printer: p.id, state: "UNKNOWN", detail: "no print agent has reported it yet", since: 0, version: 0 }), name: p.name },
        ]),
      );
    }
  }

  all() {
    return [...this.printers.values()];
  }

  troubled() {
    return this.all().filter((health) => health.state !== "ONLINE");
  }
}

// The strip: each printer not ONLINE on a line of its own, big; then the ones that are fine, small.
export function showPrinterHealth(el, book) {
  const all = book.all();
  const bad = book.troubled();
  const fine = all.filter((health) => health.state === "ONLINE");
  el.hidden = all.length === 0;
  el.classList.toggle("trouble", bad.length > 0);
  const line = (health) =>
    h(
      "li",
      { class: `printer ${health.state === "ONLINE" ? "ok" : "bad"} ${health.state.toLowerCase()}`, dataset: { printer: health.printer, state: health.state } },
      h("b", { class: "name" }, `${printerLabel(health)}:`),
      " ",
      h("span", { class: "words" }, stateWords(health)),
    );
  el.replaceChildren(
    ...(bad.length ? [h("ul", { class: "troubled" }, ...bad.map(line))] : []),
    ...(fine.length ? [h("ul", { class: "fine" }, ...fine.map(line))] : []),
  );
}
