"""Receipts and the Z-report as print jobs, without servers: where they print, what they print, one job each."""

from __future__ import annotations

from typing import Any

import pytest

from fireflow.clients.printers.agent import render_job
from fireflow.clients.printers.emulator import Printed, parse
from fireflow.hub.domain import billing as b
from fireflow.hub.domain import print_documents as pd
from fireflow.hub.domain import printing
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import DueKind
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.money import major
from fireflow.hub.domain.views import LiveState, channel_view
from fireflow.hub.run.demo import demo_billing
from fireflow.schema.billing import Tender, TenderMethod, ZReport
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    BillLock,
    Desk,
    Order,
    OrderStatus,
    OrderType,
    Printer,
    PrintJob,
    PrintJobState,
    PrintKind,
    Restaurant,
)
from tests.domain_support import NOW, add, opened

TILL = Actor("demo", Role.CASHIER, "till-1")
OTHER_TILL = Actor("demo", Role.CASHIER, "till-2")
MANAGER = Actor("demo", Role.MANAGER, "manager-1")
LEASE = 20_000
RESTAURANT = Restaurant(
    id="demo",
    name="Fireflow Demo Kitchen",
    currency="INR",
    billing=demo_billing(),
    printers=(
        Printer(id="desk", name="Front desk", host="10.0.0.9", columns=42, backup="office"),
        Printer(id="office", host="10.0.0.10", columns=32),
    ),
    desks=(Desk(id="till-1", name="Front", printer="desk"),),
)


def _order() -> Order:
    """Dine-in at T1: a burger (GST 5 %) and two mojitos (GST 18 %)."""
    order = opened(OrderType.DINE_IN, table_id="T1", guests=2).orders[0]
    order = add(order, "burger", 1).orders[0]
    return add(order, "mojito", 2).orders[0]


def _invoice(status: str = "ISSUED") -> dict[str, Any]:
    """An invoice as ``history.invoice_detail`` reads it: the stored bill (with the books' own keys), the payments."""
    order = _order()
    bill = b.compute_bill([order], demo_billing(), "INR")
    rows = [
        {"payment_key": "pay-1:0", "method": "UPI", "amount": 20000, "received": None, "change": 0,
         "reference": "UPI-7", "order_id": order.id, "created_by": "till-1", "created_at": NOW},
        {"payment_key": "pay-2:0", "method": "CASH", "amount": bill.total - 20000, "received": bill.total,
         "change": 20000, "reference": "", "order_id": order.id, "created_by": "till-1", "created_at": NOW + 5},
    ]  # fmt: skip
    stored = bill.model_dump(mode="json") | {"invoice_id": "demo.inv7", "number": 7}
    return {"id": "demo.inv7", "number": 7, "status": status, "created_at": NOW + 5, "bill": stored, "payments": rows}


def _paper(data: bytes) -> Printed:
    (printed,) = parse(data)
    assert printed.cut and not printed.unknown
    return printed


def _flat(printed: Printed) -> str:
    return " ".join(printed.text.split())


def _error(call: Any, *args: Any) -> DomainError:
    with pytest.raises(DomainError) as refused:
        call(*args)
    return refused.value


# -- where a receipt prints ----------------------------------------------------------------------------


def test_a_receipt_prints_on_the_desk_printer_of_the_till_that_asks_or_on_the_printer_named() -> None:
    """The till's desk decides; a printer named wins; a till without a desk and an unknown printer are told apart."""
    assert pd.receipt_printer(RESTAURANT, TILL, None).id == "desk"
    assert pd.receipt_printer(RESTAURANT, TILL, "office").id == "office"
    assert pd.receipt_printer(RESTAURANT, OTHER_TILL, "office").id == "office"
    no_desk = _error(pd.receipt_printer, RESTAURANT, OTHER_TILL, None)
    assert no_desk.code is ErrorCode.INVALID_STATE and "till-2" in no_desk.message and "desk" in no_desk.message
    unknown = _error(pd.receipt_printer, RESTAURANT, TILL, "bar")
    assert unknown.code is ErrorCode.NOT_FOUND and "'bar'" in unknown.message
    assert unknown.details["printers"] == ["desk", "office"]


# -- what a receipt prints ------------------------------------------------------------------------------


def test_a_settled_receipt_is_the_invoice_as_the_books_keep_it() -> None:
    """The stored bill whole (the books' extra keys left aside), every payment row with its change, the invoice's time."""
    invoice = _invoice()
    paper = pd.invoice_receipt(invoice, RESTAURANT)
    assert paper.bill == b.compute_bill([_order()], demo_billing(), "INR")
    assert (paper.invoice_id, paper.invoice_number, paper.at) == ("demo.inv7", 7, NOW + 5)
    assert [(p.id, p.method, p.amount, p.change) for p in paper.payments] == [
        ("pay-1:0", TenderMethod.UPI, 20000, 0),
        ("pay-2:0", TenderMethod.CASH, paper.bill.total - 20000, 20000),
    ]
    assert (paper.restaurant, paper.currency, paper.minor_digits) == ("Fireflow Demo Kitchen", "INR", None)
    voided = _error(pd.invoice_receipt, _invoice("VOIDED"), RESTAURANT)
    assert voided.code is ErrorCode.INVALID_STATE and "invoice 7 is voided" in voided.message
    assert pd.invoice_receipt(_invoice("REFUNDED"), RESTAURANT).invoice_number == 7  # what was sold, as sold


def test_a_bill_prints_only_once_requested_or_part_paid_and_as_the_preview_computes_it() -> None:
    """An order still being taken is refused; with its bill requested it prints bill.preview's figures, unpaid."""
    order = _order()
    refused = _error(pd.bill_receipt, order, [], RESTAURANT, NOW)
    assert refused.code is ErrorCode.INVALID_STATE and "bill.request" in refused.message
    requested = order.model_copy(update={"bill_lock": BillLock(by="till-1", until=NOW + 300_000)})
    paper = pd.bill_receipt(requested, [], RESTAURANT, NOW)
    assert paper.bill == b.compute_bill([order], demo_billing(), "INR")
    assert (paper.invoice_number, paper.payments, paper.at) == (None, (), NOW)
    part = b.take_payments(paper.bill.total, 0, [Tender(method=TenderMethod.UPI, amount=10000)], NOW, "till-1", ["p:0"])
    part_paid = order.model_copy(update={"paid": 10000})
    assert pd.bill_receipt(part_paid, part.payments, RESTAURANT, NOW).payments == part.payments
    cancelled = order.model_copy(update={"status": OrderStatus.CANCELLED, "bill_lock": requested.bill_lock})
    assert "cancelled" in _error(pd.bill_receipt, cancelled, [], RESTAURANT, NOW).message


# -- one job each ---------------------------------------------------------------------------------------


def test_a_receipt_job_is_told_to_the_agents_and_due_a_check_and_asked_again_is_refused_naming_it() -> None:
    """PRINT_JOB on `printing`, its lease check due; a second ask names the job and print.reprint, or says wait."""
    paper = pd.invoice_receipt(_invoice(), RESTAURANT)
    printer = pd.receipt_printer(RESTAURANT, TILL, None)
    job_id = pd.receipt_job_id("demo.inv7")
    decision = pd.receipt_job(job_id, "demo.o1", paper, printer, TILL, NOW, LEASE)
    (job,) = decision.print_jobs
    assert (job.id, job.kind, job.printer, job.order_id, job.fired_by, job.state, job.version) == (
        "demo.inv7:receipt", PrintKind.RECEIPT, "desk", "demo.o1", "till-1", PrintJobState.PENDING, 1,
    )  # fmt: skip
    assert job.receipt == paper and job.ticket is None and job.z_report is None
    assert [(ev.type, ev.channels) for ev in decision.events] == [("PRINT_JOB", ("printing",))]
    assert [(d.kind, d.subject, d.at) for d in decision.due] == [(DueKind.PRINT, job.id, NOW + LEASE)]
    assert decision.result["job"]["receipt"]["invoice_number"] == 7
    waiting = _error(pd.receipt_job, job_id, "demo.o1", paper, printer, TILL, NOW, LEASE, job)
    assert waiting.code is ErrorCode.INVALID_STATE and "being printed as job demo.inv7:receipt" in waiting.message
    printed = job.model_copy(update={"state": PrintJobState.PRINTED})
    again = _error(pd.receipt_job, job_id, "demo.o1", paper, printer, OTHER_TILL, NOW, LEASE, printed)
    assert again.message == (
        "the receipt of invoice 7 was printed already as job demo.inv7:receipt (printed): "
        "print.reprint demo.inv7:receipt prints a copy marked REPRINT"
    )
    assert again.details == {"job_id": "demo.inv7:receipt", "state": "PRINTED"}


def test_a_bill_is_one_job_per_version_of_its_order() -> None:
    """The same order asks the same job; a changed order (a discount, a payment) is another bill."""
    order = _order()
    assert pd.bill_job_id(order) == f"{order.id}:bill{order.version}"
    changed = order.model_copy(update={"version": order.version + 1})
    assert pd.bill_job_id(changed) != pd.bill_job_id(order)
    assert pd.bill_job_id(order).startswith("demo.")  # a restaurant's ids start with its own


def _z(day: str = "2023-11-14", counted: int | None = None) -> ZReport:
    order = _order()
    bill = b.compute_bill([order], demo_billing(), "INR")
    taken = b.take_payments(
        bill.total, 0, [Tender(method=TenderMethod.CASH, amount=bill.total)], NOW, "till-1", ["s:0"]
    )
    sale = b.payment_entries(bill, taken.payments, deposited=0, reference="INV-7", now=NOW, by="till-1", txn_id="s1")
    return b.z_report(day, [sale], currency="INR", counted_cash=counted)


def test_a_z_report_is_one_job_per_day_printer_and_figures() -> None:
    """The same figures on the same printer: one job (asked again: refused); a count, a day, a printer: another."""
    z = _z()
    office = pd.printer_named(RESTAURANT, "office")
    decision = pd.z_report_job(z, RESTAURANT, office, MANAGER, NOW, LEASE)
    (job,) = decision.print_jobs
    assert job.id == pd.z_report_job_id("demo", z, "office") and job.id.startswith("demo.z:2023-11-14:office:")
    assert (job.kind, job.printer, job.order_id, job.station, job.fired_by) == (
        PrintKind.Z_REPORT, "office", "", "", "manager-1",
    )  # fmt: skip
    assert job.z_report is not None and job.z_report.report == z and job.z_report.restaurant == "Fireflow Demo Kitchen"
    assert [d.at for d in decision.due] == [NOW + LEASE]
    assert pd.z_report_job_id("demo", _z(), "office") == job.id  # a double press: the same id
    others = {
        pd.z_report_job_id("demo", _z(counted=0), "office"),
        pd.z_report_job_id("demo", _z("2023-11-15"), "office"),
    }
    assert job.id not in others | {pd.z_report_job_id("demo", z, "desk")} and len(others) == 2
    done = job.model_copy(update={"state": PrintJobState.PRINTED})
    again = _error(pd.z_report_job, z, RESTAURANT, office, MANAGER, NOW, LEASE, done)
    assert "Z-report of 2023-11-14 as it stands was printed already" in again.message and job.id in again.message
    assert _error(pd.printer_named, RESTAURANT, "nowhere").code is ErrorCode.NOT_FOUND


# -- copies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [
        (PrintKind.KOT, {Role.KITCHEN, Role.EXPO, Role.MANAGER, Role.OWNER}),
        (PrintKind.RECEIPT, {Role.CASHIER, Role.MANAGER, Role.OWNER}),
        (PrintKind.Z_REPORT, {Role.MANAGER, Role.OWNER}),
    ],
)
def test_a_copy_is_for_those_who_work_with_what_it_prints(kind: PrintKind, allowed: set[Role]) -> None:
    """Tickets the kitchen reprints, receipts the till, the Z-report the managers; anyone else is FORBIDDEN."""
    job = PrintJob(id="demo.x", kind=kind, printer="desk")
    for role in Role:
        actor = Actor("demo", role, "device-1", ("*",))
        if role in allowed:
            pd.check_reprint(job, actor)
        else:
            assert _error(pd.check_reprint, job, actor).code is ErrorCode.FORBIDDEN, role


def test_a_reprinted_receipt_and_z_report_print_the_same_figures_marked_reprint() -> None:
    """print.reprint's copy keeps what the job prints; the paper says REPRINT first and last, figures unchanged."""
    paper = pd.invoice_receipt(_invoice(), RESTAURANT)
    (job,) = pd.receipt_job("demo.inv7:receipt", "demo.o1", paper, RESTAURANT.printers[0], TILL, NOW, LEASE).print_jobs
    printed = job.model_copy(update={"state": PrintJobState.PRINTED, "attempts": 1})
    (copy,) = printing.reprint(printed, OTHER_TILL, NOW + 1, LEASE).print_jobs
    assert (copy.id, copy.reprint, copy.receipt, copy.kind) == ("demo.inv7:receipt:r1", True, paper, PrintKind.RECEIPT)
    first, again = _paper(render_job(job, 42)), _paper(render_job(copy, 42))
    assert [line.text.strip() for line in again.lines[1:-1]] == [line.text.strip() for line in first.lines]
    assert again.lines[0].text.strip() == again.lines[-1].text.strip() == "** REPRINT **"
    assert "REPRINT" not in first.text
    (z_job,) = pd.z_report_job(_z(), RESTAURANT, RESTAURANT.printers[1], MANAGER, NOW, LEASE).print_jobs
    z_copy = z_job.model_copy(update={"reprint": True})
    z_paper = _paper(render_job(z_copy, 32))
    assert z_paper.lines[0].text.strip() == "** REPRINT **" and "Z-REPORT" in z_paper.text


def test_the_agent_renders_each_kind_with_what_its_job_carries() -> None:
    """A receipt shows the invoice, its tax lines, total, payments and change; a job carrying nothing is refused."""
    paper = pd.invoice_receipt(_invoice(), RESTAURANT)
    (job,) = pd.receipt_job("demo.inv7:receipt", "demo.o1", paper, RESTAURANT.printers[0], TILL, NOW, LEASE).print_jobs
    flat = _flat(_paper(render_job(job, 42)))
    bill = paper.bill

    def rupees(amount: int) -> str:
        return major(amount, "INR")

    assert "INVOICE 7" in flat and f"TOTAL INR {rupees(bill.total)}" in flat
    for tax in bill.taxes:
        assert f"{tax.code} {tax.rate_bp // 100}% on {rupees(tax.taxable)} {rupees(tax.tax)}" in flat
    assert f"Cash {rupees(bill.total - 20000)} received {rupees(bill.total)}" in flat and "CHANGE 200.00" in flat
    assert "UPI 200.00 ref UPI-7" in flat and "STILL DUE" not in flat
    empty = PrintJob(id="demo.x", kind=PrintKind.RECEIPT, printer="desk")
    with pytest.raises(ValueError, match="carries nothing to print"):
        render_job(empty, 42)


def test_the_cashier_snapshot_says_which_till_prints_where() -> None:
    """`cashier` carries the desks (the page's PRINT RECEIPT needs its till's); `orders` does not."""
    state = LiveState(now=NOW, orders=[_order()], restaurant=RESTAURANT)
    cashier = channel_view("cashier", state)
    assert cashier["desks"] == [{"id": "till-1", "name": "Front", "printer": "desk"}]
    assert [o["id"] for o in cashier["orders"]] == [_order().id]
    assert "desks" not in channel_view("orders", state)
    assert channel_view("cashier", LiveState(now=NOW))["desks"] == []
