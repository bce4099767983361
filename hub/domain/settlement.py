"""Paying and settling orders: plan a payment, lock the bill, and apply what the books recorded.

A payment is recorded in Postgres before any live state changes (see
``hub/commands/settle.py``), so it happens in three steps with a decision each:

1. ``plan_payment``: the bill, the payments, the ledger posting; refuses what
   cannot be paid (closed orders, too much, items not ready without force).
2. ``lock``: the orders are marked as settling under the command's id, so the
   bill cannot change while the books are written (edits get ORDER_LOCKED).
3. ``finish``: once the books have it, the orders take the payment (CLOSED /
   PAID and tables DIRTY when settled) and the lock goes; ``release`` drops a
   lock whose payment never reached the books.

Counter orders (takeaway, delivery) are paid first and cooked after: settled,
they stay open (ACTIVE or READY, PAID) on every kitchen screen and the board
until ``pickup`` hands them over and closes them. Only dine-in orders need
``force`` to be settled with items not ready.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fireflow.hub.domain.actors import MANAGERS, Actor
from fireflow.hub.domain.billing import compute_bill, payment_entries, take_payments
from fireflow.hub.domain.decision import AuditNote, Decision, Due, DueKind, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import (
    OPEN,
    bump,
    order_channels,
    require_editable,
    require_open,
    table_event,
    touch,
    updated,
)
from fireflow.hub.domain.tickets import FINISHED
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.billing import Bill, BillingSettings, LedgerTransaction, Payment, TenderMethod
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    BillLock,
    DeliveryStatus,
    Order,
    OrderStatus,
    OrderType,
    PaymentStatus,
    SettleLock,
    Table,
    TableStatus,
)

__all__ = [
    "COUNTER",
    "MONEY_CHANNELS",
    "PaymentPlan",
    "check_bill_lock",
    "expected_wait",
    "finish",
    "guidance",
    "lock",
    "pickup",
    "pickup_estimate",
    "plan_payment",
    "preview",
    "release",
    "release_bill",
    "request_bill",
    "settle_lock",
    "unfinished",
    "waits_for_pickup",
]

MONEY_CHANNELS = ("cashier", "manager")
INVOICE_REF = "{invoice}"  # in a posting's reference or an audit note's entity: the invoice id, once numbered
COURTESY_AFTER_MS = 5 * 60_000  # a wait longer than this suggests a courtesy discount
COURTESY_BP = 500
COUNTER = frozenset({OrderType.TAKEAWAY, OrderType.DELIVERY})  # paid first, handed over at the counter


def waits_for_pickup(order: Order) -> bool:
    """Settled, it stays open until handed over: a counter order not yet picked up (dine-in closes at once)."""
    delivered = order.delivery is not None and order.delivery.status is DeliveryStatus.DELIVERED
    return order.type in COUNTER and order.picked_up_at is None and not delivered


def _payable(orders: Sequence[Order], key: str) -> None:
    if len({o.id for o in orders}) != len(orders):
        raise DomainError(ErrorCode.INVALID_COMMAND, "an order is listed twice")
    for order in orders:
        if order.payment_status is PaymentStatus.PAID or order.invoice_id is not None:
            raise DomainError(
                ErrorCode.ALREADY_SETTLED,
                f"order {order.number} is already settled (invoice {order.invoice_number})",
                {"order_id": order.id, "invoice_id": order.invoice_id},
            )
        if order.status not in OPEN:
            raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is {order.status}")
        if order.settling is not None and order.settling.key != key:
            require_editable(order)


def unfinished(orders: Sequence[Order]) -> bool:
    """Some line is not yet sent to the kitchen, or not finished there."""
    return any(i.unsent or i.status not in FINISHED for o in orders for i in o.items)


def pickup_estimate(orders: Sequence[Order], prep_mean_ms: Mapping[tuple[str, str], int], now: int) -> int | None:
    """When the counter orders among ``orders`` should be ready to hand over (ms).

    ``now`` when every line is finished; else the latest expected finish (fired at + the
    recorded mean prep time of that item at that station, never before ``now``). None
    when there is no counter order, or a line is not sent or has no recorded prep time.
    """
    counter = [o for o in orders if o.type in COUNTER]
    if not counter:
        return None
    latest = now
    for order in counter:
        for line in order.items:
            if line.status in FINISHED and not line.unsent:
                continue
            mean = prep_mean_ms.get((line.station, line.menu_item_id))
            if line.unsent or line.fired_at is None or mean is None:
                return None
            latest = max(latest, line.fired_at + mean)
    return latest


def preview(orders: Sequence[Order], settings: BillingSettings, currency: str) -> Decision:
    """The exact bill, changing nothing."""
    for order in orders:
        if order.status not in OPEN:
            raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is {order.status}")
    bill = compute_bill(orders, settings, currency)
    paid = sum(o.paid for o in orders)
    return Decision(result={"bill": bill.model_dump(mode="json"), "paid": paid, "due": bill.total - paid})


def _clock(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}:{seconds:02d}"


def expected_wait(mean_ms: int | None, fired_at: int | None, now: int) -> tuple[int | None, int | None, str]:
    """How long a line should still take: ``(ready in s, overdue by s, the phrase)``, from its mean prep time.

    Seconds left are rounded up, so a line still cooking is never "ready in 0:00";
    a line past its usual time is overdue by the whole seconds it is late ("due now"
    in its first second). Unknown (never fired here, or no prep time recorded): both None.
    """
    if fired_at is None:
        return None, None, "not sent to the kitchen"
    if mean_ms is None:
        return None, None, "time unknown"
    left_ms = mean_ms - (now - fired_at)
    if left_ms > 0:
        left = -(-left_ms // 1000)
        return left, None, f"ready in about {_clock(left)}"
    late = -left_ms // 1000
    return None, late, f"overdue by {_clock(late)}" if late else "due now"


def guidance(orders: Sequence[Order], prep_mean_ms: Mapping[tuple[str, str], int], now: int) -> dict[str, Any]:
    """What is not ready yet, how long it is likely to take from recorded prep times, and a courtesy hint.

    Advice only: the cashier may settle anyway (force).
    """
    waiting: list[dict[str, Any]] = []
    waits: list[int] = []
    for order in orders:
        for line in order.items:
            if line.status in FINISHED and not line.unsent:
                continue
            fired = line.fired_at if line.unsent == 0 else None
            mean = prep_mean_ms.get((line.station, line.menu_item_id))
            left, late, phrase = expected_wait(mean, fired, now)
            if left is not None:
                waits.append(left)
            waiting.append(
                {
                    "order_id": order.id,
                    "line_id": line.id,
                    "name": line.name,
                    "status": line.status.value if line.unsent == 0 else "NOT_FIRED",
                    "expected_ready_in_s": left,
                    "overdue_by_s": late,
                    "wait": phrase,
                }
            )
    longest = max(waits, default=0)
    courtesy = COURTESY_BP if longest * 1000 > COURTESY_AFTER_MS else 0
    return {
        "items": waiting,
        "longest_wait_s": longest,
        "suggested_discount_bp": courtesy,
        "options": ["ASK_TO_WAIT", "SETTLE_NOW", *(["SETTLE_WITH_DISCOUNT"] if courtesy else [])],
    }


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    key: str
    orders: tuple[Order, ...]
    bill: Bill
    payments: tuple[Payment, ...]
    posting: LedgerTransaction
    settles: bool
    change: int
    remaining: int
    customer_name: str | None
    forced_by: str | None = None  # the device that settled dine-in items not ready (force)
    pickup_estimate_ms: int | None = None  # counter orders: when they should be ready to hand over

    @property
    def amount(self) -> int:
        return sum(p.amount for p in self.payments)

    @property
    def audit(self) -> AuditNote:
        """The payment's line in the audit log: on the invoice (numbered when recorded) when it settles."""
        return AuditNote(
            "SETTLED" if self.settles else "PAID_PART",
            "invoice" if self.settles else "order",
            INVOICE_REF if self.settles else self.orders[0].id,
            {
                "orders": [o.id for o in self.orders],
                "total": self.bill.total,
                "paid": self.amount,
                "remaining": self.remaining,
                "methods": sorted({p.method.value for p in self.payments}),
                **({"forced_by": self.forced_by} if self.forced_by else {}),
            },
        )


def plan_payment(
    orders: Sequence[Order],
    settings: BillingSettings,
    currency: str,
    cmd: c.PayOrder,
    actor: Actor,
    now: int,
    *,
    key: str,
    prep_mean_ms: Mapping[tuple[str, str], int],
    on_delivery: bool = False,
) -> PaymentPlan:
    """``on_delivery``: a rider's cash-on-delivery payment (``delivery.cod_tender``), the only one paid in COD."""
    _payable(orders, key)
    if not on_delivery and any(t.method is TenderMethod.COD for t in cmd.tenders):
        raise DomainError(
            ErrorCode.INVALID_COMMAND, "cash on delivery is taken by the rider as the order is delivered, not at a till"
        )
    seated = [o for o in orders if o.type not in COUNTER]  # counter orders are paid first, then cooked
    not_ready = unfinished(seated)
    if not_ready and not cmd.force:
        raise DomainError(
            ErrorCode.ITEMS_NOT_READY,
            "some items are not ready: ask the guest to wait, or settle with force",
            {"guidance": guidance(seated, prep_mean_ms, now)},
        )
    bill = compute_bill(orders, settings, currency)
    paid = sum(o.paid for o in orders)
    ids = [f"{key}:{n}" for n in range(len(cmd.tenders))]
    taken = take_payments(bill.total, paid, cmd.tenders, now, actor.device_id, ids)
    if len(orders) > 1 and taken.remaining:
        raise DomainError(
            ErrorCode.AMOUNT_MISMATCH,
            f"a group bill is paid in full at once: {bill.total - paid} is due",
            {"due": bill.total - paid},
        )
    reference = INVOICE_REF if not taken.remaining else orders[0].id
    posting = payment_entries(
        bill, taken.payments, deposited=paid, reference=reference, now=now, by=actor.device_id, txn_id=f"{key}:txn"
    )
    names = {o.customer_name for o in orders if o.customer_name}
    return PaymentPlan(
        key=key,
        orders=tuple(orders),
        bill=bill,
        payments=taken.payments,
        posting=posting,
        settles=taken.remaining == 0,
        change=taken.change,
        remaining=taken.remaining,
        customer_name=cmd.customer_name or (names.pop() if len(names) == 1 else None),
        forced_by=actor.device_id if not_ready else None,
        pickup_estimate_ms=pickup_estimate(orders, prep_mean_ms, now) if taken.remaining == 0 else None,
    )


def settle_lock(plan: PaymentPlan, actor: Actor, now: int) -> SettleLock:
    """The lock that ``lock`` sets on the orders."""
    return SettleLock(key=plan.key, by=actor.device_id, settles=plan.settles, amount=plan.amount, since=now)


def lock(plan: PaymentPlan, actor: Actor, now: int, check_after_ms: int) -> Decision:
    """Mark the orders as being paid; a due check resolves the lock if the payment never finishes."""
    held = settle_lock(plan, actor, now)
    locked = tuple(o if o.settling == held else touch(o, settling=held) for o in plan.orders)
    return Decision(
        result={},
        orders=tuple(o for o, before in zip(locked, plan.orders, strict=True) if o is not before),
        due=(Due(DueKind.SETTLE, plan.key, now + check_after_ms),),
    )


def release(orders: Sequence[Order], key: str, held: SettleLock | None = None) -> Decision:
    """The payment never reached the books: the orders may be edited and paid again.

    With ``held``, only that very lock goes: a copy of the command lets go of the lock
    it set, never one a twin (same key, set later) still holds.
    """
    mine = [o for o in orders if o.settling is not None and o.settling.key == key]
    freed = tuple(touch(o, settling=None) for o in mine if held is None or o.settling == held)
    kept = len(mine) > len(freed)  # a twin's lock: its due check stays
    due = () if kept else (Due(DueKind.SETTLE, key, None),)
    return Decision(result={"released": [o.id for o in freed]}, orders=freed, due=due)


def finish(
    orders: Sequence[Order],
    tables: Sequence[Table],
    key: str,
    payments: Sequence[Payment],
    *,
    total: int,
    change: int,
    invoice_id: str | None,
    invoice_number: int | None,
    now: int,
    pickup_estimate_ms: int | None = None,
) -> Decision:
    """The books have the payment: the orders take it, and a settled party's tables need cleaning.

    A settled counter order not yet picked up stays open (PAID) until ``pickup``; the others
    close. Applied once per payment (its key is kept on the order), with or without the lock:
    a payment the live state lost (Redis restarted without it) is applied again from the books.
    """
    mine = [o for o in orders if key not in o.payment_keys and o.invoice_id is None]
    if not mine:
        return Decision(result={}, due=(Due(DueKind.SETTLE, key, None),))
    amount = sum(p.amount for p in payments)
    settles = invoice_id is not None and invoice_number is not None
    paid = sum(o.paid for o in mine) + amount
    status = PaymentStatus.PAID if settles else PaymentStatus.PARTIALLY_PAID
    updated: list[Order] = []
    for n, order in enumerate(mine):
        changes: dict[str, Any] = {
            "settling": None,
            "bill_lock": None if invoice_id is not None else order.bill_lock,
            "payment_status": status,
            "paid": order.paid + (amount if n == 0 else 0),
            "payment_keys": (*order.payment_keys, key),
        }
        if settles:
            changes |= {"invoice_id": invoice_id, "invoice_number": invoice_number}
            if not waits_for_pickup(order):
                changes["status"] = OrderStatus.CLOSED
        updated.append(bump(order, **changes))
    ids = tuple(o.id for o in mine)
    awaiting = tuple(o.id for o in updated if settles and o.status in OPEN)
    channels = tuple(dict.fromkeys(ch for o in updated for ch in (*order_channels(o), *MONEY_CHANNELS)))
    events = [
        Event(
            "PAYMENT_RECORDED",
            channels,
            e.PaymentRecorded(
                order_ids=ids,
                payments=tuple(payments),
                total=total,
                paid=paid,
                remaining=total - paid,
                change=change,
                status=status,
            ),
        )
    ]
    dirty: list[Table] = []
    if invoice_id is not None and invoice_number is not None:
        for table in tables:
            if table.order_id in ids:  # OCCUPIED or BILL_REQUESTED
                table = table.model_copy(
                    update={"status": TableStatus.DIRTY, "order_id": None, "version": table.version + 1}
                )
                dirty.append(table)
        events.append(
            Event(
                "ORDER_SETTLED",
                (*channels, "tables"),
                e.OrderSettled(
                    order_ids=ids,
                    invoice_id=invoice_id,
                    invoice_number=invoice_number,
                    total=total,
                    table_ids=tuple(t.id for t in dirty),
                    awaiting_pickup=awaiting,
                ),
            )
        )
        events.extend(table_event(t) for t in dirty)
    result = {
        "order_ids": list(ids),
        "status": status.value,
        "total": total,
        "paid": paid,
        "remaining": total - paid,
        "change": change,
        "invoice_id": invoice_id,
        "invoice_number": invoice_number,
        "payments": [p.model_dump(mode="json") for p in payments],
        "pickup_estimate_ms": pickup_estimate_ms if awaiting else None,
    }
    due = [Due(DueKind.SETTLE, key, None)]
    if invoice_id is not None:
        due += [Due(DueKind.BILL, o.id, None) for o in mine if o.bill_lock is not None]
    return Decision(result=result, orders=tuple(updated), tables=tuple(dirty), events=tuple(events), due=tuple(due))


# -- the bill lock (seed 000): the bill is with the guests, other terminals keep off ------------------


def check_bill_lock(order: Order, actor: Actor, now: int) -> None:
    """Only the terminal that requested the bill may change the order until the lock runs out."""
    held = order.bill_lock
    if held is not None and held.until > now and held.by != actor.device_id:
        raise DomainError(
            ErrorCode.BILL_LOCKED,
            f"the bill of order {order.number} was requested at {held.by}; it unlocks in {(held.until - now) // 1000} s",
            {"order_id": order.id, "by": held.by, "until": held.until},
        )


def _seat(tables: Sequence[Table], order: Order, status: TableStatus) -> list[Table]:
    moved = []
    for table in tables:
        if table.order_id == order.id and table.status is not status and table.status is not TableStatus.DIRTY:
            moved.append(table.model_copy(update={"status": status, "version": table.version + 1}))
    return moved


def request_bill(order: Order, tables: Sequence[Table], actor: Actor, now: int, lock_ms: int) -> Decision:
    """Lock the order for ``lock_ms`` against other terminals; its tables show BILL_REQUESTED."""
    if order.status not in OPEN:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is {order.status}")
    if order.invoice_id is not None:
        raise DomainError(ErrorCode.ALREADY_SETTLED, f"order {order.number} is already settled")
    check_bill_lock(order, actor, now)
    held = BillLock(by=actor.device_id, until=now + lock_ms)
    new = bump(order, bill_lock=held)
    seated = _seat(tables, order, TableStatus.BILL_REQUESTED)
    return updated(
        new,
        *(table_event(t) for t in seated),
        tables=tuple(seated),
        due=(Due(DueKind.BILL, order.id, held.until),),
    )


def release_bill(order: Order, tables: Sequence[Table], actor: Actor, now: int, *, expired: bool = False) -> Decision:
    """The lock goes (released by its terminal or a manager, or run out); the tables are OCCUPIED again."""
    held = order.bill_lock
    if held is None:
        return Decision(result={"released": False}, due=(Due(DueKind.BILL, order.id, None),))
    if expired and held.until > now:
        return Decision(result={"released": False}, due=(Due(DueKind.BILL, order.id, held.until),))
    if not expired and held.by != actor.device_id and actor.role not in MANAGERS:
        check_bill_lock(order, actor, now)
    new = bump(order, bill_lock=None)
    seated = _seat(tables, order, TableStatus.OCCUPIED) if order.status in OPEN else []
    return updated(
        new,
        *(table_event(t) for t in seated),
        tables=tuple(seated),
        due=(Due(DueKind.BILL, order.id, None),),
        result_extra={"released": True},
    )


# -- the counter: a paid order handed over ----------------------------------------------------------


def _still_cooking(order: Order) -> bool:
    """A line that needs preparation is not sent, or not finished, yet."""
    return any(i.requires_prep and (i.unsent or i.status not in FINISHED) for i in order.items)


def pickup(order: Order, actor: Actor, now: int) -> Decision:
    """A paid counter order was handed over: it records when and by whom, closes, and leaves the board.

    Refused (INVALID_STATE) for dine-in orders, unpaid ones ("pay first"; ORDER_LOCKED while a
    payment is being recorded) and ACTIVE ones with something still to prepare.
    """
    require_open(order)
    if order.type not in COUNTER:
        raise DomainError(
            ErrorCode.INVALID_STATE, f"order {order.number} is {order.type}: only counter orders are picked up"
        )
    if order.delivery is not None and order.delivery.status is not DeliveryStatus.RETURNED:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is {order.delivery.status} with {order.delivery.rider}: riders hand it over",
            {"order_id": order.id, "delivery": order.delivery.status.value},
        )
    if order.payment_status is not PaymentStatus.PAID:
        if order.settling is not None:
            require_editable(order)  # ORDER_LOCKED: its payment is being recorded, try again in a moment
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is {order.payment_status}: pay first, then hand it over",
            {"order_id": order.id, "payment_status": order.payment_status.value},
        )
    if order.status is OrderStatus.ACTIVE and _still_cooking(order):
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is not ready yet", {"order_id": order.id})
    closed = bump(order, status=OrderStatus.CLOSED, picked_up_at=now, picked_up_by=actor.device_id)
    channels = (*order_channels(order), "cashier", "expo", *(("board",) if order.token is not None else ()))
    event = Event("ORDER_PICKED_UP", channels, e.OrderPickedUp(order_id=order.id, token=order.token, picked_up_at=now))
    return Decision(result={"order": closed}, orders=(closed,), events=(event,))
