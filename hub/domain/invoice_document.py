"""An invoice as the archive keeps it: one JSON document, and where it and its PDF go.

The document is the invoice as the books hold it (``SoldInvoice``) with the bill computed at settlement
(``Bill``: each line's gross, discount, net and tax, the tax split per code): amounts in integer minor units
beside the currency and its digits, keys always in the order written here. The PDF
(``hub/printing/invoice_pdf.py``) is drawn from this document, so the two never disagree.

Made twice from the same invoice, the document is the same bytes: the archive may write an invoice again
after a crash mid-send and nothing changes. Keys follow ``{restaurant}/invoices/{YYYY}/{MM}/{number}.json``
(and ``.pdf``), by the invoice's business day: a restaurant's month is one folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fireflow.hub.domain.sold import SoldInvoice
from fireflow.schema.billing import Bill

__all__ = ["FORMAT", "ArchiveKeys", "Issuer", "archive_keys", "document_bytes", "invoice_document"]

FORMAT = "fireflow.invoice/1"  # the document's own version: a reader can tell a later shape from this one


@dataclass(frozen=True, slots=True)
class Issuer:
    """The restaurant the invoice is from, as the archive names it."""

    restaurant_id: str
    name: str
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class ArchiveKeys:
    json: str
    pdf: str

    def of(self, fmt: str) -> str:
        return self.pdf if fmt == "pdf" else self.json


def archive_keys(restaurant_id: str, invoice: SoldInvoice) -> ArchiveKeys:
    day = invoice.business_day
    stem = f"{restaurant_id}/invoices/{day.year:04d}/{day.month:02d}/{invoice.number}"
    return ArchiveKeys(f"{stem}.json", f"{stem}.pdf")


def _zone(timezone: str) -> Any:
    try:
        return UTC if timezone == "UTC" else ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def invoice_document(invoice: SoldInvoice, bill: Bill, issuer: Issuer) -> dict[str, Any]:
    """The archived JSON of ``invoice``; ``bill`` is the one stored with it at settlement."""
    return {
        "format": FORMAT,
        "restaurant": {"id": issuer.restaurant_id, "name": issuer.name},
        "invoice": {
            "id": invoice.id,
            "number": invoice.number,
            "business_day": invoice.business_day.isoformat(),
            "issued_at": invoice.created_at.astimezone(_zone(issuer.timezone)).isoformat(timespec="seconds"),
            "customer": invoice.customer_name,
        },
        "currency": invoice.currency,
        "minor_digits": invoice.digits,
        "tax_mode": bill.tax_mode.value,
        "lines": [
            {
                "menu_item_id": line.menu_item_id,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "gross": line.gross,
                "discount": line.discount,
                "net": line.net,
                "tax_code": line.tax_code,
                "tax_rate_bp": line.tax_rate_bp,
                "tax": line.tax,
                "total": line.total,
            }
            for line in bill.lines
        ],
        "subtotal": bill.gross,
        "discount": invoice.discount,
        "service_charge": invoice.service_charge,
        "taxes": [{"code": t.code, "rate_bp": t.rate_bp, "taxable": t.taxable, "tax": t.tax} for t in bill.taxes],
        "tax": bill.tax,
        "total": invoice.total,
        "payments": [{"method": method, "amount": amount} for method, amount in invoice.payments],
    }


def document_bytes(document: dict[str, Any]) -> bytes:
    """The document as stored: UTF-8 JSON, indented for a person, keys in the order they were written."""
    return json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"
