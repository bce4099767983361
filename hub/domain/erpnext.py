"""What a settled invoice, a refund and a void become in ERPNext: Sales Invoice documents (seed 002).

- **A sale** is a submitted POS Sales Invoice: each line an item at its unit price, the invoice's discount
  as the document's discount on the net total, each tax code and the service charge as an "Actual" tax
  row (the amounts the hub computed, not ERPNext's own arithmetic, so its grand total is the hub's total to
  the minor unit), and each tender a payment by its mode of payment.
- **A refund** is a return Sales Invoice against the sale: one line of the restaurant's refund item for the
  revenue given back, and the tax and service charge given back (the ledger's own split of the refund),
  paid back by the refund's mode.
- **A void** cancels the sale in ERPNext (what a void is there): there is nothing to create.

Every document carries ``fireflow_id``, the ledger transaction's id: a custom field the ERPNext site makes
unique, so a second copy of a push (after a crash, a lost answer) is refused there as a duplicate and the
push is taken as done. ERPNext wants amounts in major units: they are written from the minor units exactly
(a decimal shifted, never float arithmetic) and handed over as JSON numbers.

Pure: the invoice, its lines, payments and the ledger's postings come in; documents go out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from fireflow.hub.domain.billing import REFUNDS, SERVICE_CHARGE, TAX_PREFIX, TENDER_ACCOUNTS
from fireflow.hub.domain.sold import Posting, SoldInvoice
from fireflow.schema.billing import TenderMethod

__all__ = ["DOCTYPE", "ErpSettings", "amount", "erp_modes", "refund_doc", "sale_doc"]

DOCTYPE = "Sales Invoice"
_METHOD_OF = {account: method for method, account in TENDER_ACCOUNTS.items()}


@dataclass(frozen=True, slots=True)
class ErpSettings:
    """How the restaurant's ERPNext site names things: its customer for walk-ins, its accounts and modes."""

    company: str = ""
    walk_in_customer: str = "Walk-in Customer"
    refund_item: str = "Refund"  # the item a refund's revenue is given back as (an amount, not dishes)
    tax_account: str = "{code}"  # the account head of each tax code: "{code}" is replaced by the code
    service_charge_account: str = "Service Charge"
    modes: Mapping[str, str] = field(
        default_factory=lambda: {"CASH": "Cash", "UPI": "UPI", "CARD": "Credit Card", "WALLET": "Wallet", "COD": "Cash"}
    )


def erp_modes(text: str) -> dict[str, str]:
    """``CASH=Cash,CARD=Credit Card`` as a mapping from each tender method to ERPNext's mode of payment; a method
    the hub does not know, or a pair without ``=``, is refused with what was wrong."""
    known = {method.value for method in TenderMethod}
    found: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        method, sep, mode = (piece.strip() for piece in pair.partition("="))
        if not sep or not mode:
            raise ValueError(f"{pair!r} is not METHOD=Mode")
        if method.upper() not in known:
            raise ValueError(f"{method!r} is not a tender method (one of {', '.join(sorted(known))})")
        found[method.upper()] = mode
    return found


def amount(minor: int, digits: int) -> float:
    """``minor`` units as a major-unit number: 1250 with 2 digits is 12.5, exactly (a shifted decimal)."""
    return float(Decimal(minor).scaleb(-digits))


def _header(
    invoice: SoldInvoice, fireflow_id: str, settings: ErpSettings, *, remarks: str, day: date, at: datetime
) -> dict[str, Any]:
    """``day`` is the business day the posting belongs to (an invoice after midnight may still be the evening's),
    ``at`` its time on the restaurant's clock: an accountant reads ERPNext in the restaurant's time, not UTC."""
    doc: dict[str, Any] = {
        "doctype": DOCTYPE,
        "fireflow_id": fireflow_id,
        "customer": invoice.customer_name or settings.walk_in_customer,
        "posting_date": day.isoformat(),
        "posting_time": at.strftime("%H:%M:%S"),
        "set_posting_time": 1,
        "currency": invoice.currency,
        "is_pos": 1,
        "docstatus": 1,
        "remarks": remarks,
    }
    if settings.company:
        doc["company"] = settings.company
    return doc


def _tax_rows(
    by_code: Mapping[str, int], service_charge: int, digits: int, settings: ErpSettings
) -> list[dict[str, Any]]:
    rows = [
        {
            "charge_type": "Actual",
            "account_head": settings.tax_account.replace("{code}", code),
            "description": f"Tax {code}",
            "tax_amount": amount(tax, digits),
        }
        for code, tax in sorted(by_code.items())
        if tax
    ]
    if service_charge:
        rows.append(
            {
                "charge_type": "Actual",
                "account_head": settings.service_charge_account,
                "description": "Service charge",
                "tax_amount": amount(service_charge, digits),
            }
        )
    return rows


def sale_doc(invoice: SoldInvoice, fireflow_id: str, settings: ErpSettings, zone: tzinfo = UTC) -> dict[str, Any]:
    """The submitted POS Sales Invoice of a settled invoice; its grand total is the invoice's total. ``zone`` is
    the restaurant's timezone."""
    digits = invoice.digits
    remarks = f"Fireflow invoice {invoice.number} ({invoice.id})"
    at = invoice.created_at.astimezone(zone)
    doc = _header(invoice, fireflow_id, settings, remarks=remarks, day=invoice.business_day, at=at)
    doc["items"] = [
        {
            "item_code": line.menu_item_id,
            "item_name": line.name,
            "qty": line.quantity,
            "rate": amount(line.unit_price, digits),
        }
        for line in invoice.lines
    ]
    if invoice.discount:
        doc["apply_discount_on"] = "Net Total"
        doc["discount_amount"] = amount(invoice.discount, digits)
    taxes: dict[str, int] = {}
    for line in invoice.lines:
        taxes[line.tax_code] = taxes.get(line.tax_code, 0) + line.tax
    doc["taxes"] = _tax_rows(taxes, invoice.service_charge, digits, settings)
    doc["payments"] = [
        {"mode_of_payment": settings.modes.get(method, method.title()), "amount": amount(paid, digits)}
        for method, paid in invoice.payments
    ]
    return doc


def refund_doc(
    invoice: SoldInvoice,
    sale_name: str,
    fireflow_id: str,
    refund: Posting,
    settings: ErpSettings,
    zone: tzinfo = UTC,
) -> dict[str, Any]:
    """The return Sales Invoice of a refund against ``sale_name`` (the sale's document in ERPNext), from the
    refund's ledger postings: the revenue, each tax and the service charge given back, and the tender paid out.
    It is dated the refund's own day and time: the sale's day may be closed in the books already."""
    digits = invoice.digits
    reason = refund.note
    given: dict[str, int] = {}
    for entry in refund.entries:
        given[entry.account] = given.get(entry.account, 0) + entry.debit - entry.credit
    revenue = given.get(REFUNDS, 0)
    taxes = {
        account.removeprefix(TAX_PREFIX): value for account, value in given.items() if account.startswith(TAX_PREFIX)
    }
    paid = [(_METHOD_OF[account], -value) for account, value in given.items() if account in _METHOD_OF and value < 0]
    remarks = f"Refund on Fireflow invoice {invoice.number} ({invoice.id})" + (f": {reason}" if reason else "")
    at = refund.created_at.astimezone(zone)
    doc = _header(invoice, fireflow_id, settings, remarks=remarks, day=refund.business_day, at=at)
    doc["is_return"] = 1
    doc["return_against"] = sale_name
    doc["items"] = [
        {"item_code": settings.refund_item, "item_name": "Refund", "qty": -1, "rate": amount(revenue, digits)}
    ]
    doc["taxes"] = [
        {**row, "tax_amount": -row["tax_amount"]}
        for row in _tax_rows(taxes, given.get(SERVICE_CHARGE, 0), digits, settings)
    ]
    doc["payments"] = [
        {"mode_of_payment": settings.modes.get(method.value, method.value.title()), "amount": -amount(out, digits)}
        for method, out in paid
    ]
    return doc
