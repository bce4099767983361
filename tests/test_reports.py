"""The printable Z-report and the live day figures: the currency's own decimals, plain labels, one rounding rule."""

from __future__ import annotations

import re
from datetime import date

from fireflow.hub.books.books import DayFigures
from fireflow.hub.books.reports import z_report_html
from fireflow.hub.domain.billing import z_report

FIGURES = {"bills_total": 1234567, "average_bill": 411522, "net_revenue": 1000001, "opening_float": 50000}


def _cells(page: str) -> dict[str, str]:
    return dict(re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>", page))


def test_the_z_report_page_writes_amounts_with_the_currencys_decimals() -> None:
    """The same minor units print as 1,234,567 yen, 12,345.67 rupees and 1,234.567 dinars."""
    expected = {
        "JPY": ("1,234,567", "411,522", "50,000"),
        "INR": ("12,345.67", "4,115.22", "500.00"),
        "KWD": ("1,234.567", "411.522", "50.000"),
    }
    for currency, (bills, average, float_) in expected.items():
        z = z_report("2024-05-01", [], currency=currency).model_copy(update=FIGURES)
        cells = _cells(z_report_html(z, "Fireflow"))
        assert (cells["Average bill"], cells["Opening float"]) == (average, float_), currency
        assert cells["Bills total (with tax and service charge)"] == bills, currency
        assert cells["Counted cash"] == "not counted"


def test_net_sales_say_they_leave_out_tax_and_service_charge() -> None:
    """The net figure's label says it is before tax and service charge; no bare "Net revenue (ex tax)"."""
    z = z_report("2024-05-01", [], currency="INR").model_copy(update=FIGURES)
    page = z_report_html(z, "Fireflow")
    label = "Net sales (after discounts, refunds and voids; before tax and service charge)"
    assert _cells(page)[label] == "10,000.01"
    assert "Net revenue" not in page


def test_the_live_average_bill_rounds_like_the_z_reports() -> None:
    """Revenue 1001 over 2 bills: the live figure is 501 by the rounding rule (floor said 500), as the Z-report's."""
    day = date(2026, 11, 23)
    figures = DayFigures(day=day, revenue=1001, invoices=2, by_method={}, discounts=0, tax=0, service_charge=0)
    assert figures.average_bill == 501
    none = DayFigures(day=day, revenue=0, invoices=0, by_method={}, discounts=0, tax=0, service_charge=0)
    assert none.average_bill == 0
