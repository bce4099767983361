// Customer board: /board?token=...   Takeaway tokens PREPARING and READY (channel `board`);
// the newest ready token is highlighted; a token leaves READY when its order is picked up
// (ORDER_PICKED_UP). A preparing token shows its pickup estimate, "about N min", from the hub's
// ORDER_PREDICTED (counted down each half minute; "soon" once it is due). Read-only: it sends no commands.

import { Hub } from "./fireflow.js";
import { checkRole, deviceToken, h, noToken, setConnection } from "./ui.js";

const SHOWN = 16; // tokens per column that fit a TV
const token = deviceToken("board");
let preparing = []; // tokens, oldest first
let ready = []; // tokens, newest first
let newest = null;
const tokenOf = new Map(); // order id -> token (ORDER_CANCELLED names the order, not the token)
const readyAt = new Map(); // token -> predicted ready time (ms), while it is preparing

// Snapshot entries are tokens, or { order_id, token } when the hub sends them.
function tokenFrom(entry) {
  if (entry !== null && typeof entry === "object") {
    if (entry.order_id) tokenOf.set(entry.order_id, entry.token);
    return entry.token;
  }
  return entry;
}

function snapshot(snapshots) {
  const snap = snapshots.board || {};
  preparing = (snap.preparing || []).map(tokenFrom);
  ready = (snap.ready || []).map(tokenFrom).reverse();
  newest = null;
  readyAt.clear(); // a board that connects later has the estimates told before it came
  for (const [tok, at] of Object.entries(snap.estimates || {})) if (preparing.includes(Number(tok))) readyAt.set(Number(tok), at);
}

function remove(tok) {
  readyAt.delete(tok);
  preparing = preparing.filter((t) => t !== tok);
  ready = ready.filter((t) => t !== tok);
  if (newest === tok) newest = null;
}

function event(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "TOKEN_PREPARING":
      tokenOf.set(d.order_id, d.token);
      remove(d.token);
      preparing.push(d.token);
      break;
    case "ORDER_PREDICTED":
      if (d.token !== null && d.token !== undefined && preparing.includes(d.token)) readyAt.set(d.token, d.ready_at);
      break;
    case "ORDER_READY":
      if (d.token === null || d.token === undefined) break;
      tokenOf.set(d.order_id, d.token);
      remove(d.token);
      ready.unshift(d.token);
      newest = d.token;
      break;
    case "ORDER_RECALLED": {
      const tok = d.order && d.order.token;
      if (tok === null || tok === undefined) break;
      remove(tok);
      preparing.push(tok);
      break;
    }
    case "ORDER_PICKED_UP":
    case "ORDER_CANCELLED": {
      const tok = d.token ?? tokenOf.get(d.order_id);
      if (tok !== undefined) remove(tok);
      break;
    }
    default:
      break;
  }
}

// "about 6 min" until the predicted time, then "soon": a promise the customer can read from the queue.
function estimate(tok) {
  const at = readyAt.get(tok);
  if (at === undefined) return null;
  const minutes = Math.round((at - Date.now()) / 60000);
  return h("span", { class: "eta" }, minutes >= 1 ? `about ${minutes} min` : "soon");
}

function tokens(list, highlight, withEstimates) {
  return list.slice(0, SHOWN).map((t) => {
    const shown = withEstimates ? estimate(t) : null;
    const parts = shown ? [String(t), shown] : [String(t)];
    return h("li", { class: t === highlight ? "token newest" : "token", dataset: { token: t } }, ...parts);
  });
}

function render() {
  document.getElementById("preparing").replaceChildren(...tokens(preparing, null, true));
  document.getElementById("ready").replaceChildren(...tokens(ready, newest, false));
}

if (!token) {
  noToken("board");
} else {
  const hub = new Hub(token, {
    channels: (welcome) => (checkRole(welcome), ["board"]),
    snapshot,
    event,
    applied: render,
    state: (_, conn) => setConnection(conn),
  }).start();
  window.fireflow = { hub };
  setInterval(render, 30000); // the estimates count down
}
