"""The archived invoice's JSON without servers: the books' figures in minor units, stable bytes, keys by month."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from fireflow.hub.domain.invoice_document import FORMAT, Issuer, archive_keys, document_bytes, invoice_document
from fireflow.hub.domain.sold import SoldInvoice
from fireflow.schema.billing import Bill

TOTAL = 2 * 34900 - 5000 + 3240 + 17900 + 3222 + 8270


def _bill() -> Bill:
    """Two burgers (349.00, GST 5 %, 50.00 off) and a mojito (179.00, GST 18 %), tax on top, 10 % service."""
    return Bill.model_validate(
        {
            "currency": "INR",
            "tax_mode": "EXCLUSIVE",
            "order_ids": ["r1.o-1"],
            "lines": [
                {
                    "order_id": "r1.o-1",
                    "line_id": "l1",
                    "menu_item_id": "burger",
                    "name": "Burger",
                    "quantity": 2,
                    "unit_price": 34900,
                    "gross": 69800,
                    "discount": 5000,
                    "net": 64800,
                    "tax_code": "GST5",
                    "tax_rate_bp": 500,
                    "tax": 3240,
                    "total": 68040,
                },
                {
                    "order_id": "r1.o-1",
                    "line_id": "l2",
                    "menu_item_id": "mojito",
                    "name": "Mojito",
                    "quantity": 1,
                    "unit_price": 17900,
                    "gross": 17900,
                    "discount": 0,
                    "net": 17900,
                    "tax_code": "GST18",
                    "tax_rate_bp": 1800,
                    "tax": 3222,
                    "total": 21122,
                },
            ],
            "gross": 87700,
            "discount": 5000,
            "service_charge": 8270,
            "taxes": [
                {"code": "GST5", "rate_bp": 500, "taxable": 64800, "tax": 3240},
                {"code": "GST18", "rate_bp": 1800, "taxable": 17900, "tax": 3222},
            ],
            "tax": 6462,
            "total": TOTAL,
        }
    )


def _invoice(**changes: object) -> SoldInvoice:
    fields: dict[str, object] = {
        "id": "r1.inv-7",
        "number": 7,
        "currency": "INR",
        "digits": 2,
        "business_day": date(2026, 3, 5),
        "created_at": datetime(2026, 3, 5, 14, 12, 5, tzinfo=UTC),
        "customer_name": "Asha",
        "discount": 5000,
        "service_charge": 8270,
        "total": TOTAL,
        "lines": (),
        "payments": (("UPI", 50000), ("CASH", TOTAL - 50000)),
    }
    return SoldInvoice(**(fields | changes))  # type: ignore[arg-type]


ISSUER = Issuer("r1", "Café Fireflow", "Asia/Kolkata")


def test_the_document_holds_the_books_figures_in_minor_units_with_the_currency() -> None:
    """Lines, tax split, total and payments as integers beside INR and 2 digits; the lines and service add up."""
    doc = invoice_document(_invoice(), _bill(), ISSUER)
    assert doc["format"] == FORMAT and doc["restaurant"] == {"id": "r1", "name": "Café Fireflow"}
    assert doc["invoice"] == {
        "id": "r1.inv-7",
        "number": 7,
        "business_day": "2026-03-05",
        "issued_at": "2026-03-05T19:42:05+05:30",  # the restaurant's clock
        "customer": "Asha",
    }
    assert (doc["currency"], doc["minor_digits"], doc["tax_mode"]) == ("INR", 2, "EXCLUSIVE")
    assert [(line["menu_item_id"], line["quantity"], line["total"]) for line in doc["lines"]] == [
        ("burger", 2, 68040),
        ("mojito", 1, 21122),
    ]
    assert doc["taxes"] == [
        {"code": "GST5", "rate_bp": 500, "taxable": 64800, "tax": 3240},
        {"code": "GST18", "rate_bp": 1800, "taxable": 17900, "tax": 3222},
    ]
    assert sum(line["total"] for line in doc["lines"]) + doc["service_charge"] == doc["total"] == TOTAL
    assert sum(p["amount"] for p in doc["payments"]) == TOTAL
    amounts = [doc["total"], doc["tax"], doc["subtotal"], *(v for line in doc["lines"] for v in line.values())]
    assert all(type(v) is int for v in amounts if not isinstance(v, str))


def test_the_same_invoice_is_the_same_bytes_with_keys_in_a_fixed_order() -> None:
    """Made twice, the stored JSON is byte for byte the same, UTF-8 (not escaped), keys in the written order."""
    first = document_bytes(invoice_document(_invoice(), _bill(), ISSUER))
    again = document_bytes(invoice_document(_invoice(), _bill(), ISSUER))
    assert first == again and "Café".encode() in first
    assert list(json.loads(first)) == [
        "format",
        "restaurant",
        "invoice",
        "currency",
        "minor_digits",
        "tax_mode",
        "lines",
        "subtotal",
        "discount",
        "service_charge",
        "taxes",
        "tax",
        "total",
        "payments",
    ]


def test_an_unknown_timezone_dates_the_invoice_in_utc() -> None:
    """A restaurant timezone this machine does not know still makes a document: its time in UTC."""
    doc = invoice_document(_invoice(), _bill(), Issuer("r1", "R", "Mars/Olympus"))
    assert doc["invoice"]["issued_at"] == "2026-03-05T14:12:05+00:00"


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)), st.integers(min_value=1, max_value=10**9))
def test_keys_are_the_restaurants_month_folder_and_the_number(day: date, number: int) -> None:
    """``{restaurant}/invoices/{YYYY}/{MM}/{number}.json|.pdf`` by the business day, the month two digits."""
    keys = archive_keys("r1", _invoice(business_day=day, number=number))
    stem = f"r1/invoices/{day.year}/{day.month:02d}/{number}"
    assert (keys.json, keys.pdf) == (f"{stem}.json", f"{stem}.pdf")
    assert (keys.of("pdf"), keys.of("json")) == (keys.pdf, keys.json)
