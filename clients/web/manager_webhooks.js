// Back office, the Webhooks section: the URLs this restaurant's events are POSTed to, signed (hub/workers/webhooks.py;
// "Webhooks" in PROTOCOL.md), so an integrator gets them without a WebSocket client.
//
// On top, the form to add one: its URL and, under "Only some event types", the types it takes (none ticked: every
// type). Once added, its signing secret is shown in a box of its own until "I have copied it": the hub never shows
// it again. Under the form, each webhook with its state (ACTIVE, or FAILING in red once its receiver has refused or
// missed three tries in a row: it keeps being tried), its URL and types, how far it got (the offset of the last
// event it was given, and when), the last error with the next try, and three actions: Deliveries (its latest
// attempts: delivery id, offset, HTTP status or why not), Replay from an offset (webhook.replay: those events again,
// under the same delivery ids) and Remove (webhook.unsubscribe, asked twice).
//
// Read (GET /api/v1/webhooks) when the section is shown, every REFRESH_MS while it is, after each action and on
// REFRESH. A failed read keeps the last list and says why in one line; a refused action is said under the form or on
// its webhook, in the hub's words where they are meant for a person (a bad URL, an unknown event type).

import { explain, h, hhmm, toast } from "./ui.js";

export const REFRESH_MS = 5000;
const REMOVE_CONFIRM_MS = 5000;

// A refusal of a webhook command, in words: the field's reason for a bad URL or type, the hub's own sentence
// for a refused replay, else the page's usual sentence.
export function refusal(err) {
  const details = err && (err.details || (err.frame && err.frame.details)); // HTTP's HubError, or the socket's frame
  const errors = details && details.errors;
  if (err && err.code === "INVALID_COMMAND" && errors && errors.length) {
    const first = errors[0];
    const field = { url: "The URL", events: "The event types", from_offset: "The offset" }[first.loc && first.loc[0]] || "This";
    const why = String(first.msg || "").replace(/^Value error, /, "");
    return `${field}: ${why}.`;
  }
  if (err && (err.code === "INVALID_STATE" || err.code === "NOT_FOUND")) return `${err.message}.`;
  return explain(err);
}

function readProblem(err) {
  if (err && err.code) return explain(err);
  if (err instanceof TypeError || !(err && err.message)) return "no answer from the hub (offline?).";
  return `${err.message}.`;
}

const typesWords = (events) => (events && events.length ? events.join(", ") : "every event");

// The panel in `box`. read(path) answers the body or throws (HubError); hub() is the page's Hub (act).
export function webhooksPanel(box, { read, hub }) {
  let answer = null; // the last GET /api/v1/webhooks
  let failed = null; // { message, at }
  let loadedAt = null;
  let seq = 0;
  let timer = null;
  let visible = false;
  let adding = false;
  let formProblem = null;
  let secret = null; // { id, url, secret } of the webhook just added, until the manager says it is copied
  const said = new Map(); // webhook id -> a refusal of an action on it, in words
  const logs = new Map(); // webhook id -> its deliveries, while shown
  const removing = new Map(); // webhook id -> when its Remove was pressed once
  const draft = { url: "", events: new Set(), someTypes: false, replay: new Map() };

  async function load() {
    clearTimeout(timer);
    const mine = ++seq;
    try {
      const got = await read("/api/v1/webhooks");
      if (mine !== seq) return;
      answer = got;
      failed = null;
      loadedAt = Date.now();
      for (const id of [...logs.keys()]) {
        const one = await read(`/api/v1/webhooks/${id}/deliveries`).catch(() => null);
        if (one) logs.set(id, one.deliveries);
      }
    } catch (err) {
      if (mine !== seq) return;
      failed = { message: readProblem(err), at: (failed && failed.at) || Date.now() };
    }
    render();
    timer = setTimeout(tick, REFRESH_MS);
  }

  function tick() {
    if (visible) load();
    else timer = null;
  }

  function shown(now) {
    visible = now;
    if (now && (timer === null || seq === 0)) load();
  }

  async function add(event) {
    event.preventDefault();
    const url = draft.url.trim();
    if (!url) {
      formProblem = "Type the URL the events go to (https://…).";
      render();
      return;
    }
    const events = draft.someTypes ? [...draft.events].sort() : [];
    adding = true;
    formProblem = null;
    render();
    try {
      const ack = await hub().act("webhook.subscribe", { url, events });
      const made = ack.result;
      secret = { id: made.webhook.id, url: made.webhook.url, secret: made.secret };
      draft.url = "";
      draft.events.clear();
      draft.someTypes = false;
      toast("Webhook added: copy its signing secret now.", "info");
    } catch (err) {
      formProblem = refusal(err);
    } finally {
      adding = false;
    }
    await load();
  }

  async function act(item, type, data, done) {
    said.delete(item.id);
    try {
      await hub().act(type, data);
      toast(done, "info");
    } catch (err) {
      said.set(item.id, refusal(err));
    }
    await load();
  }

  function remove(item) {
    const asked = removing.get(item.id);
    if (!asked || Date.now() - asked > REMOVE_CONFIRM_MS) {
      removing.set(item.id, Date.now());
      render();
      setTimeout(render, REMOVE_CONFIRM_MS + 50);
      return;
    }
    removing.delete(item.id);
    logs.delete(item.id);
    act(item, "webhook.unsubscribe", { webhook_id: item.id }, `Webhook to ${item.url} removed.`);
  }

  function replay(item) {
    const raw = String(draft.replay.get(item.id) ?? "").trim();
    const offset = Number(raw);
    if (!/^\d+$/.test(raw) || offset < 1) {
      said.set(item.id, "Type the offset to deliver again from (a whole number from 1).");
      render();
      return;
    }
    act(item, "webhook.replay", { webhook_id: item.id, from_offset: offset }, `Delivering again from offset ${offset}.`);
  }

  async function toggleLog(item) {
    if (logs.has(item.id)) {
      logs.delete(item.id);
      render();
      return;
    }
    try {
      logs.set(item.id, (await read(`/api/v1/webhooks/${item.id}/deliveries`)).deliveries);
    } catch (err) {
      said.set(item.id, readProblem(err));
    }
    render();
  }

  function logList(item) {
    const rows = logs.get(item.id) || [];
    return h(
      "ol",
      { class: "wh-log", dataset: { webhookId: item.id } },
      rows.length
        ? rows.map((d) =>
            h(
              "li",
              { class: d.ok ? "ok" : "bad", dataset: { deliveryId: d.delivery_id, offset: d.offset } },
              h("span", { class: "wh-log-at" }, hhmm(d.at)),
              h("span", { class: "wh-log-what" }, `#${d.offset} ${d.event_type}`),
              h("span", { class: "wh-log-status" }, d.ok ? `${d.http_status} taken` : d.error || "failed"),
              h("code", { class: "wh-log-id" }, d.delivery_id),
            ),
          )
        : h("li", { class: "none" }, "Nothing sent yet: events committed from now on go here."),
    );
  }

  function entry(item) {
    const note = said.get(item.id);
    const confirm = removing.has(item.id) && Date.now() - removing.get(item.id) <= REMOVE_CONFIRM_MS;
    const progress = item.delivered_at
      ? `delivered up to offset ${item.cursor.offset}, last at ${hhmm(item.delivered_at)}`
      : `from offset ${item.cursor.offset + 1}; nothing delivered yet`;
    const lines = [h("span", { class: "wh-types" }, typesWords(item.events)), h("span", { class: "wh-progress" }, progress)];
    if (item.last_error) {
      const next = item.next_at ? `; next try ${hhmm(item.next_at)}` : "";
      lines.push(h("span", { class: "wh-error" }, `${item.last_error} (tried ${item.attempts} ${item.attempts === 1 ? "time" : "times"}${next})`));
    }
    if (note) lines.push(h("span", { class: "wh-said", role: "alert" }, note));
    return h(
      "li",
      { class: `wh-item s-${item.state}`, dataset: { webhookId: item.id, state: item.state } },
      h("span", { class: "wh-state" }, item.state),
      h("span", { class: "wh-url" }, item.url),
      h(
        "span",
        { class: "wh-acts" },
        h("button", { type: "button", class: "wh-log-btn", "aria-expanded": logs.has(item.id) ? "true" : "false", onclick: () => toggleLog(item) }, "Deliveries"),
        h("input", {
          class: "wh-replay-from",
          inputmode: "numeric",
          placeholder: "offset",
          "aria-label": "Replay from offset",
          value: draft.replay.get(item.id) ?? "",
          oninput: (e) => draft.replay.set(item.id, e.target.value),
        }),
        h("button", { type: "button", class: "wh-replay", onclick: () => replay(item) }, "Replay"),
        h("button", { type: "button", class: confirm ? "wh-remove danger" : "wh-remove", onclick: () => remove(item) }, confirm ? "Really remove?" : "Remove"),
      ),
      h("div", { class: "wh-lines" }, ...lines),
      logs.has(item.id) ? logList(item) : null,
    );
  }

  // The form is built once (typing is never interrupted by a refresh); its types, button and problem are updated.
  const urlInput = h("input", { id: "webhook-url", type: "url", maxlength: "2000", placeholder: "https://example.com/fireflow", oninput: (e) => (draft.url = e.target.value) });
  const typesGrid = h("div", { class: "wh-types-grid" });
  const addButton = h("button", { type: "submit", id: "webhook-add", class: "go" }, "ADD WEBHOOK");
  const problemLine = h("p", { class: "problem", id: "webhook-problem", role: "alert", hidden: true });
  const picker = h("details", { class: "wh-pick", ontoggle: (e) => (draft.someTypes = e.target.open) }, h("summary", {}, "Only some event types (else every event)"), typesGrid);
  const formEl = h(
    "form",
    { class: "wh-form box", id: "webhook-form", onsubmit: add, autocomplete: "off", novalidate: true },
    h("h3", {}, "Add a webhook"),
    h("label", { class: "wh-url-label" }, "URL ", urlInput),
    picker,
    addButton,
    problemLine,
  );
  let typesShown = "";

  function form() {
    const types = (answer && answer.event_types) || [];
    if (types.join() !== typesShown) {
      typesShown = types.join();
      typesGrid.replaceChildren(
        ...types.map((type) =>
          h("label", { class: "check" }, h("input", { type: "checkbox", value: type, onchange: (e) => (e.target.checked ? draft.events.add(type) : draft.events.delete(type)) }), ` ${type}`),
        ),
      );
    }
    if (urlInput.value !== draft.url) urlInput.value = draft.url;
    picker.open = draft.someTypes;
    for (const box of typesGrid.querySelectorAll("input")) box.checked = draft.events.has(box.value);
    addButton.disabled = adding;
    addButton.textContent = adding ? "Adding…" : "ADD WEBHOOK";
    problemLine.hidden = !formProblem;
    problemLine.textContent = formProblem || "";
    return formEl;
  }

  function secretBox() {
    if (!secret) return null;
    return h(
      "div",
      { class: "wh-secret", id: "webhook-secret", role: "status", dataset: { webhookId: secret.id } },
      h("b", {}, `Signing secret for ${secret.url}: shown this once.`),
      h("code", { id: "webhook-secret-value" }, secret.secret),
      h("span", { class: "hint" }, "Verify each delivery's Fireflow-Signature with it (PROTOCOL.md, \u201cWebhooks\u201d)."),
      h(
        "button",
        {
          type: "button",
          id: "webhook-secret-done",
          onclick: () => {
            secret = null;
            render();
          },
        },
        "I have copied it",
      ),
    );
  }

  // The panel's parts stay in place; a refresh replaces what is inside them, and the list not while its offset
  // box is being typed in.
  const head = h("div", { class: "col-head" });
  const problemHolder = h("div", { class: "wh-problem-holder" });
  const secretHolder = h("div", { class: "wh-secret-holder" });
  const listHolder = h("div", { class: "wh-list-holder" });
  box.replaceChildren(head, problemHolder, secretHolder, formEl, listHolder);

  function render() {
    const items = (answer && answer.webhooks) || [];
    const failing = items.filter((w) => w.state === "FAILING").length;
    head.replaceChildren(
      ...[
        h("h2", {}, "Webhooks"),
        h("span", { class: "hint" }, "each event POSTed to your integrations, signed, in order"),
        failing ? h("b", { class: "wh-failing", id: "webhooks-failing" }, `${failing} failing`) : null,
        h("span", { class: "hint", id: "webhooks-updated" }, loadedAt ? `read ${hhmm(loadedAt)}` : ""),
        h("button", { type: "button", id: "webhooks-reload", onclick: () => load() }, "REFRESH"),
      ].filter(Boolean),
    );
    problemHolder.replaceChildren(
      ...(failed ? [h("p", { class: "problem", id: "webhooks-problem", role: "alert" }, `The webhooks could not be read (since ${hhmm(failed.at)}): ${failed.message}`)] : []),
    );
    const shownSecret = secretBox();
    if (!shownSecret) secretHolder.replaceChildren();
    else if (!secretHolder.firstChild || secretHolder.firstChild.dataset.webhookId !== String(secret.id)) secretHolder.replaceChildren(shownSecret);
    form();
    const typing = listHolder.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
    if (!typing) {
      listHolder.replaceChildren(
        h(
          "ul",
          { class: "wh-list", id: "webhooks-list", "aria-live": "polite" },
          items.length ? items.map(entry) : h("li", { class: "none" }, answer ? "No webhooks: add one above." : failed ? "Not read yet." : "Reading…"),
        ),
      );
    }
  }

  render();
  return {
    load,
    shown,
    state: () => ({ answer, failed, loadedAt, secret, said: Object.fromEntries(said) }),
  };
}
