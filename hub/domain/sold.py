"""A settled invoice as the books hold it, for what is made of it outside the hub: an ERPNext Sales Invoice
(``hub/domain/erpnext.py``), the archived JSON and PDF. Read from Postgres by ``hub/books/sold.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from fireflow.schema.billing import LedgerEntry

__all__ = ["InvoiceLine", "Posting", "SoldInvoice"]


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    menu_item_id: str
    name: str
    quantity: int
    unit_price: int
    tax_code: str
    tax: int


@dataclass(frozen=True, slots=True)
class SoldInvoice:
    """An invoice as the books hold it, with what ERPNext needs of it."""

    id: str
    number: int
    currency: str
    digits: int  # minor digits of the currency
    business_day: date
    created_at: datetime
    customer_name: str | None
    discount: int
    service_charge: int
    total: int
    lines: tuple[InvoiceLine, ...]
    payments: tuple[tuple[str, int], ...]  # (method, amount): what was tendered, change already given back


@dataclass(frozen=True, slots=True)
class Posting:
    """A ledger transaction as the books hold it: its entries, its note (a refund's reason), and when it was
    posted: its business day and its time."""

    entries: tuple[LedgerEntry, ...]
    note: str
    business_day: date
    created_at: datetime
