"""The archived invoice as a PDF (fpdf2), drawn from its JSON document (``hub/domain/invoice_document.py``).

One A4 page per invoice (more when the lines need them): the restaurant, the invoice's number and date,
each line with its quantity, unit price and amount, the discount and service charge, each tax with its
rate, the total, the payments, and a QR code of the customer's link. Amounts are written in major units
with the currency's decimals (``major``), the ISO code on the total, as on the paper receipt.

Same document, same link, same bytes: the PDF's dates are the invoice's (not the clock's), and its file
id follows from its content, so an invoice archived twice is the same object twice.

fpdf2's core font (Helvetica) holds Latin-1: a character outside it prints as its accent-less form
(``ő`` → ``o``) or ``?``; a restaurant that needs another script on its PDFs needs a TrueType font here.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

import qrcode
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from fireflow.hub.domain.money import major

__all__ = ["invoice_pdf"]

_METHODS = {"CASH": "Cash", "UPI": "UPI", "CARD": "Card", "WALLET": "Wallet", "COD": "Cash on delivery"}
_QR_MM = 32.0  # the QR code's side on paper: scans from a phone at arm's length
# Any of the eight masks makes a valid code; scoring all eight for the "best" was 80 % of a PDF's CPU (11 of
# 13 ms), and a printed, high-contrast code scans with any of them.
MASK = 0


def _latin(text: str) -> str:
    """``text`` as Helvetica can write it: Latin-1 as it is, else its accent-less form, else ``?``."""
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(plain if plain and all(ord(c) < 256 for c in plain) else "?")
    return "".join(out)


def _rate(bp: int) -> str:
    whole, part = divmod(bp, 100)
    return f"{whole}%" if not part else f"{whole}.{part:02d}".rstrip("0") + "%"


def _qr(pdf: FPDF, link: str, x: float, y: float) -> None:
    """The QR code of ``link`` drawn as filled squares (vector: sharp at any zoom, and the same bytes each time)."""
    code = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M, mask_pattern=MASK)
    code.add_data(link)
    code.make(fit=True)
    matrix = code.get_matrix()
    cell = _QR_MM / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    for row, dots in enumerate(matrix):
        start = None
        for col, dark in enumerate([*dots, False]):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                pdf.rect(x + start * cell, y + row * cell, (col - start) * cell, cell, style="F")
                start = None


def invoice_pdf(document: dict[str, Any], link: str | None) -> bytes:
    """The PDF of an archived invoice's ``document``, with ``link`` (the customer's) as a QR code when given."""
    currency, digits = document["currency"], document["minor_digits"]
    invoice, restaurant = document["invoice"], document["restaurant"]

    def money(amount: int) -> str:
        return major(amount, currency, digits)

    issued = datetime.fromisoformat(invoice["issued_at"])
    pdf = FPDF(format="A4")
    pdf.set_creation_date(issued)
    pdf.set_title(_latin(f"Invoice {invoice['number']} - {restaurant['name']}"))
    pdf.set_author(_latin(restaurant["name"]))
    pdf.set_creator("Fireflow Hub")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("helvetica", "B", 18)
    beside = width - _QR_MM - 5  # the header's text wraps before the QR code in the top right corner
    pdf.multi_cell(beside, 9, _latin(restaurant["name"]), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("helvetica", "B", 14)
    pdf.cell(0, 8, f"Invoice {invoice['number']}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("helvetica", "", 10)
    pdf.cell(
        0,
        6,
        f"Date: {invoice['business_day']}  (issued {issued.strftime('%Y-%m-%d %H:%M %Z').strip()})",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    if invoice["customer"]:
        pdf.multi_cell(
            beside, 6, _latin(f"Customer: {invoice['customer']}"), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    pdf.cell(0, 6, f"Amounts in {currency}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if link:
        _qr(pdf, link, pdf.l_margin + width - _QR_MM, pdf.t_margin)
    pdf.set_y(max(pdf.get_y(), pdf.t_margin + _QR_MM) + 6)

    columns = (width - 75, 15, 30, 30)
    pdf.set_font("helvetica", "B", 10)
    for text, size, align in zip(("Item", "Qty", "Unit price", "Amount"), columns, "LRRR", strict=True):
        pdf.cell(size, 7, text, border="B", align=Align.coerce(align))
    pdf.ln()
    pdf.set_font("helvetica", "", 10)
    for line in document["lines"]:
        pdf.cell(columns[0], 6, _latin(line["name"])[:60])
        pdf.cell(columns[1], 6, str(line["quantity"]), align=Align.R)
        pdf.cell(columns[2], 6, money(line["unit_price"]), align=Align.R)
        pdf.cell(columns[3], 6, money(line["gross"]), align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if line["discount"]:
            pdf.cell(width - columns[3], 5, "discount", align=Align.R)
            pdf.cell(columns[3], 5, "-" + money(line["discount"]), align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def pair(label: str, amount: str, style: str = "") -> None:
        pdf.set_font("helvetica", style, 12 if style else 10)
        pdf.cell(width - columns[3] - 10, 7 if style else 6, _latin(label), align=Align.R)
        pdf.cell(columns[3] + 10, 7 if style else 6, amount, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.ln(2)
    pair("Subtotal", money(document["subtotal"]))
    if document["discount"]:
        pair("Discounts", "-" + money(document["discount"]))
    if document["service_charge"]:
        pair("Service charge", money(document["service_charge"]))
    exclusive = document["tax_mode"] == "EXCLUSIVE"
    for tax in document["taxes"]:
        included = "" if exclusive else " (included)"
        pair(f"{tax['code']} {_rate(tax['rate_bp'])} on {money(tax['taxable'])}{included}", money(tax["tax"]))
    pair("TOTAL", f"{currency} {money(document['total'])}", "B")
    if document["payments"]:
        pdf.ln(2)
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(0, 6, "Paid", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for payment in document["payments"]:
            pair(_METHODS.get(payment["method"], payment["method"]), money(payment["amount"]))
    if link:
        pdf.ln(4)
        pdf.set_font("helvetica", "", 8)
        pdf.multi_cell(
            0, 4, "This invoice online (the QR code): " + link, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    return bytes(pdf.output())
