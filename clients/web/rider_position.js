// Where the rider is, for dispatch: the phone's GPS fixes sent as `position` frames over the page's
// Hub socket (schema/PROTOCOL.md, Positions). Fire and forget: the hub does not answer.
//
// Only while the rider has something to deliver (an order ASSIGNED or OUT_FOR_DELIVERY): with
// nothing to deliver the phone is not watched at all. The throttle, by time AND distance:
//   - never two fixes sent less than MIN_GAP_MS (5 s) apart;
//   - a fix goes once the rider moved MIN_MOVE_M (25 m) or more from the last fix sent, or
//     ALIVE_MS (30 s) passed since it (a rider standing still still shows alive);
//   - a fix held back by the 5 s gap goes when the gap ends (the newest fix by then);
//   - nothing is queued: with no signal a fix is dropped (it would be stale when the signal
//     returns) and does not count as sent, so the first fix after the signal returns goes at once.
// A rider standing still gets no new fix from watchPosition; after 30 s the last one is sent again
// as still standing (its `at` the time it is re-sent), unless the GPS has reported a problem since.
//
// `decide` is the throttle, pure (the clock is passed in); PositionSharer is the shell around
// navigator.geolocation, a timer and the Hub.

export const MIN_GAP_MS = 5000;
export const MIN_MOVE_M = 25;
export const ALIVE_MS = 30000;

// What the status line says, by the sharer's state.
export const STATUS_TEXT = {
  idle: "Not tracked: nothing to deliver",
  waiting: "No GPS fix yet",
  sharing: "Sharing location",
  nosignal: "No signal: location not sent",
  denied: "Location off: turn on location so dispatch sees you",
  insecure: "Location blocked: open this page by its https:// address",
  unsupported: "This phone cannot share its location",
};

const EARTH_M = 6371008.8;

// Great-circle distance in metres between two { lat, lon } (degrees).
export function metres(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

// When the newest `fix` may be sent, given the `last` one sent ({ lat, lon, sentAt }) and `now`:
// ms to wait (0: now), or null when there is no fix.
export function decide(last, fix, now) {
  if (!fix) return null;
  if (!last) return 0;
  const moved = metres(last, fix) >= MIN_MOVE_M;
  return Math.max(0, last.sentAt + (moved ? MIN_GAP_MS : ALIVE_MS) - now);
}

export class PositionSharer {
  // hub(): the page's Hub (or null); changed(): the status line should be drawn again.
  constructor({ hub, changed = () => {}, geolocation = navigator.geolocation }) {
    this.hub = hub;
    this.changed = changed;
    this.geo = geolocation || null;
    this.wanted = false;
    this.watch = null; // watchPosition's id while watching
    this.fix = null; // the newest fix: { lat, lon, accuracy, at }
    this.last = null; // the last fix sent: { lat, lon, at, sentAt }
    this.problem = null; // "denied" | "insecure" | "nofix" | null: the GPS's latest complaint
    this.timer = null;
    this.sent = []; // { lat, lon, at, sentAt } of every fix sent, for the tests and the curious
    this.dropped = 0; // fixes due but not sent: no signal
    this._permission();
  }

  get state() {
    if (!this.wanted) return "idle";
    if (!this.geo) return "unsupported";
    if (this.problem === "denied" || this.problem === "insecure") return this.problem;
    if (!this.fix || this.problem === "nofix") return "waiting";
    return this.hub()?.live && navigator.onLine !== false ? "sharing" : "nosignal";
  }

  get text() {
    return STATUS_TEXT[this.state];
  }

  // The rider has something to deliver (or not): start or stop watching.
  want(yes) {
    if (yes === this.wanted) return;
    this.wanted = yes;
    if (yes) this._start();
    else this._stop();
    this.changed();
  }

  // The link came back (or went): a fix due goes now, or at its time.
  linkChanged() {
    this._schedule();
    this.changed();
  }

  _start() {
    if (!this.geo || this.watch !== null) return;
    this.watch = this.geo.watchPosition(
      (p) => this._fixed(p),
      (err) => this._failed(err),
      { enableHighAccuracy: true, maximumAge: 0 },
    );
  }

  _stop() {
    if (this.watch !== null) this.geo.clearWatch(this.watch);
    this.watch = null;
    clearTimeout(this.timer);
    this.timer = null;
    this.fix = null;
    this.problem = null;
  }

  _fixed(position) {
    if (!this.wanted) return;
    const c = position.coords;
    this.fix = { lat: c.latitude, lon: c.longitude, accuracy: c.accuracy, at: Math.round(position.timestamp) };
    this.problem = null;
    this._schedule();
    this.changed();
  }

  _failed(err) {
    if (err.code === 1) this.problem = window.isSecureContext === false ? "insecure" : "denied";
    else this.problem = "nofix"; // POSITION_UNAVAILABLE or TIMEOUT: the watch goes on
    clearTimeout(this.timer);
    this.changed();
  }

  // Location switched on (or off) in the browser while the page is open: watch again.
  async _permission() {
    try {
      const status = await navigator.permissions?.query({ name: "geolocation" });
      if (!status) return;
      status.onchange = () => {
        if (status.state === "denied" || !this.wanted) return;
        this._stop();
        this.wanted = false;
        this.want(true);
      };
    } catch {
      // no Permissions API: the rider reloads the page after switching location on
    }
  }

  _schedule() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.wanted || this.problem) return;
    const wait = decide(this.last, this.fix, Date.now());
    if (wait === null) return;
    if (wait > 0) this.timer = setTimeout(() => this._schedule(), wait);
    else this._send();
  }

  _send() {
    const hub = this.hub();
    const now = Date.now();
    const fix = this.fix;
    // The same fix again (standing still): as of now; the hub takes a fix only after the last one.
    const at = this.last && fix.at <= this.last.at ? now : fix.at;
    const frame = { op: "position", lat: fix.lat, lon: fix.lon, at: Math.round(at + (hub?.skew || 0)) };
    if (Number.isFinite(fix.accuracy)) frame.accuracy = fix.accuracy;
    if (!hub || navigator.onLine === false || !hub.send(frame)) {
      this.dropped += 1; // not queued: the next fix, or the link coming back, sends the news
      return;
    }
    this.last = { lat: fix.lat, lon: fix.lon, at, sentAt: now };
    this.sent.push({ ...this.last });
    if (this.sent.length > 50) this.sent.shift();
    this.timer = setTimeout(() => this._schedule(), ALIVE_MS); // still alive, if nothing moves
    this.changed();
  }
}
