"""What invoices, refunds and voids become in ERPNext, without servers: the documents' sums are the hub's own."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from fireflow.hub.domain.billing import CASH_DRAWER, REFUNDS, SERVICE_CHARGE, TAX_PREFIX
from fireflow.hub.domain.erpnext import ErpSettings, amount, refund_doc, sale_doc
from fireflow.hub.domain.sold import InvoiceLine, Posting, SoldInvoice
from fireflow.schema.billing import LedgerEntry

KOLKATA = ZoneInfo("Asia/Kolkata")
SETTINGS = ErpSettings(company="Fireflow Demo", tax_account="Output Tax {code} - FD")


def _invoice(**changes: object) -> SoldInvoice:
    """A burger (two at 349.00, GST 5 %) and a mojito (179.00, GST 18 %), 50.00 off, 10 % service charge."""
    lines = (
        InvoiceLine("burger", "Burger", 2, 34900, "GST5", 3240),
        InvoiceLine("mojito", "Mojito", 1, 17900, "GST18", 2862),
    )
    fields: dict[str, object] = {
        "id": "r1.inv-7",
        "number": 7,
        "currency": "INR",
        "digits": 2,
        "business_day": date(2026, 12, 5),
        "created_at": datetime(2026, 12, 5, 14, 12, 5, tzinfo=UTC),  # 19:42:05 in Kolkata
        "customer_name": None,
        "discount": 5000,
        "service_charge": 8270,
        "total": 87700 - 5000 + 8270 + 3240 + 2862,
        "lines": lines,
        "payments": (("UPI", 50000), ("CASH", 87700 - 5000 + 8270 + 3240 + 2862 - 50000)),
    }
    return SoldInvoice(**(fields | changes))  # type: ignore[arg-type]


def _grand_total(doc: dict[str, object]) -> Decimal:
    """What ERPNext makes of it: items at qty times rate, less the discount, plus every Actual tax row."""
    items = sum(Decimal(str(i["qty"])) * Decimal(str(i["rate"])) for i in doc["items"])  # type: ignore[attr-defined]
    taxes = sum(Decimal(str(t["tax_amount"])) for t in doc["taxes"])  # type: ignore[attr-defined]
    return items - Decimal(str(doc.get("discount_amount", 0))) + taxes


def test_a_sale_is_a_submitted_pos_invoice_whose_grand_total_is_the_hubs_total() -> None:
    invoice = _invoice()
    doc = sale_doc(invoice, "r1.pay-1:txn", SETTINGS, KOLKATA)
    assert (doc["doctype"], doc["docstatus"], doc["is_pos"], doc["fireflow_id"]) == (
        "Sales Invoice",
        1,
        1,
        "r1.pay-1:txn",
    )
    assert (doc["customer"], doc["company"], doc["posting_date"], doc["posting_time"]) == (
        "Walk-in Customer",
        "Fireflow Demo",
        "2026-12-05",
        "19:42:05",
    )
    assert doc["items"] == [
        {"item_code": "burger", "item_name": "Burger", "qty": 2, "rate": 349.0},
        {"item_code": "mojito", "item_name": "Mojito", "qty": 1, "rate": 179.0},
    ]
    assert (doc["apply_discount_on"], doc["discount_amount"]) == ("Net Total", 50.0)
    assert [(t["account_head"], t["tax_amount"]) for t in doc["taxes"]] == [
        ("Output Tax GST18 - FD", 28.62),
        ("Output Tax GST5 - FD", 32.4),
        ("Service Charge", 82.7),
    ]
    assert doc["payments"] == [
        {"mode_of_payment": "UPI", "amount": 500.0},
        {"mode_of_payment": "Cash", "amount": 470.72},
    ]
    assert _grand_total(doc) == Decimal(invoice.total).scaleb(-2)
    assert sale_doc(invoice, "x", SETTINGS)["posting_time"] == "14:12:05"  # a restaurant on UTC
    assert sale_doc(_invoice(customer_name="Asha", discount=0), "x", SETTINGS)["customer"] == "Asha"
    assert "discount_amount" not in sale_doc(_invoice(discount=0), "x", SETTINGS)


def test_a_refund_is_a_return_against_the_sale_from_the_ledgers_own_split() -> None:
    """20.00 given back in cash: 15.60 of revenue, 1.10 and 1.30 of two taxes and 2.00 of service charge, dated
    the refund's own day and local time, two days after the sale."""
    entries = (
        LedgerEntry(account=REFUNDS, debit=1560),
        LedgerEntry(account=f"{TAX_PREFIX}GST5", debit=110),
        LedgerEntry(account=f"{TAX_PREFIX}GST18", debit=130),
        LedgerEntry(account=SERVICE_CHARGE, debit=200),
        LedgerEntry(account=CASH_DRAWER, credit=2000),
    )
    refund = Posting(entries, "cold fries", date(2026, 12, 7), datetime(2026, 12, 7, 3, 0, 0, tzinfo=UTC))
    doc = refund_doc(_invoice(), "ACC-SINV-2026-00007", "r1.refund-1", refund, SETTINGS, KOLKATA)
    assert (doc["posting_date"], doc["posting_time"]) == ("2026-12-07", "08:30:00")
    assert (doc["is_return"], doc["return_against"], doc["fireflow_id"]) == (1, "ACC-SINV-2026-00007", "r1.refund-1")
    assert doc["items"] == [{"item_code": "Refund", "item_name": "Refund", "qty": -1, "rate": 15.6}]
    assert [(t["account_head"], t["tax_amount"]) for t in doc["taxes"]] == [
        ("Output Tax GST18 - FD", -1.3),
        ("Output Tax GST5 - FD", -1.1),
        ("Service Charge", -2.0),
    ]
    assert doc["payments"] == [{"mode_of_payment": "Cash", "amount": -20.0}]
    assert _grand_total(doc) == Decimal("-20.00")
    assert doc["remarks"].endswith(": cold fries")


@given(st.integers(min_value=-(10**13), max_value=10**13), st.sampled_from([0, 2, 3]))
def test_an_amount_in_major_units_is_the_minor_units_exactly(minor: int, digits: int) -> None:
    assert Decimal(str(amount(minor, digits))) == Decimal(minor).scaleb(-digits)
