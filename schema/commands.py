"""Commands: what clients ask the hub to do, one payload model per type.

A command travels as ``{"op": "cmd", "id": ..., "type": ..., "data": {...}}``
over WebSocket, or as the body of ``POST /api/v1/commands`` over HTTP; both
transports validate ``data`` with the payload model that the hub's command
registry (``hub/commands/registry.py``) declares for ``type``, with who may
run it and how.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from fireflow.schema.base import GeoPoint, StrEnum
from fireflow.schema.billing import BP, BillingSettings, DiscountKind, Tender, TenderMethod
from fireflow.schema.records import (
    Area,
    Category,
    Desk,
    MenuItem,
    OrderType,
    Printer,
    PrinterState,
    StationSettings,
    SweepFinding,
)

__all__ = [
    "AckTickets",
    "AddItem",
    "AddNote",
    "BumpOrder",
    "CancelOrder",
    "ChangeItem",
    "CheckAck",
    "CleanTable",
    "CloseDay",
    "Command",
    "ConfigureKitchen",
    "DeliveryCommand",
    "DeliveryDeliver",
    "DeliveryFail",
    "DiscountOrder",
    "DispatchOrders",
    "DrawerFloat",
    "DrawerPayout",
    "ExpireBillLock",
    "FireOrder",
    "ForceReady",
    "Handled",
    "HoldCourse",
    "ItemStatusCommand",
    "MergeTables",
    "MoveOrder",
    "OpenOrder",
    "PayOrder",
    "PickupOrder",
    "PreviewBill",
    "PrintAgentGone",
    "PrintJobCommand",
    "PrintJobFailed",
    "PrintJobHandled",
    "PrintReceipt",
    "PrintZReport",
    "PutArea",
    "PutCategory",
    "PutDesk",
    "PutMenuItem",
    "PutPrinter",
    "PutStation",
    "PutTable",
    "RecallOrder",
    "RefundInvoice",
    "ReleaseTable",
    "RemoveArea",
    "RemoveCategory",
    "RemoveDesk",
    "RemoveDiscount",
    "RemoveItem",
    "RemoveMenuItem",
    "RemovePrinter",
    "RemoveStation",
    "RemoveTable",
    "ReportPrinterStatus",
    "ReportSweep",
    "RequestBill",
    "RiderCashMove",
    "RushOrder",
    "SetPin",
    "SetStock",
    "SetupCommand",
    "SkipItem",
    "StockCommand",
    "UpdateBilling",
    "UpdateProfile",
    "VoidInvoice",
]

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ShortText = Annotated[str, StringConstraints(max_length=500)]
Course = Annotated[int, Field(ge=1, le=9)]


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
    location: GeoPoint | None = Field(default=None, description="the delivery address's place, when known")
    promised_at: int | None = Field(default=None, ge=0, description="when the customer was promised the food (ms)")
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
    """Add a line; ``modifiers`` maps each of the item's modifier groups chosen to the option ids chosen."""

    order_id: Id
    menu_item_id: Id
    quantity: int = Field(default=1, ge=1, le=999)
    notes: ShortText = ""
    course: Course = 1
    modifiers: Annotated[dict[Id, Annotated[list[Id], Field(max_length=20)]], Field(max_length=20)] = Field(
        default_factory=dict, description='group id -> option ids, e.g. {"doneness": ["medium"]}'
    )


class ChangeItem(Versioned):
    """Change a line's quantity or notes; below what the kitchen has, the difference is voided there."""

    order_id: Id
    line_id: Id
    quantity: int = Field(ge=1, le=999)
    notes: ShortText | None = None


class RemoveItem(Versioned):
    """Remove a line; if the kitchen has it, its station gets a VOID ticket."""

    order_id: Id
    line_id: Id


class FireOrder(Versioned):
    """Send what the kitchen has not seen yet; held courses wait unless ``course`` names one."""

    order_id: Id
    course: Course | None = Field(default=None, description="fire this course only (and release its hold)")
    rush: bool = False


class HoldCourse(Versioned):
    order_id: Id
    course: Course


class RushOrder(Command):
    order_id: Id
    station: Id | None = Field(default=None, description="rush only this station's ticket")
    rush: bool = True


class ItemStatusCommand(Command):
    """item.start, item.done, item.serve and item.recall (DONE back to PREPARING)."""

    order_id: Id
    line_id: Id


class SkipItem(Command):
    """Mark one line SKIPPED (not to be made); the device is recorded on the line."""

    order_id: Id
    line_id: Id


class ForceReady(Command):
    """Make an order READY now: every sent line still PENDING or PREPARING is SKIPPED."""

    order_id: Id


class PickupOrder(Command):
    """A READY, paid counter order (takeaway, delivery) was handed over: it closes and leaves the board."""

    order_id: Id


class BumpOrder(Command):
    """Mark every fired line still being made as DONE (expo), or only one station's (a KDS)."""

    order_id: Id
    station: Id | None = None


class RecallOrder(Command):
    """Bring a READY order back to ACTIVE: its lines bumped within the recall window go back to PREPARING."""

    order_id: Id
    station: Id | None = None


class AddNote(Command):
    order_id: Id
    text: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    internal: bool = Field(default=True, description="internal notes are for staff; others may reach the customer")


class AckTickets(Command):
    """A screen has shown these tickets."""

    order_id: Id
    ticket_ids: Annotated[list[Id], Field(min_length=1, max_length=50)]


class ReadyPrediction(BaseModel):
    """When one order is expected ready (ms), and each of its stations done with its lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: Id
    ready_at: int = Field(ge=0)
    stations: dict[Id, Annotated[int, Field(ge=0)]] = Field(default_factory=dict, max_length=64)


class PredictReady(Command):
    """Raised by the hub itself (the predictor) when orders' predicted ready times moved; clients cannot send it."""

    predictions: Annotated[list[ReadyPrediction], Field(min_length=1, max_length=500)]


class FlagBottleneck(Command):
    """Raised by the hub itself (the predictor) when a station's queue and pace predict late tickets soon."""

    station: Id
    message: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    order_ids: Annotated[list[Id], Field(min_length=1, max_length=50)] = Field(
        description="the orders predicted late there, soonest late first"
    )


class CheckAck(Command):
    """Raised by the hub itself when a ticket's acknowledgement is due; clients cannot send it."""

    order_id: Id
    ticket_id: Id


class MoveOrder(Versioned):
    order_id: Id
    table_id: Id


class MergeTables(Command):
    """Move the order on ``from_table_id`` into the order on ``into_table_id``; both tables seat the party."""

    from_table_id: Id
    into_table_id: Id


class CancelOrder(Versioned):
    order_id: Id
    reason: ShortText = ""


class CleanTable(Command):
    table_id: Id


class RetryOutbox(Command):
    """Send a FAILED outbox item (a sale, refund or void for ERPNext) again, after what it failed on was put right."""

    outbox_id: int = Field(ge=1, description="the item's id, as GET /api/v1/outbox lists it")


class ReleaseTable(Command):
    """A seated table whose order is gone, closed or cancelled becomes DIRTY (a manager, or the sweeps)."""

    table_id: Id
    version: int | None = Field(default=None, ge=0, description="the table's version as seen; refused if it moved")


class ReportSweep(Command):
    """Raised by the hub itself (the sweeps) for the faults found; clients cannot send it."""

    findings: Annotated[list[SweepFinding], Field(min_length=1, max_length=200)]


class ConfigureKitchen(Command):
    """Change the kitchen's timers; a station listed replaces that station's colours, others keep theirs."""

    recall_window_s: int | None = Field(default=None, ge=0, le=86_400)
    ack_timeout_s: int | None = Field(default=None, ge=1, le=3_600)
    print_confirm_s: int | None = Field(default=None, ge=1, le=600)
    print_manual_s: int | None = Field(default=None, ge=1, le=3_600)
    stations: Annotated[list[StationSettings], Field(max_length=64)] | None = None


# -- setup: a restaurant changed one part at a time (hub/domain/setup.py) ---------------------------


class SetupCommand(Command):
    """A setup change; ``version`` (the part's version the screen last saw) refuses a stale edit."""

    version: int | None = Field(
        default=None, description="the menu's (or restaurant's) version the client last saw; stale: VERSION_CONFLICT"
    )


class PutMenuItem(SetupCommand):
    """Add a menu item or replace it whole (lines already ordered keep what they were sold at)."""

    item: MenuItem


class RemoveMenuItem(SetupCommand):
    menu_item_id: Id


class PutCategory(SetupCommand):
    """Add or rename a menu category; ``position`` moves it (0 is first; default: where it is, or last)."""

    category: Category
    position: int | None = Field(default=None, ge=0, le=500)


class RemoveCategory(SetupCommand):
    category_id: Id


class PutStation(SetupCommand):
    """Add a kitchen station or change its name, colour and ticket ages."""

    station: StationSettings


class RemoveStation(SetupCommand):
    station_id: Id


class PutArea(SetupCommand):
    area: Area


class RemoveArea(SetupCommand):
    area_id: Id


class PutTable(Command):
    """Add a table or change its name, seats and place; its live state (occupied, order) is kept."""

    table_id: Id
    name: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    seats: int = Field(default=4, ge=1, le=99)
    area: str = Field(default="", max_length=64)
    x: int = Field(default=0, ge=0, le=1000)
    y: int = Field(default=0, ge=0, le=1000)
    version: int | None = Field(default=None, description="the table's version the client last saw")


class RemoveTable(Command):
    table_id: Id


class UpdateProfile(SetupCommand):
    """The restaurant's name, time zone and place (its currency is fixed once it has taken money)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    location: GeoPoint | None = Field(default=None, description="where riders leave from (the dispatch map, batches)")


class PutPrinter(SetupCommand):
    """Add a printer or change it whole; ``version`` is the restaurant's."""

    printer: Printer


class RemovePrinter(SetupCommand):
    """Remove a printer no station, desk or other printer's backup names."""

    printer_id: Id


class PutDesk(SetupCommand):
    """A till's receipts print on this printer."""

    desk: Desk


class RemoveDesk(SetupCommand):
    desk_id: Id


class PrintJobCommand(Command):
    """print.claim (take a job to print it), print.done (the printer said it is fine)."""

    job_id: Annotated[str, StringConstraints(min_length=1, max_length=160)]


class PrintJobFailed(PrintJobCommand):
    """print.failed: the agent could not print it; ``reason`` as the printer said it (offline, paper out...)."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    sent: bool = Field(
        default=False, description="some of the job's bytes reached the printer: it may still print them (UNCONFIRMED)"
    )


class Handled(StrEnum):
    BY_HAND = "BY_HAND"  # made from the station's screen or a handwritten ticket
    FOUND_PRINTED = "FOUND_PRINTED"  # somebody looked: the printer did print it


class PrintJobHandled(PrintJobCommand):
    """print.handled: a job on the manual list is taken care of by a person (its alerts stop)."""

    how: Handled = Handled.BY_HAND


class PrintReceipt(Command):
    """print.receipt: the customer's receipt of a settled (or billed) order, on this till's desk printer."""

    order_id: Id
    printer: Id | None = Field(
        default=None, description="a printer of the setup; default: the desk printer of this till"
    )


class PrintZReport(Command):
    """print.z_report: the day's Z-report (the figures of GET /api/v1/reports/z) on a printer."""

    day: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = Field(
        default=None, description="YYYY-MM-DD; default: today in the restaurant's timezone"
    )
    printer: Id

    @field_validator("day")
    @classmethod
    def _a_real_day(cls, day: str | None) -> str | None:
        if day is not None:
            date.fromisoformat(day)  # 2026-13-45 is no day: ValueError, told as INVALID_COMMAND
        return day


class ReportPrinterStatus(Command):
    """print.status: a print agent says what a printer's real-time status answered (sent when it changed)."""

    printer_id: Id
    state: PrinterState
    detail: Annotated[str, StringConstraints(max_length=200)] = ""

    @field_validator("state")
    @classmethod
    def _read_from_the_printer(cls, state: PrinterState) -> PrinterState:
        if state is PrinterState.UNKNOWN:
            raise ValueError("UNKNOWN is the hub's own word; say what the printer answered")
        return state


class UpdateBilling(SetupCommand):
    """Tax mode, tax codes and rates, service charge: applies to bills from now on."""

    billing: BillingSettings


class StockCommand(Command):
    """stock.out (86 an item) and stock.available (bring it back)."""

    menu_item_id: Id


class SetStock(Command):
    menu_item_id: Id
    quantity: int | None = Field(ge=0, le=100_000, description="portions left; null stops counting")


OrderIds = Annotated[list[Id], Field(min_length=1, max_length=20)]


class PreviewBill(Command):
    """The exact bill of one order, or of several as one invoice (a party over several tables)."""

    order_ids: OrderIds


class PayOrder(Command):
    """Pay with one or several tenders; paying what is due settles (invoice, CLOSED / PAID, table DIRTY).

    Paying less leaves a single order PARTIALLY_PAID; a group of orders is paid in full at once.
    A settled counter order (takeaway, delivery) stays open, PAID, until ``order.pickup``.
    Dine-in items not finished are refused with guidance unless ``force`` (cashiers and managers).
    """

    order_ids: OrderIds
    tenders: Annotated[list[Tender], Field(min_length=1, max_length=10)]
    force: bool = False
    customer_name: Annotated[str, StringConstraints(max_length=120)] | None = None
    group_id: str | None = Field(
        default=None, max_length=96, description="a saved group bill these orders pay: the invoice carries its title"
    )


Pin = Annotated[str, StringConstraints(min_length=4, max_length=12, pattern=r"^[0-9]+$")]


class DiscountOrder(Command):
    """A discount on a line or the whole order; over the restaurant's limit (10%) it needs a manager's PIN."""

    order_id: Id
    kind: DiscountKind
    value: int = Field(gt=0, description="minor units (AMOUNT) or basis points (PERCENT, 100 = 1%)")
    line_id: Id | None = None
    reason: ShortText = ""
    pin: Pin | None = Field(default=None, description="a manager's PIN, when the discount needs approval")

    @model_validator(mode="after")
    def _percent_at_most_all(self) -> DiscountOrder:
        # checked here, not only on the record it makes: a command that fails its model is INVALID_COMMAND
        if self.kind is DiscountKind.PERCENT and self.value > BP:
            raise ValueError(f"a percent discount is at most {BP} basis points (100 %)")
        return self


class RemoveDiscount(Command):
    order_id: Id
    discount_id: Id


class RequestBill(Command):
    """Lock the order against edits from other terminals while the bill is with the guest (expires by itself)."""

    order_id: Id


class SetPin(Command):
    """A manager sets their own approval PIN (stored as an argon2 hash)."""

    pin: Pin


Money = Annotated[int, Field(gt=0, le=100_000_000, description="minor units")]


class RefundInvoice(Command):
    """Give back part or all of a settled invoice through one method; needs a manager's PIN."""

    invoice_id: Id
    amount: Money
    method: TenderMethod
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    pin: Pin | None = None


class VoidInvoice(Command):
    """Reverse a whole settled invoice (no refunds on it yet); needs a manager's PIN."""

    invoice_id: Id
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    pin: Pin | None = None


class DrawerFloat(Command):
    amount: Money


class DrawerPayout(Command):
    amount: Money
    category: Annotated[str, StringConstraints(min_length=1, max_length=48)]
    note: ShortText = ""


class CloseDay(Command):
    """Count the drawer and close the business day: the Z-report with counted against expected cash."""

    counted_cash: int = Field(ge=0, le=1_000_000_000)
    day: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None

    @field_validator("day")
    @classmethod
    def _a_real_day(cls, day: str | None) -> str | None:
        if day is not None:
            date.fromisoformat(day)  # 2026-13-45 is no day: ValueError, told as INVALID_COMMAND
        return day


class DispatchOrders(Command):
    """Give open DELIVERY orders to a rider as one batch, in the order listed (an ASSIGNED one moves to this rider)."""

    order_ids: Annotated[list[Id], Field(min_length=1, max_length=10)]
    rider: Id = Field(description="the rider's device id")


class DeliveryCommand(Command):
    """The rider took the order (delivery.pickup), or the food is back at the restaurant (delivery.return)."""

    order_id: Id


class DeliveryDeliver(Command):
    """The customer has the order; on a cash-on-delivery order, ``collected`` is exactly what was due."""

    order_id: Id
    collected: int = Field(default=0, ge=0, le=100_000_000, description="cash taken from the customer, minor units")


class RiderCashMove(Command):
    """Cash between the drawer and a rider: change for the shift (rider.float), or cash handed in (rider.handover).

    A handover may be part of what the rider holds; the rest stays with the rider, carried to later days.
    """

    rider: Id = Field(description="the rider's device id")
    amount: Money


class DeliveryFail(Command):
    """The order could not be delivered; the rider brings it back."""

    order_id: Id
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]


# The hub's own commands (timers); not part of the public protocol.
class ExpireBillLock(Command):
    """The hub's own: a bill lock ran out."""

    order_id: Id


class PrintAgentGone(Command):
    """The hub's own: a print agent's last socket closed; the printers it reported on are UNKNOWN."""

    agent: Id
