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

// The device token: `?token=` wins and is remembered (per page) so a reload or a bookmark
// without it still works; it is then taken out of the address bar.
export function deviceToken(page) {
  const key = `fireflow.token.${page}`;
  const params = new URLSearchParams(window.location.search);
  const given = params.get("token");
  if (given) {
    try {
      localStorage.setItem(key, given);
      params.delete("token");
      const query = params.toString();
      history.replaceState(null, "", window.location.pathname + (query ? `?${query}` : ""));
    } catch {
      // storage disabled: the token stays in the address bar instead
    }
    return given;
  }
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function noToken(page) {
  document.querySelector("main").replaceChildren(
    h("p", { class: "empty" }, `No device token. Open /${page}?token=<device token> (see: fireflow token --help).`),
  );
  setConnection({ state: "offline", detail: "no token", pending: new Map(), attempt: 0 });
}

const LABELS = { connecting: "CONNECTING", live: "LIVE", reconnecting: "RECONNECTING", offline: "OFFLINE" };

// Paint the connection bar from a Hub (or anything with the same fields).
export function setConnection(hub) {
  const el = document.getElementById("conn");
  let text = LABELS[hub.state] || hub.state;
  if (hub.state !== "live" && hub.attempt) {
    const wait = Math.max(0, Math.ceil((hub.retryAt - Date.now()) / 1000));
    text += ` · attempt ${hub.attempt}${wait ? ` · retry in ${wait}s` : ""}`;
  }
  if (hub.detail) text += ` · ${hub.detail}`;
  if (hub.pending && hub.pending.size) text += ` · ${hub.pending.size} unsent`;
  if (el.textContent !== text) el.textContent = text;
  document.body.dataset.conn = hub.state;
}

export function toast(message, kind = "error") {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const el = h("div", { class: `toast ${kind}` }, message);
  box.append(el);
  setTimeout(() => el.remove(), 4000);
}

// Show a command's failure briefly; the hub's own message says what was wrong.
export function reportFailure(err) {
  toast(err && err.code ? `${err.code}: ${err.message}` : `failed: ${err && err.message}`);
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

export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}` : `${m}:${String(s % 60).padStart(2, "0")}`;
}
