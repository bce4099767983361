// Kitchen display: /kds?token=...&stations=grill[,fry]   (default: the token's stations; * = all)
//
// Tap a line to mark it DONE (tap a DONE line to recall it); BUMP (or Enter / B) marks the
// station's whole ticket done (order.bump with the station). Bumped cards wait in the
// recently-bumped strip, where RECALL (or R) brings them back (order.recall with the station).
// A ticket no printer could print (the station's manual list, manual_jobs.js) is flagged on its
// card, "NOT PRINTED — cook from this screen", until somebody handles it; "Got it" says the kitchen
// makes it from the screen (print.handled BY_HAND).

import { Hub } from "./fireflow.js";
import { ManualJobs, cardOf, flagCard, keepTicking, showUnflagged } from "./manual_jobs.js";
import { CardBook, FINISHED, isActive, renderCard, tickAges } from "./tickets.js";
import {
  beep,
  checkRole,
  deviceToken,
  h,
  noToken,
  reportFailure,
  setConnection,
  toast,
  unlockAudioOnFirstTouch,
} from "./ui.js";

const token = deviceToken("kds");
const wanted = new URLSearchParams(window.location.search).get("stations");
const book = new CardBook();
const manual = new ManualJobs(); // the station's tickets no printer could print
const menu = new Map(); // menu item id -> { id, name, station, out, remaining }
let selected = null; // key of the selected card
let menuDirty = true;
let hub = null;
// Every screen of a station shows its tickets, and the first acknowledgement is the one that counts (the hub
// answers the others with nothing acknowledged, each one a command all the same). So a screen waits a moment of
// its own, up to ACK_SPREAD_MS, and sends only what no other screen's TICKET_ACKED has covered meanwhile: about
// one ticket.ack a ticket instead of one a screen. A ticket not acknowledged alerts after ack_timeout_s (30 s).
const ACK_SPREAD_MS = 1000;
const acks = { sent: 0, covered: 0 }; // tickets this screen acknowledged, and those another screen did first

async function allStations() {
  const res = await fetch("/api/v1/menu", { headers: { Authorization: `Bearer ${token}` } });
  const body = await res.json();
  return (body.menu && body.menu.stations) || [];
}

// The stations asked for (&stations=, else the token's), less those the token is not for: said
// plainly here rather than refused by the hub channel by channel.
async function channels(welcome) {
  checkRole(welcome);
  const mine = welcome.stations || [];
  const asked = (wanted ? wanted.split(",") : mine).map((s) => s.trim()).filter(Boolean);
  let list = asked.includes("*") ? await allStations() : asked;
  if (!mine.includes("*")) {
    const others = asked.filter((s) => s !== "*" && !mine.includes(s));
    if (others.length) toast(`This kitchen token is for ${mine.join(", ") || "no station"}, not ${others.join(", ")}`);
    list = list.filter((s) => mine.includes(s));
  }
  if (!list.length) {
    throw new Error(mine.length ? `this kitchen token is for ${mine.join(", ")} only` : "this kitchen token names no station");
  }
  return [...list.map((s) => `kitchen:${s}`), "menu"];
}

function snapshot(snapshots) {
  book.load(snapshots);
  manual.load(snapshots);
  if (snapshots.menu) {
    menu.clear();
    for (const item of snapshots.menu.items || []) menu.set(item.id, { ...item });
    menuDirty = true;
  }
}

function event(ev) {
  const d = ev.data || {};
  manual.apply(ev);
  switch (ev.type) {
    case "STOCK_CHANGED": {
      const s = d.stock;
      const item = menu.get(s.menu_item_id) || { id: s.menu_item_id, name: s.name };
      const remaining = s.on_hand === null || s.on_hand === undefined ? null : Math.max(s.on_hand - (s.reserved || 0), 0);
      menu.set(s.menu_item_id, { ...item, out: s.out, remaining });
      menuDirty = true;
      break;
    }
    case "ITEM_86D":
    case "ITEM_AVAILABLE": {
      const item = menu.get(d.menu_item_id) || { id: d.menu_item_id, name: d.name };
      const out = ev.type === "ITEM_86D";
      menu.set(d.menu_item_id, { ...item, out, remaining: "available" in d && !out ? d.available : item.remaining });
      menuDirty = true;
      break;
    }
    default:
      book.apply(ev);
  }
}

function send(type, data) {
  return hub.act(type, data).catch(reportFailure);
}

function onLine(card, line) {
  if (line.held) return toast(`course ${line.course} is on hold`, "info");
  if (line.mark === "VOIDED") return undefined;
  const type = FINISHED.has(line.status) ? "item.recall" : "item.done";
  return send(type, { order_id: card.order_id, line_id: line.line_id });
}

// A card whose ticket did not print wears the flag, with "Got it".
const flagging = () => ({ hub, manual, redraw: render });
const flagged = (el, card) => flagCard(el, manual.ofCard(card.order_id, card.station), flagging());

const bump = (card) => send("order.bump", { order_id: card.order_id, station: card.station });
const recall = (card) => send("order.recall", { order_id: card.order_id, station: card.station });

// The stations shown: those asked for, less any the hub refused this device.
function stationsShown() {
  return (hub.channels || []).filter((c) => c.startsWith("kitchen:")).map((c) => c.slice("kitchen:".length));
}

function render() {
  const now = hub.now();
  const queue = book.queue();
  const stations = stationsShown();
  const stationTag = stations.length > 1;
  if (!queue.some((c) => c.key === selected)) selected = null;
  document.getElementById("title").textContent = stations.map((s) => s.toUpperCase()).join(" + ") || "KITCHEN";
  const cards = queue.map((card, i) => {
    const actions = isActive(card)
      ? [["BUMP", () => bump(card), "bump"]]
      : [["CLEAR", () => (book.dismiss(card.key), render()), "recall"]]; // a ticket voided whole
    const settings = book.settingsFor(card.station);
    const first = i === 0 && isActive(card);
    return flagged(renderCard(card, { now, settings, onLine, actions, stationTag, first, selected: card.key === selected }), card);
  });
  document.getElementById("queue").replaceChildren(...(cards.length ? cards : [h("p", { class: "empty" }, "No tickets")]));
  const recent = book.bumped(now);
  const bumped = recent.map((card) =>
    flagged(
      renderCard(card, {
        now,
        settings: book.settingsFor(card.station),
        stationTag,
        actions: [["RECALL", () => recall(card), "recall"]],
      }),
      card,
    ),
  );
  document.getElementById("bumped").replaceChildren(...bumped);
  const shown = new Set([...queue, ...recent].map((card) => card.key));
  showUnflagged(document.getElementById("unprinted"), manual.list().filter((job) => !shown.has(cardOf(job))), flagging());
  renderAllDay(stations);
  renderMenu();
  for (const ack of book.takeAcks()) setTimeout(() => sendAck(ack), Math.random() * ACK_SPREAD_MS);
  if (book.takeBeeps()) beep();
}

function sendAck(ack) {
  const ticketIds = book.unacked(ack.ticket_ids);
  acks.covered += ack.ticket_ids.length - ticketIds.length;
  if (!ticketIds.length) return;
  acks.sent += ticketIds.length;
  hub.act("ticket.ack", { ...ack, ticket_ids: ticketIds }).catch((err) => console.warn("ticket.ack", err.message));
}

function renderAllDay(stations) {
  const totals = book.allDay();
  const parts = [];
  for (const station of stations) {
    const items = totals.get(station);
    if (!items) continue;
    parts.push(h("span", { class: "st" }, `${station.toUpperCase()} ALL DAY`));
    for (const [name, qty] of [...items].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
      parts.push(h("span", { dataset: { station, item: name, qty } }, h("b", {}, String(qty)), ` ${name}`));
    }
  }
  if (!parts.length) parts.push(h("span", { class: "st" }, "ALL DAY: nothing to make"));
  document.getElementById("allday").replaceChildren(...parts);
}

function renderMenu() {
  const panel = document.getElementById("menu");
  const typing = document.activeElement instanceof HTMLInputElement && panel.contains(document.activeElement);
  if (panel.hidden || !menuDirty || typing) return; // never redrawn under a typing cook
  menuDirty = false;
  const stations = stationsShown();
  const items = [...menu.values()].filter((i) => stations.includes(i.station)).sort((a, b) => a.name.localeCompare(b.name));
  const rows = items.map((item) => {
    const input = h("input", { type: "number", min: 0, placeholder: "count", "aria-label": `portions of ${item.name}` });
    const set = () => {
      const quantity = input.value.trim() === "" ? null : Number(input.value);
      send("stock.set", { menu_item_id: item.id, quantity });
      input.value = "";
      input.blur();
    };
    input.addEventListener("keydown", (e) => e.key === "Enter" && set());
    return h(
      "div",
      { class: `menu-item${item.out ? " out" : ""}`, dataset: { itemId: item.id } },
      h("span", { class: "name" }, item.name),
      h("span", { class: "left", title: "portions left" }, item.remaining === null || item.remaining === undefined ? "∞" : String(item.remaining)),
      item.out
        ? h("button", { class: "back-btn", type: "button", onclick: () => send("stock.available", { menu_item_id: item.id }) }, "UN-86")
        : h("button", { class: "out-btn", type: "button", onclick: () => send("stock.out", { menu_item_id: item.id }) }, "86"),
      input,
      h("button", { type: "button", onclick: set }, "SET"),
    );
  });
  panel.replaceChildren(
    h("h2", {}, "Menu — 86 / portions left"),
    ...(rows.length ? rows : [h("p", { class: "empty" }, "No menu items for this station")]),
    h("p", { class: "help" }, "SET with an empty count stops counting."),
  );
}

function toggleMenu() {
  const panel = document.getElementById("menu");
  panel.hidden = !panel.hidden;
  menuDirty = true;
  renderMenu();
}

function onKey(e) {
  if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
  const key = e.key.toLowerCase();
  if ((key === "enter" || key === " ") && e.target instanceof HTMLButtonElement) return; // the button's own press
  const queue = book.queue();
  const at = queue.findIndex((c) => c.key === selected);
  if (key === "arrowright" || key === "arrowleft") {
    const step = key === "arrowright" ? 1 : -1;
    const next = queue[Math.min(Math.max(at + step, 0), queue.length - 1)];
    selected = next ? next.key : null;
  } else if (/^[1-9]$/.test(key)) {
    const card = queue[Number(key) - 1];
    if (card) selected = card.key;
  } else if (key === "enter" || key === "b") {
    const card = queue[at] || queue[0];
    if (card) bump(card);
  } else if (key === "r") {
    const [last] = book.bumped(hub.now(), 1);
    if (last) recall(last);
  } else if (key === "m") {
    toggleMenu();
  } else {
    return;
  }
  e.preventDefault();
  render();
}

if (!token) {
  noToken("kds");
} else {
  hub = new Hub(token, {
    channels,
    snapshot,
    event,
    applied: render,
    state: (_, conn) => setConnection(conn),
    problem: (message) => toast(message),
  }).start();
  window.fireflow = { hub, book, menu, manual, acks: () => ({ ...acks }) };
  for (const id of ["queue", "bumped"]) keepTicking(document.getElementById(id), hub); // how long a flagged ticket has waited
  document.getElementById("menu-toggle").addEventListener("click", toggleMenu);
  document.getElementById("menu").addEventListener("focusout", () => setTimeout(renderMenu));
  document.addEventListener("keydown", onKey);
  unlockAudioOnFirstTouch();
  let ticks = 0;
  setInterval(() => {
    ticks += 1;
    if (ticks % 15 === 0) render(); // the bumped strip forgets cards past the recall window
    else tickAges(document.getElementById("queue"), hub.now());
  }, 1000);
}
