"""Records that travel in events, snapshots and command results.

They are also the domain's state types: the hub stores exactly what it sends,
so a snapshot and an event can never disagree on shape.
"""

from __future__ import annotations

from pydantic import Field

from fireflow.schema.base import GeoPoint, OrderType, Record, StrEnum
from fireflow.schema.billing import Bill, BillingSettings, Discount, Payment, ZReport

__all__ = [
    "Alert",
    "AlertKind",
    "AlertSeverity",
    "Area",
    "BillLock",
    "Category",
    "Counters",
    "Delivery",
    "DeliveryStatus",
    "Desk",
    "ItemStatus",
    "KitchenSettings",
    "KitchenTicket",
    "LineModifier",
    "Menu",
    "MenuItem",
    "ModifierGroup",
    "ModifierOption",
    "Note",
    "Order",
    "OrderItem",
    "OrderStatus",
    "OrderType",
    "PaymentStatus",
    "PrintJob",
    "PrintJobState",
    "PrintKind",
    "Printer",
    "PrinterHealth",
    "PrinterState",
    "PriorityReason",
    "ReceiptPrint",
    "Restaurant",
    "Routing",
    "SettleLock",
    "StationSettings",
    "Stock",
    "SweepFinding",
    "SweepKind",
    "Table",
    "TableStatus",
    "TicketChange",
    "TicketKind",
    "TicketLine",
    "TicketPriority",
    "TicketRef",
    "ZReportPrint",
]


class OrderStatus(StrEnum):
    ACTIVE = "ACTIVE"
    READY = "READY"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"
    VOIDED = "VOIDED"
    MERGED = "MERGED"  # its lines moved into another order (tables merged)


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
    BILL_REQUESTED = "BILL_REQUESTED"  # occupied, and the bill is with the guests
    DIRTY = "DIRTY"


class ModifierOption(Record):
    """One choice of a modifier group: "Extra cheese", +3000."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=80)
    price_delta: int = Field(default=0, description="added to the item's unit price, minor units (may be negative)")


class ModifierGroup(Record):
    """Choices offered with an item: "Doneness" (required, one of), "Add-ons" (up to three)."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=80)
    required: bool = Field(default=False, description="at least one option must be chosen")
    max_choices: int = Field(default=1, ge=1, le=20, description="how many options may be chosen together")
    options: tuple[ModifierOption, ...] = Field(min_length=1)


class MenuItem(Record):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=80)
    price: int = Field(ge=0, description="unit price in minor units")
    station: str = Field(min_length=1, max_length=64)
    category: str = ""
    tax_code: str = "STD"
    requires_prep: bool = True
    available: bool = True
    default_course: int = Field(default=1, ge=1, le=9, description="the course a line starts in")
    modifiers: tuple[ModifierGroup, ...] = ()


class Category(Record):
    """A menu section, in the order screens list them."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=80)


class Menu(Record):
    stations: tuple[str, ...]
    items: tuple[MenuItem, ...]
    categories: tuple[Category, ...] = ()
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


class Routing(StrEnum):
    """Where a station's tickets go: its screens, its printer, or both."""

    SCREEN = "SCREEN"
    PRINT = "PRINT"
    BOTH = "BOTH"


class StationSettings(Record):
    """How a station's screen colours a ticket's age (normal, then warn, then late), and where its tickets go."""

    id: str
    name: str = ""
    colour: str = Field(default="", description="CSS colour of the station's tickets and tags, e.g. #d9480f")
    warn_after_s: int = Field(default=300, ge=1)
    late_after_s: int = Field(default=600, ge=1)
    routing: Routing = Field(default=Routing.SCREEN, description="SCREEN, PRINT (a printer only) or BOTH")
    printer: str | None = Field(default=None, description="the printer its tickets print on (PRINT and BOTH)")


class Printer(Record):
    """A network ESC/POS printer on the restaurant's LAN (raw TCP, port 9100 on most kitchen printers)."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(default="", max_length=80)
    host: str = Field(min_length=1, max_length=253, description="its address as the print agent reaches it")
    port: int = Field(default=9100, ge=1, le=65535)
    columns: int = Field(
        default=42, ge=24, le=64, description="characters a line: 32 on 58 mm paper, 42 or 48 on 80 mm"
    )
    backup: str | None = Field(default=None, description="the printer its jobs go to when it fails")


class Desk(Record):
    """A cashier's desk: the till device whose receipts print on its printer."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="the till's device id")
    name: str = Field(default="", max_length=80)
    printer: str


class PrinterState(StrEnum):
    """A printer's state, as its print agent read it from the printer's real-time status (DLE EOT)."""

    ONLINE = "ONLINE"  # it answers, with paper and its cover shut: it can print
    OFFLINE = "OFFLINE"  # it does not answer (switched off, unplugged, unreachable), or says it is offline
    PAPER_OUT = "PAPER_OUT"
    COVER_OPEN = "COVER_OPEN"
    UNKNOWN = "UNKNOWN"  # no print agent is connected to say (the hub's word; an agent never sends it)


class PrinterHealth(Record):
    """What the hub was last told of one printer: its state, since when, and by which print agent."""

    printer: str = Field(description="the printer's id")
    name: str = Field(default="", description="the printer's name in the setup")
    state: PrinterState = PrinterState.UNKNOWN
    detail: str = Field(default="", description="more words on the state: no answer, paper low, ...")
    agent: str = Field(default="", description="the print agent (device id) that told it")
    at: int = Field(default=0, description="when the hub was told this (ms); 0: never told")
    since: int = Field(default=0, description="when the printer entered this state (ms); 0: never told")
    version: int = 0


class KitchenSettings(Record):
    recall_window_s: int = Field(default=600, ge=0, description="how long a bumped item or order can be recalled")
    ack_timeout_s: int = Field(default=30, ge=1, description="a ticket not acknowledged by a screen by then alerts")
    print_confirm_s: int = Field(
        default=20, ge=1, le=600, description="a print job not confirmed by its agent by then is UNCONFIRMED"
    )
    print_manual_s: int = Field(
        default=120, ge=1, le=3_600, description="a job on the manual list nobody handled by then: CRITICAL alert"
    )
    stations: tuple[StationSettings, ...] = ()

    def station(self, station_id: str) -> StationSettings:
        for station in self.stations:
            if station.id == station_id:
                return station
        return StationSettings(id=station_id, name=station_id)


class Area(Record):
    """A part of the floor: "Terrace", "Bar"."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=80)


class Restaurant(Record):
    id: str
    name: str
    currency: str = "INR"
    minor_digits: int | None = Field(
        default=None, ge=0, le=4, description="the currency's minor-unit exponent (null: ISO 4217's, INR 2, JPY 0)"
    )
    timezone: str = "UTC"
    location: GeoPoint | None = Field(default=None, description="where riders leave from (dispatch's map and batches)")
    kitchen: KitchenSettings = KitchenSettings()
    billing: BillingSettings = BillingSettings()
    areas: tuple[Area, ...] = Field(default=(), description="the floor's areas, in the order the floor plan shows them")
    printers: tuple[Printer, ...] = ()
    desks: tuple[Desk, ...] = ()
    version: int = 0


class Stock(Record):
    """Live availability of one menu item: 86'd, or a count that orders reserve, release and consume.

    ``on_hand`` None means the item is not counted. Adding to an order reserves,
    removing or cancelling releases, firing consumes (on_hand and reserved both
    drop), so ``available`` is what a new order may still take.
    """

    menu_item_id: str
    name: str = ""
    out: bool = False
    on_hand: int | None = Field(default=None, ge=0)
    reserved: int = Field(default=0, ge=0)
    version: int = 0

    @property
    def available(self) -> int | None:
        return None if self.on_hand is None else max(self.on_hand - self.reserved, 0)

    @property
    def sellable(self) -> bool:
        return not self.out and (self.on_hand is None or self.on_hand > self.reserved)


class Table(Record):
    id: str
    name: str
    seats: int = Field(default=4, ge=1)
    area: str = Field(default="", description="the floor area it stands in")
    x: int = Field(default=0, ge=0, le=1000, description="position on the area's floor plan, 0-1000 from the left")
    y: int = Field(default=0, ge=0, le=1000, description="position on the area's floor plan, 0-1000 from the top")
    status: TableStatus = TableStatus.FREE
    order_id: str | None = None
    version: int = 0


class Note(Record):
    """An order note: internal (staff and kitchen only) or customer-visible (receipts, customer messages)."""

    id: str
    text: str
    internal: bool = True
    by: str = ""
    at: int = 0


class TicketKind(StrEnum):
    FIRE = "FIRE"  # new lines or added quantities to make
    VOID = "VOID"  # quantities the kitchen must stop making
    CARD = "CARD"  # the station's current view of an order (snapshots and recalls), not a new ticket


class TicketChange(StrEnum):
    NEW = "NEW"  # a line the kitchen has not seen
    ADDED = "ADDED"  # more of a line already sent: ``quantity`` is the extra
    VOID = "VOID"  # less of a line already sent: ``quantity`` is what to stop making
    SAME = "SAME"  # unchanged (cards)
    HELD = "HELD"  # a later course on hold: coming, not to start yet


class AlertKind(StrEnum):
    STATION_OFFLINE = "STATION_OFFLINE"  # fired to a station with no live screen
    TICKET_UNACKED = "TICKET_UNACKED"  # no screen showed a ticket in time
    PRINT_REROUTED = "PRINT_REROUTED"  # a printer failed a job; it went to the backup printer
    PRINT_MANUAL = "PRINT_MANUAL"  # no printer could print a job (or it is unconfirmed): on the manual list
    PRINT_UNHANDLED = "PRINT_UNHANDLED"  # on the manual list and nobody handled it in time (CRITICAL)
    DELIVERY_LATE = "DELIVERY_LATE"  # a delivery's ETA passed the time promised to the customer
    STATION_BOTTLENECK = "STATION_BOTTLENECK"  # a station's queue and pace predict late tickets in the next minutes


class AlertSeverity(StrEnum):
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"  # something may not be made at all: a person must act now


class TicketRef(Record):
    """A ticket sent to one station and whether a screen there has shown it."""

    id: str
    station: str
    kind: TicketKind
    sent_at: int
    acked_at: int | None = None
    acked_by: str | None = None
    alert: AlertKind | None = Field(default=None, description="the alert raised for it, if any")
    alert_at: int | None = Field(default=None, description="when that alert was raised (null: when it was sent)")


class LineModifier(Record):
    """A choice made on one order line, snapshotted from the menu as it was when the line was added."""

    group: str
    group_name: str
    option: str
    name: str
    price_delta: int = Field(default=0, description="already counted in the line's unit_price, minor units")


class OrderItem(Record):
    """One order line, with the menu snapshotted when it was added.

    ``sent`` is the quantity the kitchen has already been told about: firing
    sends only ``quantity - sent``, and lowering ``quantity`` below ``sent``
    sends a VOID for the difference, so nothing is ever cooked twice.
    """

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
    sent: int = Field(default=0, ge=0)
    reserved: int = Field(default=0, ge=0, description="portions of a counted item this line holds until fired")
    course: int = Field(default=1, ge=1, le=9)
    notes: str = ""
    modifiers: tuple[LineModifier, ...] = Field(
        default=(), description="the choices made, in the menu's group order; unit_price includes their deltas"
    )
    fired_at: int | None = None
    started_at: int | None = Field(default=None, description="when a cook last started it (item.start, a recall)")
    done_at: int | None = None
    skipped_by: str | None = Field(
        default=None, description="the device that marked it SKIPPED (item.skip, force ready)"
    )

    @property
    def unsent(self) -> int:
        return max(self.quantity - self.sent, 0)

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity

    @property
    def label(self) -> str:
        """The name a bill prints: "Burger (Medium, Extra cheese)"."""
        if not self.modifiers:
            return self.name
        return f"{self.name} ({', '.join(m.name for m in self.modifiers)})"


class SettleLock(Record):
    """A payment is being recorded in Postgres: the bill must not change until it is applied here."""

    key: str = Field(description="the paying command's id")
    by: str
    settles: bool = Field(description="the payment pays the bill in full")
    amount: int = Field(description="what this payment pays of the bill")
    since: int


class DeliveryStatus(StrEnum):
    """Where a delivery order is; an order with no ``delivery`` is not assigned to a rider (yet)."""

    ASSIGNED = "ASSIGNED"  # given to a rider (alone or in a batch), still at the restaurant
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"  # the rider took it
    DELIVERED = "DELIVERED"  # handed to the customer (cash on delivery: ``collected``)
    FAILED = "FAILED"  # could not be delivered (``reason``); the rider brings it back
    RETURNED = "RETURNED"  # back at the restaurant: it may be assigned again


class Delivery(Record):
    """A DELIVERY order's trip: which rider, in which batch, how far it got. Money in minor units."""

    status: DeliveryStatus
    rider: str = Field(description="the rider's device id")
    batch: str = Field(description="the batch it went out in: one per delivery.assign command")
    stop: int = Field(default=1, ge=1, description="its place in the batch, from 1")
    assigned_at: int
    assigned_by: str = Field(default="", description="the device that assigned it")
    picked_up_at: int | None = None
    delivered_at: int | None = None
    failed_at: int | None = None
    returned_at: int | None = None
    reason: str = Field(default="", description="why it failed")
    cod: int = Field(default=0, ge=0, description="cash to collect on delivery, minor units (0: prepaid)")
    collected: int = Field(default=0, ge=0, description="cash the rider collected on delivery, minor units")
    by: str = Field(default="", description="the device that made the last change")
    eta: int | None = Field(
        default=None, description="when the rider should reach the customer (ms), from its fixes; moved by a minute+"
    )
    late_at: int | None = Field(default=None, description="when the ETA first passed promised_at (DELIVERY_LATE)")


class BillLock(Record):
    """The bill was requested at ``by``: other terminals may not change the order until ``until`` (ms)."""

    by: str
    until: int


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
    location: GeoPoint | None = Field(default=None, description="a delivery address's place (batches, map, ETAs)")
    promised_at: int | None = Field(default=None, description="when the customer was promised the food (ms)")
    customer_name: str | None = None
    token: int | None = None
    notes: tuple[Note, ...] = ()
    opened_by: str = ""
    items: tuple[OrderItem, ...] = ()
    line_seq: int = 0
    rush: bool = False
    rush_stations: tuple[str, ...] = ()
    held_courses: tuple[int, ...] = ()
    tickets: tuple[TicketRef, ...] = ()
    ticket_seq: int = 0
    extra_tables: tuple[str, ...] = Field(default=(), description="tables merged into this order's party")
    discounts: tuple[Discount, ...] = ()
    paid: int = Field(default=0, description="paid so far, in minor units (part payments)")
    settling: SettleLock | None = None
    bill_lock: BillLock | None = None
    payment_keys: tuple[str, ...] = Field(default=(), description="payments applied here (their command ids)")
    invoice_id: str | None = None
    invoice_number: int | None = None
    merged_into: str | None = None
    created_at: int = 0
    fired_at: int | None = None
    ready_at: int | None = None
    predicted_ready_at: int | None = Field(
        default=None, description="the latest predicted ready time told (ORDER_PREDICTED), ms; not a change of version"
    )
    picked_up_at: int | None = Field(default=None, description="when a counter order was handed over (order.pickup)")
    picked_up_by: str | None = Field(default=None, description="the device that handed it over")
    delivery: Delivery | None = Field(default=None, description="a DELIVERY order's rider and trip (delivery.*)")
    version: int = Field(default=0, description="counts the changes clients see; send it back to detect conflicts")
    revision: int = Field(default=0, description="counts every write (also acknowledgements); the store's own check")

    def is_rush(self, station: str) -> bool:
        return self.rush or station in self.rush_stations

    def line(self, line_id: str) -> OrderItem | None:
        for item in self.items:
            if item.id == line_id:
                return item
        return None


class TicketLine(Record):
    line_id: str
    menu_item_id: str
    name: str
    station: str
    course: int
    quantity: int = Field(description="what this ticket asks: the new, added or voided quantity")
    line_quantity: int = Field(description="the line's whole quantity after this ticket (0 once removed)")
    change: TicketChange
    status: ItemStatus
    notes: str = ""
    modifiers: tuple[str, ...] = Field(default=(), description="the names of the line's chosen options, in order")
    done_at: int | None = None


class SweepKind(StrEnum):
    """What a self-healing sweep found (``hub/domain/sweeps.py``)."""

    TABLE_WITHOUT_ORDER = "TABLE_WITHOUT_ORDER"  # seated, but its order is gone or closed: released
    TABLE_DIRTY = "TABLE_DIRTY"  # dirty too long: someone should clean it (reported)
    ORDER_EMPTY = "ORDER_EMPTY"  # open for hours with nothing on it: cancelled
    ORDER_UNFIRED = "ORDER_UNFIRED"  # open for hours with lines never sent to the kitchen (reported)
    SETTLED_NOT_CLOSED = "SETTLED_NOT_CLOSED"  # the books have it paid, the live state does not: closed
    TICKET_UNSEEN = "TICKET_UNSEEN"  # tickets to make at a station with no live screen or printer (reported)


class SweepFinding(Record):
    """One thing a sweep found, what the hub did about it, or what it asks staff to do."""

    id: str = Field(description="stable while the fault stands: the same fault is reported once")
    kind: SweepKind
    subject: str = Field(description="the table, order or station it is about")
    message: str = Field(description="what is wrong and what was done, in a manager's words")
    repaired: bool = Field(description="the hub put it right itself (through an ordinary command)")
    action: str = Field(default="", description="the command that repaired it, or what staff should do")
    since: int = Field(description="when the fault was first seen (ms)")
    at: int


class PriorityReason(StrEnum):
    """What set a ticket's place in the kitchen's queue (``hub/domain/priority.py``)."""

    RUSH = "RUSH"  # rushed: on top whatever its due time
    PROMISED = "PROMISED"  # the customer was promised a time earlier than the order type's grace
    DELIVERY = "DELIVERY"  # a delivery's grace after the fire (the road is still ahead)
    TAKEAWAY = "TAKEAWAY"  # a takeaway's grace (a customer at the counter)
    DINE_IN = "DINE_IN"  # a seated table's grace


class TicketPriority(Record):
    """When a ticket should be out and why: the queue is rush first, then earliest ``due_at``."""

    due_at: int = Field(description="when the station should have it out (ms); fixed at fire, so the order holds")
    reason: PriorityReason
    grace_s: int = Field(description="the order type's grace after the fire, in seconds")


class KitchenTicket(Record):
    """What one station is told about one order: only that station's lines (station ``*`` is expo).

    A FIRE or VOID ticket has an ``id`` that a screen acknowledges once shown; a
    CARD is the station's whole current view of the order, sent in snapshots and
    on recall, and needs no acknowledgement.
    """

    id: str
    kind: TicketKind
    order_id: str
    order_number: int
    order_type: OrderType
    station: str
    table_id: str | None = None
    token: int | None = None
    rush: bool = False
    notes: tuple[Note, ...] = ()
    sent_at: int
    order_fired_at: int | None = None
    lines: tuple[TicketLine, ...]
    ready: bool = False
    paid: bool = Field(default=False, description="the order is paid (a counter order paid first, still to hand over)")
    acked: bool = False
    unacked_ticket_ids: tuple[str, ...] = Field(
        default=(), description="on a CARD: this station's tickets no screen has acknowledged"
    )
    priority: TicketPriority | None = Field(
        default=None, description="its place in the station's queue and why (null: nothing of it fired yet)"
    )


class Alert(Record):
    id: str
    kind: AlertKind
    station: str = ""
    order_id: str = ""
    order_number: int | None = None
    ticket_id: str | None = None
    job_id: str | None = Field(default=None, description="the print job it is about, for the printing alerts")
    severity: AlertSeverity = AlertSeverity.WARNING
    at: int
    message: str


class PrintJobState(StrEnum):
    PENDING = "PENDING"  # waiting for an agent to claim it
    CLAIMED = "CLAIMED"  # an agent is printing it; ``claimed_until`` ends its lease
    PRINTED = "PRINTED"  # the printer said it is fine after the job was written
    FAILED = "FAILED"  # the agent could not print it (``reason``)
    UNCONFIRMED = "UNCONFIRMED"  # claimed, never confirmed: maybe printed, maybe not; never printed again by itself


class PrintKind(StrEnum):
    KOT = "KOT"  # a kitchen ticket (fire, added, void)
    RECEIPT = "RECEIPT"  # a customer's receipt, at a cashier's desk
    Z_REPORT = "Z_REPORT"  # the day's Z-report


class ReceiptPrint(Record):
    """What a receipt prints, whole: the bill as invoiced (or as billed, not yet paid), its payments, the money's form."""

    bill: Bill
    invoice_id: str | None = None
    invoice_number: int | None = Field(default=None, description="null: a bill not paid yet (BILL - NOT PAID)")
    payments: tuple[Payment, ...] = ()
    at: int = Field(description="when the invoice was issued (or the bill made), ms")
    restaurant: str
    currency: str
    minor_digits: int | None = None
    link: str | None = Field(
        default=None, description="the customer's signed link to the archived invoice, printed as a QR code"
    )


class ZReportPrint(Record):
    """What a Z-report prints: the day's report as the Z-report API gives it, and the money's form."""

    report: ZReport
    restaurant: str
    currency: str
    minor_digits: int | None = None


class PrintJob(Record):
    """One ticket, receipt or Z-report to print on one printer. A KOT's id is its ticket's, so one fire is one job
    however often it is told; a receipt's comes from its invoice, a Z-report's from its day, printer and figures."""

    id: str
    kind: PrintKind = PrintKind.KOT
    printer: str
    station: str = Field(default="", description="the kitchen station of a KOT; empty for receipts and Z-reports")
    order_id: str = Field(default="", description="the order of a KOT or a receipt; empty for a Z-report")
    ticket: KitchenTicket | None = Field(default=None, description="what a KOT prints")
    receipt: ReceiptPrint | None = Field(default=None, description="what a RECEIPT prints")
    z_report: ZReportPrint | None = Field(default=None, description="what a Z_REPORT prints")
    reprint: bool = False
    state: PrintJobState = PrintJobState.PENDING
    claimed_by: str | None = None
    claimed_until: int | None = None
    attempts: int = 0
    reason: str = ""
    tried: tuple[str, ...] = Field(default=(), description="the printers this ticket failed on before, in order")
    fired_by: str = ""
    created_at: int = 0
    manual_since: int | None = Field(
        default=None, description="when every printer had failed it: on the manual list until somebody handles it"
    )
    handled_by: str | None = Field(default=None, description="who said it was done by hand, or reprinted it")
    handled_at: int | None = None
    handled: str = Field(default="", description="how it was handled, in a person's words")
    critical_at: int | None = Field(default=None, description="when nobody had handled it in time: CRITICAL alert")
    version: int = 1
