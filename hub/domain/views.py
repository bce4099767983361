"""Snapshots: what a channel shows right now, projected from open orders and tables.

A subscriber that cannot be given the exact missed events gets this instead,
so a screen always starts from the whole truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schema.records import ItemStatus, KitchenTicket, Order, OrderStatus, OrderType, Table

__all__ = ["channel_view", "needs_tables"]

_ON_SCREEN = frozenset({ItemStatus.PENDING, ItemStatus.PREPARING})
_OPEN = frozenset({OrderStatus.ACTIVE, OrderStatus.READY})


def needs_tables(channel: str) -> bool:
    return channel == "tables"


def _dump(orders: Sequence[Order]) -> list[dict[str, Any]]:
    return [o.model_dump(mode="json") for o in sorted(orders, key=lambda o: (o.created_at, o.number))]


def _tickets(orders: Sequence[Order], station: str) -> list[dict[str, Any]]:
    tickets = []
    for order in orders:
        items = tuple(
            i for i in order.items if i.fired and i.requires_prep and i.station == station and i.status in _ON_SCREEN
        )
        if items:
            ticket = KitchenTicket(
                order_id=order.id,
                order_number=order.number,
                order_type=order.type,
                station=station,
                table_id=order.table_id,
                token=order.token,
                notes=order.notes,
                fired_at=order.fired_at,
                items=items,
            )
            tickets.append(ticket)
    tickets.sort(key=lambda t: (t.fired_at or 0, t.order_number))
    return [t.model_dump(mode="json") for t in tickets]


def channel_view(channel: str, orders: Sequence[Order], tables: Sequence[Table]) -> dict[str, Any]:
    """The snapshot of ``channel`` given every open order and every table of the restaurant."""
    kind, _, param = channel.partition(":")
    open_orders = [o for o in orders if o.status in _OPEN]
    if kind == "kitchen":
        return {"tickets": _tickets(open_orders, param)}
    if kind == "expo":
        return {"orders": _dump([o for o in open_orders if o.fired_at is not None])}
    if kind in ("orders", "cashier"):
        return {"orders": _dump(open_orders)}
    if kind == "waiter":
        return {"orders": _dump([o for o in open_orders if o.opened_by == param])}
    if kind == "order":
        found = next((o for o in orders if o.id == param), None)
        return {"order": found.model_dump(mode="json") if found else None}
    if kind == "tables":
        return {"tables": [t.model_dump(mode="json") for t in sorted(tables, key=lambda t: t.id)]}
    if kind == "board":
        takeaway = [o for o in open_orders if o.type is OrderType.TAKEAWAY and o.token is not None]
        return {
            "preparing": sorted(o.token or 0 for o in takeaway if o.status is OrderStatus.ACTIVE),
            "ready": sorted(o.token or 0 for o in takeaway if o.status is OrderStatus.READY),
        }
    return {}
