"""Events: what the hub pushes, one payload model per type.

An event is committed once to the restaurant's stream with the channels it
goes to, and reaches every subscriber of any of those channels exactly once,
as ``{"op": "event", "offset": n, "type": ..., "channels": [...], "data": ...}``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schema.records import ItemStatus, KitchenTicket, Order, OrderType, Table

__all__ = [
    "EVENTS",
    "EventData",
    "ItemStatusChanged",
    "NewKitchenOrder",
    "OrderCancelled",
    "OrderChanged",
    "OrderReady",
    "TableStatusChanged",
    "TokenPreparing",
]


class EventData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderChanged(EventData):
    """ORDER_OPENED, ORDER_UPDATED and ORDER_FIRED carry the whole order."""

    order: Order


class NewKitchenOrder(EventData):
    ticket: KitchenTicket


class ItemStatusChanged(EventData):
    order_id: str
    order_number: int
    line_id: str
    station: str
    status: ItemStatus
    previous: ItemStatus
    order_version: int


class OrderReady(EventData):
    order_id: str
    order_number: int
    order_type: OrderType
    table_id: str | None
    token: int | None
    ready_at: int


class OrderCancelled(EventData):
    order_id: str
    order_number: int
    reason: str
    stations: tuple[str, ...]


class TokenPreparing(EventData):
    """For the public customer board: a takeaway token is being prepared (no customer details)."""

    order_id: str
    token: int


class TableStatusChanged(EventData):
    table: Table


EVENTS: dict[str, type[EventData]] = {
    "ORDER_OPENED": OrderChanged,
    "ORDER_UPDATED": OrderChanged,
    "ORDER_FIRED": OrderChanged,
    "NEW_KITCHEN_ORDER": NewKitchenOrder,
    "ITEM_STATUS_CHANGED": ItemStatusChanged,
    "ORDER_READY": OrderReady,
    "ORDER_CANCELLED": OrderCancelled,
    "TABLE_STATUS_CHANGED": TableStatusChanged,
    "TOKEN_PREPARING": TokenPreparing,
}
