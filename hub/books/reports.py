"""Printable reports: the Z-report as a page a manager can print at closing.

Amounts are written in major units with the currency's own number of decimals
(``fireflow.hub.domain.money.major``: JPY none, INR two, KWD three), and every label
says what its figure includes.
"""

from __future__ import annotations

from html import escape

from fireflow.hub.domain.money import major
from fireflow.schema.billing import ZReport

__all__ = ["z_report_html", "z_sections"]


def z_sections(z: ZReport) -> dict[str, list[tuple[str, int | None]]]:
    """The report's figures by section, each labelled with what it includes: the page and the paper print these."""
    return {
        "Sales": [
            ("Bills total (with tax and service charge)", z.bills_total),
            ("Average bill", z.average_bill),
            ("Gross sales (before discounts, tax and service charge)", z.gross_sales),
            ("Discounts", z.discounts),
            ("Service charge", z.service_charge),
            ("Tax", z.tax),
            ("Refunded", z.refunded),
            ("Voided", z.voided),
            ("Net sales (after discounts, refunds and voids; before tax and service charge)", z.net_revenue),
        ],
        "Tax by code (net)": [(k, v) for k, v in sorted(z.net_tax_by_code.items())],
        "Takings by method": [(k, v) for k, v in sorted(z.takings_by_method.items())],
        "Net by method": [(k, v) for k, v in sorted(z.net_by_method.items())],
        "Payouts by category": [(k, v) for k, v in sorted(z.payouts_by_category.items())],
        "Cash drawer": [
            ("Opening float", z.opening_float),
            ("Payouts", z.payouts),
            ("Riders' floats (out of the drawer)", sum(r.floats for r in z.riders)),
            ("Riders' cash handed in (into the drawer)", sum(r.handed_in for r in z.riders)),
            ("Expected cash", z.expected_cash),
            ("Counted cash", z.counted_cash),
            ("Over (+) / short (-)", z.cash_difference),
        ],
        "Riders' cash (what each holds is carried to the next day)": [
            *(
                row
                for r in z.riders
                for row in (
                    (f"{r.rider}: carried in", r.carried_in),
                    (f"{r.rider}: float", r.floats),
                    (f"{r.rider}: collected on delivery", r.collected),
                    (f"{r.rider}: handed in", r.handed_in),
                    (f"{r.rider}: holds", r.holds),
                )
            ),
            ("All riders hold", z.riders_hold),
        ],
    }


def z_report_html(z: ZReport, restaurant: str, digits: int | None = None) -> str:
    """The report as a page; ``digits`` is the restaurant's own minor-unit exponent, if it set one."""

    def _money(minor: int | None) -> str:
        return "not counted" if minor is None else major(minor, z.currency, digits)

    def _rows(pairs: list[tuple[str, int | None]]) -> str:
        return "".join(f"<tr><th>{escape(k)}</th><td>{_money(v)}</td></tr>" for k, v in pairs)

    sections = z_sections(z)
    body = ""
    for title, pairs in sections.items():
        body += f"<h2>{escape(title)}</h2><table>{_rows(pairs)}</table>"
    staff = "".join(
        f"<tr><th>{escape(t.by)}</th><td>{t.invoices} invoices</td><td>{_money(t.takings)}</td></tr>" for t in z.staff
    )
    return (
        "<!doctype html><meta charset=utf-8><title>Z-report</title>"
        "<style>body{font:16px/1.4 system-ui;max-width:40em;margin:2em auto}th{text-align:left;font-weight:normal}"
        "td{text-align:right;font-variant-numeric:tabular-nums}table{width:100%;border-collapse:collapse}"
        "tr{border-bottom:1px solid #ddd}@media print{button{display:none}}</style>"
        f"<h1>Z-report — {escape(restaurant)} — {escape(z.day)}</h1><p>Currency: {escape(z.currency)}. "
        f"Amounts in major units. Invoices: {z.invoices}; refunds: {z.refunds}; voids: {z.voids}.</p>"
        "<button onclick=print()>Print</button>"
        f"{body}<h2>Per staff member</h2><table>{staff}</table>"
    )
