"""Kitchen alerts: how one is worded, and which are still standing (what the expo and manager snapshots show).

An alert is raised about one ticket (``TicketRef.alert``): STATION_OFFLINE when it
is sent to a station with no live screen, TICKET_UNACKED when no screen has shown
it in time. It stands while all of these hold:

- the ticket is not acknowledged: a screen at the station has shown it (a station
  coming back online acknowledges what its snapshot shows, so that ends it too);
- the order is open (not settled, cancelled or merged away);
- the station still has something of the order to make (bumped, voided or made
  anyway: nothing is left to chase).

A ticket carries its latest alert only, so a TICKET_UNACKED replaces the
STATION_OFFLINE raised for the same ticket.
"""

from __future__ import annotations

from collections.abc import Iterable

from fireflow.hub.domain.tickets import ON_SCREEN
from fireflow.schema.records import Alert, AlertKind, Order, OrderStatus, TicketRef

__all__ = ["active_alerts", "ticket_alert", "to_make"]

_OPEN = frozenset({OrderStatus.ACTIVE, OrderStatus.READY})
_SUFFIX = {AlertKind.STATION_OFFLINE: "offline", AlertKind.TICKET_UNACKED: "unacked"}


def ticket_alert(order: Order, ref: TicketRef, kind: AlertKind, at: int) -> Alert:
    """The alert of ``kind`` about the ticket ``ref``, raised at ``at``: the same when raised and in a snapshot."""
    if kind is AlertKind.STATION_OFFLINE:
        message = f"Order {order.number}: no screen is live at {ref.station}; its ticket was not seen"
    else:
        message = (
            f"Order {order.number}: the {ref.kind.value} ticket for {ref.station} has not been shown on any screen "
            f"{(at - ref.sent_at) // 1000} s after it was sent"
        )
    return Alert(
        id=f"{ref.id}:{_SUFFIX[kind]}",
        kind=kind,
        station=ref.station,
        order_id=order.id,
        order_number=order.number,
        ticket_id=ref.id,
        at=at,
        message=message,
    )


def to_make(order: Order, station: str) -> bool:
    """Whether ``station`` still has a line of ``order`` to make (sent, made in the kitchen, not finished)."""
    return any(i.sent and i.requires_prep and i.station == station and i.status in ON_SCREEN for i in order.items)


def active_alerts(orders: Iterable[Order]) -> list[Alert]:
    """The alerts still standing over these orders, oldest first."""
    alerts = [
        ticket_alert(order, ref, ref.alert, ref.alert_at if ref.alert_at is not None else ref.sent_at)
        for order in orders
        if order.status in _OPEN
        for ref in order.tickets
        if ref.alert is not None and ref.acked_at is None and to_make(order, ref.station)
    ]
    return sorted(alerts, key=lambda a: (a.at, a.id))
