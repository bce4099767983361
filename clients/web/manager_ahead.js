// Back office, the Dashboard's second page, "Unusual & ahead": what looks wrong on a day, and the orders the
// coming days should bring, each on a card that fits the page with no scrolling.
//
//   unusual    GET /api/v1/stats/anomalies?day=: today's (or yesterday's) anomalies in the hub's own words,
//              each with its severity; the notes (what too little history left unjudged) as plain text
//              under them; "Nothing unusual today" when there is nothing;
//   ahead      GET /api/v1/stats/forecast?days=3: orders per hour from the next hour to the end of the third
//              day, a line with the band most weeks fall in, drawn by uPlot; each day's busiest hour in
//              words under it; with too little history, the hub's reason instead of a chart.
//
// The Dashboard section (manager_dashboard.js) builds the page into its grid and says when it is read and
// when it is on screen: the reads are slow-moving (history of eight weeks, the hours ahead), so they are
// made when the section opens and every AHEAD_REFRESH_MS while it stays open, not at the Today page's pace. The
// chart is drawn only while the page is on screen (uPlot needs the box's size) and redrawn when it comes
// back. A failed read says so on its card and keeps what was read before.

import { writeLabels } from "./chart_labels.js";
import { explain, h } from "./ui.js";

export const AHEAD_REFRESH_MS = 300000;
const FORECAST_DAYS = 3;
const AXIS = { stroke: "#c9d1d9", font: "13px system-ui, sans-serif", grid: { stroke: "#2c343e", width: 1 }, ticks: { stroke: "#2c343e", width: 1 } };
const KINDS = {
  SLOW_ORDERS: "Slow orders",
  TAKINGS_BELOW_CURVE: "Takings low",
  STAFF_DISCOUNTS: "Discounts",
  STAFF_REFUNDS: "Refunds",
  STAFF_VOIDS: "Voids",
};
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const HOUR_STEPS = [1, 2, 3, 6, 12, 24]; // hours between the chart's labels: the first that leaves room
const LABEL_PX = 58;
const $ = (id) => document.getElementById(id);

// "2026-12-04" -> the day before, "2026-12-03" (a calendar day: no clock, no time zone).
export function dayBefore(day) {
  const at = new Date(`${day}T12:00:00Z`);
  at.setUTCDate(at.getUTCDate() - 1);
  return at.toISOString().slice(0, 10);
}

// A forecast hour's local parts, read from its ISO `at` (the restaurant's offset is in it): day, hour, weekday.
function localParts(at) {
  const day = at.slice(0, 10);
  return { day, hour: Number(at.slice(11, 13)), weekday: WEEKDAYS[new Date(`${day}T12:00:00Z`).getUTCDay()] };
}

// The peak of each day written above its hour: "≈46", readable without hovering.
function peaksPlugin(marks) {
  return {
    hooks: {
      draw: (u) =>
        writeLabels(u, (put) => {
          for (const { index, orders } of marks) {
            const y = u.valToPos(u.data[3][index] ?? orders, "y", true) - 4 * devicePixelRatio;
            put(`≈${Math.round(orders)}`, u.valToPos(index, "x", true), y);
          }
        }),
    },
  };
}

// A day's busiest hour as the hub wrote it, its day and hour in bold: "**Friday 20:00–21:00**: about 46 orders …".
function peakLine(peak) {
  const cut = peak.message.indexOf(": ");
  const [when, rest] = cut > 0 ? [peak.message.slice(0, cut), peak.message.slice(cut)] : ["", peak.message];
  return h("li", { dataset: { day: peak.day, hour: peak.hour } }, when ? h("b", {}, when) : null, rest);
}

export function aheadPage({ read, changed = () => {} }) {
  let onScreen = false;
  let day = null; // the day whose anomalies are shown (null: today, as the hub counts it)
  let today = null; // today as the hub answered it
  let anomalies = null; // the last answer of /api/v1/stats/anomalies
  let anomaliesFailed = null;
  let forecast = null; // the last answer of /api/v1/stats/forecast
  let forecastFailed = null;
  let plot = null;
  let seq = 0;

  function build() {
    const pick = (which, label) =>
      h("button", { type: "button", dataset: { day: which }, "aria-pressed": "false", onclick: () => pickDay(which) }, label);
    const anomaliesCard = h(
      "article",
      { class: "dash-card", id: "dash-anomalies", "aria-label": "Unusual" },
      h("header", {}, h("h3", { id: "dash-anomalies-title" }, "Unusual today"), h("span", { class: "dash-stations dash-days" }, pick("today", "Today"), pick("yesterday", "Yesterday"))),
      h("ul", { class: "dash-anomalies", id: "dash-anomalies-list", "aria-live": "polite" }),
      h("p", { class: "dash-empty", id: "dash-anomalies-empty", hidden: true }),
      h("ul", { class: "dash-notes", id: "dash-anomalies-notes" }),
    );
    const forecastCard = h(
      "article",
      { class: "dash-card", id: "dash-forecast", "aria-label": "Orders ahead" },
      h(
        "header",
        {},
        h("h3", {}, `Orders ahead, next ${FORECAST_DAYS} days`),
        h("span", { class: "dash-key", id: "dash-forecast-key" }, h("i", { class: "k-expected" }), "expected per hour ", h("i", { class: "k-band" }), "most weeks"),
      ),
      h("div", { class: "dash-chart", id: "dash-forecast-chart" }),
      h("p", { class: "dash-empty", id: "dash-forecast-empty", hidden: true }),
      h("ul", { class: "dash-peaks", id: "dash-peaks", "aria-label": "Each day's busiest hour" }),
    );
    new ResizeObserver(() => resize()).observe(forecastCard.querySelector(".dash-chart"));
    return [anomaliesCard, forecastCard];
  }

  function resize() {
    const box = $("dash-forecast-chart");
    if (plot && box && box.clientWidth && box.clientHeight) plot.setSize({ width: box.clientWidth, height: box.clientHeight });
  }

  function pickDay(which) {
    day = which === "yesterday" && today ? dayBefore(today) : null;
    anomalies = null;
    drawAnomalies();
    loadAnomalies();
  }

  function drawAnomalies() {
    if (!$("dash-anomalies-list")) return;
    const yesterday = Boolean(day);
    for (const b of document.querySelectorAll("#dash-anomalies .dash-days button")) {
      const on = (b.dataset.day === "yesterday") === yesterday;
      b.classList.toggle("selected", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    }
    const when = yesterday ? "yesterday" : "today";
    $("dash-anomalies-title").textContent = `Unusual ${when}`;
    const empty = $("dash-anomalies-empty");
    const list = $("dash-anomalies-list");
    const notes = $("dash-anomalies-notes");
    if (!anomalies) {
      list.replaceChildren();
      notes.replaceChildren();
      empty.hidden = false;
      empty.textContent = anomaliesFailed ? `The anomalies cannot be read just now. ${anomaliesFailed}` : "Reading…";
      return;
    }
    const found = anomalies.anomalies;
    list.replaceChildren(
      ...found.map((a) =>
        h(
          "li",
          { class: `sev-${a.severity}`, dataset: { kind: a.kind, subject: a.subject, severity: a.severity } },
          h("span", { class: "sev" }, a.severity === "high" ? "HIGH" : "MEDIUM"),
          h("b", { class: "kind" }, KINDS[a.kind] || a.kind),
          h("span", { class: "what" }, a.message),
        ),
      ),
    );
    empty.hidden = found.length > 0;
    empty.classList.toggle("clear", !found.length && !anomalies.notes.length); // green only when all was judged
    empty.textContent = found.length ? "" : `Nothing unusual ${when}.`;
    const said = [...anomalies.notes];
    if (anomaliesFailed) said.unshift(`Not read again just now, showing the last read. ${anomaliesFailed}`);
    notes.replaceChildren(...said.map((note) => h("li", {}, note)));
  }

  function drawForecast() {
    if (!$("dash-forecast-chart")) return;
    const empty = $("dash-forecast-empty");
    const box = $("dash-forecast-chart");
    const peaksList = $("dash-peaks");
    const say = (words) => {
      if (plot) plot.destroy();
      plot = null;
      box.hidden = true;
      $("dash-forecast-key").hidden = true;
      empty.hidden = false;
      empty.textContent = words;
    };
    if (!forecast) {
      peaksList.replaceChildren();
      return say(forecastFailed ? `The forecast cannot be read just now. ${forecastFailed}` : "Reading…");
    }
    const stale = forecastFailed ? h("li", { class: "stale" }, `Not read again just now, showing the last read. ${forecastFailed}`) : null;
    peaksList.replaceChildren(...[stale, ...forecast.peaks.map(peakLine)].filter(Boolean));
    const hours = forecast.hours;
    if (!hours.length) {
      const why = String(forecast.method || "").replace(/^not enough history:\s*/i, "");
      return say(`Not enough history to forecast yet (${why || "too few days on the books"}).`);
    }
    if (!onScreen || !window.uPlot) return; // drawn when the page is shown: uPlot needs the box's size
    box.hidden = false;
    $("dash-forecast-key").hidden = false;
    empty.hidden = true;
    const parts = hours.map((hour) => localParts(hour.at));
    const x = hours.map((_, i) => i);
    const rows = [x, hours.map((hour) => hour.low), hours.map((hour) => hour.high), hours.map((hour) => hour.orders)];
    const marks = forecast.peaks
      .map((p) => ({ index: parts.findIndex((part) => part.day === p.day && part.hour === p.hour), orders: p.orders }))
      .filter((mark) => mark.index >= 0);
    if (plot) plot.destroy(); // a new answer: its hours and peaks are new (a read every few minutes)
    const splits = (u) => {
      const perHour = u.bbox.width / devicePixelRatio / Math.max(hours.length, 1);
      const step = HOUR_STEPS.find((s) => s * perHour >= LABEL_PX) || 24;
      return x.filter((i) => parts[i].hour % step === 0);
    };
    plot = new window.uPlot(
      {
        width: Math.max(box.clientWidth, 200),
        height: Math.max(box.clientHeight, 120),
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: () => [-0.5, hours.length - 0.5] }, y: { range: (_, min, max) => [0, Math.max(2, Math.ceil(max * 1.18))] } },
        axes: [
          { ...AXIS, splits, values: (_, ticks) => ticks.map((i) => (parts[i] ? `${String(parts[i].hour).padStart(2, "0")}:00` : "")) },
          { ...AXIS, size: 40, label: "orders an hour", labelSize: 18, labelFont: AXIS.font, values: (_, ticks) => ticks.map((v) => (Number.isInteger(v) ? String(v) : "")) },
        ],
        series: [
          {},
          { label: "Low", stroke: "rgba(56,189,248,0.5)", width: 1, points: { show: false } },
          { label: "High", stroke: "rgba(56,189,248,0.5)", width: 1, points: { show: false } },
          { label: "Expected", stroke: "#38bdf8", width: 2.5, points: { show: false } },
        ],
        bands: [{ series: [2, 1], fill: "rgba(56,189,248,0.3)" }],
        plugins: [peaksPlugin(marks), dayLines(parts)],
      },
      rows,
      box,
    );
  }

  // A line at each midnight, and each day's name at the top of its stretch, so the days read apart.
  function dayLines(parts) {
    return {
      hooks: {
        draw: (u) => {
          const { ctx } = u;
          const px = devicePixelRatio;
          ctx.save();
          ctx.strokeStyle = "#5b6776";
          ctx.lineWidth = px;
          ctx.setLineDash([4 * px, 4 * px]);
          ctx.fillStyle = "#9aa5b1";
          ctx.font = `bold ${Math.round(13 * px)}px system-ui, sans-serif`;
          ctx.textBaseline = "top";
          ctx.textAlign = "left";
          const starts = parts.map((part, i) => i).filter((i) => i === 0 || parts[i].hour === 0);
          starts.forEach((i, n) => {
            const at = u.valToPos(i - 0.5, "x", true);
            if (i !== 0) {
              ctx.beginPath();
              ctx.moveTo(at, u.bbox.top);
              ctx.lineTo(at, u.bbox.top + u.bbox.height);
              ctx.stroke();
            }
            const end = n + 1 < starts.length ? u.valToPos(starts[n + 1] - 0.5, "x", true) : u.bbox.left + u.bbox.width;
            if (end - at > 40 * px) ctx.fillText(parts[i].weekday, at + 5 * px, u.bbox.top + 3 * px); // room for its name
          });
          ctx.restore();
        },
      },
    };
  }

  async function loadAnomalies() {
    const mine = ++seq;
    const asked = day;
    try {
      const answer = await read(asked ? `/api/v1/stats/anomalies?day=${encodeURIComponent(asked)}` : "/api/v1/stats/anomalies");
      if (mine !== seq) return;
      anomalies = answer;
      anomaliesFailed = null;
      if (!asked) today = answer.day;
    } catch (err) {
      if (mine !== seq) return;
      anomaliesFailed = explain(err);
    }
    drawAnomalies();
    changed();
  }

  async function loadForecast() {
    try {
      forecast = await read(`/api/v1/stats/forecast?days=${FORECAST_DAYS}`);
      forecastFailed = null;
    } catch (err) {
      forecastFailed = explain(err);
    }
    drawForecast();
  }

  return {
    build,
    // Read both now (the section opened, or REFRESH_MS went by).
    load() {
      loadAnomalies();
      loadForecast();
    },
    // The page brought on screen or put away: the chart is drawn at its box's size when it comes.
    shown(isShown) {
      onScreen = isShown;
      if (onScreen) {
        drawAnomalies();
        drawForecast();
      }
    },
    // How many anomalies the day shown has (the page's tab says it), null before the first answer.
    count: () => (anomalies ? anomalies.anomalies.length : null),
    state: () => ({
      day: anomalies ? anomalies.day : day,
      anomalies,
      forecast,
      failed: { anomalies: anomaliesFailed, forecast: forecastFailed },
      chart: plot ? { data: plot.data.map((series) => [...series]), width: plot.width, height: plot.height } : null,
    }),
  };
}
