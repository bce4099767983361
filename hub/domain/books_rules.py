"""Refunds, voids, the drawer and the day's close: what is allowed, what the books record, what live state hears.

These commands are written to the books (Postgres) before anything live
changes; ``hub/commands/settle.py`` runs that sequence and nothing else. What
it runs on is decided here, from what the books hold, without I/O:

1. ``require_invoice`` and ``approval``: the invoice exists and is not void,
   and a manager's PIN came with the command (checking it is the shell's: a
   slow hash and a rate limit in Redis).
2. ``refund``, ``void``, ``drawer``, ``rider_cash`` or ``close_day``: refuses what is not
   allowed (more than is left to refund, an invoice with refunds voided, a
   second void) or returns a ``BooksMove``: the postings, the audit note and
   the invoice's new status, recorded in one transaction under the command's
   own ids, so a retry finds them instead of posting twice.
3. ``BooksMove.live``: once recorded, the Decision applied under the command
   id: the result every copy is answered with, the event, the orders' new
   states.

A command written to the books before a crash lost its answer is finished,
not refused: its posting (``done``) is reused as it was written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fireflow.hub.domain.billing import (
    float_entries,
    payout_entries,
    refund_entries,
    rider_account,
    rider_float_entries,
    rider_handover_entries,
    void_entries,
    z_report,
)
from fireflow.hub.domain.decision import AuditNote, Decision, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import bump
from fireflow.hub.domain.settlement import MONEY_CHANNELS
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.base import StrEnum
from fireflow.schema.billing import LedgerKind, LedgerTransaction
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Order, OrderStatus, PaymentStatus

__all__ = [
    "BooksMove",
    "Invoice",
    "InvoiceStatus",
    "approval",
    "close_day",
    "drawer",
    "paid_out",
    "refund",
    "refund_id",
    "require_invoice",
    "rider_cash",
    "void",
    "void_id",
]


class InvoiceStatus(StrEnum):
    ISSUED = "ISSUED"
    VOIDED = "VOIDED"
    REFUNDED = "REFUNDED"  # in full


@dataclass(frozen=True, slots=True)
class Invoice:
    """What the rules need to know of an invoice."""

    id: str
    number: int
    status: InvoiceStatus
    total: int
    order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BooksMove:
    """What one books-only command records, and what live state hears once it is recorded."""

    postings: tuple[LedgerTransaction, ...]
    audit: AuditNote
    result: dict[str, Any]
    event: Event | None
    invoice_status: tuple[str, InvoiceStatus] | None = None  # (invoice id, its new status)
    order_ids: tuple[str, ...] = ()  # the orders whose live state follows
    order_status: OrderStatus | None = None
    payment_status: PaymentStatus | None = None
    tells_revenue: bool = False  # the day's revenue changed: cashiers and managers are told
    closes: tuple[str, int] | None = None  # a close: the day, and how many transactions its report counted
    no_overdraw: tuple[str, ...] = ()  # accounts the postings may not take below zero

    def live(self, orders: Sequence[Order]) -> Decision:
        """The Decision applied under the command's id; ``orders`` are those of ``order_ids`` still live."""
        changes: dict[str, Any] = {}
        if self.order_status is not None:
            changes["status"] = self.order_status
        if self.payment_status is not None:
            changes["payment_status"] = self.payment_status
        changed = tuple(bump(o, **changes) for o in orders) if changes else ()
        return Decision(result=self.result, orders=changed, events=() if self.event is None else (self.event,))


def refund_id(key: str) -> str:
    """The id of the ledger transaction a refund command posts."""
    return f"{key}:refund"


def void_id(key: str) -> str:
    """The id of the ledger transaction a void command posts."""
    return f"{key}:void"


def require_invoice(invoice: Invoice | None, invoice_id: str, *, finishing: bool = False) -> Invoice:
    """The invoice a refund or void is about; a void one only when ``finishing`` what was written before."""
    if invoice is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no invoice {invoice_id!r}")
    if invoice.status is InvoiceStatus.VOIDED and not finishing:
        raise DomainError(ErrorCode.INVALID_STATE, f"invoice {invoice.number} is void")
    return invoice


def approval(pin: str | None) -> str:
    """The PIN that must approve a refund or void: PIN_REQUIRED without one."""
    if pin is None:
        raise DomainError(ErrorCode.PIN_REQUIRED, "a manager's PIN must approve this")
    return pin


def paid_out(txn: LedgerTransaction) -> int:
    """What a refund gave back: its credits to the tender (asset) accounts."""
    return sum(x.credit for x in txn.entries if x.account.startswith("asset:"))


def _channels(invoice: Invoice) -> tuple[str, ...]:
    return (*MONEY_CHANNELS, *(f"order:{o}" for o in invoice.order_ids))


def refund(
    invoice: Invoice,
    transactions: Sequence[LedgerTransaction],
    cmd: c.RefundInvoice,
    *,
    key: str,
    by: str,
    approved_by: str,
    now: int,
    done: LedgerTransaction | None = None,
) -> BooksMove:
    """Give back ``cmd.amount`` of the invoice; ``transactions`` are the ledger's on it (its sale, refunds, void).

    The orders follow to REFUNDED once everything is given back.
    """
    sale = next((t for t in transactions if t.kind is LedgerKind.SALE), None)
    if sale is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"invoice {invoice.number} has no sale to refund")
    earlier = [
        t for t in transactions if t.kind in (LedgerKind.REFUND, LedgerKind.VOID) and (done is None or t.id != done.id)
    ]
    posting = done or refund_entries(
        sale, cmd.amount, cmd.method, earlier=earlier, now=now, by=by, txn_id=refund_id(key), note=cmd.reason
    )
    refunded = cmd.amount + sum(paid_out(t) for t in earlier if t.kind is LedgerKind.REFUND)
    fully = refunded >= invoice.total
    details = {"amount": cmd.amount, "method": cmd.method.value, "reason": cmd.reason, "approved_by": approved_by}
    data = e.PaymentRefunded(
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        order_ids=invoice.order_ids,
        amount=cmd.amount,
        method=cmd.method,
        refunded=refunded,
        approved_by=approved_by,
    )
    return BooksMove(
        postings=(posting,),
        audit=AuditNote("REFUNDED", "invoice", invoice.id, details),
        result={"invoice_id": invoice.id, "refunded": refunded, "fully": fully, "approved_by": approved_by},
        event=Event("PAYMENT_REFUNDED", _channels(invoice), data),
        invoice_status=(invoice.id, InvoiceStatus.REFUNDED) if fully else None,
        order_ids=invoice.order_ids,
        payment_status=PaymentStatus.REFUNDED if fully else None,
        tells_revenue=True,
    )


def void(
    invoice: Invoice,
    transactions: Sequence[LedgerTransaction],
    cmd: c.VoidInvoice,
    *,
    key: str,
    by: str,
    approved_by: str,
    now: int,
    done: LedgerTransaction | None = None,
) -> BooksMove:
    """Reverse the whole invoice; ``transactions`` are the ledger's on it and on its orders (deposits).

    Its orders become VOIDED and their payment REFUNDED.
    """
    posting = done or void_entries(
        transactions, reference=invoice.id, now=now, by=by, txn_id=void_id(key), note=cmd.reason
    )
    data = e.OrderVoided(
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        order_ids=invoice.order_ids,
        total=invoice.total,
        approved_by=approved_by,
    )
    return BooksMove(
        postings=(posting,),
        audit=AuditNote("VOIDED", "invoice", invoice.id, {"reason": cmd.reason, "approved_by": approved_by}),
        result={"invoice_id": invoice.id, "voided": invoice.total, "approved_by": approved_by},
        event=Event("ORDER_VOIDED", _channels(invoice), data),
        invoice_status=(invoice.id, InvoiceStatus.VOIDED),
        order_ids=invoice.order_ids,
        order_status=OrderStatus.VOIDED,
        payment_status=PaymentStatus.REFUNDED,
        tells_revenue=True,
    )


def drawer(cmd: c.DrawerFloat | c.DrawerPayout, *, key: str, by: str, now: int) -> BooksMove:
    """Cash into the drawer (the opening float) or out of it (a payout for a category)."""
    if isinstance(cmd, c.DrawerFloat):
        posting = float_entries(cmd.amount, reference=key, now=now, by=by, txn_id=f"{key}:float")
        data = e.DrawerMoved(kind=LedgerKind.FLOAT, amount=cmd.amount, by=by)
    else:
        posting = payout_entries(
            cmd.amount, cmd.category, note=cmd.note, reference=key, now=now, by=by, txn_id=f"{key}:payout"
        )
        data = e.DrawerMoved(kind=LedgerKind.PAYOUT, amount=cmd.amount, category=cmd.category, note=cmd.note, by=by)
    return BooksMove(
        postings=(posting,),
        audit=AuditNote(posting.kind.value, "drawer", key, data.model_dump(mode="json")),
        result={"kind": posting.kind.value, "amount": cmd.amount},
        event=Event("DRAWER_MOVED", MONEY_CHANNELS, data),
    )


def rider_cash(
    cmd: c.RiderCashMove,
    *,
    handover: bool,
    holds: int,
    key: str,
    by: str,
    now: int,
    currency: str = "",
    digits: int | None = None,
) -> BooksMove:
    """Change from the drawer for a rider (``handover`` False), or cash a rider hands in (True), all or part
    of what the rider ``holds``; the books refuse a handover that concurrent ones would take below zero."""
    if handover:
        posting = rider_handover_entries(
            cmd.rider, cmd.amount, holds, now=now, by=by, txn_id=f"{key}:handover", currency=currency, digits=digits
        )
    else:
        posting = rider_float_entries(cmd.rider, cmd.amount, now=now, by=by, txn_id=f"{key}:rider_float")
    kind = posting.kind.value
    details = {"rider": cmd.rider, "amount": cmd.amount, "held_before": holds}
    return BooksMove(
        postings=(posting,),
        audit=AuditNote(kind, "rider", cmd.rider, details),
        result={"kind": kind, "rider": cmd.rider, "amount": cmd.amount},
        event=None,  # RIDER_CASH follows, with the balance the books hold once this is recorded
        no_overdraw=(rider_account(cmd.rider),) if handover else (),
    )


def close_day(
    day: str,
    transactions: Sequence[LedgerTransaction],
    *,
    currency: str,
    counted_cash: int,
    riders_carried_in: Mapping[str, int] | None = None,
) -> BooksMove:
    """Close the business day: its Z-report with the drawer counted and riders' cash carried; nothing is posted."""
    report = z_report(
        day, transactions, currency=currency, counted_cash=counted_cash, riders_carried_in=riders_carried_in
    )
    shown = report.model_dump(mode="json")
    return BooksMove(
        postings=(),
        audit=AuditNote("DAY_CLOSED", "day", day, {"counted_cash": counted_cash, "report": shown}),
        result={"report": shown},
        event=Event("DAY_CLOSED", MONEY_CHANNELS, e.DayClosed(report=report)),
        closes=(day, len(transactions)),
    )
