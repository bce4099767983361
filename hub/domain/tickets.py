"""Kitchen tickets and cards: what each station (and expo, station ``*``) is told about an order.

A FIRE or VOID ticket carries only the change (new lines, added or voided
quantities); a CARD is a station's whole current view of an order, used for
snapshots and whenever something other than lines changes (rush, notes,
table, recall, merge).
"""

from __future__ import annotations

from collections.abc import Iterable

from fireflow.hub.domain.decision import Event
from fireflow.hub.domain.priority import ticket_priority
from fireflow.schema import events as e
from fireflow.schema.base import trusted
from fireflow.schema.records import (
    ItemStatus,
    KitchenTicket,
    Order,
    OrderItem,
    OrderStatus,
    TicketChange,
    TicketKind,
    TicketLine,
)

__all__ = [
    "EXPO",
    "FINISHED",
    "ON_SCREEN",
    "card",
    "card_events",
    "held_lines",
    "kitchen_stations",
    "make_ticket",
    "ticket_line",
]

EXPO = "*"
ON_SCREEN = frozenset({ItemStatus.PENDING, ItemStatus.PREPARING})
FINISHED = frozenset({ItemStatus.DONE, ItemStatus.SERVED, ItemStatus.SKIPPED})


def ticket_line(line: OrderItem, change: TicketChange, quantity: int, line_quantity: int | None = None) -> TicketLine:
    return trusted(TicketLine)(
        line_id=line.id,
        menu_item_id=line.menu_item_id,
        name=line.name,
        station=line.station,
        course=line.course,
        quantity=quantity,
        line_quantity=line.quantity if line_quantity is None else line_quantity,
        change=change,
        status=line.status,
        notes=line.notes,
        modifiers=tuple(m.name for m in line.modifiers),
        done_at=line.done_at,
    )


def _at(station: str, line: OrderItem) -> bool:
    """Stations see the lines they make; expo sees every line."""
    return station == EXPO or (line.requires_prep and line.station == station)


def make_ticket(
    order: Order, station: str, kind: TicketKind, ticket_id: str, lines: Iterable[TicketLine], now: int
) -> KitchenTicket:
    refs = [t for t in order.tickets if t.station == station]
    return trusted(KitchenTicket)(
        id=ticket_id,
        kind=kind,
        order_id=order.id,
        order_number=order.number,
        order_type=order.type,
        station=station,
        table_id=order.table_id,
        token=order.token,
        rush=order.is_rush(station),
        notes=order.notes,
        sent_at=now,
        order_fired_at=order.fired_at,
        lines=tuple(lines),
        ready=order.status is OrderStatus.READY,
        paid=order.invoice_id is not None,
        acked=station == EXPO or all(t.acked_at is not None for t in refs),
        unacked_ticket_ids=tuple(t.id for t in refs if t.acked_at is None) if kind is TicketKind.CARD else (),
        priority=ticket_priority(order, station, expo=station == EXPO),
    )


def held_lines(order: Order, station: str) -> list[TicketLine]:
    if not order.held_courses:
        return []
    return [
        ticket_line(i, TicketChange.HELD, i.unsent)
        for i in order.items
        if i.unsent and i.course in order.held_courses and _at(station, i)
    ]


def card(order: Order, station: str, now: int) -> KitchenTicket:
    lines = [ticket_line(i, TicketChange.SAME, i.sent) for i in order.items if i.sent and _at(station, i)]
    lines += held_lines(order, station)
    return make_ticket(order, station, TicketKind.CARD, f"{order.id}@{station}", lines, now)


def kitchen_stations(order: Order) -> list[str]:
    """Stations that have been sent lines of this order."""
    return sorted({i.station for i in order.items if i.sent and i.requires_prep})


def card_events(order: Order, now: int, stations: Iterable[str] | None = None) -> list[Event]:
    """TICKET_UPDATED to each station that has this order (and to expo): their card changed."""
    targets = kitchen_stations(order) if stations is None else sorted(set(stations))
    return [
        Event(
            "TICKET_UPDATED",
            ("expo",) if station == EXPO else (f"kitchen:{station}",),
            trusted(e.NewKitchenOrder)(ticket=card(order, station, now)),
        )
        for station in (*targets, EXPO)
    ]
