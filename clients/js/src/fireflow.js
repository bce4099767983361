// Fireflow browser client: one WebSocket to the hub, protocol v1 (schema/PROTOCOL.md).
// The package @fireflow/client (clients/js; its major version is the protocol's), and the very file
// the hub serves to its own pages at /static/fireflow.js. Types: fireflow.d.ts beside it.
//
// It authenticates, subscribes, and keeps the resume position (the epoch and the highest
// offset applied). When the socket drops it reconnects with backoff and subscribes again
// with `since`/`epoch`, so it gets exactly the missed events, or a snapshot (`recovered:
// false`) that replaces the page's state. Every event is applied at most once: an offset at
// or below the last one applied is ignored. Commands keep their id until answered and are
// sent again with the same id after a reconnect (the hub runs a command id once).
//
//   const hub = new Hub(token, {
//     channels: (welcome) => ["kitchen:grill"],     // or a Promise of them
//     snapshot: (snapshots, subscribed) => {...},  // { channel: data } replaces the state
//     event: (event) => {...},                     // one event, in offset order, once
//     applied: () => {...},                        // after a frame's events: render now
//     state: (state, hub) => {...},                // "connecting" | "live" | "reconnecting" | "offline"
//     positions: (frame) => {...},                 // optional: a `positions` frame (dispatch), as it comes
//   });
//   hub.start();
//   await hub.command("item.done", { order_id, line_id });  // ack frame, or throws HubError
//   await hub.act("order.bump", { order_id });  // the same, reusing the id of the same unanswered action
//   hub.send({ op: "position", ... });  // a frame with no answer: sent now if live, else dropped (false)

export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = "fireflow.v1.json";
const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;
const OFFLINE_AFTER = 5; // failed attempts before the state says OFFLINE (it keeps retrying)
const FATAL_CLOSES = new Set([4001, 4002, 4003]); // the token is refused or revoked: retrying cannot help

export class HubError extends Error {
  constructor(frame) {
    super(frame.message || frame.code || "error");
    this.code = frame.code;
    this.retryable = Boolean(frame.retryable);
    this.frame = frame;
  }
}

export function wsUrl(loc = window.location) {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}

export function randomHex(bytes) {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf); // unlike randomUUID, also there on plain http:// in a kitchen LAN
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Hub {
  constructor(token, handlers, url = wsUrl()) {
    this.token = token;
    this.url = url;
    this.handlers = handlers;
    this.offset = null; // highest offset applied; null until the first snapshot
    this.epoch = null;
    this.channels = null;
    this.welcome = null;
    this.state = "connecting";
    this.attempt = 0; // failed connection attempts since the last time we were live
    this.retryAt = 0;
    this.ws = null;
    this.live = false;
    this.stopped = false;
    this.pending = new Map(); // command id -> { frame, resolve, reject }
    this.actions = new Map(); // "type data" -> command id, while unanswered
    this.prefix = `w${randomHex(6)}`;
    this.seq = 0;
    this.skew = 0; // hub clock minus ours (ms), from pings and events
    this.heartbeat = 15;
    this.lastSeen = Date.now();
    this.drawing = false;
    this.stats = { connects: 0, snapshots: 0, resumes: 0, replayed: 0, applied: 0, ignored: 0, states: [] };
  }

  start() {
    this._connect();
    window.addEventListener("online", () => (this.live ? this._setState("live") : this._reconnectNow()));
    window.addEventListener("offline", () => this._setState("offline", "no network"));
    setInterval(() => this._watchdog(), 1000);
    return this;
  }

  now() {
    return Date.now() + this.skew;
  }

  newId() {
    this.seq += 1;
    return `${this.prefix}-${this.seq}`;
  }

  // Send a command; resolves with the ack frame, rejects with HubError. Pass the same id to
  // retry the same action: the hub answers a repeated id with the first result.
  command(type, data, id = this.newId()) {
    const known = this.pending.get(id);
    if (known) return known.promise;
    const entry = { frame: { op: "cmd", id, type, data } };
    entry.promise = new Promise((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.pending.set(id, entry);
    if (this.live) this._send(entry.frame);
    this._notify();
    return entry.promise;
  }

  // The same action (type and data) asked again while still unanswered keeps its command id,
  // so a double tap, or a tap again after a reconnect, runs it once.
  act(type, data) {
    const key = `${type} ${JSON.stringify(data)}`;
    let id = this.actions.get(key);
    if (!id) {
      id = this.newId();
      this.actions.set(key, id);
    }
    const done = () => this.actions.get(key) === id && this.actions.delete(key);
    return this.command(type, data, id).finally(done);
  }

  // Send a frame the hub does not answer (a rider's `position`): now, if live; returns whether it
  // went. Nothing is queued: a frame that cannot go now is dropped (its news would be stale).
  send(frame) {
    if (!this.live || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  _connect() {
    if (this.stopped) return;
    this._setState(this.attempt ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url, SUBPROTOCOL);
    } catch {
      this._retry();
      return;
    }
    this.ws = ws;
    this.live = false;
    this.lastSeen = Date.now();
    ws.onopen = () => this._send({ op: "auth", token: this.token });
    ws.onmessage = (message) => {
      if (ws !== this.ws) return;
      this.lastSeen = Date.now();
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      this._frame(frame);
    };
    ws.onclose = (event) => this._closed(ws, event.code, event.reason);
  }

  _send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  _frame(frame) {
    switch (frame.op) {
      case "welcome":
        this._welcome(frame);
        break;
      case "subscribed":
        this._subscribed(frame);
        break;
      case "event":
        this._skew(frame.ts);
        this._event(frame);
        this._applied();
        break;
      case "ack":
        this._answered(frame, null);
        break;
      case "error":
        this._error(frame);
        break;
      case "ping":
        this._skew(frame.t);
        this._send({ op: "pong", t: frame.t });
        break;
      case "positions": // riders' fixes (dispatch): lossy, no offset, not events
        this.handlers.positions?.(frame);
        break;
      default:
        break;
    }
  }

  async _welcome(frame) {
    this.welcome = frame;
    this.heartbeat = frame.heartbeat || this.heartbeat;
    this.stats.connects += 1;
    if (this.channels === null) {
      const ws = this.ws;
      try {
        this.channels = await this.handlers.channels(frame);
      } catch (err) {
        this._giveUp(err.message);
        return;
      }
      if (ws !== this.ws) return;
    }
    this._subscribe();
  }

  _subscribe() {
    const frame = { op: "subscribe", channels: this.channels };
    if (this.offset !== null) {
      frame.since = this.offset;
      if (this.epoch) frame.epoch = this.epoch;
    }
    this._send(frame);
  }

  _subscribed(frame) {
    if (frame.recovered) {
      const replayed = frame.replayed || [];
      this.stats.resumes += 1;
      this.stats.replayed += replayed.length;
      for (const event of replayed) this._event(event);
      this.offset = Math.max(this.offset ?? 0, frame.offset);
    } else {
      this.stats.snapshots += 1;
      this.handlers.snapshot(frame.snapshot || {}, frame);
      this.offset = frame.offset; // may go down: a new epoch restarts the numbering
    }
    this.epoch = frame.epoch;
    this.live = true;
    this.attempt = 0;
    this._setState("live");
    this._applied();
    for (const entry of this.pending.values()) this._send(entry.frame);
  }

  // Tell the page to draw once the frames already received are applied (a burst draws once).
  _applied() {
    if (this.drawing) return;
    this.drawing = true;
    setTimeout(() => {
      this.drawing = false;
      this.handlers.applied?.();
    });
  }

  _event(event) {
    if (this.offset !== null && event.offset <= this.offset) {
      this.stats.ignored += 1; // already applied (or in the snapshot)
      return;
    }
    this.offset = event.offset;
    this.stats.applied += 1;
    try {
      this.handlers.event(event);
    } catch (err) {
      console.error("applying", event.type, err);
    }
  }

  _error(frame) {
    if (frame.id && this.pending.has(frame.id)) {
      if (frame.retryable) {
        // Same id again, after the wait the hub asks for (RATE_LIMITED says when) or a short backoff.
        const entry = this.pending.get(frame.id);
        const after = frame.details && frame.details.retry_after_s;
        const wait = typeof after === "number" ? Math.ceil(after * 1000) : this._delay(1);
        setTimeout(() => this.live && this.pending.has(frame.id) && this._send(entry.frame), wait);
      } else {
        this._answered(frame, new HubError(frame));
      }
      return;
    }
    if (this.live || !this.welcome) return; // errors of auth come with a close; others are not ours
    // An answer to our subscribe: drop a refused channel and try again, or retry later.
    const channel = frame.details && frame.details.channel;
    if (channel && this.channels.includes(channel) && !frame.retryable) {
      this.handlers.problem?.(`channel ${channel}: ${frame.message}`);
      this.channels = this.channels.filter((c) => c !== channel);
      if (this.channels.length) this._subscribe();
      else this._giveUp("no channel this device may read");
    } else {
      setTimeout(() => this.ws && this.ws.readyState === WebSocket.OPEN && this._subscribe(), this._delay(1));
    }
  }

  _answered(frame, error) {
    const entry = this.pending.get(frame.id);
    if (!entry) return;
    this.pending.delete(frame.id);
    if (error) entry.reject(error);
    else entry.resolve(frame);
    this._notify();
  }

  _closed(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.live = false;
    if (FATAL_CLOSES.has(code)) {
      this.closeCode = code;
      this._giveUp(reason || "token refused");
      return;
    }
    this._retry();
  }

  // Nothing a reconnect could fix (a bad token, nothing to subscribe to): stay OFFLINE and say why.
  _giveUp(reason) {
    this.stopped = true;
    this._setState("offline", reason);
    for (const entry of this.pending.values()) entry.reject(new HubError({ code: "UNAUTHENTICATED", message: reason }));
    this.pending.clear();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, reason);
    }
  }

  _retry() {
    this.attempt += 1;
    const delay = this._delay(this.attempt);
    this.retryAt = Date.now() + delay;
    this._setState(this.attempt > OFFLINE_AFTER || navigator.onLine === false ? "offline" : "reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._connect(), delay);
  }

  _delay(attempt) {
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** (attempt - 1));
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  }

  _reconnectNow() {
    if (this.ws || this.stopped) return;
    clearTimeout(this.timer);
    this._connect();
  }

  _watchdog() {
    // No frame for 2.5 heartbeats (the hub pings every heartbeat): the link is dead even if
    // the browser has not noticed (a hung node, a dropped NAT flow); drop it and resume. The
    // clock starts when a socket is opened, so a handshake that never completes is dropped too.
    if (this.ws && Date.now() - this.lastSeen > 2500 * this.heartbeat) {
      const ws = this.ws;
      ws.onclose = null;
      ws.close();
      this._closed(ws, 4010, "hub silent");
    }
    this._notify();
  }

  _skew(hubMs) {
    if (typeof hubMs === "number") this.skew = hubMs - Date.now();
  }

  _setState(state, detail = "") {
    if (state !== this.state) this.stats.states = [...this.stats.states.slice(-49), state];
    this.state = state;
    this.detail = detail;
    this._notify();
  }

  _notify() {
    this.handlers.state?.(this.state, this);
  }
}
