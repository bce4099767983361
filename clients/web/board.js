// Customer board: /board?token=...   Takeaway tokens PREPARING and READY (channel `board`);
// the newest ready token is highlighted; a token leaves READY when its order is picked up
// (ORDER_PICKED_UP). Read-only: it sends no commands.

import { Hub } from "./fireflow.js";
import { checkRole, deviceToken, h, noToken, setConnection } from "./ui.js";

const SHOWN = 16; // tokens per column that fit a TV
const token = deviceToken("board");
let preparing = []; // tokens, oldest first
let ready = []; // tokens, newest first
let newest = null;
const tokenOf = new Map(); // order id -> token (ORDER_CANCELLED names the order, not the token)

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
}

function remove(tok) {
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

function tokens(list, highlight) {
  return list.slice(0, SHOWN).map((t) =>
    h("li", { class: t === highlight ? "token newest" : "token", dataset: { token: t } }, String(t)),
  );
}

function render() {
  document.getElementById("preparing").replaceChildren(...tokens(preparing, null));
  document.getElementById("ready").replaceChildren(...tokens(ready, newest));
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
}
