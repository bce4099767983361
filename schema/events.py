"""Events: what the hub pushes, one payload model per type.

An event is committed once to the restaurant's stream with the channels it
goes to, and reaches every subscriber of any of those channels exactly once,
as ``{"op": "event", "offset": n, "type": ..., "channels": [...], "data": ...}``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fireflow.schema.billing import LedgerKind, Payment, TenderMethod, ZReport
from fireflow.schema.records import (
    Alert,
    Area,
    Category,
    ItemStatus,
    KitchenSettings,
    KitchenTicket,
    MenuItem,
    Note,
    Order,
    OrderType,
    PaymentStatus,
    PrinterHealth,
    PrintJob,
    Restaurant,
    Stock,
    SweepFinding,
    Table,
)
from fireflow.schema.setup import Device, StaffMember

__all__ = [
    "EVENTS",
    "CourseHeld",
    "DayClosed",
    "DeliveryChanged",
    "DeliveryEta",
    "DeliveryLate",
    "DeliveryUnassigned",
    "DeviceChanged",
    "DrawerMoved",
    "EventData",
    "ItemAvailability",
    "ItemStatusChanged",
    "KitchenAlert",
    "KitchenSettingsChanged",
    "MenuChanged",
    "NewKitchenOrder",
    "OrderCancelled",
    "OrderChanged",
    "OrderMerged",
    "OrderMoved",
    "OrderNoteAdded",
    "OrderPickedUp",
    "OrderReady",
    "OrderRushed",
    "OrderSettled",
    "OrderVoided",
    "PaymentRecorded",
    "PaymentRefunded",
    "PrintJobChanged",
    "PrinterStatus",
    "ProfileChanged",
    "RevenueUpdated",
    "RiderCashChanged",
    "StaffChanged",
    "StockChanged",
    "SweepFound",
    "TableStatusChanged",
    "TablesChanged",
    "TicketAcked",
    "TokenPreparing",
]


class EventData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderChanged(EventData):
    """ORDER_OPENED, ORDER_UPDATED and ORDER_FIRED carry the whole order."""

    order: Order


class NewKitchenOrder(EventData):
    """NEW_KITCHEN_ORDER (a FIRE ticket), TICKET_VOID (a VOID ticket) and TICKET_UPDATED (a CARD:
    the station's whole view of the order after a recall, rush, note, move or merge)."""

    ticket: KitchenTicket


class ItemStatusChanged(EventData):
    order_id: str
    order_number: int
    line_id: str
    station: str
    status: ItemStatus
    previous: ItemStatus
    order_version: int
    at: int = 0
    by: str | None = Field(default=None, description="for SKIPPED: the device that skipped it")


class OrderReady(EventData):
    order_id: str
    order_number: int
    order_type: OrderType
    table_id: str | None
    token: int | None
    ready_at: int


class OrderPredicted(EventData):
    """ORDER_PREDICTED: an order's predicted ready time, at fire and whenever it moves by a minute or more.

    ``stations``: when each station is expected done with the order's lines (a finished one: when it was).
    No customer details: the board shows a takeaway's pickup estimate by ``token``.
    """

    order_id: str
    order_number: int
    order_type: OrderType
    token: int | None
    ready_at: int
    stations: dict[str, int]
    at: int


class OrderCancelled(EventData):
    order_id: str
    order_number: int
    reason: str
    stations: tuple[str, ...]
    token: int | None = None


class TokenPreparing(EventData):
    """For the public customer board: a takeaway token is being prepared (no customer details)."""

    order_id: str
    token: int


class TableStatusChanged(EventData):
    table: Table


class OrderRushed(EventData):
    order_id: str
    order_number: int
    rush: bool
    station: str | None = None


class CourseHeld(EventData):
    order_id: str
    order_number: int
    course: int
    held_courses: tuple[int, ...]


class OrderNoteAdded(EventData):
    order_id: str
    order_number: int
    note: Note


class TicketAcked(EventData):
    order_id: str
    ticket_id: str
    station: str
    by: str
    at: int


class KitchenAlert(EventData):
    alert: Alert


class OrderMoved(EventData):
    order_id: str
    order_number: int
    from_table_id: str
    to_table_id: str


class OrderMerged(EventData):
    """The ``from`` order's lines now belong to ``order`` (renumbered as in ``lines``)."""

    from_order_id: str
    from_order_number: int
    order: Order
    lines: dict[str, str]


class KitchenSettingsChanged(EventData):
    kitchen: KitchenSettings


class MenuChanged(EventData):
    """The menu changed: the items added or replaced whole, the ones removed, and its categories and stations."""

    version: int
    items: tuple[MenuItem, ...] = ()
    removed: tuple[str, ...] = ()
    categories: tuple[Category, ...]
    stations: tuple[str, ...]


class TablesChanged(EventData):
    """Tables added, moved or renamed (with their live state), tables removed, and the floor's areas."""

    tables: tuple[Table, ...] = ()
    removed: tuple[str, ...] = ()
    areas: tuple[Area, ...]


class ProfileChanged(EventData):
    """The restaurant's name, time zone or billing rules changed (bills from now on follow them)."""

    restaurant: Restaurant


class PrintJobChanged(EventData):
    """PRINT_JOB: a job to print (a fire at a printing station); PRINT_JOB_CHANGED: its state moved on."""

    job: PrintJob


class PrinterStatus(EventData):
    """PRINTER_STATUS: a printer's state changed (a print agent read it from the printer, or no agent is left)."""

    health: PrinterHealth


class StaffChanged(EventData):
    """People added, changed or removed (never their PINs); ``version`` is the restaurant's after the change."""

    version: int
    staff: tuple[StaffMember, ...] = ()
    removed: tuple[str, ...] = ()


class DeviceChanged(EventData):
    """A device was paired (again) or revoked."""

    device: Device


class PaymentRecorded(EventData):
    order_ids: tuple[str, ...]
    payments: tuple[Payment, ...]
    total: int
    paid: int
    remaining: int
    change: int
    status: PaymentStatus


class OrderSettled(EventData):
    order_ids: tuple[str, ...]
    invoice_id: str
    invoice_number: int
    total: int
    table_ids: tuple[str, ...]
    awaiting_pickup: tuple[str, ...] = Field(
        default=(), description="the counter orders among them that stay open, PAID, until picked up"
    )


class OrderPickedUp(EventData):
    """A counter order was handed over (``order.pickup``): its token leaves the board (no customer details)."""

    order_id: str
    token: int | None
    picked_up_at: int


class DeliveryChanged(EventData):
    """DELIVERY_ASSIGNED, _PICKED_UP, _DELIVERED, _FAILED and _RETURNED: the whole order, ``delivery`` as it is now.

    Only to channels that may see the customer: the order's own, ``dispatch``, ``cashier`` and the assigned rider's.
    """

    order: Order
    previous_rider: str | None = Field(default=None, description="on a reassignment: the rider it was taken from")


class DeliveryEta(EventData):
    """DELIVERY_ETA: an order out for delivery is now expected at ``eta`` (ms); sent when it moves by a minute or more.

    ``distance_m``: along the rider's remaining stops from its latest fix (before the detour factor);
    ``speed``: the rider's measured speed, m/s. To ``dispatch`` only: no customer details.
    """

    order_id: str
    order_number: int
    rider: str
    eta: int
    promised_at: int | None = None
    distance_m: int
    speed: float


class DeliveryLate(DeliveryEta):
    """DELIVERY_LATE: the ETA passed ``promised_at``; raised once per trip, to ``dispatch`` and ``manager``."""

    alert: Alert


class DeliveryUnassigned(EventData):
    """To the rider an order was taken from (reassigned): no customer details, only that it is no longer theirs."""

    order_id: str
    order_number: int
    rider: str = Field(description="the rider it was taken from (the channel's own)")
    at: int


class RevenueUpdated(EventData):
    """The business day's figures after a settlement, read back from the books in Postgres."""

    day: str
    currency: str
    revenue: int
    invoices: int
    average_bill: int
    by_method: dict[str, int]
    discounts: int
    tax: int
    service_charge: int


class PaymentRefunded(EventData):
    invoice_id: str
    invoice_number: int
    order_ids: tuple[str, ...]
    amount: int
    method: TenderMethod
    refunded: int = Field(description="refunded on this invoice so far")
    approved_by: str


class OrderVoided(EventData):
    invoice_id: str
    invoice_number: int
    order_ids: tuple[str, ...]
    total: int
    approved_by: str


class DrawerMoved(EventData):
    """Cash put in (FLOAT) or taken out (PAYOUT) of the drawer."""

    kind: LedgerKind
    amount: int
    category: str = ""
    note: str = ""
    by: str


class RiderCashChanged(EventData):
    """RIDER_CASH: a rider's cash in hand moved (a float, a collection on delivery, a handover); the books' balance."""

    rider: str
    kind: str = Field(description="RIDER_FLOAT, COD (collected on delivery) or RIDER_HANDOVER")
    amount: int = Field(description="what moved, minor units: + to the rider, - from the rider")
    holds: int = Field(description="what the rider holds now, as the ledger has it")
    order_id: str | None = None
    by: str


class DayClosed(EventData):
    report: ZReport


class StockChanged(EventData):
    stock: Stock


class SweepFound(EventData):
    """SWEEP_FOUND: a self-healing sweep found a fault, to ``manager``: repaired, or for staff to look at."""

    finding: SweepFinding


class ItemAvailability(EventData):
    """ITEM_86D and ITEM_AVAILABLE."""

    menu_item_id: str
    name: str
    available: int | None


EVENTS: dict[str, type[EventData]] = {
    "ORDER_OPENED": OrderChanged,
    "ORDER_UPDATED": OrderChanged,
    "ORDER_FIRED": OrderChanged,
    "NEW_KITCHEN_ORDER": NewKitchenOrder,
    "ITEM_STATUS_CHANGED": ItemStatusChanged,
    "ORDER_READY": OrderReady,
    "ORDER_PREDICTED": OrderPredicted,
    "SWEEP_FOUND": SweepFound,
    "ORDER_CANCELLED": OrderCancelled,
    "TABLE_STATUS_CHANGED": TableStatusChanged,
    "TOKEN_PREPARING": TokenPreparing,
    "TICKET_VOID": NewKitchenOrder,
    "TICKET_UPDATED": NewKitchenOrder,
    "TICKET_ACKED": TicketAcked,
    "ORDER_RECALLED": OrderChanged,
    "ORDER_RUSHED": OrderRushed,
    "COURSE_HELD": CourseHeld,
    "ORDER_NOTE_ADDED": OrderNoteAdded,
    "ORDER_MOVED": OrderMoved,
    "ORDER_MERGED": OrderMerged,
    "KITCHEN_ALERT": KitchenAlert,
    "KITCHEN_SETTINGS_CHANGED": KitchenSettingsChanged,
    "MENU_CHANGED": MenuChanged,
    "TABLES_CHANGED": TablesChanged,
    "PROFILE_CHANGED": ProfileChanged,
    "DEVICE_CHANGED": DeviceChanged,
    "STAFF_CHANGED": StaffChanged,
    "PRINT_JOB": PrintJobChanged,
    "PRINT_JOB_CHANGED": PrintJobChanged,
    "PRINTER_STATUS": PrinterStatus,
    "STOCK_CHANGED": StockChanged,
    "ITEM_86D": ItemAvailability,
    "ITEM_AVAILABLE": ItemAvailability,
    "PAYMENT_RECORDED": PaymentRecorded,
    "ORDER_SETTLED": OrderSettled,
    "ORDER_PICKED_UP": OrderPickedUp,
    "DELIVERY_ASSIGNED": DeliveryChanged,
    "DELIVERY_UNASSIGNED": DeliveryUnassigned,
    "DELIVERY_PICKED_UP": DeliveryChanged,
    "DELIVERY_DELIVERED": DeliveryChanged,
    "DELIVERY_FAILED": DeliveryChanged,
    "DELIVERY_RETURNED": DeliveryChanged,
    "DELIVERY_ETA": DeliveryEta,
    "DELIVERY_LATE": DeliveryLate,
    "REVENUE_UPDATED": RevenueUpdated,
    "PAYMENT_REFUNDED": PaymentRefunded,
    "ORDER_VOIDED": OrderVoided,
    "DRAWER_MOVED": DrawerMoved,
    "RIDER_CASH": RiderCashChanged,
    "DAY_CLOSED": DayClosed,
}
