"""Kitchen tickets, receipts and the Z-report as ESC/POS bytes, built with python-escpos's ``Dummy`` printer.

Pure: records in, bytes out. No socket, no clock (the time printed is passed in as text), no file
read (a fallback font is loaded by the caller, :func:`script_font`), and the same input always gives
the same bytes, so a job can be rendered once, stored, and sent again unchanged.

Every job starts with ESC @ (so nothing is inherited from the previous job), selects its code page
and ends with a feed and a full cut. A style (bold, size, inverse, alignment) is sent when it changes,
and bold again after every size change, because ESC ! (how python-escpos sets sizes) also clears bold.

**Code page policy: one page, chosen and forced, never guessed.**

The printer is driven in CP858 (ESC t 19): code page 850 plus the euro sign, with the Latin-1
letters, and the same bytes as CP437 (page 0, every printer's default) for the common lower-case
accented letters, so a printer that ignores ESC t 19 still prints "é" and "ü" right.
python-escpos's automatic ("magic") encoder is not used: it switches pages in the middle of a line
to whichever page of a generic profile has a character (the real printer may not have that page),
and it sends Chinese as raw GB18030, which prints as garbage on a printer without that font.

Text goes through :func:`printable` on its way to the paper:

1. control characters (ESC, GS, newlines) in names and notes become spaces, so a note can never
   cut the paper or switch the code page;
2. money is digits and the ISO code (``INR 1,050.00``), never a symbol; a currency symbol in free
   text that the page lacks becomes its code (``₹50 off`` → ``INR 50 off``), typographic
   punctuation becomes plain (“ ” → ", dashes → -, … → ...);
3. a character CP858 has prints as it is (é, ñ, ß, €, £);
4. else its compatibility form without accents, if that prints (ő → o, ﬁ → fi, Phở → Pho);
5. else ``?``.

Step 5 is fine for a stray symbol, not for a dish called "पनीर टिक्का" or "宫保鸡丁": "????" is
no use to a cook. So text in which a *letter* would be lost is never printed as question marks:

- with a ``font`` (a TrueType font covering that script, :func:`script_font`), the text is drawn
  with Pillow and printed as a raster image (GS v 0) on its own line, so the cook reads the name;
- without one, or when the font lacks one of its glyphs, an item prints as its menu id in brackets
  with a marker, ``2 x [paneer-tikka]*``, and the ticket ends with a footnote sending the reader to
  the screen, which shows the real name; a modifier or note prints as ``(another script: see the
  screen)``. Headers (restaurant, station) are the restaurant's own set-up text and take step 5.

No font is bundled or assumed on the machine: an image of empty boxes would be worse than the id.
"""

from __future__ import annotations

import functools
import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont

from fireflow.hub.books.reports import z_sections
from fireflow.hub.domain.money import major
from fireflow.schema.base import OrderType
from fireflow.schema.billing import Bill, Payment, TaxMode, ZReport
from fireflow.schema.records import KitchenTicket, TicketChange, TicketKind, TicketLine

__all__ = [
    "CODE_PAGE",
    "DOTS_PER_COLUMN",
    "MAX_WIDTH",
    "MIN_WIDTH",
    "kot",
    "legible",
    "printable",
    "receipt",
    "script_font",
    "z_report",
]

CODE_PAGE = "CP858"  # python-escpos's name; ESC t 19 on Epson and most clones
_CODEC = "cp858"  # the same table in Python (checked against python-escpos's in the tests)
DOTS_PER_COLUMN = 12  # font A is 12 dots wide: 32 columns = 384 dots (58 mm), 42 = 504, 48 = 576 (80 mm)
MIN_WIDTH, MAX_WIDTH = 24, 64
FOOTNOTE = "* name in another script: see the screen"
QR_DOTS = 5  # a QR module's side in dots: a 120-character link (45 modules) is 28 mm at 203 dpi
OTHER_SCRIPT = "(another script: see the screen)"

Align = Literal["left", "center", "right"]

# Characters worth a better form than "?" that NFKD does not give (no decomposition, or not printable).
_PLAIN_FORMS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2022": "*",
    "\u00a0": " ",
    "\u0131": "i",
    "\u0142": "l",
    "\u0141": "L",
    "\u0111": "d",
    "\u0110": "D",
    "\u0153": "oe",
    "\u0152": "OE",
}
# Currency signs CP858 lacks, as ISO 4217 codes; € £ ¥ $ and ¢ are on the page and print as themselves.
_CURRENCY_CODES = {
    "₹": "INR",
    "₨": "Rs",
    "৳": "BDT",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₫": "VND",
    "₱": "PHP",
    "₦": "NGN",
    "₴": "UAH",
    "₪": "ILS",
    "฿": "THB",
    "₭": "LAK",
    "₮": "MNT",
    "₸": "KZT",
    "₾": "GEL",
}
_METHOD_NAMES = {"CASH": "Cash", "UPI": "UPI", "CARD": "Card", "WALLET": "Wallet"}


@functools.cache
def _on_page(char: str) -> bool:
    try:
        char.encode(_CODEC)
    except UnicodeEncodeError:
        return False
    return True


def _char(char: str, following: str) -> tuple[str, bool]:
    """One character in printable form, and whether a letter or digit was lost on the way."""
    category = unicodedata.category(char)
    if category == "Cc":
        return " ", False
    if category == "Cf":
        return "", False  # zero-width joiners and marks: nothing to print
    if char in _PLAIN_FORMS:
        return _PLAIN_FORMS[char], False
    if char in _CURRENCY_CODES:
        return _CURRENCY_CODES[char] + (" " if following[:1].isdigit() else ""), False
    if _on_page(char):
        return char, False
    plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if plain and all(_on_page(c) for c in plain):
        return plain, False
    if category == "Mn":
        return "", category[0] in "LN"  # a combining mark left over: dropped, its base is kept
    return "?", category[0] in "LN"


def _convert(text: str) -> tuple[str, bool]:
    parts: list[str] = []
    lost = False
    for i, char in enumerate(text):
        part, lost_here = _char(char, text[i + 1 : i + 2])
        parts.append(part)
        lost = lost or lost_here
    return "".join(parts), lost


def printable(text: str) -> str:
    """``text`` with only characters the code page has: steps 1 to 5 of the policy (a lost letter becomes "?")."""
    return _convert(text)[0]


def legible(text: str) -> bool:
    """True if ``text`` prints without losing a letter or digit (it may lose accents and symbols)."""
    return not _convert(text)[1]


def script_font(path: str | Path, size: int = 30) -> ImageFont.FreeTypeFont:
    """A TrueType font for names the code page cannot print, e.g. Noto Sans Devanagari (reads the file).

    ``size`` is in printer dots (203 per inch); 30 is a little taller than the printer's own 24-dot font.
    """
    return ImageFont.truetype(str(path), size)


_MISSING = "\U000f0000"  # a private-use code point no menu font has: it draws the font's "missing" glyph


@functools.lru_cache(maxsize=4096)
def _glyph(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    side = int(font.size) * 2
    image = Image.new("1", (side, side), 0)
    ImageDraw.Draw(image).text((0, 0), char, font=font, fill=1)
    return image.tobytes()


def _covers(font: ImageFont.FreeTypeFont, text: str) -> bool:
    """True if ``font`` has a glyph for every visible character of ``text`` (not its "missing" box)."""
    missing = _glyph(font, _MISSING)
    for char in set(text):
        if char.isspace() or unicodedata.category(char)[0] in "MC":
            continue
        if _glyph(font, char) == missing:
            return False
    return True


@dataclass(frozen=True)
class _Style:
    bold: bool = False
    tall: bool = False  # double height
    wide: bool = False  # double width: half as many columns
    invert: bool = False
    align: Align = "left"


PLAIN = _Style()
BOLD = _Style(bold=True)
CENTER = _Style(align="center")
HEADING = _Style(bold=True, align="center")
BIG = _Style(bold=True, tall=True, wide=True, align="center")
ITEM = _Style(bold=True, tall=True)
ALARM = _Style(bold=True, tall=True, wide=True, invert=True, align="center")
TOTAL = _Style(bold=True, tall=True)


class _Sheet:
    """One job on a ``Dummy`` printer: lines wrapped to the paper, styles sent only when they change."""

    def __init__(self, width: int, font: ImageFont.FreeTypeFont | None = None) -> None:
        if not MIN_WIDTH <= width <= MAX_WIDTH:
            raise ValueError(f"paper width is {MIN_WIDTH} to {MAX_WIDTH} columns, not {width}")
        self.width = width
        self.font = font
        self.footnote = False  # an id stood in for a name: the ticket says where to read it
        self._printer = Dummy()
        # This instance's profile only: the paper's width in dots, so python-escpos checks images against it.
        profile = dict(self._printer.profile.profile_data)
        profile["media"] = {"dpi": 203, "width": {"mm": "Unknown", "pixels": width * DOTS_PER_COLUMN}}
        self._printer.profile.profile_data = profile
        self._printer.hw("INIT")
        self._printer.charcode(CODE_PAGE)
        self._style = PLAIN  # what ESC @ leaves

    def _apply(self, style: _Style) -> None:
        printer, old = self._printer, self._style
        resized = (style.tall, style.wide) != (old.tall, old.wide)
        if resized:
            printer.set(
                normal_textsize=not (style.tall or style.wide), double_height=style.tall, double_width=style.wide
            )
        if resized or style.bold != old.bold:
            printer.set(bold=style.bold)
        if style.invert != old.invert:
            printer.set(invert=style.invert)
        if style.align != old.align:
            printer.set(align=style.align)
        self._style = style

    def columns(self, style: _Style) -> int:
        return self.width // 2 if style.wide else self.width

    def _row(self, row: str, style: _Style) -> None:
        self._apply(style)
        self._printer.text(row + "\n")

    def line(self, text: str, style: _Style = PLAIN, *, indent: int = 0, bar: bool = False) -> None:
        """``text`` wrapped to the paper; ``bar`` pads each row to the full width (a solid band when inverted)."""
        columns = self.columns(style)
        pad = " " * indent
        rows = textwrap.wrap(printable(text), columns, initial_indent=pad, subsequent_indent=pad) or [""]
        for row in rows:
            self._row(row.center(columns) if bar else row, style)

    def blank(self) -> None:
        self._row("", PLAIN)

    def rule(self, char: str = "-") -> None:
        self._row(char * self.width, PLAIN)

    def pair(self, left: str, right: str, style: _Style = PLAIN, *, indent: int = 0) -> None:
        """``left`` wrapped, with ``right`` (an amount) flush right on its last row."""
        columns, right = self.columns(style), printable(right)
        pad = " " * indent
        room = max(columns - len(right) - 1, 1)
        rows = textwrap.wrap(printable(left), room, initial_indent=pad, subsequent_indent=pad) or [""]
        for row in rows[:-1]:
            self._row(row, style)
        self._row(rows[-1] + right.rjust(columns - len(rows[-1])), style)

    def words(
        self, prefix: str, text: str, style: _Style, *, fallback: str, indent: int = 0, bar: bool = False
    ) -> None:
        """``prefix`` and ``text`` on the paper by the policy: as text, drawn as an image, or ``fallback``."""
        if legible(text):
            self.line(prefix + text, style, indent=indent, bar=bar)
        elif self.font is not None and _covers(self.font, text):
            if prefix.strip():
                self.line(prefix.rstrip(), style, indent=indent, bar=bar)
            self._image(text, indent + (2 if prefix.strip() else 0))
        else:
            self.line(prefix + fallback, style, indent=indent, bar=bar)
            self.footnote = self.footnote or fallback.endswith("*")

    def _image(self, text: str, indent: int) -> None:
        """``text`` drawn with the fallback font, wrapped to the paper, one raster image (GS v 0) per row."""
        assert self.font is not None
        font, left = self.font, indent * DOTS_PER_COLUMN
        room = self.width * DOTS_PER_COLUMN - left
        ascent, descent = font.getmetrics()
        self._apply(PLAIN)  # left-aligned, normal: an image is placed like a line of text
        for row in _wrap_drawn(" ".join(text.split()), font, room):
            dots = min(left + int(font.getlength(row)) + 1, self.width * DOTS_PER_COLUMN)
            image = Image.new("1", ((dots + 7) // 8 * 8, ascent + descent), 1)
            ImageDraw.Draw(image).text((left, 0), row, font=font, fill=0)
            self._printer.image(image, impl="bitImageRaster")

    def qr(self, text: str) -> None:
        """``text`` as a QR code drawn by the printer itself (GS ( k), centred, on its own lines."""
        self._apply(CENTER)
        self._printer.qr(text, ec=QR_ECLEVEL_M, size=QR_DOTS, native=True)
        self._printer.text("\n")

    def cut(self) -> bytes:
        self._apply(PLAIN)
        self._printer.cut()
        return bytes(self._printer.output)


def _wrap_drawn(text: str, font: ImageFont.FreeTypeFont, room: int) -> list[str]:
    """Words of ``text`` in rows no wider than ``room`` dots (a word wider than that gets a row of its own)."""
    rows: list[str] = []
    for word in text.split(" "):
        candidate = f"{rows[-1]} {word}" if rows else word
        if rows and font.getlength(candidate) <= room:
            rows[-1] = candidate
        else:
            rows.append(word)
    return rows


# -- kitchen order tickets -------------------------------------------------------------------------


def _where(ticket: KitchenTicket, table_name: str | None) -> str:
    if ticket.order_type is OrderType.DINE_IN:
        return table_name.upper() if table_name else f"TABLE {ticket.table_id or '?'}"
    if ticket.order_type is OrderType.TAKEAWAY:
        return "TAKEAWAY" + (f" TOKEN {ticket.token}" if ticket.token is not None else "")
    return "DELIVERY" + (f" TOKEN {ticket.token}" if ticket.token is not None else "")


def _kot_line(sheet: _Sheet, line: TicketLine) -> None:
    fallback = f"[{line.menu_item_id}]*"
    if line.change is TicketChange.VOID:
        sheet.words(f"VOID {line.quantity} x ", line.name, replace(ITEM, invert=True), fallback=fallback, bar=True)
        left = "none left" if line.line_quantity == 0 else f"{line.line_quantity} still to make"
        sheet.line(f"STOP - {left}", BOLD, indent=4)
    elif line.change is TicketChange.ADDED:
        sheet.words(f"+{line.quantity} x ", line.name, ITEM, fallback=fallback)
        sheet.line(f"{line.line_quantity} in all now", BOLD, indent=4)
    elif line.change is TicketChange.HELD:
        sheet.words(f"HOLD {line.quantity} x ", line.name, ITEM, fallback=fallback)
        sheet.line("on hold: wait for the call", BOLD, indent=4)
    else:
        sheet.words(f"{line.quantity} x ", line.name, ITEM, fallback=fallback)
    for modifier in line.modifiers:
        sheet.words("", modifier, PLAIN, fallback=OTHER_SCRIPT, indent=4)
    if line.notes:
        sheet.words("NOTE: ", line.notes, BOLD, fallback=OTHER_SCRIPT, indent=4)


def kot(
    ticket: KitchenTicket,
    *,
    station_name: str,
    width: int = 42,
    fired_by: str = "",
    reprint: bool = False,
    now_text: str,
    table_name: str | None = None,
    font: ImageFont.FreeTypeFont | None = None,
) -> bytes:
    """A kitchen order ticket: what one station must make (FIRE), stop making (VOID), or has (CARD).

    Loud where a cook must not miss it: RUSH and VOID are inverted double-size bands, an added
    quantity reads ``+2``, a voided line is an inverted band; REPRINT heads and ends a reprint so
    a second copy is never taken for a new order. Lines are grouped by course; ``width`` is in
    columns (32 for 58 mm paper, 42 or 48 for 80 mm).
    """
    sheet = _Sheet(width, font)
    if reprint:
        sheet.line("** REPRINT **", BIG)
    if ticket.kind is TicketKind.VOID:
        sheet.line("VOID", ALARM, bar=True)
    if ticket.rush:
        sheet.line("RUSH", ALARM, bar=True)
    sheet.line(station_name.upper(), BIG)
    sheet.line(f"ORDER #{ticket.order_number}", BIG)
    sheet.line(_where(ticket, table_name), BIG)
    verb = {TicketKind.FIRE: "Fired", TicketKind.VOID: "Voided", TicketKind.CARD: "Printed"}[ticket.kind]
    sheet.line(f"{verb} {now_text}" + (f" by {fired_by}" if fired_by else ""), CENTER)
    sheet.rule()
    courses = sorted({line.course for line in ticket.lines})
    headed = courses != [1]
    for course in courses:
        if headed:
            sheet.line(f"-- COURSE {course} --", HEADING)
        for line in ticket.lines:
            if line.course == course:
                _kot_line(sheet, line)
    if ticket.notes:
        sheet.rule()
        sheet.line("ORDER NOTES", BOLD)
        for note in ticket.notes:
            sheet.words("", note.text, BOLD, fallback=OTHER_SCRIPT, indent=2)
    sheet.rule()
    if sheet.footnote:
        sheet.line(FOOTNOTE)
    sheet.line(f"Ticket {ticket.id}")
    if reprint:
        sheet.line("** REPRINT **", BIG)
    return sheet.cut()


# -- receipts ---------------------------------------------------------------------------------------


def _rate(bp: int) -> str:
    whole, part = divmod(bp, 100)
    return f"{whole}%" if not part else f"{whole}.{part:02d}".rstrip("0") + "%"


def receipt(
    bill: Bill,
    *,
    restaurant: str,
    invoice_number: int | None,
    payments: Sequence[Payment],
    currency: str,
    minor_digits: int | None,
    width: int = 42,
    now_text: str,
    font: ImageFont.FreeTypeFont | None = None,
    reprint: bool = False,
    link: str | None = None,
) -> bytes:
    """The customer's receipt: each line's quantity, unit price and amount, discounts, service charge,
    tax per code, the total, the payments and the change; amounts in major units with the currency's
    decimals (``major``), the ISO code on the total. Without an invoice number it is a bill, not paid.
    A reprint says REPRINT first and last, so a copy is never taken for a second sale. ``link`` (the
    customer's link to the archived invoice) prints as a QR code under the total's lines.
    """

    def money(amount: int) -> str:
        return major(amount, currency, minor_digits)

    sheet = _Sheet(width, font)
    if reprint:
        sheet.line("** REPRINT **", BIG)
    sheet.line(restaurant, BIG)
    sheet.line(f"INVOICE {invoice_number}" if invoice_number is not None else "BILL - NOT PAID", HEADING)
    sheet.line(now_text, CENTER)
    sheet.rule()
    for line in bill.lines:
        sheet.words("", line.name, PLAIN, fallback=f"[{line.menu_item_id}]*")
        sheet.pair(f"{line.quantity} x {money(line.unit_price)}", money(line.gross), indent=2)
        if line.discount:
            sheet.pair("discount", "-" + money(line.discount), indent=2)
    sheet.rule()
    sheet.pair("Subtotal", money(bill.gross))
    if bill.discount:
        sheet.pair("Discounts", "-" + money(bill.discount))
    if bill.service_charge:
        sheet.pair("Service charge", money(bill.service_charge))
    exclusive = bill.tax_mode is TaxMode.EXCLUSIVE
    if exclusive:
        for tax in bill.taxes:
            sheet.pair(f"{tax.code} {_rate(tax.rate_bp)} on {money(tax.taxable)}", money(tax.tax))
    sheet.pair("TOTAL", f"{currency} {money(bill.total)}", TOTAL)
    if not exclusive and bill.taxes:
        sheet.line("Prices include tax:")
        for tax in bill.taxes:
            sheet.pair(f"{tax.code} {_rate(tax.rate_bp)} on {money(tax.taxable)}", money(tax.tax), indent=2)
    if payments:
        sheet.rule()
        for payment in payments:
            sheet.pair(_METHOD_NAMES.get(payment.method.value, payment.method.value), money(payment.amount))
            if payment.received is not None:
                sheet.pair("received", money(payment.received), indent=2)
            if payment.reference:
                sheet.line(f"ref {payment.reference}", indent=2)
        change = sum(payment.change for payment in payments)
        if change:
            sheet.pair("CHANGE", money(change), BOLD)
        due = bill.total - sum(payment.amount for payment in payments)
        if due > 0:
            sheet.pair("STILL DUE", money(due), BOLD)
    sheet.rule()
    if sheet.footnote:
        sheet.line("* name in another script")
    sheet.line(f"Amounts in {currency}", CENTER)
    if link:
        sheet.line("Your invoice online:", CENTER)
        sheet.qr(link)
    sheet.line("Thank you", CENTER)
    if reprint:
        sheet.line("** REPRINT **", BIG)
    return sheet.cut()


# -- Z-report ---------------------------------------------------------------------------------------


def _section(sheet: _Sheet, title: str, rows: Iterable[tuple[str, str]]) -> None:
    sheet.blank()
    sheet.line(title.upper(), BOLD)
    for label, value in rows:
        sheet.pair(label, value)


def z_report(
    z: ZReport, *, restaurant: str, currency: str, minor_digits: int | None, width: int = 42, reprint: bool = False
) -> bytes:
    """The day's closing figures on paper: the same figures and labels as the printable page (books/reports)."""

    def money(amount: int | None) -> str:
        return "not counted" if amount is None else major(amount, currency, minor_digits)

    sheet = _Sheet(width)
    if reprint:
        sheet.line("** REPRINT **", BIG)
    sheet.line("Z-REPORT", BIG)
    sheet.line(restaurant, HEADING)
    sheet.line(z.day, CENTER)
    sheet.line(f"Amounts in {currency}", CENTER)
    sheet.rule()
    sheet.line(f"Invoices: {z.invoices}  Refunds: {z.refunds}  Voids: {z.voids}")
    for title, pairs in z_sections(z).items():
        rows = [(label, money(value)) for label, value in pairs]
        if title == "Cash drawer" and z.cash_difference and z.cash_difference > 0:
            rows[-1] = (rows[-1][0], "+" + rows[-1][1])  # over: the sign says which way
        _section(sheet, title, rows)
    _section(sheet, "Per staff member", [(f"{t.by} ({t.invoices} invoices)", money(t.takings)) for t in z.staff])
    sheet.rule()
    if reprint:
        sheet.line("** REPRINT **", BIG)
    return sheet.cut()
