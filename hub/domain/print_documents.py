"""Receipts and the Z-report as print jobs, decided without I/O: one job per invoice, bill, or day's figures.

A job's id comes from what it prints, so a double press, a retried command or two tills asking at
once make one job (the commit takes version 1 of an id only once; the loser decides again, finds
the job and is refused here):

- a settled order's receipt is its invoice's, ``<invoice id>:receipt``: one, however many of the
  invoice's orders ask for it, on whichever printer;
- a bill not paid yet (requested, or part paid) is ``<order id>:bill<version>``: the order as it is
  now; once it changes (a discount, a part payment) it is another bill;
- a Z-report is ``<restaurant>.z:<day>:<printer>:<figures>``: one per day and printer while the
  day's figures stand; money taken since makes another, so a reprint never passes old figures
  for new ones.

Asked again, each is refused naming its job: ``print.reprint`` prints a copy marked REPRINT. Every
id starts with the restaurant's id, as an order's does, so another tenant's is recognised.

No money is computed here. A settled receipt prints the invoice as the books keep it (the Bill
stored at settlement and the payment rows, as the invoice history shows them), a bill prints
``billing.compute_bill`` as ``bill.preview`` gives it, and the Z-report prints the books' report as
``GET /api/v1/reports/z`` gives it. The jobs then go the way of every job
(``fireflow.hub.domain.printing``): claimed by one agent, on to the backup printer on a failure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from fireflow.hub.domain.actors import KITCHEN_SIDE, MANAGERS, MONEY, Actor, Role
from fireflow.hub.domain.billing import compute_bill
from fireflow.hub.domain.decision import Decision, Due, DueKind, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import OPEN
from fireflow.schema import events as e
from fireflow.schema.billing import Bill, Payment, TenderMethod, ZReport
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    Order,
    Printer,
    PrintJob,
    PrintJobState,
    PrintKind,
    ReceiptPrint,
    Restaurant,
    ZReportPrint,
)

__all__ = [
    "REPRINTERS",
    "bill_job_id",
    "bill_receipt",
    "check_reprint",
    "invoice_receipt",
    "printer_named",
    "receipt_job",
    "receipt_job_id",
    "receipt_printer",
    "z_report_job",
    "z_report_job_id",
]

# Who may ask for a copy of a job, by what it prints: the kitchen its tickets, the till its receipts.
REPRINTERS: Mapping[PrintKind, frozenset[Role]] = {
    PrintKind.KOT: KITCHEN_SIDE,
    PrintKind.RECEIPT: MONEY,
    PrintKind.Z_REPORT: MANAGERS,
}
_UNDER_WAY = frozenset({PrintJobState.PENDING, PrintJobState.CLAIMED})


def printer_named(restaurant: Restaurant, printer_id: str) -> Printer:
    """The restaurant's printer ``printer_id``; NOT_FOUND when its setup has none by that id."""
    found = next((p for p in restaurant.printers if p.id == printer_id), None)
    if found is None:
        raise DomainError(
            ErrorCode.NOT_FOUND,
            f"no printer {printer_id!r} in this restaurant's setup",
            {"printer": printer_id, "printers": [p.id for p in restaurant.printers]},
        )
    return found


def receipt_printer(restaurant: Restaurant, actor: Actor, asked: str | None) -> Printer:
    """Where a receipt prints: the printer asked for, else the desk printer of the till that asks."""
    if asked is not None:
        return printer_named(restaurant, asked)
    desk = next((d for d in restaurant.desks if d.id == actor.device_id), None)
    if desk is None:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"this till ({actor.device_id}) has no desk printer: name a printer, "
            "or give the till a desk (setup.desk.put)",
            {"device": actor.device_id},
        )
    return printer_named(restaurant, desk.printer)


def receipt_job_id(invoice_id: str) -> str:
    return f"{invoice_id}:receipt"


def bill_job_id(order: Order) -> str:
    return f"{order.id}:bill{order.version}"


def z_report_job_id(restaurant_id: str, report: ZReport, printer_id: str) -> str:
    """One per day and printer while the figures stand: a short digest of the report tells them apart."""
    figures = json.dumps(report.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(figures.encode()).hexdigest()[:8]
    return f"{restaurant_id}.z:{report.day}:{printer_id}:{digest}"


def _money(restaurant: Restaurant) -> dict[str, Any]:
    return {"restaurant": restaurant.name, "currency": restaurant.currency, "minor_digits": restaurant.minor_digits}


def invoice_receipt(invoice: Mapping[str, Any], restaurant: Restaurant, link: str | None = None) -> ReceiptPrint:
    """The receipt of an invoice as the invoice history reads it (``hub.books.history.invoice_detail``).

    Its bill is the one stored at settlement, its payments the rows recorded (part payments first,
    change as given); a voided invoice has no receipt. ``link``, the customer's link to the archived
    invoice (``hub/domain/invoice_links.py``), prints as a QR code.
    """
    if invoice["status"] == "VOIDED":
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"invoice {invoice['number']} is voided: it has no receipt",
            {"invoice_id": invoice["id"], "status": invoice["status"]},
        )
    stored = invoice["bill"]
    bill = Bill.model_validate({name: stored[name] for name in Bill.model_fields})
    payments = tuple(
        Payment(
            id=row["payment_key"],
            method=TenderMethod(row["method"]),
            amount=row["amount"],
            received=row["received"],
            change=row["change"],
            reference=row["reference"],
            at=row["created_at"],
            by=row["created_by"],
        )
        for row in invoice["payments"]
    )
    return ReceiptPrint(
        bill=bill,
        invoice_id=invoice["id"],
        invoice_number=invoice["number"],
        payments=payments,
        at=invoice["created_at"],
        link=link,
        **_money(restaurant),
    )


def bill_receipt(order: Order, payments: Sequence[Payment], restaurant: Restaurant, now: int) -> ReceiptPrint:
    """The bill of an order not settled yet, as ``bill.preview`` computes it, with its part payments so far.

    Only a bill somebody asked for (``bill.request``) or began paying prints: anything else may
    still change at the table.
    """
    if order.status not in OPEN:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is {order.status.value.lower()} and has no invoice: no receipt to print",
            {"order_id": order.id, "status": order.status.value},
        )
    if order.bill_lock is None and order.paid == 0:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is neither billed nor settled: request its bill (bill.request) or settle it first",
            {"order_id": order.id, "payment_status": order.payment_status.value},
        )
    bill = compute_bill([order], restaurant.billing, restaurant.currency)
    return ReceiptPrint(bill=bill, payments=tuple(payments), at=now, **_money(restaurant))


def _refused(what: str, existing: PrintJob) -> DomainError:
    state = existing.state.value.lower()
    copy = f"print.reprint {existing.id} prints a copy marked REPRINT"
    if existing.state in _UNDER_WAY:
        then = f"is being printed as job {existing.id} ({state}): wait for it; once it is done, {copy}"
    else:
        then = f"was printed already as job {existing.id} ({state}): {copy}"
    return DomainError(
        ErrorCode.INVALID_STATE,
        f"{what} {then}",
        {"job_id": existing.id, "state": existing.state.value},
    )


def _made(job: PrintJob, lease_ms: int) -> Decision:
    """A new job: PRINT_JOB to the agents, and its check due when the lease ends (no agent: the backup)."""
    return Decision(
        result={"job": job.model_dump(mode="json")},
        print_jobs=(job,),
        events=(Event("PRINT_JOB", ("printing",), e.PrintJobChanged(job=job)),),
        due=(Due(DueKind.PRINT, job.id, job.created_at + lease_ms),),
    )


def receipt_job(
    job_id: str,
    order_id: str,
    receipt: ReceiptPrint,
    printer: Printer,
    actor: Actor,
    now: int,
    lease_ms: int,
    existing: PrintJob | None = None,
) -> Decision:
    """A RECEIPT job on ``printer``; refused when ``existing`` (the job of that id) was made already."""
    number = receipt.invoice_number
    what = f"the receipt of invoice {number}" if number is not None else "this bill"
    if existing is not None:
        raise _refused(what, existing)
    job = PrintJob(
        id=job_id,
        kind=PrintKind.RECEIPT,
        printer=printer.id,
        order_id=order_id,
        receipt=receipt,
        fired_by=actor.device_id,
        created_at=now,
    )
    return _made(job, lease_ms)


def z_report_job(
    report: ZReport,
    restaurant: Restaurant,
    printer: Printer,
    actor: Actor,
    now: int,
    lease_ms: int,
    existing: PrintJob | None = None,
) -> Decision:
    """A Z_REPORT job of ``report`` on ``printer``; refused when ``existing`` has these figures already."""
    if existing is not None:
        raise _refused(f"the Z-report of {report.day} as it stands", existing)
    job = PrintJob(
        id=z_report_job_id(restaurant.id, report, printer.id),
        kind=PrintKind.Z_REPORT,
        printer=printer.id,
        z_report=ZReportPrint(report=report, **_money(restaurant)),
        fired_by=actor.device_id,
        created_at=now,
    )
    return _made(job, lease_ms)


def check_reprint(job: PrintJob, actor: Actor, doing: str = "reprint") -> None:
    """A copy (or saying a job is handled) is for those who work with what it prints: tickets the kitchen,
    receipts the till, Z-reports managers."""
    if actor.role not in REPRINTERS[job.kind]:
        raise DomainError(
            ErrorCode.FORBIDDEN,
            f"{actor.role.value} may not {doing} a {job.kind.value} job",
            {"job_id": job.id, "kind": job.kind.value},
        )
