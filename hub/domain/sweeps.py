"""Self-healing sweeps: what has drifted in a restaurant's live state, and whether the hub may put it right.

A sweep looks at the tables, the open orders, which stations are watched and what the books say was
paid, and lists the *faults* standing now. A fault must stand for its rule's time before anything is
done (a command in flight finishes first, a table being cleaned gets its minutes). Then:

- what can be put right without a person's judgement is repaired through an ordinary command, under
  an id made from the fault, so two nodes or two sweeps repairing at once repair once, and a repair
  the state has moved past is refused by the command itself:
  a seated table whose order is gone is released (``table.release``: DIRTY), an order open for hours
  with nothing on it is cancelled (``order.cancel``), an order the books have paid is closed from the
  books (the settlement's own repair);
- what needs a person is reported: a table dirty too long, an order whose lines were never fired, a
  station with tickets to make and nobody to see them.

Every finding goes to the manager as SWEEP_FOUND, once while its fault stands, and so into the event
log with the repairs' own events: the sweeps are audited like any device.

Pure: the sweeper passes in what it read, when each fault was first seen and the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fireflow.hub.domain.decision import Decision, Event
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.records import (
    ItemStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    SweepFinding,
    SweepKind,
    Table,
    TableStatus,
)

__all__ = ["SETTLE_REPAIR", "Fault", "Repair", "SweepRules", "faults", "finding", "report", "ripe"]

SETTLE_REPAIR = "settle.repair"  # not a client's command: the settlement's own repair from the books
_SEATED = (TableStatus.OCCUPIED, TableStatus.BILL_REQUESTED)
_OPEN = (OrderStatus.ACTIVE, OrderStatus.READY)
_TO_MAKE = (ItemStatus.PENDING, ItemStatus.PREPARING)


@dataclass(frozen=True, slots=True)
class SweepRules:
    """How long each fault must stand before the sweep acts or speaks (seconds)."""

    table_grace_s: int = 120  # a seat or a settlement in flight finishes well within this
    dirty_after_s: int = 20 * 60
    empty_after_s: int = 2 * 3600
    unfired_after_s: int = 3 * 3600
    settled_grace_s: int = 60  # a payment's own finish (or its due check) may still be on its way
    unseen_after_s: int = 120  # a screen restarting comes back well within this


@dataclass(frozen=True, slots=True)
class Repair:
    """An ordinary command that puts a fault right (``SETTLE_REPAIR``: the settlement's repair)."""

    command_type: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault standing now. ``id`` is stable while it stands and new when it comes back."""

    id: str
    kind: SweepKind
    subject: str
    wait_s: int
    message: str  # "{age}" stands for how long it has stood
    action: str  # what the repair does, or what staff should do
    repair: Repair | None = None
    since: int | None = None  # when the record says it began (an order's opening); else when first seen
    details: Mapping[str, Any] = field(default_factory=dict)


def _age(ms: int) -> str:
    minutes = max(0, ms) // 60_000
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _named(order: Order) -> str:
    where = f"table {order.table_id}" if order.table_id else (f"token {order.token}" if order.token else "")
    return f"order #{order.number}" + (f" ({where})" if where else "")


def _table_faults(tables: Iterable[Table], open_ids: set[str], rules: SweepRules) -> list[Fault]:
    found = []
    for table in tables:
        if table.status in _SEATED and (table.order_id is None or table.order_id not in open_ids):
            gone = "no order" if table.order_id is None else f"order {table.order_id}, which is no longer open"
            found.append(
                Fault(
                    f"{SweepKind.TABLE_WITHOUT_ORDER}:{table.id}:{table.version}",
                    SweepKind.TABLE_WITHOUT_ORDER,
                    table.id,
                    rules.table_grace_s,
                    f"{table.name} was shown {table.status.value.lower().replace('_', ' ')} with {gone} "
                    "for {age}: released to DIRTY so it can be cleaned and seated",
                    "table.release",
                    Repair("table.release", {"table_id": table.id, "version": table.version}),
                )
            )
        elif table.status is TableStatus.DIRTY:
            found.append(
                Fault(
                    f"{SweepKind.TABLE_DIRTY}:{table.id}:{table.version}",
                    SweepKind.TABLE_DIRTY,
                    table.id,
                    rules.dirty_after_s,
                    f"{table.name} has been dirty for {{age}}: clean it so it can be seated",
                    "clean the table, then mark it clean (table.clean)",
                )
            )
    return found


def _order_faults(orders: Iterable[Order], settled: Mapping[str, str], rules: SweepRules) -> list[Fault]:
    found = []
    for order in orders:
        if order.status not in _OPEN:
            continue
        if order.id in settled and order.invoice_id is None:  # a paid takeaway waits for pickup: it has one
            found.append(
                Fault(
                    f"{SweepKind.SETTLED_NOT_CLOSED}:{order.id}",
                    SweepKind.SETTLED_NOT_CLOSED,
                    order.id,
                    rules.settled_grace_s,
                    f"The books have {_named(order)} paid (invoice {settled[order.id]}) but it was still open "
                    "for {age}: closed from the books",
                    "close it as the books say",
                    Repair(SETTLE_REPAIR, {"order_ids": [order.id]}),
                    details={"invoice_id": settled[order.id]},
                )
            )
            continue
        if order.settling is not None or order.payment_status is not PaymentStatus.UNPAID:
            continue  # money is moving on it: not the sweeps' business
        if not order.items:
            found.append(
                Fault(
                    f"{SweepKind.ORDER_EMPTY}:{order.id}",
                    SweepKind.ORDER_EMPTY,
                    order.id,
                    rules.empty_after_s,
                    f"{_named(order).capitalize()} was open for {{age}} with nothing on it: cancelled",
                    "order.cancel",
                    Repair("order.cancel", {"order_id": order.id, "version": order.version, "reason": "empty"}),
                    since=order.created_at,
                )
            )
        elif order.fired_at is None:
            lines = sum(1 for i in order.items if i.quantity > 0)
            found.append(
                Fault(
                    f"{SweepKind.ORDER_UNFIRED}:{order.id}",
                    SweepKind.ORDER_UNFIRED,
                    order.id,
                    rules.unfired_after_s,
                    f"{_named(order).capitalize()} was opened {{age}} ago and its {lines} line(s) were never "
                    "sent to the kitchen: fire it or cancel it",
                    "fire or cancel the order",
                    since=order.created_at,
                )
            )
    return found


def _unseen(orders: Iterable[Order], watched: set[str], rules: SweepRules) -> list[Fault]:
    waiting: dict[str, set[int]] = {}
    for order in orders:
        if order.status not in _OPEN:
            continue
        for line in order.items:
            if line.requires_prep and line.sent and line.status in _TO_MAKE and line.station not in watched:
                waiting.setdefault(line.station, set()).add(order.number)
    return [
        Fault(
            f"{SweepKind.TICKET_UNSEEN}:{station}",
            SweepKind.TICKET_UNSEEN,
            station,
            rules.unseen_after_s,
            f"{station}: {len(numbers)} ticket(s) to make (orders {', '.join(f'#{n}' for n in sorted(numbers))}) "
            "and no live screen or printer there for {age}",
            f"open the {station} kitchen screen, or route {station} to a printer",
            details={"orders": sorted(numbers)},
        )
        for station, numbers in sorted(waiting.items())
    ]


def faults(
    tables: Iterable[Table],
    orders: Iterable[Order],
    *,
    settled: Mapping[str, str],
    watched: Iterable[str],
    rules: SweepRules,
) -> list[Fault]:
    """Every fault standing now. ``settled``: open orders the books have an invoice for (order -> invoice);
    ``watched``: stations with a live screen or a printer."""
    orders = list(orders)
    open_ids = {o.id for o in orders if o.status in _OPEN}
    return [
        *_table_faults(tables, open_ids, rules),
        *_order_faults(orders, settled, rules),
        *_unseen(orders, set(watched), rules),
    ]


def ripe(fault: Fault, first_seen: int, now: int) -> bool:
    """Whether ``fault`` has stood long enough to act on."""
    since = fault.since if fault.since is not None else first_seen
    return now - since >= fault.wait_s * 1000


def finding(fault: Fault, first_seen: int, now: int, *, repaired: bool, refused: str = "") -> SweepFinding:
    since = fault.since if fault.since is not None else first_seen
    message = fault.message.replace("{age}", _age(now - since))
    if refused:
        message = f"{message.partition(':')[0]}: not repaired ({refused}); {fault.action}"
    return SweepFinding(
        id=fault.id,
        kind=fault.kind,
        subject=fault.subject,
        message=message,
        repaired=repaired,
        action=fault.action,
        since=since,
        at=now,
    )


def report(cmd: c.ReportSweep) -> Decision:
    """SWEEP_FOUND to the manager for each finding: nothing else changes."""
    events = tuple(Event("SWEEP_FOUND", ("manager",), e.SweepFound(finding=f)) for f in cmd.findings)
    return Decision(result={"reported": len(events)}, events=events)
