"""Records that travel in events, snapshots and command results.

They are also the domain's state types: the hub stores exactly what it sends,
so a snapshot and an event can never disagree on shape.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Counters",
    "ItemStatus",
    "KitchenTicket",
    "Menu",
    "MenuItem",
    "Order",
    "OrderItem",
    "OrderStatus",
    "OrderType",
    "PaymentStatus",
    "Restaurant",
    "Table",
    "TableStatus",
]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderType(StrEnum):
    DINE_IN = "DINE_IN"
    TAKEAWAY = "TAKEAWAY"
    DELIVERY = "DELIVERY"


class OrderStatus(StrEnum):
    ACTIVE = "ACTIVE"
    READY = "READY"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"
    VOIDED = "VOIDED"


class PaymentStatus(StrEnum):
    UNPAID = "UNPAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    REFUNDED = "REFUNDED"


class ItemStatus(StrEnum):
    PENDING = "PENDING"
    PREPARING = "PREPARING"
    DONE = "DONE"
    SERVED = "SERVED"
    SKIPPED = "SKIPPED"


class TableStatus(StrEnum):
    FREE = "FREE"
    OCCUPIED = "OCCUPIED"
    DIRTY = "DIRTY"


class MenuItem(Record):
    id: str
    name: str
    price: int = Field(ge=0, description="unit price in minor units")
    station: str
    category: str = ""
    tax_code: str = "STD"
    requires_prep: bool = True
    available: bool = True


class Menu(Record):
    stations: tuple[str, ...]
    items: tuple[MenuItem, ...]
    version: int = 0

    def item(self, item_id: str) -> MenuItem | None:
        for item in self.items:
            if item.id == item_id:
                return item
        return None


class Counters(Record):
    """Per-day numbering: order numbers and takeaway tokens restart every day."""

    day: str = ""
    order_number: int = 0
    token: int = 0
    version: int = 0


class Restaurant(Record):
    id: str
    name: str
    currency: str = "INR"
    timezone: str = "UTC"


class Table(Record):
    id: str
    name: str
    seats: int = Field(default=4, ge=1)
    status: TableStatus = TableStatus.FREE
    order_id: str | None = None
    version: int = 0


class OrderItem(Record):
    """One order line, with the menu snapshotted when it was added."""

    id: str
    menu_item_id: str
    name: str
    unit_price: int
    quantity: int = Field(ge=1)
    station: str
    category: str
    tax_code: str
    requires_prep: bool
    status: ItemStatus = ItemStatus.PENDING
    fired: bool = False
    notes: str = ""
    fired_at: int | None = None
    done_at: int | None = None

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


class Order(Record):
    id: str
    number: int
    type: OrderType
    status: OrderStatus = OrderStatus.ACTIVE
    payment_status: PaymentStatus = PaymentStatus.UNPAID
    table_id: str | None = None
    guests: int | None = None
    phone: str | None = None
    address: str | None = None
    customer_name: str | None = None
    token: int | None = None
    notes: str = ""
    opened_by: str = ""
    items: tuple[OrderItem, ...] = ()
    line_seq: int = 0
    created_at: int = 0
    fired_at: int | None = None
    ready_at: int | None = None
    version: int = 0

    def line(self, line_id: str) -> OrderItem | None:
        for item in self.items:
            if item.id == line_id:
                return item
        return None


class KitchenTicket(Record):
    """What one station's screen shows for one order: only that station's lines."""

    order_id: str
    order_number: int
    order_type: OrderType
    station: str
    table_id: str | None = None
    token: int | None = None
    notes: str = ""
    fired_at: int | None = None
    items: tuple[OrderItem, ...]
