// Back office, the Dashboard section: how the kitchen and the day are going, on one screen with no scrolling.
// Two pages, each filling the screen: "Today" (below) and "Unusual & ahead" (manager_ahead.js: the day's
// anomalies in words, the orders forecast for the coming days), its tab counting the anomalies.
//
//   takings by hour        bars of the day's takings per hour (GET /api/v1/stats/dashboard: from the ledger,
//                          adding up to the day's revenue), the day's total and bills above;
//   queues now             per station, fired lines waiting for a cook and being made, the oldest wait;
//   prep time              per station, the typical (median) and the slow (p90) fire-to-done time;
//   predicted vs actual    a station's latest scored orders: predicted and actual wait, fire to ready, in
//                          minutes, and how far off each station's predictions are (MAE, p90) next to the
//                          naive guess's;
//   alerts                 kitchen alerts per hour today and the latest ones: what this page was told (the
//                          `manager` snapshot's standing alerts and every KITCHEN_ALERT since it opened).
//
// Today is read when the section is shown and every REFRESH_MS while it stays shown (REVENUE_UPDATED brings the next
// read forward), never while another section is open. Charts are uPlot (clients/web/vendor: served by the
// hub, no CDN). What cannot be shown is said in words where its chart would be: no books (Postgres), no
// sales yet today, nothing scored yet; a failed read keeps the last charts and says since when.
// Amounts are integer minor units (money.js); the axis shows them in the currency's major units.

import { alertLabel } from "./alerts.js";
import { writeLabels } from "./chart_labels.js";
import { AHEAD_REFRESH_MS, aheadPage } from "./manager_ahead.js";
import { formatMoney } from "./money.js";
import { explain, h } from "./ui.js";

const REFRESH_MS = 20000;
const SOON_MS = 1500; // after REVENUE_UPDATED: one read for a burst of sales
const ALERTS_KEPT = 500;
const STATION_COLOURS = ["#38bdf8", "#f59e0b", "#22c55e", "#c084fc", "#ef4444", "#14b8a6"];
const AXIS = { stroke: "#c9d1d9", font: "13px system-ui, sans-serif", grid: { stroke: "#2c343e", width: 1 }, ticks: { stroke: "#2c343e", width: 1 } };
const $ = (id) => document.getElementById(id);

// A wait in words: "45 s" under a minute and a half, "3.5 min" above.
const wait = (seconds) =>
  seconds === null || seconds === undefined ? "—" : seconds < 90 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`;
// The unit a chart of waits is drawn in: seconds while its longest is under two minutes, else minutes.
const unitFor = (longest) => (longest < 120 ? { label: "seconds", per: 1 } : { label: "minutes", per: 60 });
const short = (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));
const hourLabel = (hour) => `${String(hour).padStart(2, "0")}:00`;

// The hour (0-23) of `ms` on the restaurant's clock.
function hourIn(ms, timeZone) {
  try {
    return Number(new Intl.DateTimeFormat("en-GB", { hour: "2-digit", hourCycle: "h23", timeZone }).format(new Date(ms)));
  } catch {
    return new Date(ms).getHours();
  }
}

// Minor units -> a short axis label in major units: 125000 paise -> "1.3k" rupees, 900 -> "9".
function compactMajor(minor, digits) {
  const major = minor / 10 ** digits;
  const abs = Math.abs(major);
  if (abs >= 1e6) return `${(major / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e3) return `${(major / 1e3).toFixed(abs >= 1e4 ? 0 : 1)}k`;
  return String(Math.round(major));
}

// Bars with their value written above each (readable without hovering), one series or a few side by side.
function barsPlugin(label) {
  return {
    hooks: {
      draw: (u) =>
        writeLabels(u, (put) => {
          const count = u.series.length - 1;
          const slot = u.valToPos(1, "x", true) - u.valToPos(0, "x", true);
          for (let s = 1; s <= count; s++) {
            if (!u.series[s].show) continue;
            const data = u.data[s];
            for (let i = 0; i < data.length; i++) {
              const value = data[i];
              if (value === null || value === undefined || value === 0) continue;
              const offset = count > 1 ? (s - (count + 1) / 2) * slot * (0.7 / count) : 0;
              put(label(value, s), u.valToPos(u.data[0][i], "x", true) + offset, u.valToPos(value, "y", true) - 3 * devicePixelRatio);
            }
          }
        }),
    },
  };
}

// Grouped bars drawn by hand (uPlot's bars() has no grouping): series `index` of `count`, each 0.7/count wide.
function grouped(index, count) {
  return (u, seriesIdx, idx0, idx1) => {
    const fill = new Path2D();
    const slot = u.valToPos(1, "x", true) - u.valToPos(0, "x", true);
    const width = (slot * 0.7) / count;
    const zero = u.valToPos(0, "y", true);
    for (let i = idx0; i <= idx1; i++) {
      const value = u.data[seriesIdx][i];
      if (value === null || value === undefined) continue;
      const middle = u.valToPos(u.data[0][i], "x", true) + (index - (count - 1) / 2) * width;
      const top = u.valToPos(value, "y", true);
      fill.rect(middle - width / 2 + 1, Math.min(top, zero), width - 2, Math.abs(zero - top));
    }
    return { stroke: fill, fill };
  };
}

export function dashboardSection({ read, alerts, currency }) {
  let visible = false;
  let timer = null;
  let aheadTimer = null;
  let page = "today"; // the page shown: "today" or "ahead"
  let soon = null;
  let seq = 0;
  let data = null; // the last answer of /api/v1/stats/dashboard
  let failed = null; // { message, at } when the last read failed
  let loadedAt = null;
  let station = null; // the station whose predicted vs actual is drawn (null: the busiest)
  const charts = new Map(); // card -> { plot, key }: the uPlot drawn there, and what it was drawn for
  const seen = new Map(); // alert id -> alert: KITCHEN_ALERTs this page was told, with the snapshot's
  let built = false;
  const ahead = aheadPage({ read, changed: () => tabs() });

  function build() {
    const card = (id, title, extra = null, wide = false) =>
      h(
        "article",
        { class: wide ? "dash-card wide" : "dash-card", id: `dash-${id}`, "aria-label": title },
        h("header", {}, h("h3", {}, title), extra),
        h("div", { class: "dash-chart", id: `dash-${id}-chart` }),
        h("p", { class: "dash-empty", id: `dash-${id}-empty`, hidden: true }),
        h("p", { class: "dash-note", id: `dash-${id}-note`, hidden: true }),
      );
    $("sec-dashboard").replaceChildren(
      h(
        "div",
        { class: "col-head" },
        h("h2", {}, "Dashboard ", h("span", { id: "dash-day", class: "dash-day" })),
        h(
          "div",
          { class: "dash-pages", role: "tablist", "aria-label": "Dashboard pages" },
          h("button", { type: "button", role: "tab", id: "dash-tab-today", dataset: { page: "today" }, onclick: () => show("today") }, "Today"),
          h("button", { type: "button", role: "tab", id: "dash-tab-ahead", dataset: { page: "ahead" }, onclick: () => show("ahead") }, "Unusual & ahead", h("b", { class: "count", id: "dash-unusual-count" })),
        ),
        h("span", { class: "hint", id: "dash-updated", "aria-live": "polite" }),
        h("button", { type: "button", id: "dash-reload", onclick: () => (load(), ahead.load()) }, "REFRESH"),
      ),
      h("p", { id: "dash-problem", class: "dash-problem", role: "alert", hidden: true }),
      h(
        "div",
        { class: "dash-grid", id: "dash-page-today", role: "tabpanel", "aria-labelledby": "dash-tab-today" },
        card("takings", "Takings by hour", h("span", { class: "dash-total", id: "dash-takings-total" }), true),
        card("queues", "Queues now", h("span", { class: "dash-key" }, h("i", { class: "k-wait" }), "waiting ", h("i", { class: "k-prep" }), "being made")),
        card("prep", "Prep time, fire to done", h("span", { class: "dash-key" }, h("i", { class: "k-median" }), "typical ", h("i", { class: "k-p90" }), "slow (p90)")),
        card("predictions", "Predicted vs actual", [
          h("span", { class: "dash-key" }, h("i", { class: "k-predicted" }), "predicted ", h("i", { class: "k-actual" }), "actual wait"),
          h("span", { class: "dash-stations", id: "dash-pick" }),
        ]),
        card("alerts", "Kitchen alerts today", h("span", { class: "dash-total", id: "dash-alerts-total" })),
      ),
      h("div", { class: "dash-ahead", id: "dash-page-ahead", role: "tabpanel", "aria-labelledby": "dash-tab-ahead", hidden: true }, ...ahead.build()),
    );
    $("dash-predictions").append(h("table", { class: "dash-mae", id: "dash-mae" }));
    $("dash-alerts").append(h("ul", { class: "dash-latest", id: "dash-latest" }));
    const observer = new ResizeObserver(() => resize());
    for (const el of document.querySelectorAll("#sec-dashboard .dash-chart")) observer.observe(el);
  }

  // The page on screen, its tab marked; the other's charts keep their last size until it comes back.
  function show(which) {
    page = which;
    tabs();
    $("dash-page-today").hidden = page !== "today";
    $("dash-page-ahead").hidden = page !== "ahead";
    ahead.shown(visible && page === "ahead");
    if (page === "today") resize();
  }

  function tabs() {
    if (!built) return;
    for (const b of document.querySelectorAll("#sec-dashboard .dash-pages button")) {
      const on = b.dataset.page === page;
      b.classList.toggle("selected", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
    }
    const count = ahead.count();
    $("dash-unusual-count").textContent = count ? String(count) : "";
  }

  function resize() {
    for (const [name, { plot }] of charts) {
      const box = $(`dash-${name}-chart`);
      if (box && box.clientWidth && box.clientHeight) plot.setSize({ width: box.clientWidth, height: box.clientHeight });
    }
  }

  // Draw `data` into the card's chart, reusing its uPlot while the series are the same (`key`).
  function chart(name, key, options, rows) {
    const box = $(`dash-${name}-chart`);
    $(`dash-${name}-empty`).hidden = true;
    box.hidden = false;
    const width = Math.max(box.clientWidth, 200);
    const height = Math.max(box.clientHeight, 120);
    const had = charts.get(name);
    if (had && had.key === key) {
      had.plot.setData(rows);
      return had.plot;
    }
    if (had) had.plot.destroy();
    const plot = new window.uPlot({ width, height, legend: { show: false }, cursor: { show: false }, ...options }, rows, box);
    charts.set(name, { plot, key });
    return plot;
  }

  function empty(name, words) {
    const had = charts.get(name);
    if (had) had.plot.destroy();
    charts.delete(name);
    $(`dash-${name}-chart`).hidden = true;
    const note = $(`dash-${name}-empty`);
    note.textContent = words;
    note.hidden = false;
  }

  function categorical(names, rotate = false) {
    return {
      ...AXIS,
      splits: () => names.map((_, i) => i),
      values: (_, splits) => splits.map((i) => names[i] ?? ""),
      rotate: rotate ? -30 : 0,
      gap: 4,
    };
  }

  const xScale = (n) => ({ x: { time: false, range: () => [-0.5, n - 0.5] } });

  function drawTakings() {
    const cur = data.currency || currency();
    const digits = data.minor_digits ?? 2;
    $("dash-takings-total").textContent =
      data.books === "ok" ? `${formatMoney(data.takings, cur)} · ${data.invoices} ${data.invoices === 1 ? "bill" : "bills"}` : "";
    if (data.books !== "ok") return empty("takings", data.problems[0] || "Takings cannot be read just now.");
    const hours = data.takings_by_hour;
    if (!hours.length) return empty("takings", data.day === today() ? "No sales yet today." : `No sales on ${data.day}.`);
    const names = hours.map((row) => hourLabel(row.hour));
    chart(
      "takings",
      `takings:${names.join(",")}:${cur}`,
      {
        scales: { ...xScale(hours.length), y: { range: (_, min, max) => [Math.min(0, min), Math.max(max * 1.15, 1)] } },
        axes: [categorical(names), { ...AXIS, size: 56, values: (_, ticks) => ticks.map((v) => compactMajor(v, digits)) }],
        series: [{}, { label: "Takings", fill: "rgba(34,197,94,0.75)", stroke: "#22c55e", paths: window.uPlot.paths.bars({ size: [0.7, 90] }), points: { show: false } }],
        plugins: [barsPlugin((v) => compactMajor(v, digits))],
      },
      [hours.map((_, i) => i), hours.map((row) => row.takings)],
    );
  }

  function drawQueues() {
    const rows = data.queues;
    $("dash-queues-note").hidden = true;
    if (!rows.length) return empty("queues", "No stations are set up.");
    const names = rows.map((row) => row.name);
    const plot = chart(
      "queues",
      `queues:${names.join(",")}`,
      {
        scales: { ...xScale(rows.length), y: { range: (_, min, max) => [0, Math.max(4, Math.ceil(max * 1.2))] } },
        axes: [categorical(names), { ...AXIS, size: 40, values: (_, ticks) => ticks.map((v) => (Number.isInteger(v) ? String(v) : "")) }],
        series: [
          {},
          { label: "Waiting", fill: "#f59e0b", stroke: "#f59e0b", paths: grouped(0, 2), points: { show: false } },
          { label: "Being made", fill: "#38bdf8", stroke: "#38bdf8", paths: grouped(1, 2), points: { show: false } },
        ],
        plugins: [barsPlugin((v) => String(v))],
      },
      [rows.map((_, i) => i), rows.map((row) => row.waiting), rows.map((row) => row.preparing)],
    );
    const total = rows.reduce((sum, row) => sum + row.waiting + row.preparing, 0);
    const oldest = rows.filter((row) => row.oldest_waiting_s !== null).sort((a, b) => b.oldest_waiting_s - a.oldest_waiting_s)[0];
    const note = $("dash-queues-note");
    note.hidden = false;
    note.classList.toggle("clear", !total);
    note.textContent = total
      ? oldest
        ? `Longest wait: ${oldest.name}, ${wait(oldest.oldest_waiting_s)} since fired.`
        : "Nothing waiting; every line fired is being made."
      : "The kitchen is clear: nothing waiting or being made.";
    return plot;
  }

  function drawPrep() {
    const rows = data.prep.filter((row) => row.lines > 0);
    if (!rows.length) return empty("prep", "No lines finished in the last seven days yet.");
    const names = rows.map((row) => row.name);
    const unit = unitFor(Math.max(...rows.map((row) => row.p90_s)));
    chart(
      "prep",
      `prep:${names.join(",")}:${unit.label}`,
      {
        scales: { ...xScale(rows.length), y: { range: (_, min, max) => [0, Math.max(max * 1.2, 1)] } },
        axes: [categorical(names), { ...AXIS, size: 44, values: (_, ticks) => ticks.map((v) => `${Math.round(v * 10) / 10}`), label: unit.label, labelSize: 18, labelFont: AXIS.font }],
        series: [
          {},
          { label: "Typical", fill: "#22c55e", stroke: "#22c55e", paths: grouped(0, 2), points: { show: false } },
          { label: "Slow (p90)", fill: "#c084fc", stroke: "#c084fc", paths: grouped(1, 2), points: { show: false } },
        ],
        plugins: [barsPlugin(short)],
      },
      [rows.map((_, i) => i), rows.map((row) => row.median_s / unit.per), rows.map((row) => row.p90_s / unit.per)],
    );
  }

  function drawPredictions() {
    const scored = data.predictions.filter((row) => row.scored > 0);
    const drawable = scored.filter((row) => row.recent.length);
    if (!drawable.some((row) => row.station === station)) {
      station = drawable.length ? [...drawable].sort((a, b) => b.recent.length - a.recent.length)[0].station : null;
    }
    $("dash-pick").replaceChildren(
      ...drawable.map((row) =>
        h(
          "button",
          {
            type: "button",
            class: row.station === station ? "selected" : null,
            "aria-pressed": row.station === station ? "true" : "false",
            dataset: { station: row.station },
            onclick: () => ((station = row.station), drawPredictions()),
          },
          row.name,
        ),
      ),
    );
    $("dash-mae").replaceChildren(
      ...(scored.length
        ? [
            h(
              "tr",
              {},
              h("th", {}, ""),
              h("th", { title: "mean absolute error of the predicted ready times" }, "off by"),
              h("th", { title: "9 in 10 predictions were nearer than this" }, "p90"),
              h("th", { title: "the naive guess's mean error: fire time plus the items' usual time" }, "naive"),
            ),
            ...scored.map((row) =>
              h(
                "tr",
                { class: row.mae_s <= row.naive_mae_s ? "better" : "worse", dataset: { station: row.station } },
                h("th", {}, row.name),
                h("td", {}, wait(row.mae_s)),
                h("td", {}, wait(row.p90_s)),
                h("td", {}, wait(row.naive_mae_s)),
              ),
            ),
          ]
        : []),
    );
    const row = drawable.find((r) => r.station === station);
    if (!row) {
      return empty(
        "predictions",
        scored.length ? "No predicted and actual waits kept yet: the next order made is the first." : "No orders scored yet: an order's prediction is scored when it is ready.",
      );
    }
    const x = row.recent.map((_, i) => i + 1);
    const unit = unitFor(Math.max(...row.recent.map((p) => Math.max(p.predicted_s, p.actual_s))));
    chart(
      "predictions",
      `predictions:${unit.label}`,
      {
        scales: { x: { time: false, range: () => [0.5, Math.max(x.length, 2) + 0.5] }, y: { range: (_, min, max) => [0, Math.max(max * 1.15, 1)] } },
        axes: [{ ...AXIS, size: 44, values: (_, ticks) => ticks.map((v) => (Number.isInteger(v) ? `#${v}` : "")), label: "latest orders ready, oldest first", labelSize: 16, labelFont: "12px system-ui, sans-serif" }, { ...AXIS, size: 44, label: unit.label, labelSize: 18, labelFont: AXIS.font }],
        series: [
          {},
          { label: "Predicted", stroke: "#38bdf8", width: 2, dash: [6, 4], points: { show: true, size: 6, fill: "#38bdf8" } },
          { label: "Actual", stroke: "#f59e0b", width: 2, points: { show: true, size: 6, fill: "#f59e0b" } },
        ],
      },
      [x, row.recent.map((p) => p.predicted_s / unit.per), row.recent.map((p) => p.actual_s / unit.per)],
    );
  }

  function knownAlerts() {
    for (const alert of alerts()) if (alert && alert.id && !seen.has(alert.id)) seen.set(alert.id, alert);
    return [...seen.values()].sort((a, b) => (a.at || 0) - (b.at || 0));
  }

  function drawAlerts() {
    const zone = data.timezone || "UTC";
    const todays = knownAlerts().filter((alert) => alert.at && dayIn(alert.at, zone) === data.day);
    $("dash-alerts-total").textContent = todays.length ? `${todays.length} today` : "";
    $("dash-latest").replaceChildren(
      ...todays
        .slice(-3)
        .reverse()
        .map((alert) =>
          h(
            "li",
            { class: alert.severity === "CRITICAL" ? "critical" : null, dataset: { kind: alert.kind } },
            h("b", {}, alertLabel(alert)),
            " ",
            alert.message || `Order #${alert.order_number} at ${alert.station}`,
          ),
        ),
    );
    if (!todays.length) return empty("alerts", "No kitchen alerts today.");
    const first = hourIn(todays[0].at, zone);
    const last = Math.max(hourIn(data.at, zone), hourIn(todays[todays.length - 1].at, zone));
    const hours = [];
    for (let hour = first; hour <= last; hour++) hours.push(hour);
    const counts = hours.map((hour) => todays.filter((alert) => hourIn(alert.at, zone) === hour).length);
    const names = hours.map(hourLabel);
    chart(
      "alerts",
      `alerts:${names.join(",")}`,
      {
        scales: { ...xScale(hours.length), y: { range: (_, min, max) => [0, Math.max(3, Math.ceil(max * 1.25))] } },
        axes: [categorical(names), { ...AXIS, size: 36, values: (_, ticks) => ticks.map((v) => (Number.isInteger(v) ? String(v) : "")) }],
        series: [{}, { label: "Alerts", fill: "rgba(239,68,68,0.8)", stroke: "#ef4444", paths: window.uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }],
        plugins: [barsPlugin((v) => String(v))],
      },
      [hours.map((_, i) => i), counts],
    );
  }

  function today() {
    return data ? dayIn(Date.now(), data.timezone || "UTC") : null;
  }

  function dayIn(ms, timeZone) {
    try {
      return new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone }).format(new Date(ms));
    } catch {
      return new Date(ms).toISOString().slice(0, 10);
    }
  }

  function render() {
    if (!built) {
      build();
      built = true;
      show(page);
    }
    const problems = [];
    if (failed) problems.push(`The dashboard could not be read (${failed.message}).${data ? ` Showing what was read at ${clock(loadedAt)}.` : ""}`);
    if (data) problems.push(...data.problems);
    $("dash-problem").textContent = problems.join(" ");
    $("dash-problem").hidden = !problems.length;
    $("dash-updated").textContent = loadedAt ? `updated ${clock(loadedAt)}, every ${REFRESH_MS / 1000} s` : "reading…";
    if (!data) return;
    $("dash-day").textContent = data.day;
    if (!window.uPlot) {
      $("dash-problem").textContent = "The chart library did not load (/static/vendor/uPlot.iife.min.js): reload the page.";
      $("dash-problem").hidden = false;
      return;
    }
    drawTakings();
    drawQueues();
    drawPrep();
    drawPredictions();
    drawAlerts();
  }

  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  async function load() {
    const mine = ++seq;
    try {
      const answer = await read("/api/v1/stats/dashboard");
      if (mine !== seq) return;
      data = answer;
      failed = null;
      loadedAt = Date.now();
    } catch (err) {
      if (mine !== seq) return;
      failed = { message: explain(err) };
    }
    if (visible) render();
  }

  function schedule() {
    clearInterval(timer);
    clearInterval(aheadTimer);
    timer = visible ? setInterval(() => (document.hidden ? null : load()), REFRESH_MS) : null;
    aheadTimer = visible ? setInterval(() => (document.hidden ? null : ahead.load()), AHEAD_REFRESH_MS) : null;
  }

  return {
    // The section shown or left: read now and every REFRESH_MS while shown; nothing while another is open.
    shown(isShown) {
      if (isShown === visible) return;
      visible = isShown;
      schedule();
      if (visible) {
        render();
        load();
        ahead.load();
      }
      ahead.shown(visible && page === "ahead");
    },
    event(ev) {
      const d = ev.data || {};
      if (ev.type === "KITCHEN_ALERT" && d.alert && d.alert.id) {
        seen.set(d.alert.id, { ...d.alert, at: d.alert.at || ev.ts });
        while (seen.size > ALERTS_KEPT) seen.delete(seen.keys().next().value);
        if (visible && data) drawAlerts();
      }
      if (visible && (ev.type === "REVENUE_UPDATED" || ev.type === "ORDER_SETTLED") && !soon) {
        soon = setTimeout(() => ((soon = null), load()), SOON_MS);
      }
    },
    // Bring a page on screen: "today" or "ahead".
    page: (which) => show(which === "ahead" ? "ahead" : "today"),
    state: () => ({
      page,
      ahead: ahead.state(),
      data,
      failed,
      station,
      charts: Object.fromEntries([...charts].map(([name, { plot }]) => [name, { data: plot.data.map((series) => [...series]), width: plot.width, height: plot.height }])),
    }),
  };
}
