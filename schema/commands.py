"""Commands: what clients ask the hub to do, one payload model per type.

A command travels as ``{"op": "cmd", "id": ..., "type": ..., "data": {...}}``
over WebSocket, or as the body of ``POST /api/v1/commands`` over HTTP; both
transports validate ``data`` with the model registered here under ``type``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schema.records import OrderType

__all__ = [
    "COMMANDS",
    "AddItem",
    "CancelOrder",
    "ChangeItem",
    "CleanTable",
    "Command",
    "FireOrder",
    "ItemStatusCommand",
    "OpenOrder",
    "RemoveItem",
]

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ShortText = Annotated[str, StringConstraints(max_length=500)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Versioned(Command):
    version: int | None = Field(
        default=None,
        description="the order version the client last saw; a stale one gets VERSION_CONFLICT",
    )


class OpenOrder(Command):
    type: OrderType
    table_id: Id | None = None
    guests: int | None = Field(default=None, ge=1, le=500)
    phone: Annotated[str, StringConstraints(min_length=3, max_length=32)] | None = None
    address: ShortText | None = None
    customer_name: Annotated[str, StringConstraints(max_length=120)] | None = None
    notes: ShortText = ""

    @model_validator(mode="after")
    def _fields_for_type(self) -> OpenOrder:
        if self.type is OrderType.DINE_IN and (self.table_id is None or self.guests is None):
            raise ValueError("DINE_IN needs table_id and guests")
        if self.type is OrderType.DELIVERY and (not self.phone or not self.address):
            raise ValueError("DELIVERY needs phone and address")
        return self


class AddItem(Versioned):
    order_id: Id
    menu_item_id: Id
    quantity: int = Field(default=1, ge=1, le=999)
    notes: ShortText = ""


class ChangeItem(Versioned):
    order_id: Id
    line_id: Id
    quantity: int = Field(ge=1, le=999)
    notes: ShortText | None = None


class RemoveItem(Versioned):
    order_id: Id
    line_id: Id


class FireOrder(Versioned):
    order_id: Id


class ItemStatusCommand(Command):
    order_id: Id
    line_id: Id


class CancelOrder(Versioned):
    order_id: Id
    reason: ShortText = ""


class CleanTable(Command):
    table_id: Id


COMMANDS: dict[str, type[Command]] = {
    "order.open": OpenOrder,
    "order.add_item": AddItem,
    "order.change_item": ChangeItem,
    "order.remove_item": RemoveItem,
    "order.fire": FireOrder,
    "order.cancel": CancelOrder,
    "item.start": ItemStatusCommand,
    "item.done": ItemStatusCommand,
    "item.serve": ItemStatusCommand,
    "table.clean": CleanTable,
}
