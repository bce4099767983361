// Back office, the Groups section: saved group bills (an office lunch over three tables, a wedding's
// two sittings) put together under a title for one customer, with the customer's references.
//
//   list     GET /api/v1/groups (q: part of the title, customer or a reference; invoiced yes / no);
//   new/edit group.save (over the socket, like setup): title, customer, references and the orders,
//            picked from the open orders (the `orders` channel, kept live by manager.js); a group not
//            yet invoiced is changed with its group_id and version;
//   preview  GET /api/v1/groups/{id}: the orders its invoice covers, those left out and why, the bill
//            and the warnings, in plain words; re-read when one of its orders changes;
//   pay      order.pay {order_ids: the included ones, group_id, tenders} over HTTP POST /api/v1/commands
//            like every money command (manager.js moneyCommand: one id per action until answered).
//            ITEMS_NOT_READY shows what is not ready and offers SETTLE ANYWAY (force). Paid: "Invoiced
//            as #N", with a link to the invoice in the Invoices section.

import { HubError } from "./fireflow.js";
import { TENDER_METHODS, formatMoney, parseAmount, placesOf, plainAmount } from "./money.js";
import { explain, h, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const MAX_ORDERS = 20;
const MAX_TENDERS = 10;

// ctx: { hub(), read(path), moneyCommand(type, data), fail(err, words), currency(), orders() (the open
//        orders by id), orderNumber(id) (of any order seen, or null), openInvoice(id) }
export function groupsSection(ctx) {
  const query = { q: "", invoiced: "" };
  let list = null; // the groups last read
  let listSeq = 0;
  let selected = null; // the group id shown
  let preview = null; // GET /api/v1/groups/{id} of the selected group
  let previewSeq = 0;
  let editing = null; // null: no form; { group: null } a new group; { group } changing one
  const picked = new Set(); // order ids ticked in the form, in the order ticked
  let pay = null; // { groupId, guidance, busy, due }
  let stalePreview = false; // an event touched one of the shown group's orders
  const invoiceNumbers = new Map(); // invoice id -> number (read once, or from the payment's answer)
  const invoiceTotals = new Map(); // invoice id -> its total
  const seen = new Map(); // order id -> { number, type, table_id } of an order a preview showed (it may close)

  const money = (minor) => formatMoney(minor, ctx.currency());
  const places = () => placesOf(ctx.currency());

  // -- reading --------------------------------------------------------------------------------

  async function loadList() {
    const params = new URLSearchParams();
    if (query.q) params.set("q", query.q);
    if (query.invoiced) params.set("invoiced", query.invoiced);
    const seq = ++listSeq;
    try {
      const body = await ctx.read(`/api/v1/groups${String(params) ? `?${params}` : ""}`);
      if (seq !== listSeq) return;
      list = body.groups || [];
    } catch (err) {
      if (seq === listSeq) ctx.fail(err, (e) => (e.code === "INVALID_COMMAND" ? `Check the search: ${e.message}.` : explain(e)));
    }
    renderList();
  }

  async function invoiceNumber(id) {
    if (!id || invoiceNumbers.has(id)) return invoiceNumbers.get(id) ?? null;
    try {
      const inv = (await ctx.read(`/api/v1/invoices/${encodeURIComponent(id)}`)).invoice;
      invoiceNumbers.set(id, inv.number);
      invoiceTotals.set(id, inv.total);
      return inv.number;
    } catch {
      return null;
    }
  }

  async function loadPreview(id = selected) {
    if (!id) return;
    const seq = ++previewSeq;
    try {
      const body = await ctx.read(`/api/v1/groups/${encodeURIComponent(id)}`);
      const invoiceId = body.group && body.group.invoice_id;
      if (invoiceId) await invoiceNumber(invoiceId);
      for (const o of body.included || []) seen.set(o.order_id, o);
      if (seq !== previewSeq || selected !== id) return;
      if (invoiceId || (pay && pay.groupId !== id)) pay = null;
      preview = body;
      if (list) list = list.map((g) => (g.id === body.group.id ? body.group : g)); // invoiced or changed meanwhile
    } catch (err) {
      if (seq !== previewSeq) return;
      ctx.fail(err);
      if (err.code === "NOT_FOUND") {
        selected = null;
        preview = null;
      }
    }
    renderList();
    renderPreview();
  }

  function select(id) {
    selected = id;
    editing = null;
    $("grp-form").hidden = true;
    if (!preview || preview.group.id !== id) {
      preview = null;
      pay = null;
      renderPreview();
    }
    renderList();
    loadPreview(id);
  }

  // -- words ----------------------------------------------------------------------------------

  const TYPE_WORDS = { DINE_IN: "dine-in", TAKEAWAY: "takeaway", DELIVERY: "delivery" };

  function numberOf(orderId) {
    const n = ctx.orderNumber(orderId) ?? (seen.get(orderId) || {}).number;
    return n ? `#${n}` : orderId.split(".").pop();
  }

  // "#12 · T4", "#13 · takeaway": the order's number and where it is, as far as this page knows.
  function labelOf(orderId) {
    const order = ctx.orders().get(orderId) || seen.get(orderId);
    return order ? `${numberOf(orderId)} · ${whereOf(order)}` : numberOf(orderId);
  }

  function whereOf(order) {
    if (order.type === "DINE_IN") return order.table_id || "dine-in";
    return TYPE_WORDS[order.type] || String(order.type || "").toLowerCase();
  }

  // The hub's reason an order is left out, as the screens say it.
  function reasonWords(reason) {
    return String(reason || "unknown")
      .replace(/\binvoice (\d+)/, "invoice #$1")
      .replace(/\bmerged into order (\S+)/, (_, id) => `merged into order ${numberOf(id)}`)
      .replace(/^no such open or recent order$/, "not found: no open or recent order has that id");
  }

  function references(group) {
    return [group.reference1, group.reference2].filter(Boolean).join(" · ");
  }

  // -- the list -------------------------------------------------------------------------------

  function renderList() {
    const rows = (list || []).map((g) => {
      const number = g.invoice_id ? invoiceNumbers.get(g.invoice_id) : null;
      return h(
        "tr",
        {
          tabindex: "0",
          class: selected === g.id ? "selected" : "",
          dataset: { groupId: g.id, invoiced: g.invoice_id ? "yes" : "no" },
          onclick: () => select(g.id),
          onkeydown: (e) => e.key === "Enter" && select(g.id),
        },
        h("td", {}, h("b", { class: "g-title" }, g.title)),
        h("td", {}, g.customer_name || "—"),
        h("td", { class: "g-refs" }, references(g) || h("span", { class: "hint" }, "none")),
        h("td", { class: "num" }, String((g.order_ids || []).length)),
        h("td", {}, g.invoice_id ? h("span", { class: "status s-ISSUED" }, number ? `INVOICED #${number}` : "INVOICED") : h("span", { class: "status" }, "OPEN")),
      );
    });
    const none = list ? (query.q || query.invoiced ? "No group matches." : "No group yet: “+ NEW GROUP” puts orders together.") : "Reading…";
    $("grp-rows").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "5", class: "none" }, none))]));
  }

  // -- the form: new group, or changing one not yet invoiced ----------------------------------

  function showProblem(text, input = null) {
    const box = $("grp-problem");
    for (const el of $("grp-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    box.textContent = text || "";
    box.hidden = !text;
    if (text && input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  function edit(group) {
    editing = { group: group || null };
    picked.clear();
    for (const id of (group && group.order_ids) || []) picked.add(id);
    $("grp-form-title").textContent = group ? `Change “${group.title}”` : "New group";
    $("grp-title").value = group ? group.title : "";
    $("grp-customer").value = group ? group.customer_name || "" : "";
    $("grp-ref1").value = group ? group.reference1 || "" : "";
    $("grp-ref2").value = group ? group.reference2 || "" : "";
    $("grp-form").hidden = false;
    $("grp-view").hidden = true;
    showProblem(null);
    renderPicker();
    $("grp-title").focus();
  }

  function closeForm() {
    editing = null;
    $("grp-form").hidden = true;
    $("grp-view").hidden = false;
    renderPreview();
  }

  function orderTotal(order) {
    return (order.items || []).reduce((sum, line) => sum + line.unit_price * line.quantity, 0);
  }

  // The orders to pick from: the open ones, and those already in the group (open or not).
  function renderPicker() {
    if (!editing) return;
    const open = ctx.orders();
    const rows = [];
    const left = new Map(((preview && editing.group && preview.group.id === editing.group.id && preview.excluded) || []).map((x) => [x.order_id, x.reason]));
    const shown = new Set();
    const add = (id) => {
      if (shown.has(id)) return;
      shown.add(id);
      const order = open.get(id);
      const checked = picked.has(id);
      const box = h("input", { type: "checkbox", value: id, checked, onchange: (e) => tick(id, e.currentTarget.checked) });
      box.checked = checked;
      rows.push(
        h(
          "label",
          { class: `check pick${order ? "" : " gone"}`, dataset: { orderId: id } },
          box,
          h("b", { class: "p-num" }, numberOf(id)),
          h("span", { class: "p-where" }, order ? whereOf(order) : reasonWords(left.get(id) || "not open")),
          h("span", { class: "p-who" }, (order && order.customer_name) || ""),
          h("span", { class: "p-total", dataset: { minor: order ? orderTotal(order) : null } }, order ? money(orderTotal(order)) : ""),
        ),
      );
    };
    for (const id of (editing.group && editing.group.order_ids) || []) add(id);
    const rest = [...open.values()].filter((o) => !shown.has(o.id)).sort((a, b) => a.number - b.number);
    for (const order of rest) add(order.id);
    for (const id of picked) add(id); // ticked, then it closed: still shown, so it can be taken out
    const box = $("grp-order-list");
    const focused = box.contains(document.activeElement) ? document.activeElement.value : null; // kept across a redraw
    box.replaceChildren(...(rows.length ? rows : [h("p", { class: "hint" }, "No open order to put in a group.")]));
    if (focused) box.querySelector(`input[value="${CSS.escape(focused)}"]`)?.focus();
    $("grp-picked").textContent = `${picked.size} picked · items before tax and service`;
  }

  function tick(id, on) {
    if (on) picked.add(id);
    else picked.delete(id);
    showProblem(null);
    $("grp-picked").textContent = `${picked.size} picked · items before tax and service`;
  }

  function saveRefusal(err) {
    let words;
    if (err.code === "VERSION_CONFLICT") words = "Someone changed this group at the same moment: SAVE again puts yours over theirs; CANCEL shows theirs.";
    else if (err.code === "INVALID_STATE") words = `Not saved: ${err.message}.`;
    else if (err.code === "INVALID_COMMAND") words = `Not saved: ${err.message}.`;
    else words = explain(err);
    showProblem(words);
    return words;
  }

  async function save(e) {
    e.preventDefault();
    if (!editing) return;
    const title = $("grp-title").value.trim();
    if (!title) return showProblem("Give the group a title, like “Acme offsite lunch”: it is on the invoice.", $("grp-title"));
    if (!picked.size) return showProblem("Tick the orders that go in the group: at least one.", $("grp-order-list").querySelector("input"));
    if (picked.size > MAX_ORDERS) return showProblem(`A group holds up to ${MAX_ORDERS} orders: ${picked.size} are ticked.`);
    const group = editing.group;
    const data = {
      title,
      customer_name: $("grp-customer").value.trim() || null,
      reference1: $("grp-ref1").value.trim(),
      reference2: $("grp-ref2").value.trim(),
      order_ids: [...picked],
    };
    if (group) Object.assign(data, { group_id: group.id, version: group.version });
    const form = $("grp-form");
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    let saved = null;
    try {
      saved = (await ctx.hub().act("group.save", data)).result.group;
    } catch (err) {
      ctx.fail(err, saveRefusal);
      if (err.code === "VERSION_CONFLICT" && group) {
        try {
          const now = (await ctx.read(`/api/v1/groups/${encodeURIComponent(group.id)}`)).group;
          if (editing && editing.group && editing.group.id === now.id) editing.group = now;
        } catch (again) {
          ctx.fail(again);
        }
      }
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
    if (!saved) return;
    const orders = `${saved.order_ids.length} order${saved.order_ids.length === 1 ? "" : "s"}`;
    toast(group ? `Group “${saved.title}” changed: ${orders}` : `Group “${saved.title}” saved with ${orders}`, "info");
    editing = null;
    $("grp-form").hidden = true;
    $("grp-view").hidden = false;
    preview = null;
    select(saved.id);
    loadList();
  }

  // -- the preview and paying -----------------------------------------------------------------

  function dueOf(p) {
    if (!p || !p.bill) return 0;
    return p.bill.total - (p.included || []).reduce((sum, o) => sum + (o.paid || 0), 0);
  }

  // What the preview warns of, in words (an invoiced group says so below, by its invoice's link).
  function warningLines(p) {
    const w = p.warnings || {};
    const lines = [];
    if (w.mixed_customers) lines.push(["mixed_customers", "Orders of different customers: cannot be one invoice. Take the other customer's orders out of the group.", "bad"]);
    if (w.nothing_to_invoice && !w.invoice_id) lines.push(["nothing_to_invoice", "Nothing to invoice: none of its orders is open.", "bad"]);
    if (w.missing_references) lines.push(["missing_references", "No references: the invoice can still be made.", "note"]);
    return lines;
  }

  function tenderRow(amount, method = TENDER_METHODS[0]) {
    const select = h("select", { class: "tn-method", "aria-label": "Paid by" }, TENDER_METHODS.map((m) => h("option", { value: m }, m)));
    select.value = method;
    const row = h(
      "div",
      { class: "tender" },
      select,
      h("input", { class: "tn-amount", inputmode: "decimal", autocomplete: "off", "aria-label": "Amount", value: amount === null ? "" : plainAmount(amount, places()) }),
      h("button", { type: "button", class: "tn-remove icon", onclick: () => removeTender(row) }, h("span", { "aria-hidden": "true" }, "✕"), h("span", { class: "sr" }, "Remove this tender")),
    );
    return row;
  }

  function tenderSum() {
    let sum = 0;
    for (const input of document.querySelectorAll("#grp-tenders .tn-amount")) {
      const minor = parseAmount(input.value, places());
      if (Number.isInteger(minor)) sum += minor;
    }
    return sum;
  }

  function addTender() {
    const rows = $("grp-tenders");
    if (rows.children.length >= MAX_TENDERS) return toast(`Up to ${MAX_TENDERS} tenders`);
    const rest = dueOf(preview) - tenderSum();
    const row = tenderRow(rest > 0 ? rest : null, "CASH");
    rows.append(row);
    payHint();
    row.querySelector(".tn-amount").focus();
  }

  function removeTender(row) {
    if ($("grp-tenders").children.length <= 1) return;
    row.remove();
    payHint();
  }

  function payHint() {
    const due = dueOf(preview);
    const sum = tenderSum();
    const hint = $("grp-pay-hint");
    if (!hint) return;
    hint.textContent = sum === due ? "" : sum < due ? `${money(due - sum)} still to cover: a group is paid in full at once.` : `${money(sum - due)} more than the bill: lower a tender (change is given at the till).`;
    const button = $("grp-pay");
    button.textContent = pay && pay.busy ? "PAYING…" : `PAY ${money(sum)}`;
    button.disabled = Boolean(pay && pay.busy);
  }

  function readTenders() {
    const tenders = [];
    for (const row of document.querySelectorAll("#grp-tenders .tender")) {
      const input = row.querySelector(".tn-amount");
      const minor = parseAmount(input.value, places());
      if (minor === null) continue;
      if (Number.isNaN(minor) || minor <= 0) {
        input.focus();
        return { problem: `Type each amount like ${plainAmount(12550, places())}` };
      }
      tenders.push({ method: row.querySelector(".tn-method").value, amount: minor });
    }
    if (!tenders.length) return { problem: "Type what is paid, and how." };
    const sum = tenders.reduce((s, t) => s + t.amount, 0);
    const due = dueOf(preview);
    if (sum !== due) return { problem: `The tenders make ${money(sum)} but the bill is ${money(due)}: a group is paid in full at once.` };
    return { tenders };
  }

  async function payGroup(force = false) {
    const p = preview;
    if (!p || !pay || pay.busy || pay.groupId !== p.group.id) return;
    const read = readTenders();
    if (read.problem) return toast(read.problem);
    const current = pay;
    const data = { order_ids: p.included.map((o) => o.order_id), group_id: p.group.id, tenders: read.tenders };
    if (force) data.force = true; // different data: a new command id, not a retry of the refused one
    current.busy = true;
    current.guidance = null;
    renderGuidance();
    payHint();
    let reread = true; // what the hub holds may have changed: read the preview again
    try {
      const result = (await ctx.moneyCommand("order.pay", data)).result || {};
      if (result.invoice_id) {
        invoiceNumbers.set(result.invoice_id, result.invoice_number);
        invoiceTotals.set(result.invoice_id, result.total);
      }
      toast(`“${p.group.title}” invoiced as #${result.invoice_number}: ${money(result.total)}`, "info");
      if (pay === current) pay = null;
    } catch (err) {
      if (err instanceof HubError && err.code === "ITEMS_NOT_READY") {
        current.guidance = (err.frame.details && err.frame.details.guidance) || { items: [] };
        reread = false; // nothing changed: the form and its tenders stay as they are
      } else {
        ctx.fail(err, payRefusal);
      }
    } finally {
      current.busy = false;
    }
    if (pay === current) {
      renderGuidance();
      payHint();
    }
    if (!reread) return;
    await loadPreview(p.group.id);
    loadList();
  }

  function payRefusal(err) {
    if (err.code === "INVALID_STATE" && /MIXED_CUSTOMERS|different/i.test(`${err.message} ${JSON.stringify(err.frame.details || {})}`)) {
      return "Orders of different customers cannot be one invoice: take the other customer's orders out of the group.";
    }
    if (err.code === "ALREADY_SETTLED") return "This group or one of its orders is already invoiced: the preview now shows what is left.";
    return explain(err);
  }

  function renderGuidance() {
    const box = $("grp-guidance");
    if (!box) return;
    const g = pay && pay.guidance;
    if (!g) {
      box.replaceChildren();
      return;
    }
    const items = (g.items || []).map((item) =>
      h("li", { dataset: { lineId: item.line_id } }, h("b", {}, `${numberOf(item.order_id)} ${item.name}`), ` — ${item.status === "NOT_FIRED" ? "not sent to the kitchen" : item.wait || String(item.status).toLowerCase()}`),
    );
    box.replaceChildren(
      h(
        "div",
        { class: "guidance", role: "alert", id: "grp-not-ready" },
        h("h3", {}, "Some items are not ready"),
        h("ul", {}, items),
        h("p", {}, "The guests may wait, or you may settle now: the kitchen keeps making them."),
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", id: "grp-wait", onclick: () => ((pay.guidance = null), renderGuidance()) }, "WAIT"),
          h("button", { type: "button", class: "danger", id: "grp-force", onclick: () => payGroup(true) }, "SETTLE ANYWAY"),
        ),
      ),
    );
    box.scrollIntoView({ block: "nearest" });
  }

  // The preview in two parts: what the group is (read again freely) and the action below it (the
  // payment form, kept as it is while the amount due stays the same, so typing is never lost).
  function renderPreview() {
    const box = $("grp-view");
    if (editing) return;
    box.hidden = false;
    const info = $("grp-info");
    const act = $("grp-act");
    if (!selected || !preview || preview.group.id !== selected) {
      delete box.dataset.groupId;
      delete box.dataset.invoiced;
      info.replaceChildren(h("p", { class: "empty" }, selected ? "Reading…" : "Select a group, or “+ NEW GROUP”."));
      act.replaceChildren();
      return;
    }
    const p = preview;
    const g = p.group;
    const invoiced = Boolean(g.invoice_id);
    const number = invoiced ? invoiceNumbers.get(g.invoice_id) : null;
    const cur = (p.bill && p.bill.currency) || ctx.currency();
    const m = (minor) => formatMoney(minor, cur);
    const due = dueOf(p);
    const payable = !invoiced && p.bill && !p.warnings.mixed_customers && (p.included || []).length > 0 && due > 0;
    box.dataset.groupId = g.id;
    box.dataset.invoiced = invoiced ? "yes" : "no";
    // Invoiced: the orders its invoice paid are left out of the preview ("already paid on invoice N").
    const onIt = invoiced && number ? (p.excluded || []).filter((x) => x.reason === `already paid on invoice ${number}`) : [];
    const excluded = (p.excluded || []).filter((x) => !onIt.includes(x));
    const body = [h("h3", {}, invoiced ? `On invoice${number ? ` #${number}` : ""} (${onIt.length})` : `On the invoice (${(p.included || []).length})`)];
    if (invoiced) body.push(h("ul", { class: "inv-lines", id: "grp-paid" }, onIt.map((x) => h("li", { dataset: { orderId: x.order_id } }, h("span", {}, labelOf(x.order_id)), h("span", { class: "hint" }, "paid")))));
    else body.push(
      h(
        "ul",
        { class: "inv-lines", id: "grp-included" },
        (p.included || []).map((o) =>
          h(
            "li",
            { dataset: { orderId: o.order_id } },
            h("span", {}, `#${o.number} · ${o.type === "DINE_IN" ? o.table_id || "dine-in" : TYPE_WORDS[o.type] || o.type}${o.customer_name ? ` · ${o.customer_name}` : ""}${o.paid ? ` · ${m(o.paid)} paid` : ""}`),
            h("b", {}, m(o.total)),
          ),
        ),
      ),
    );
    if (excluded.length) {
      body.push(h("h3", {}, `Left out (${excluded.length})`));
      body.push(
        h(
          "ul",
          { class: "inv-lines left-out", id: "grp-excluded" },
          excluded.map((x) => h("li", { dataset: { orderId: x.order_id, reason: x.reason } }, h("span", {}, labelOf(x.order_id)), h("span", { class: "why" }, reasonWords(x.reason)))),
        ),
      );
    }
    if (invoiced && invoiceTotals.has(g.invoice_id)) {
      const total = invoiceTotals.get(g.invoice_id);
      body.push(h("div", { class: "inv-total" }, h("span", {}, "Invoiced"), h("b", { id: "grp-total", dataset: { minor: total } }, m(total))));
    } else if (p.bill) {
      body.push(h("div", { class: "inv-total" }, h("span", {}, "Bill"), h("b", { id: "grp-total", dataset: { minor: p.bill.total } }, m(p.bill.total))));
      if (due !== p.bill.total) body.push(h("div", { class: "inv-sum" }, h("span", {}, "Still due"), h("b", { id: "grp-due", dataset: { minor: due } }, m(due))));
    }
    info.replaceChildren(
      h(
        "div",
        { class: "inv-head" },
        h("h2", {}, g.title),
        invoiced ? h("span", { class: "status s-ISSUED", id: "grp-state" }, number ? `INVOICED #${number}` : "INVOICED") : h("span", { class: "status", id: "grp-state" }, "OPEN"),
        invoiced ? null : h("button", { type: "button", id: "grp-edit", onclick: () => edit(g) }, "CHANGE"),
      ),
      h("p", { class: "hint" }, `${g.customer_name || "no customer named"} · ${references(g) ? `refs ${references(g)}` : "no references"} · by ${g.updated_by || "?"}`),
      h("ul", { class: "grp-warnings", id: "grp-warnings" }, warningLines(p).map(([key, text, kind]) => h("li", { class: kind, dataset: { warning: key } }, text))),
      h("div", { class: "grp-body" }, body),
    );
    if (invoiced) {
      act.replaceChildren(
        h(
          "div",
          { class: "grp-done", id: "grp-invoiced" },
          h("b", {}, number ? `Invoiced as #${number}` : "Invoiced"),
          h("button", { type: "button", id: "grp-open-invoice", class: "link-btn", onclick: () => ctx.openInvoice(g.invoice_id) }, "OPEN INVOICE"),
        ),
      );
      return;
    }
    if (!payable) {
      act.replaceChildren();
      return;
    }
    if (pay && pay.groupId === g.id && pay.due === due && act.contains($("grp-pay-form"))) return; // as typed
    pay = { groupId: g.id, guidance: null, busy: false, due };
    act.replaceChildren(
      h(
        "form",
        { class: "box grp-pay", id: "grp-pay-form", novalidate: true, onsubmit: (e) => (e.preventDefault(), payGroup(false)), oninput: payHint, onchange: payHint },
        h("h3", {}, "Pay the group"),
        h("div", { id: "grp-tenders", class: "tenders" }, tenderRow(due)),
        h("div", { class: "row" }, h("button", { type: "button", id: "grp-tender-add", class: "add", onclick: addTender }, "+ SPLIT"), h("button", { type: "submit", id: "grp-pay", class: "go grow" }, "PAY")),
        h("p", { class: "hint", id: "grp-pay-hint" }),
        h("div", { id: "grp-guidance" }),
      ),
    );
    payHint();
  }

  // -- told by manager.js ---------------------------------------------------------------------

  // An order event: the picker follows the open orders; the preview is read again when it is about
  // one of the shown group's orders (cancelled, merged, paid, changed).
  function orderEvent(ev) {
    if (editing) renderPicker();
    if (!preview || !selected) return;
    const d = ev.data || {};
    const ids = new Set([d.order_id, d.from_order_id, ...(d.order_ids || []), d.order && d.order.id].filter(Boolean));
    if (preview.group.order_ids.some((id) => ids.has(id))) stalePreview = true;
  }

  // After a burst of events (manager.js `applied`): one read of the preview, not one per event.
  function applied() {
    if (!stalePreview) return;
    stalePreview = false;
    if (!(pay && pay.busy)) loadPreview();
  }

  function shown() {
    if (!list) loadList();
    else if (selected) loadPreview();
    renderList();
    renderPreview();
  }

  function wire() {
    $("grp-view").replaceChildren(h("div", { id: "grp-info", class: "grp-info" }), h("div", { id: "grp-act", class: "grp-act" }));
    $("grp-new").addEventListener("click", () => edit(null));
    $("grp-cancel").addEventListener("click", closeForm);
    $("grp-form").addEventListener("submit", save);
    $("grp-form").addEventListener("input", () => ($("grp-problem").hidden ? null : showProblem(null)));
    $("grp-search").addEventListener("submit", (e) => {
      e.preventDefault();
      Object.assign(query, { q: $("grp-q").value.trim(), invoiced: $("grp-invoiced").value });
      loadList();
    });
    $("grp-invoiced").addEventListener("change", () => {
      Object.assign(query, { q: $("grp-q").value.trim(), invoiced: $("grp-invoiced").value });
      loadList();
    });
    renderList();
    renderPreview();
  }

  return {
    wire,
    shown,
    orderEvent,
    applied,
    reload: () => (list ? loadList() : null),
    state: () => ({ list, selected, preview, editing: Boolean(editing), picked: [...picked], pay }),
  };
}
