"""Which ticket a station makes first, and why: the order of the kitchen screen's queue.

Every ticket is *due* at a time fixed when it is fired: its order type's grace after the fire (a
delivery has a rider and a road ahead of it, a takeaway customer stands at the counter, a seated
table has bread), or earlier when the customer was promised a time. Rushed tickets go on top
whatever their due time; the rest are made earliest due first, and equal dues oldest fire first.

Due times do not move as the clock runs, so the queue's order changes only when a ticket comes,
goes or is rushed, and the reason a screen shows for its first ticket stays true while it is
shown. The predictor takes waiting lines in the same order (``hub/domain/ready_times.py``), so
what it tells the front is what the kitchen will do.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from fireflow.schema.base import OrderType
from fireflow.schema.records import ItemStatus, Order, OrderItem, PriorityReason, TicketPriority

__all__ = ["GRACE_S", "ROAD_S", "due", "due_at", "queue_key", "ticket_priority"]

GRACE_S: dict[OrderType, int] = {
    OrderType.DELIVERY: 10 * 60,  # the food still has the road to travel
    OrderType.TAKEAWAY: 12 * 60,  # someone is standing at the counter
    OrderType.DINE_IN: 15 * 60,  # a seated table is served by course, and can be spoken to
}
ROAD_S = 10 * 60  # a delivery is promised at the door: the kitchen's part ends this long before

_REASON = {
    OrderType.DELIVERY: PriorityReason.DELIVERY,
    OrderType.TAKEAWAY: PriorityReason.TAKEAWAY,
    OrderType.DINE_IN: PriorityReason.DINE_IN,
}
_ON_SCREEN = (ItemStatus.PENDING, ItemStatus.PREPARING)


def due(order_type: OrderType, fired_at: int, promised_at: int | None) -> TicketPriority:
    """When a ticket fired at ``fired_at`` should be out, and what set that time."""
    grace = GRACE_S[order_type]
    at = due_at(order_type, fired_at, promised_at)
    reason = _REASON[order_type] if at == fired_at + grace * 1000 else PriorityReason.PROMISED
    return TicketPriority(due_at=at, reason=reason, grace_s=grace)


def due_at(order_type: OrderType, fired_at: int, promised_at: int | None) -> int:
    """``due(...).due_at`` without the record: the predictor asks it of every waiting line on every look."""
    by_type = fired_at + GRACE_S[order_type] * 1000
    if promised_at is not None:
        by_promise = promised_at - (ROAD_S * 1000 if order_type is OrderType.DELIVERY else 0)
        if by_promise < by_type:
            return by_promise
    return by_type


def _first_fired(lines: Iterable[OrderItem]) -> int | None:
    fired = [i.fired_at for i in lines if i.fired_at is not None]
    return min(fired) if fired else None


@lru_cache(maxsize=4096)
def _priority(order_type: OrderType, fired_at: int, promised_at: int | None, rushed: bool) -> TicketPriority:
    """``due(...)``, marked RUSH when rushed: one frozen record shared by every ticket fired together (a fire's
    four stations and expo ask the same), instead of one built and checked for each."""
    found = due(order_type, fired_at, promised_at)
    return found.model_copy(update={"reason": PriorityReason.RUSH}) if rushed else found


def ticket_priority(order: Order, station: str, expo: bool = False) -> TicketPriority | None:
    """The due time of a station's ticket (``expo``: every line): from its oldest line still to make.

    None while nothing of it has been fired (a card of held courses only).
    """
    mine = [i for i in order.items if i.fired and (expo or (i.requires_prep and i.station == station))]
    fired = _first_fired(i for i in mine if i.status in _ON_SCREEN)
    if fired is None:
        fired = _first_fired(mine) or order.fired_at
    if fired is None:
        return None
    return _priority(order.type, fired, order.promised_at, order.rush if expo else order.is_rush(station))


def queue_key(priority: TicketPriority | None, fired_at: int | None, number: int) -> tuple[bool, int, int, int]:
    """Sort key of the queue: rush first, then earliest due, then oldest fire, then the order's number."""
    if priority is None:
        return (True, 2**62, fired_at or 2**62, number)
    return (priority.reason is not PriorityReason.RUSH, priority.due_at, fired_at or 0, number)
