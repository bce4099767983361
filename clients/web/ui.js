// Small page helpers shared by the screens: DOM building, the device token, the connection
// bar, toasts and the new-ticket beep.

// h("li", { class: "line", dataset: { lineId: "L1" }, onclick }, "2× ", name) -> element.
// Children are text or elements (null / false skipped); text is never parsed as HTML.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "dataset") {
      for (const [name, v] of Object.entries(value)) if (v !== null && v !== undefined) el.dataset[name] = v;
    }
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// -- the device token --------------------------------------------------------------------------
//
// Each tab keeps its own device. `?token=` is remembered in localStorage under the token's
// device (`fireflow.token.<page>.<device>`) and replaced in the address bar by `?device=<device>`,
// which is not secret: a reload of that tab, a restored session or a bookmark finds its own
// token again, so a grill tab and a fry tab in one browser never take each other's. Plain
// `/kds` (a kiosk restarting on its home page) takes the device this browser opened there last.

// What a token says about itself. Only to choose where to keep it and to word a refusal: the hub
// checks the signature; this reads the payload and nothing here trusts it.
export function tokenInfo(token) {
  try {
    const parts = String(token).split(".");
    // A JSON Web Token's claims are its middle part; a token of the older format has them first.
    const body = (parts.length === 3 ? parts[1] : parts[0]).replace(/-/g, "+").replace(/_/g, "/");
    const payload = JSON.parse(atob(body + "=".repeat((4 - (body.length % 4)) % 4)));
    if (!payload || typeof payload !== "object") return null;
    const device = payload.sub ?? payload.d;
    return { role: payload.role, device, stations: payload.st || [], expires: Number(payload.exp) * 1000 };
  } catch {
    return null;
  }
}

function stored(key, value) {
  try {
    if (value === undefined) return localStorage.getItem(key);
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
    return value;
  } catch {
    return null; // storage disabled: nothing is remembered
  }
}

function setQuery(params) {
  const query = params.toString();
  history.replaceState(null, "", window.location.pathname + (query ? `?${query}` : "") + window.location.hash);
}

let screen = { page: "", token: null, device: null }; // this page, as deviceToken found it

export function deviceToken(page) {
  screen = { page, token: null, device: null };
  const params = new URLSearchParams(window.location.search);
  const given = params.get("token");
  if (given) {
    screen.token = given;
    const device = tokenInfo(given)?.device;
    // Kept only where it can be found again; otherwise it stays in the address bar.
    if (device && stored(`fireflow.token.${page}.${device}`, given) === given) {
      stored(`fireflow.device.${page}`, device);
      params.delete("token");
      params.set("device", device);
      setQuery(params);
      screen.device = device;
    }
    return given;
  }
  let device = params.get("device");
  if (!device) {
    device = stored(`fireflow.device.${page}`);
    const legacy = stored(`fireflow.token.${page}`); // kept per page before devices were
    const old = legacy && tokenInfo(legacy)?.device;
    if (old) {
      stored(`fireflow.token.${page}.${old}`, legacy);
      stored(`fireflow.token.${page}`, null);
      device = device || old;
    }
    if (!device) return null;
    params.set("device", device);
    setQuery(params);
  }
  screen.device = device;
  screen.token = stored(`fireflow.token.${page}.${device}`);
  if (screen.token) stored(`fireflow.device.${page}`, device);
  return screen.token;
}

// -- what each screen needs, and saying plainly what is wrong -----------------------------------

export const SCREENS = {
  kds: { name: "kitchen screen", roles: ["KITCHEN"], needs: "a kitchen token", mint: "--role KITCHEN --stations grill" },
  expo: { name: "expo screen", roles: ["EXPO", "MANAGER", "OWNER"], needs: "an expo token", mint: "--role EXPO" },
  board: { name: "order board", roles: ["DISPLAY"], needs: "a display token", mint: "--role DISPLAY" },
  cashier: { name: "cashier screen", roles: ["CASHIER", "MANAGER", "OWNER"], needs: "a cashier's token", mint: "--role CASHIER" },
  pos: { name: "order-taking screen", roles: ["WAITER", "CASHIER", "MANAGER", "OWNER"], needs: "a waiter's or cashier's token", mint: "--role WAITER" },
  manager: { name: "back office", roles: ["MANAGER", "OWNER"], needs: "a manager's token", mint: "--role MANAGER" },
};

const ROLE_TOKEN = {
  WAITER: "a waiter's token",
  CASHIER: "a cashier's token",
  MANAGER: "a manager's token",
  OWNER: "an owner's token",
  KITCHEN: "a kitchen token",
  EXPO: "an expo token",
  RIDER: "a rider's token",
  DISPATCHER: "a dispatcher's token",
  DISPLAY: "a display token (for the order board)",
};

let blocked = null; // { kind, title, text } once nothing this screen can do will work

function howToFix() {
  const s = SCREENS[screen.page];
  const mint = s ? ` (fireflow token --restaurant <id> ${s.mint} --device <name>)` : "";
  return `Or ask a manager for ${s ? s.needs : "a device token"}${mint}, then open /${screen.page}?token=<the token> on this screen.`;
}

// Stop the page and say why, in place of its content (the top bar stays).
export function block(kind, title, text, hint = howToFix()) {
  blocked = { kind, title, text };
  document.body.dataset.blocked = kind;
  let box = document.getElementById("blocked");
  if (!box) {
    box = h("section", { id: "blocked", role: "alert" });
    document.querySelector(".topbar").after(box);
  }
  box.dataset.kind = kind;
  const help = typeof hint === "string" ? h("p", { class: "fix" }, hint) : hint;
  box.replaceChildren(h("h2", {}, title), h("p", { class: "why" }, text), help);
  const conn = document.getElementById("conn");
  conn.textContent = `NOT CONNECTED · ${title.toLowerCase()}`;
  conn.removeAttribute("title"); // the tooltip of setConnection's parts, now out of date
  document.body.dataset.conn = "offline";
}

// Call first in a Hub's `channels(welcome)`: a token of another role stops the screen, said plainly.
export function checkRole(welcome) {
  const s = SCREENS[screen.page];
  if (!s || s.roles.includes(welcome.role)) return;
  const what = ROLE_TOKEN[welcome.role] || `a ${String(welcome.role).toLowerCase()} token`;
  block("role", "Wrong token for this screen", `This is ${what}; the ${s.name} needs ${s.needs}.`);
  throw new Error("wrong token for this screen");
}

// The hub gave up on this screen (a Hub that stopped): say why, once.
function explainStop(hub) {
  if (blocked) return;
  if (hub.closeCode === 4003 || hub.detail === "device revoked") {
    block("revoked", "Device revoked", "A manager revoked this screen's device: the hub no longer accepts its token.", pairingForm());
    return;
  }
  if (!hub.welcome) {
    const info = tokenInfo(screen.token);
    if (info && info.expires && info.expires <= Date.now()) {
      const when = new Date(info.expires).toLocaleString();
      block("expired", "Token expired", `This screen's token expired on ${when}; the hub no longer accepts it.`, pairOrMint());
    } else {
      const why = "The hub does not accept this screen's token: it is mistyped, cut short, or made for another hub.";
      block("refused", "Token refused", why, pairOrMint());
    }
    return;
  }
  block("stopped", "Nothing to show", hub.detail ? `${hub.detail[0].toUpperCase()}${hub.detail.slice(1)}.` : "The hub refused this screen.");
}

export function noToken(page) {
  const s = SCREENS[page];
  const text = screen.device
    ? `This browser has no token for the device “${screen.device}”.`
    : `This ${s ? s.name : "screen"} has no device token yet.`;
  block("no-token", "Pair this screen", text, pairingForm());
}

// A screen whose token no longer works: pair it again with a code, or get a token another way.
function pairOrMint() {
  return h("div", {}, pairingForm(), h("p", { class: "fix" }, howToFix()));
}

// The code a manager got from "add device" (device.pair), traded once for this screen's own token.
function pairingForm() {
  const input = h("input", {
    id: "pair-code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    placeholder: "123-456",
    "aria-label": "pairing code",
    maxlength: "9",
  });
  const said = h("p", { id: "pair-said", class: "fix", role: "status" }, "");
  const go = h("button", { id: "pair-go", type: "submit" }, "PAIR");
  const form = h(
    "form",
    { id: "pair", class: "pair" },
    h("label", { for: "pair-code" }, "Pairing code from the manager:"),
    h("div", { class: "pair-row" }, input, go),
    said,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    go.disabled = true;
    said.textContent = "Pairing…";
    try {
      const answer = await fetch("/api/v1/pair", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code: input.value.trim() }),
      });
      const body = await answer.json().catch(() => ({}));
      if (!answer.ok) {
        said.textContent = PAIR_REFUSALS[body.code] || `Not paired: ${body.message || answer.status}.`;
        go.disabled = false;
        return;
      }
      const params = new URLSearchParams(window.location.search);
      params.delete("device");
      params.set("token", body.token);
      window.location.search = params.toString(); // the page starts again with its own token
    } catch {
      said.textContent = "The hub did not answer: check this screen's network, then try again.";
      go.disabled = false;
    }
  });
  setTimeout(() => input.focus(), 0);
  return form;
}

const PAIR_REFUSALS = {
  NOT_FOUND: "That code is wrong, already used, or more than 10 minutes old: ask the manager for a new one.",
  RATE_LIMITED: "Too many tries: wait a minute, then type the code again.",
  INVALID_COMMAND: "Type the code as the manager got it, e.g. 123-456.",
};

const LABELS = { connecting: "CONNECTING", live: "LIVE", reconnecting: "RECONNECTING", offline: "OFFLINE" };

// Paint the connection bar from a Hub (or anything with the same fields).
export function setConnection(hub) {
  if (hub.stopped && hub.state === "offline") explainStop(hub);
  if (blocked) return;
  const el = document.getElementById("conn");
  const parts = [["state", LABELS[hub.state] || hub.state]];
  if (hub.state !== "live" && hub.attempt) {
    const wait = Math.max(0, Math.ceil((hub.retryAt - Date.now()) / 1000));
    parts.push(["attempt", `attempt ${hub.attempt}`]);
    if (wait) parts.push(["retry", `retry in ${wait}s`]);
  }
  if (hub.detail) parts.push(["detail", hub.detail]);
  if (hub.pending && hub.pending.size) parts.push(["unsent", `${hub.pending.size} unsent`]);
  const text = parts.map(([, said]) => said).join(" · ");
  if (el.textContent !== text) {
    // A part a span: a narrow screen may leave the lesser ones out (pos.css); the tooltip has them all.
    el.replaceChildren(...parts.map(([kind, said], i) => h("span", { class: `conn-${kind}` }, i ? ` · ${said}` : said)));
    el.title = text;
  }
  document.body.dataset.conn = hub.state;
  // A screen read from across a room (the kitchen's) has a banner of its own (#offline-banner): the
  // small pill alone goes unseen, and a screen without the hub shows no new tickets.
  const banner = document.getElementById("offline-banner");
  if (banner) banner.hidden = hub.state !== "reconnecting" && hub.state !== "offline";
}

export function toast(message, kind = "error", code = null) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const el = h("div", { class: `toast ${kind}`, dataset: { code } }, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 6000 : 4000);
}

// -- refusals in plain words --------------------------------------------------------------------
//
// One place turns the hub's error codes into sentences for the person at the screen; every page
// uses it. The code stays on the toast (data-code) for logs and tests, never in the words.

const STATUS_WORDS = {
  CLOSED: "closed (already paid)",
  CANCELLED: "cancelled",
  MERGED: "merged into another order",
  ACTIVE: "open",
  READY: "ready",
  PENDING: "waiting to be made",
  PREPARING: "being made",
  DONE: "done",
  SERVED: "served",
  SKIPPED: "skipped",
};

// The hub's own reason, with its status words and order numbers as the screens write them.
function plainReason(message) {
  return String(message || "")
    .replace(/\border (\d+)/gi, "order #$1")
    .replace(/\b(CLOSED|CANCELLED|MERGED|ACTIVE|READY|PENDING|PREPARING|DONE|SERVED|SKIPPED)\b/g, (w) => STATUS_WORDS[w]);
}

const SENTENCES = {
  INVALID_STATE: (m) => `Not done: ${plainReason(m)}.`,
  RECALL_EXPIRED: () => "Too late to recall: it was bumped longer ago than the recall window.",
  FORBIDDEN: () => "This screen's device is not allowed to do that.",
  WRONG_TENANT: () => "That belongs to another restaurant.",
  NOT_FOUND: () => "Not found: it may have been removed, merged or closed meanwhile.",
  VERSION_CONFLICT: () => "Someone changed this order at the same moment: check it, then try again.",
  ORDER_LOCKED: () => "This order is being paid at another till: try again in a moment.",
  BILL_LOCKED: () => "Another till has asked for this bill: it unlocks by itself shortly.",
  ALREADY_SETTLED: () => "This order is already paid.",
  AMOUNT_MISMATCH: () => "The amounts do not add up to what is due: check the tenders.",
  ITEMS_NOT_READY: () => "Some items are not ready yet.",
  ITEM_UNAVAILABLE: () => "That item is not available (86'd).",
  INVALID_MODIFIERS: (m) => `Check the choices: ${plainReason(m)}.`,
  OUT_OF_STOCK: () => "Not enough portions left for that.",
  NOTHING_TO_FIRE: () => "Nothing new to send to the kitchen.",
  TABLE_UNAVAILABLE: () => "That table is not free.",
  PIN_REQUIRED: () => "A manager's PIN is needed for that.",
  WRONG_PIN: () => "Wrong PIN.",
  RATE_LIMITED: () => "Too many tries from this screen: wait a minute, then try again.",
  BUSY: () => "The hub is busy: try again in a moment.",
  UNAVAILABLE: () => "The hub cannot reach its data right now: try again in a moment.",
  UNAUTHENTICATED: () => "This screen's token is no longer accepted: ask a manager for a new one.",
  TOKEN_EXPIRED: () => "This screen's token has expired: ask a manager for a new one.",
  TOKEN_REVOKED: () => "A manager revoked this screen's device: pair it again.",
  INTERNAL: () => "Something went wrong in the hub: try again; if it keeps happening, tell the manager.",
};

// A command's refusal (a HubError, or anything thrown) as one sentence for a person.
export function explain(err) {
  const say = err && SENTENCES[err.code];
  if (say) return say(err.message);
  if (err && err.code) return "This screen sent something the hub did not understand: reload the page; if it keeps happening, tell the manager.";
  return `Not done: ${(err && err.message) || "no answer from the hub"}.`;
}

// Show a command's refusal briefly, in plain words.
export function reportFailure(err) {
  toast(explain(err), "error", (err && err.code) || null);
}

let audio = null;

// A short beep for a new ticket. Browsers block audio until the page has been touched; then
// this stays silent and must never throw (the ticket is on screen either way).
export function beep() {
  try {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!audio && navigator.userActivation && !navigator.userActivation.hasBeenActive) return; // still blocked
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    if (audio.state !== "running") return;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.3);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.3);
  } catch {
    // no audio here: nothing to do
  }
}

// The first touch or key unlocks audio for later beeps.
export function unlockAudioOnFirstTouch() {
  const unlock = () => {
    try {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!audio && Context) audio = new Context();
      if (audio) audio.resume().catch(() => {});
    } catch {
      // ignore
    }
  };
  window.addEventListener("pointerdown", unlock, { once: true });
  window.addEventListener("keydown", unlock, { once: true });
}

// A time of day as the screen's clock shows it, 24-hour: "19:42".
export function hhmm(ms) {
  return Number.isFinite(ms) ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false }) : "—";
}

export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}` : `${m}:${String(s % 60).padStart(2, "0")}`;
}
