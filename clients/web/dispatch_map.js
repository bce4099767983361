// The dispatch map: an SVG drawn here, from no tile server and no other request. The restaurant is
// at the centre; rings at 1, 2, 5 (and 10, 20) km; N/E/S/W at the edges. Each open delivery order
// with a location is a numbered pin coloured by its state (waiting, assigned, out, late: the legend
// says which is which in words, and a late pin says LATE); each rider is a labelled dot at its latest
// fix with its trail behind it, grey with "last seen m:ss ago" once the fix is over 2 minutes old.
//
// Projection: a local equirectangular one around the restaurant (metres east = degrees of longitude
// × 111,320 × cos(latitude); metres north = degrees of latitude × 110,574), good to a few metres
// across a city. The scale steps (1, 1.5, 2, 2.5, 3, 4, 5 … km from the centre to the top edge) so the
// map does not breathe with every fix; a point beyond the edge is pinned to it.
//
//   const map = new DispatchMap(document.getElementById("map"), { now: () => hub.now() });
//   map.setOrigin({ lat, lon } | null);
//   map.snapshot(view.positions);   // every rider's latest fix and trail (dispatch snapshot)
//   map.positions(frame);           // a live `positions` frame (lossy: the next one catches up)
//   map.draw(pins);                 // [{ id, number, lat, lon, state: "waiting"|"assigned"|"out"|"late" }]
//   map.seen(rider);                // { at, age, stale, speed } of its latest fix, or null
//   map.badge(rider, into?);        // a rider card's "NOT SEEN for 3:20" once its fix is 2 min old
//   map.foldable(panel, button);    // "Hide map" / "Show map", remembered in this browser
//   pinsOf(orders, { isLate, now }); // the open orders with a location, as pins

const SVG = "http://www.w3.org/2000/svg";
const M_PER_DEG_LAT = 110574;
const M_PER_DEG_LON = 111320;
const STALE_MS = 2 * 60 * 1000; // a fix older than this: the rider is greyed, "last seen m:ss ago"
const TRAIL_KEPT = 20; // as the hub keeps (FIREFLOW_POSITION_TRAIL)
const SPANS = [1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000, 13000, 16000, 20000, 25000, 40000]; // metres, centre to top edge
const RINGS = [1000, 2000, 5000, 10000, 20000];
const EDGE = 26; // px kept free at the edges for N/E/S/W and labels
const FOLD_KEY = "fireflow.dispatch.map"; // "hidden" when the dispatcher folded the map away
const OPEN = new Set(["ACTIVE", "READY"]);
const STATE_WORD = { waiting: "waiting", assigned: "assigned", out: "out for delivery", late: "LATE" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function ago(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}` : `${m}:${String(s % 60).padStart(2, "0")}`;
}

const round = (v) => Math.round(v * 10) / 10;

export class DispatchMap {
  constructor(host, { now }) {
    this.host = host;
    this.now = now;
    this.origin = null;
    this.riders = new Map(); // rider -> { lat, lon, accuracy, at, speed, trail: [[lat, lon, at], ...newest first] }
    this.pins = [];
    this.span = SPANS[0];
  }

  setOrigin(origin) {
    this.origin = origin && Number.isFinite(origin.lat) && Number.isFinite(origin.lon) ? { lat: origin.lat, lon: origin.lon } : null;
  }

  snapshot(list) {
    this.riders.clear();
    for (const p of list || []) {
      const trail = (p.trail || []).slice(0, TRAIL_KEPT);
      if (!trail.length || trail[0][2] !== p.at) trail.unshift([p.lat, p.lon, p.at]);
      this.riders.set(p.rider, { ...p, trail });
    }
  }

  positions(frame) {
    for (const fix of frame.riders || []) {
      const known = this.riders.get(fix.rider);
      if (known && fix.at <= known.at) continue; // an older fix come late: the map has a newer one
      const trail = [[fix.lat, fix.lon, fix.at], ...(known ? known.trail : [])].slice(0, TRAIL_KEPT);
      this.riders.set(fix.rider, { ...fix, trail });
    }
    this.redraw();
  }

  seen(rider) {
    const fix = this.riders.get(rider);
    if (!fix) return null;
    const age = this.now() - fix.at;
    return { at: fix.at, age, stale: age > STALE_MS, speed: fix.speed };
  }

  // A rider card's warning once the phone has gone quiet: "NOT SEEN for 3:20" (empty while fixes come,
  // or when the rider never sent one: the card's header has no room to spare).
  badge(rider, into = null) {
    const seen = this.seen(rider);
    const span = into || document.createElement("span");
    span.className = "seen";
    span.dataset.rider = rider;
    span.textContent = seen && seen.stale ? `NOT SEEN for ${ago(seen.age)}` : "";
    span.hidden = !span.textContent;
    return span;
  }

  // "Hide map" / "Show map": the riders get the whole column when the dispatcher needs the room.
  foldable(panel, button) {
    const show = (on) => {
      panel.classList.toggle("folded", !on);
      this.host.hidden = !on;
      button.textContent = on ? "Hide map" : "Show map";
      button.setAttribute("aria-expanded", String(on));
      if (on) this.redraw();
    };
    show(localStorage.getItem(FOLD_KEY) !== "hidden");
    button.addEventListener("click", () => {
      const on = panel.classList.contains("folded");
      if (on) localStorage.removeItem(FOLD_KEY);
      else localStorage.setItem(FOLD_KEY, "hidden");
      show(on);
    });
    new ResizeObserver(() => this.redraw()).observe(this.host);
  }

  draw(pins) {
    this.pins = pins;
    this.redraw();
  }

  // metres east and north of the centre
  metres(lat, lon) {
    const c = this.centre;
    return [(lon - c.lon) * M_PER_DEG_LON * Math.cos((c.lat * Math.PI) / 180), (lat - c.lat) * M_PER_DEG_LAT];
  }

  redraw() {
    const width = Math.max(200, this.host.clientWidth || 0);
    const height = Math.max(140, this.host.clientHeight || 0);
    if (this.host.hidden || !this.host.offsetParent) return; // hidden: drawn when shown again
    const points = [...this.pins.map((p) => [p.lat, p.lon]), ...[...this.riders.values()].map((r) => [r.lat, r.lon])];
    this.centre = this.origin || centroid(points);
    const svg = el("svg", {
      class: "map-svg",
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": "Map of the open delivery orders and the riders around the restaurant",
    });
    if (!this.centre) {
      svg.append(el("text", { class: "map-note", x: width / 2, y: height / 2, "text-anchor": "middle" }, "No order or rider to show yet"));
      this.host.replaceChildren(svg);
      return;
    }
    const cx = width / 2;
    const cy = height / 2;
    const halfW = cx - EDGE;
    const halfH = cy - EDGE;
    let need = 0;
    for (const [lat, lon] of points) {
      const [x, y] = this.metres(lat, lon);
      need = Math.max(need, (Math.abs(x) * halfH) / halfW, Math.abs(y));
    }
    this.span = SPANS.find((s) => s >= need * 1.05) || SPANS[SPANS.length - 1];
    const k = halfH / this.span; // px per metre
    const at = (lat, lon) => {
      const [x, y] = this.metres(lat, lon);
      return [round(Math.min(width - 8, Math.max(8, cx + x * k))), round(Math.min(height - 8, Math.max(8, cy - y * k)))];
    };

    const rings = el("g", { class: "rings" });
    for (const r of RINGS) {
      const px = r * k;
      if (px > Math.hypot(cx, cy)) break;
      rings.append(el("circle", { class: "ring", cx, cy, r: round(px) }));
      // the label on the ring down and to the right (rings close together keep their labels apart)
      const [x, y] = [cx + px * Math.cos(Math.PI / 4), cy + px * Math.sin(Math.PI / 4)];
      const label = `${r / 1000} km`;
      if (x + 48 < width && y + 16 < height) rings.append(el("text", { class: "ring-label", x: round(x + 3), y: round(y + 14) }, label));
      else if (px + 48 < cx) rings.append(el("text", { class: "ring-label", x: round(cx + px + 4), y: cy - 4 }, label));
    }
    svg.append(
      el("rect", { class: "map-bg", x: 0, y: 0, width, height }),
      rings,
      el("line", { class: "axis", x1: cx, y1: EDGE, x2: cx, y2: height - EDGE }),
      el("line", { class: "axis", x1: EDGE, y1: cy, x2: width - EDGE, y2: cy }),
      el("text", { class: "compass", x: cx, y: 18, "text-anchor": "middle" }, "N"),
      el("text", { class: "compass", x: cx, y: height - 6, "text-anchor": "middle" }, "S"),
      el("text", { class: "compass", x: width - 8, y: cy + 6, "text-anchor": "end" }, "E"),
      el("text", { class: "compass", x: 8, y: cy + 6 }, "W"),
    );
    if (this.origin) {
      svg.append(
        el(
          "g",
          { class: "restaurant", transform: `translate(${cx} ${cy})` },
          el("title", {}, "The restaurant"),
          el("rect", { x: -9, y: -9, width: 18, height: 18, rx: 3 }),
          el("text", { x: 0, y: 28, "text-anchor": "middle" }, "HERE"),
        ),
      );
    } else {
      svg.append(el("text", { class: "map-note", x: cx, y: height - 30, "text-anchor": "middle" }, "Restaurant location not set: a manager sets it in Settings"));
    }

    const now = this.now();
    const names = [...this.riders.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    for (const name of names) {
      const fix = this.riders.get(name);
      const line = fix.trail.map(([lat, lon]) => at(lat, lon).join(",")).join(" ");
      const stale = now - fix.at > STALE_MS;
      svg.append(el("polyline", { class: `trail${stale ? " stale" : ""}`, points: line, "data-rider": name }));
    }
    for (const pin of this.pins) {
      const [x, y] = at(pin.lat, pin.lon);
      const late = pin.state === "late";
      svg.append(
        el(
          "g",
          { class: `pin st-${pin.state}`, "data-order-id": pin.id, "data-state": pin.state, transform: `translate(${x} ${y})` },
          el("title", {}, `Order #${pin.number}: ${STATE_WORD[pin.state] || pin.state}`),
          el("path", { d: "M0 0 L-9 -14 A12 12 0 1 1 9 -14 Z" }),
          el("text", { class: "pin-num", x: 0, y: -17, "text-anchor": "middle" }, String(pin.number)),
          late ? el("text", { class: "pin-late", x: 15, y: -12 }, "LATE") : null,
        ),
      );
    }
    for (const name of names) {
      const fix = this.riders.get(name);
      const [x, y] = at(fix.lat, fix.lon);
      const stale = now - fix.at > STALE_MS;
      const label = stale ? `${name} · last seen ${ago(now - fix.at)} ago` : name;
      svg.append(
        el(
          "g",
          { class: `rider-dot${stale ? " stale" : ""}`, "data-rider": name, "data-at": fix.at, transform: `translate(${x} ${y})` },
          el("title", {}, label),
          el("rect", { class: "label-bg", x: 10, y: -11, width: Math.round(label.length * 9.4 + 6), height: 22, rx: 4 }),
          el("circle", { r: 8 }),
          el("text", { class: "rider-label", x: 13, y: 6 }, label),
        ),
      );
    }
    this.host.replaceChildren(svg);
  }
}

function centroid(points) {
  if (!points.length) return null;
  const lat = points.reduce((s, p) => s + p[0], 0) / points.length;
  const lon = points.reduce((s, p) => s + p[1], 0) / points.length;
  return { lat, lon };
}

// The open delivery orders with a location, as pins: waiting (never assigned, or back at the
// restaurant), assigned, out; late once the promised time has passed or the hub said LATE.
// Delivered and failed orders are not on the map.
export function pinsOf(orders, { isLate, now }) {
  const list = [];
  for (const order of orders) {
    if (!order.location || !OPEN.has(order.status)) continue;
    const trip = order.delivery;
    let state = "waiting";
    if (trip && trip.status === "ASSIGNED") state = "assigned";
    else if (trip && trip.status === "OUT_FOR_DELIVERY") state = "out";
    else if (trip && trip.status !== "RETURNED") continue;
    if (isLate(order) || (Number.isFinite(order.promised_at) && order.promised_at < now)) state = "late";
    list.push({ id: order.id, number: order.number, lat: order.location.lat, lon: order.location.lon, state });
  }
  return list.sort((a, b) => a.number - b.number);
}
