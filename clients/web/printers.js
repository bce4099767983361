// Printers: /printers (no token). What the demo's emulated ESC/POS printers printed, as the paper
// came out: each line with its size, weight, inversion and alignment, on a slip as wide as the
// printer's paper. The printers are emulators in the demo's own process (fireflow demo), so the
// page reads /printers.json, polled every second and redrawn only when something changed.
// "All" shows every printer's tickets newest first; a printer's chip (or /printers#<id>) only its own.

import { h } from "./ui.js";

const POLL_MS = 1000;
const IDLE_POLL_MS = 5000; // while this hub runs no emulated printer (it may be a demo restarting)
const SHOWN = 24; // slips on "All"; one printer shows the newest the hub process keeps (30)
const FRESH_MS = 8000; // a slip printed while the page is open is marked NEW this long

const EMPTY = [...document.getElementById("empty").childNodes]; // the page's own words for "nothing yet"
let state = null; // the last /printers.json
let drawn = ""; // what was drawn last: version, filter, agent and whether the hub answered
let answering = false; // whether the last read of /printers.json was answered
const opened = Date.now();

function selected() {
  return decodeURIComponent(location.hash.slice(1));
}

function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

// One printed line: padded to its place on the paper as the printer aligns it, then drawn at its
// size (double width and height are a scale, so a 21-character double line fills 42 columns).
function line(printed, columns) {
  const room = Math.max(1, Math.floor(columns / printed.width));
  const length = printed.text.length;
  let lead = 0;
  if (printed.align === "center") lead = Math.max(0, Math.floor((room - length) / 2));
  else if (printed.align === "right") lead = Math.max(0, room - length);
  const spans = printed.spans.map((span) => {
    const cls = [span.bold && "b", span.underline && "u", span.inverse && "inv"].filter(Boolean).join(" ");
    return h("span", { class: cls || null }, span.text);
  });
  const row = h("span", { class: "row" }, " ".repeat(lead), ...spans);
  if (printed.width !== 1 || printed.height !== 1) {
    row.style.transform = `scale(${printed.width}, ${printed.height})`;
  }
  const el = h("div", { class: "pl" }, row);
  el.style.setProperty("--h", printed.height);
  return el;
}

function slip(printer, ticket) {
  const fresh = ticket.at >= opened && Date.now() - ticket.at < FRESH_MS;
  const paper = h(
    "div",
    { class: "paper", role: "img", "aria-label": ticket.text },
    ticket.lines.map((l) => line(l, printer.columns)),
  );
  paper.style.setProperty("--cols", printer.columns);
  return h(
    "article",
    { class: fresh ? "slip fresh" : "slip", dataset: { printer: printer.id, number: ticket.number } },
    h(
      "header",
      {},
      h("span", { class: "who" }, printer.name),
      h("span", { class: "n" }, `#${ticket.number}`),
      fresh && h("span", { class: "badge new" }, "NEW"),
      h("span", { class: "at" }, time(ticket.at)),
    ),
    paper,
    h("footer", { class: ticket.cut ? "cut" : "cut torn" }, ticket.cut ? "✂ cut" : "NOT CUT: the job stopped here"),
  );
}

function chip(id, label, detail, count, problem, about) {
  const on = selected() === id;
  return h(
    "button",
    {
      type: "button",
      class: ["chip", on && "on", problem && "down"].filter(Boolean).join(" "),
      "aria-pressed": on ? "true" : "false",
      dataset: { printer: id },
      title: problem || about,
      onclick: () => {
        location.hash = id ? `#${encodeURIComponent(id)}` : "";
        if (!id) history.replaceState(null, "", location.pathname);
        draw(true);
      },
    },
    h("span", { class: "label" }, label),
    h("span", { class: "count" }, String(count)),
    h("span", { class: "detail" }, problem ? "NOT LISTENING" : detail),
  );
}

function draw(force = false) {
  if (state === null) return;
  const filter = selected();
  const key = `${state.version}|${filter}|${state.agent}|${answering}`;
  if (!force && key === drawn) return;
  drawn = key;
  const printers = state.printers;
  const none = !state.emulated || printers.length === 0;
  document.getElementById("none").hidden = !none;
  const agent = document.getElementById("agent");
  agent.hidden = none;
  // The hub's last word on the agent is stale once the hub stops answering: never "printing" then.
  agent.textContent = `AGENT: ${answering ? state.agent : "unknown (offline)"}`;
  agent.dataset.state = answering ? state.agent.split(":")[0] : "unknown";
  const total = printers.reduce((sum, p) => sum + p.printed, 0);
  document.getElementById("chips").replaceChildren(
    ...(none
      ? []
      : [
          chip("", "All", `${printers.length} printers`, total, "", "every printer's tickets, newest first"),
          ...printers.map((p) => chip(p.id, p.name, p.address, p.printed, p.problem, `${p.address}: ${p.serves}`)),
        ]),
  );
  const shown = printers.filter((p) => !filter || p.id === filter);
  const slips = shown
    .flatMap((p) => p.tickets.map((t) => ({ p, t })))
    .sort((a, b) => b.t.at - a.t.at || printers.indexOf(a.p) - printers.indexOf(b.p));
  const one = printers.find((p) => p.id === filter);
  const about = document.getElementById("about");
  about.hidden = !one;
  if (one) about.textContent = `${one.name} on ${one.address} prints: ${one.serves}.`;
  const empty = document.getElementById("empty");
  empty.hidden = none || slips.length > 0;
  if (one) empty.textContent = `Nothing printed on ${one.name} yet.`;
  else empty.replaceChildren(...EMPTY);
  document
    .getElementById("paper")
    .replaceChildren(...slips.slice(0, filter ? slips.length : SHOWN).map(({ p, t }) => slip(p, t)));
}

function connection(live, detail = "") {
  answering = live;
  document.body.dataset.conn = live ? "live" : "offline";
  document.getElementById("conn").textContent = live ? "LIVE" : `HUB NOT ANSWERING${detail ? ` · ${detail}` : ""}`;
}

async function poll() {
  try {
    const response = await fetch("/printers.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    state = await response.json();
    connection(true);
    draw();
  } catch {
    connection(false, "retrying");
    draw();
  } finally {
    const freshLeft = document.querySelector(".slip.fresh");
    setTimeout(
      () => {
        if (freshLeft) drawn = ""; // redraw once the NEW marks are due to go
        poll();
      },
      state && !state.emulated ? IDLE_POLL_MS : POLL_MS,
    );
  }
}

window.addEventListener("hashchange", () => draw(true));
window.fireflow = { printers: () => state };
poll();
