// Money on the screens: integer minor units (paise, cents) in, integer minor units out.
//
// Nothing here adds or multiplies fractional numbers: typed text is split at the decimal
// point and read as two integers, and display splits an integer into major and minor parts.
//
//   parseAmount("123.45", 2) -> 12345   parseAmount("", 2) -> null   parseAmount("1.234", 2) -> NaN
//   formatMoney(12345, "INR") -> "₹123.45"   formatBp(1250) -> "12.5%"

const formatters = new Map();
const MAX_WHOLE_DIGITS = 13; // 10^13 major units x 100 stays an exact integer (below 2^53)

// Digits after the decimal point in the currency (INR 2, JPY 0, KWD 3); 2 if unknown.
export function placesOf(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

// Typed text -> integer minor units. null when empty, NaN when not an amount (a sign, letters,
// more decimals than the currency has). Grouping commas and spaces and a leading symbol are ignored.
export function parseAmount(text, places = 2) {
  const s = String(text ?? "")
    .trim()
    .replace(/^(?:₹|rs\.?|inr|\$|€|£)\s*/i, "") // a typed currency symbol
    .replace(/[\s,_]/g, "");
  if (s === "") return null;
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === "" && !m[2])) return NaN;
  const whole = m[1].replace(/^0+(?=\d)/, "") || "0";
  const frac = m[2] || "";
  if (frac.length > places || whole.length > MAX_WHOLE_DIGITS) return NaN;
  return Number(whole) * 10 ** places + Number(frac.padEnd(places, "0") || "0");
}

function split(minor, places) {
  const abs = Math.abs(minor);
  const unit = 10 ** places;
  const rest = abs % unit;
  return { negative: minor < 0, major: (abs - rest) / unit, fraction: String(rest).padStart(places, "0") };
}

function formatter(currency, places) {
  const key = `${currency}/${places}`;
  if (!formatters.has(key)) {
    const locale = currency === "INR" ? "en-IN" : undefined;
    let f;
    try {
      f = new Intl.NumberFormat(locale, {
        style: "currency",
        currency,
        minimumFractionDigits: places,
        maximumFractionDigits: places,
      });
    } catch {
      f = new Intl.NumberFormat(locale, { minimumFractionDigits: places, maximumFractionDigits: places });
    }
    formatters.set(key, f);
  }
  return formatters.get(key);
}

// Integer minor units -> "₹1,23,456.78" (the currency's symbol, grouping and decimals); "−" when negative.
export function formatMoney(minor, currency = "INR") {
  if (!Number.isInteger(minor)) return "—";
  const places = placesOf(currency);
  const { negative, major, fraction } = split(minor, places);
  const text = formatter(currency, places)
    .formatToParts(major)
    .map((part) => (part.type === "fraction" ? fraction : part.value))
    .join("");
  return negative ? `\u2212${text}` : text;
}

// Integer minor units -> "1234.50": what an input field is prefilled with (no symbol, no grouping).
export function plainAmount(minor, places = 2) {
  const { negative, major, fraction } = split(minor, places);
  return `${negative ? "-" : ""}${major}${places ? `.${fraction}` : ""}`;
}

// The currency's symbol alone ("₹"), for labels.
export function currencySymbol(currency = "INR") {
  const part = formatter(currency, placesOf(currency))
    .formatToParts(0)
    .find((p) => p.type === "currency");
  return part ? part.value : currency;
}

// Basis points -> "10%", "12.5%", "0.05%".
export function formatBp(bp) {
  if (!Number.isInteger(bp)) return "—";
  const { negative, major, fraction } = split(bp, 2);
  const decimals = fraction.replace(/0+$/, "");
  return `${negative ? "\u2212" : ""}${major}${decimals ? `.${decimals}` : ""}%`;
}

// The tenders a bill is paid with (schema's TenderMethod), in the order the tills offer them.
export const TENDER_METHODS = ["CASH", "UPI", "CARD", "WALLET"];

// The day's live figures both money screens show: [field of /reports/day, label, is it money].
export const DAY_FIGURES = [
  ["invoices", "Invoices", false],
  ["average_bill", "Average bill", true],
  ["discounts", "Discounts", true],
  ["tax", "Tax", true],
  ["service_charge", "Service", true],
];
