// Back office, the Restaurant section: the profile (name, time zone; the currency shown, fixed) and the
// billing rules (tax mode, tax codes and rates, service charge and the order types it is on, the
// discount over which a manager's PIN is needed, how long asking for the bill locks it).
//
// setup.profile sends only the fields changed; setup.billing sends BillingSettings whole. Both hold
// the restaurant's version (the page keeps it in step). What is wrong is said in plain words before
// sending, next to the Save button, and what the hub still refuses (INVALID_SETUP: an item whose tax
// code no rate would cover, an unknown time zone) is said there too. A PROFILE_CHANGED from another
// screen refills a form nobody is typing in; mid-edit, the form says it changed and offers to show it.
//
// Rates are typed as percents ("5", "12.5") and sent as basis points: the text is read as an amount
// with 2 decimals (money.js), so 12.5 % is exactly 1250, never a float times 100.

import { formatBp, parseAmount, placesOf } from "./money.js";
import { h, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const BP = 10000;
const ORDER_TYPES = ["DINE_IN", "TAKEAWAY", "DELIVERY"];
const MAX_LOCK_MIN = 1440;

// Common IANA zones for the datalist; any zone the hub's zone database knows is accepted.
const ZONES = [
  "UTC", "Asia/Kolkata", "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka", "Asia/Kathmandu", "Asia/Colombo",
  "Asia/Singapore", "Asia/Kuala_Lumpur", "Asia/Bangkok", "Asia/Jakarta", "Asia/Manila", "Asia/Hong_Kong",
  "Asia/Shanghai", "Asia/Tokyo", "Asia/Seoul", "Asia/Riyadh", "Asia/Qatar", "Europe/London", "Europe/Dublin",
  "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam",
  "Europe/Zurich", "Europe/Stockholm", "Europe/Athens", "Europe/Istanbul", "Europe/Moscow", "Africa/Cairo",
  "Africa/Lagos", "Africa/Nairobi", "Africa/Johannesburg", "America/New_York", "America/Chicago",
  "America/Denver", "America/Los_Angeles", "America/Toronto", "America/Vancouver", "America/Mexico_City",
  "America/Bogota", "America/Lima", "America/Sao_Paulo", "America/Buenos_Aires", "Australia/Perth",
  "Australia/Adelaide", "Australia/Brisbane", "Australia/Sydney", "Australia/Melbourne", "Pacific/Auckland",
];

// "12.5" or "12.5 %" -> 1250 basis points; null when empty, NaN when not a number.
export function percentToBp(text) {
  const s = String(text ?? "").trim().replace(/\s*%$/, "");
  if (s === "") return null;
  return parseAmount(s, 2);
}

const bpText = (bp) => formatBp(bp).replace(/%$/, "");

function minutesText(seconds) {
  const hundredths = Math.round((seconds * 100) / 60);
  return bpText(hundredths); // the same two-decimal text: 300 s -> "5", 90 s -> "1.5"
}

// The billing settings as the hub compares them (its key order), to tell a real change.
function canonical(billing) {
  const b = billing || {};
  return JSON.stringify({
    tax_mode: b.tax_mode || "EXCLUSIVE",
    taxes: (b.taxes || []).map((t) => ({ code: t.code, name: t.name || "", rate_bp: t.rate_bp })),
    service_charge_bp: b.service_charge_bp || 0,
    service_charge_types: [...(b.service_charge_types || [])].sort(),
    bill_lock_s: b.bill_lock_s ?? 300,
    discount_pin_above_bp: b.discount_pin_above_bp ?? 1000,
  });
}

// ctx: { restaurant(), version(), menuItems(), sendSetup(form, type, data, words), setupRefusal(err), saved(patch) }
export function settingsSection(ctx) {
  // base: what the form was filled from; the form is mid-edit when what it holds differs from it.
  const forms = {
    profile: { base: null, saving: false },
    billing: { base: null, saving: false },
  };

  function profileEdited() {
    const base = forms.profile.base;
    return Boolean(base) && ($("prof-name").value.trim() !== base.name || $("prof-tz").value.trim() !== base.timezone);
  }

  function billingEdited() {
    const read = readBilling();
    return Boolean(forms.billing.base) && (Boolean(read.problem) || canonical(read.billing) !== forms.billing.base);
  }

  // -- saying things next to the Save buttons ---------------------------------------------------

  function showProblem(which, text, input = null) {
    const box = $(`${which}-problem`);
    for (const el of $(`${which}-form`).querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    box.textContent = text || "";
    box.hidden = !text;
    if (text && input) {
      input.setAttribute("aria-invalid", "true");
      input.scrollIntoView({ block: "nearest" });
      input.focus();
    }
  }

  function showStale(which, text) {
    const box = $(`${which}-stale`);
    if (!text) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    box.replaceChildren(
      h("span", {}, text),
      h("button", { type: "button", id: `${which}-reload`, onclick: () => fill(which) }, "SHOW IT (DROP MINE)"),
    );
  }

  // -- profile ----------------------------------------------------------------------------------

  function profileOf(r) {
    return { name: r.name || "", timezone: r.timezone || "UTC" };
  }

  function zoneHint() {
    const zone = $("prof-tz").value.trim();
    let text = "";
    try {
      if (zone) {
        const now = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", weekday: "short" }).format(new Date());
        text = `Now there: ${now}. The business day turns at midnight there.`;
      }
    } catch {
      text = "Not a time zone this screen knows: pick one from the list (Area/City, like Asia/Kolkata).";
    }
    $("prof-tz-hint").textContent = text;
  }

  function fillProfile(r) {
    const p = profileOf(r);
    forms.profile = { ...forms.profile, base: p };
    $("prof-name").value = p.name;
    $("prof-tz").value = p.timezone;
    const digits = r.minor_digits ?? placesOf(r.currency || "INR");
    $("prof-currency").value = `${r.currency || "INR"} · ${digits === 0 ? "no decimals" : `${digits} decimal${digits === 1 ? "" : "s"}`}`;
    zoneHint();
    showStale("profile", null);
    showProblem("profile", null);
  }

  function profileRefusal(err) {
    const words = err.code === "INVALID_SETUP" && /time zone/i.test(err.message || "")
      ? `Not saved: “${$("prof-tz").value.trim()}” is not a time zone: pick one from the list, like Asia/Kolkata or Europe/London.`
      : ctx.setupRefusal(err);
    showProblem("profile", words, err.code === "INVALID_SETUP" && /time zone/i.test(err.message || "") ? $("prof-tz") : null);
    return words;
  }

  async function saveProfile(e) {
    e.preventDefault();
    const name = $("prof-name").value.trim();
    const timezone = $("prof-tz").value.trim();
    if (!name) return showProblem("profile", "Type the restaurant's name: it is on every bill.", $("prof-name"));
    if (!timezone) return showProblem("profile", "Type its time zone, like Asia/Kolkata: the business day turns at midnight there.", $("prof-tz"));
    if (/\s/.test(timezone)) return showProblem("profile", "A time zone has no spaces: Area/City, like Asia/Kolkata or America/New_York.", $("prof-tz"));
    const base = forms.profile.base || profileOf(ctx.restaurant() || {});
    const data = {};
    if (name !== base.name) data.name = name;
    if (timezone !== base.timezone) data.timezone = timezone;
    if (!Object.keys(data).length) {
      showProblem("profile", null);
      toast("Nothing changed in the profile", "info");
      return;
    }
    if (ctx.version() !== null) data.version = ctx.version();
    showProblem("profile", null);
    forms.profile.saving = true;
    const ack = await ctx.sendSetup($("profile-form"), "setup.profile", data, profileRefusal);
    forms.profile.saving = false;
    if (!ack) return;
    ctx.saved({ name, timezone });
    fillProfile(ctx.restaurant());
    toast("Profile saved", "info");
  }

  // -- billing ----------------------------------------------------------------------------------

  function taxRow(tax) {
    return h(
      "div",
      { class: "tax-row", dataset: { code: tax ? tax.code : null } },
      h("input", { class: "t-code", maxlength: "32", spellcheck: "false", autocomplete: "off", placeholder: "GST12", value: tax ? tax.code : "" }),
      h("input", { class: "t-name", maxlength: "80", autocomplete: "off", placeholder: "GST 12%", value: tax ? tax.name || "" : "" }),
      h("input", { class: "t-rate", inputmode: "decimal", autocomplete: "off", placeholder: "12", value: tax ? bpText(tax.rate_bp) : "" }),
      h("button", { type: "button", class: "t-remove icon", onclick: (e) => removeTax(e.currentTarget.closest(".tax-row")) }, h("span", { "aria-hidden": "true" }, "✕"), h("span", { class: "sr" }, "Remove")),
    );
  }

  // Every input says which tax row it is, for a screen reader (and a test).
  function relabelTaxes() {
    [...$("tax-rows").children].forEach((row, n) => {
      const code = row.querySelector(".t-code").value.trim() || `tax ${n + 1}`;
      row.querySelector(".t-code").setAttribute("aria-label", `Tax ${n + 1} code`);
      row.querySelector(".t-name").setAttribute("aria-label", `${code}: name on the bill`);
      row.querySelector(".t-rate").setAttribute("aria-label", `${code}: rate in percent`);
      row.querySelector(".t-remove .sr").textContent = `Remove the tax code ${code}`;
    });
  }

  function addTax() {
    const row = taxRow(null);
    $("tax-rows").append(row);
    relabelTaxes();
    row.scrollIntoView({ block: "nearest" });
    row.querySelector(".t-code").focus();
  }

  function removeTax(row) {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    relabelTaxes();
    showProblem("billing", null);
    (next ? next.querySelector(".t-code") : $("tax-add")).focus();
  }

  function fillBilling(r) {
    const b = r.billing || {};
    forms.billing = { ...forms.billing, base: canonical(b) };
    $("bill-tax-mode").value = b.tax_mode || "EXCLUSIVE";
    $("tax-rows").replaceChildren(...(b.taxes || []).map(taxRow));
    relabelTaxes();
    $("bill-service").value = bpText(b.service_charge_bp || 0);
    const types = new Set(b.service_charge_types || []);
    for (const type of ORDER_TYPES) $(`svc-${type}`).checked = types.has(type);
    $("bill-pin-above").value = bpText(b.discount_pin_above_bp ?? 1000);
    $("bill-lock").value = minutesText(b.bill_lock_s ?? 300);
    showStale("billing", null);
    showProblem("billing", null);
  }

  // The form as BillingSettings, checked: { billing } or { problem, input } in plain words.
  function readBilling() {
    const taxes = [];
    const seen = new Map(); // code in upper case -> as typed
    for (const [n, row] of [...$("tax-rows").children].entries()) {
      const codeInput = row.querySelector(".t-code");
      const rateInput = row.querySelector(".t-rate");
      const code = codeInput.value.trim();
      const name = row.querySelector(".t-name").value.trim();
      const rateText = rateInput.value.trim();
      if (!code && !name && !rateText) continue; // a row left empty is no tax code
      if (!code) return { problem: `Tax row ${n + 1} has no code: type one (like GST12), or remove the row.`, input: codeInput };
      if (/\s/.test(code)) return { problem: `The tax code “${code}” has a space: codes are one word, like GST12.`, input: codeInput };
      const twin = seen.get(code.toUpperCase());
      if (twin !== undefined) return { problem: `The tax code “${code}” is there twice: each code has one rate. Remove one, or change its code.`, input: codeInput };
      seen.set(code.toUpperCase(), code);
      const rate = percentToBp(rateText);
      if (rate === null) return { problem: `${code} has no rate: type it in percent, like 5, 18 or 12.5 (0 for no tax).`, input: rateInput };
      if (Number.isNaN(rate)) return { problem: `The rate of ${code} is not a number: type it in percent, like 5, 18 or 12.5.`, input: rateInput };
      if (rate > BP) return { problem: `The rate of ${code} is over 100%: type it in percent, like 18 for 18%.`, input: rateInput };
      taxes.push({ code, name, rate_bp: rate });
    }
    const serviceInput = $("bill-service");
    const service = percentToBp(serviceInput.value) ?? 0;
    if (Number.isNaN(service)) return { problem: "The service charge is not a number: type it in percent, like 10 or 7.5 (0 for none).", input: serviceInput };
    if (service > BP) return { problem: "The service charge is over 100%: type it in percent, like 10.", input: serviceInput };
    const types = ORDER_TYPES.filter((type) => $(`svc-${type}`).checked);
    if (service > 0 && !types.length) {
      return { problem: `A service charge of ${formatBp(service)} on no order type is never charged: tick where it applies, or set it to 0.`, input: $("svc-DINE_IN") };
    }
    const pinInput = $("bill-pin-above");
    const pinAbove = percentToBp(pinInput.value);
    if (pinAbove === null || Number.isNaN(pinAbove) || pinAbove > BP) {
      return { problem: "Type the discount over which a manager's PIN is needed, in percent from 0 to 100 (0: every discount needs it).", input: pinInput };
    }
    const lockInput = $("bill-lock");
    const lockHundredths = percentToBp(lockInput.value); // minutes with up to 2 decimals, in hundredths
    const lock = lockHundredths === null || Number.isNaN(lockHundredths) ? NaN : Math.round((lockHundredths * 60) / 100);
    if (!(lock >= 1) || lockHundredths > MAX_LOCK_MIN * 100) {
      return { problem: `Type how long asking for the bill locks it, in minutes from 1 to ${MAX_LOCK_MIN} (like 5).`, input: lockInput };
    }
    return {
      billing: {
        tax_mode: $("bill-tax-mode").value,
        taxes,
        service_charge_bp: service,
        service_charge_types: types,
        bill_lock_s: lock,
        discount_pin_above_bp: pinAbove,
      },
    };
  }

  // Before sending: a tax code the menu uses that a rate covers now and would not after (the hub
  // refuses a change that adds such a problem, not one already there).
  function orphanCodes(taxes) {
    if (!taxes.length) return new Map(); // no rates at all: every code is taxed at 0 %
    const codes = new Set(taxes.map((t) => t.code));
    const before = (((ctx.restaurant() || {}).billing || {}).taxes || []).map((t) => t.code);
    const covered = (code) => !before.length || before.includes(code);
    const using = new Map();
    for (const item of ctx.menuItems()) {
      if (!item.tax_code || codes.has(item.tax_code) || !covered(item.tax_code)) continue;
      if (!using.has(item.tax_code)) using.set(item.tax_code, []);
      using.get(item.tax_code).push(item.name);
    }
    return using;
  }

  function orphanWords(using) {
    const [code, names] = [...using.entries()][0];
    const shown = names.slice(0, 3).join(", ") + (names.length > 3 ? ` and ${names.length - 3} more` : "");
    return `Not saved: ${names.length === 1 ? "an item uses" : `${names.length} items use`} the tax code ${code} (${shown}): keep its rate, or give ${names.length === 1 ? "it" : "them"} another tax code in the Menu first.`;
  }

  function billingRefusal(err) {
    let words = ctx.setupRefusal(err);
    const problems = (err.frame && err.frame.details && err.frame.details.problems) || [];
    const orphans = new Map();
    for (const p of problems) {
      const m = /tax_code: no tax code '([^']+)'/.exec(p);
      if (m) orphans.set(m[1], [...ctx.menuItems()].filter((i) => i.tax_code === m[1]).map((i) => i.name));
    }
    if (orphans.size && [...orphans.values()].every((names) => names.length)) words = orphanWords(orphans);
    showProblem("billing", words);
    return words;
  }

  async function saveBilling(e) {
    e.preventDefault();
    const read = readBilling();
    if (read.problem) return showProblem("billing", read.problem, read.input);
    const orphans = orphanCodes(read.billing.taxes);
    if (orphans.size) return showProblem("billing", orphanWords(orphans), $("tax-add"));
    if (canonical(read.billing) === canonical((ctx.restaurant() || {}).billing)) {
      showProblem("billing", null);
      toast("Nothing changed in billing", "info");
      return;
    }
    showProblem("billing", null);
    const data = { billing: read.billing };
    if (ctx.version() !== null) data.version = ctx.version();
    forms.billing.saving = true;
    const ack = await ctx.sendSetup($("billing-form"), "setup.billing", data, billingRefusal);
    forms.billing.saving = false;
    if (!ack) return;
    ctx.saved({ billing: read.billing });
    fillBilling(ctx.restaurant());
    toast("Billing saved: new bills follow it", "info");
  }

  // -- the restaurant as told -------------------------------------------------------------------

  function fill(which) {
    const r = ctx.restaurant();
    if (!r) return;
    if (which === "profile") fillProfile(r);
    else fillBilling(r);
  }

  // The restaurant changed (snapshot, PROFILE_CHANGED): refill what nobody is editing; say it mid-edit.
  function changed() {
    const r = ctx.restaurant();
    if (!r) return;
    render();
    const profile = forms.profile;
    if (!profile.saving) {
      const now = profileOf(r);
      if (!profile.base || !profileEdited()) fillProfile(r);
      else if (now.name !== profile.base.name || now.timezone !== profile.base.timezone) {
        showStale("profile", `Changed on another screen while you typed: now “${now.name}”, ${now.timezone}. Saving puts yours over it.`);
      }
    }
    const billing = forms.billing;
    if (!billing.saving) {
      if (!billing.base || !billingEdited()) fillBilling(r);
      else if (canonical(r.billing) !== billing.base) showStale("billing", "The billing rules were changed on another screen while you typed. Saving puts yours over them.");
    }
  }

  // The restaurant's version as the page holds it (staff changes move it too).
  function render() {
    const version = ctx.version();
    $("rest-version").textContent = typeof version === "number" ? `version ${version}` : "";
  }

  function wire() {
    $("time-zones").replaceChildren(...ZONES.map((zone) => h("option", { value: zone })));
    $("profile-form").addEventListener("submit", saveProfile);
    $("billing-form").addEventListener("submit", saveBilling);
    $("tax-add").addEventListener("click", addTax);
    $("profile-form").addEventListener("input", () => {
      if (!$("profile-problem").hidden) showProblem("profile", null);
    });
    $("prof-tz").addEventListener("input", zoneHint);
    $("billing-form").addEventListener("input", (e) => {
      if (e.target.classList.contains("t-code")) relabelTaxes();
      if (!$("billing-problem").hidden) showProblem("billing", null);
    });
  }

  return { wire, changed, render, state: () => ({ profile: { ...forms.profile, edited: profileEdited() }, billing: { ...forms.billing, edited: billingEdited() } }) };
}
