"""Every command, declared once: its name, payload, roles, how it runs and its HTTP route.

The role check, the dispatch, the REST routes, the payload table of the
generated JSON Schema and the AsyncAPI and OpenAPI documents are all derived
from ``REGISTRY``; ``tests/test_registry.py`` proves no other table of command
names exists. A new command is one ``Spec`` here (and its payload model in
``schema/commands.py``).

How a command runs (``Flow``):

- ``LIVE``: its handler decides on the live state, the bus commits in Redis.
- ``SETTLE``: a payment; lock in Redis, books in Postgres, then apply
  (``hub/commands/settle.py``). Durable first.
- ``BOOKS``: refunds, voids, drawer and day close; books in Postgres, then
  told live. Durable first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fireflow.hub.commands import customer_handlers as customer_on
from fireflow.hub.commands import delivery_handlers as delivery_on
from fireflow.hub.commands import group_handlers as group_on
from fireflow.hub.commands import handlers as on
from fireflow.hub.commands import print_documents as paper_on
from fireflow.hub.commands import print_handlers as print_on
from fireflow.hub.commands import printer_health_handlers as health_on
from fireflow.hub.commands import setup_handlers as setup_on
from fireflow.hub.commands.context import Handler
from fireflow.hub.domain.actors import FRONT, KITCHEN_SIDE, MANAGERS, MONEY, Role
from fireflow.hub.domain.kitchen import ItemMove
from fireflow.schema import commands as payloads
from fireflow.schema.base import StrEnum
from fireflow.schema.customers import PutCustomer
from fireflow.schema.groups import SaveGroup
from fireflow.schema.setup import PairDevice, PutStaff, RemoveStaff, RevokeDevice
from fireflow.schema.webhooks import ReplayWebhook, SubscribeWebhook, UnsubscribeWebhook

__all__ = ["PUBLIC", "REGISTRY", "Flow", "HttpRoute", "Spec", "spec"]


class Flow(StrEnum):
    LIVE = "live"
    SETTLE = "settle"
    BOOKS = "books"
    DELIVER = "deliver"  # delivered: a cash-on-delivery order's payment goes to the books first


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """A REST-shaped alias of ``POST /api/v1/commands``: path parameters fill payload fields of the same name."""

    method: str
    path: str  # under /api/v1

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    payload: type[payloads.Command]
    roles: frozenset[Role]
    handler: Handler | None = None  # LIVE commands only
    flow: Flow = Flow.LIVE
    http: HttpRoute | None = None
    internal: bool = False  # run only by the hub's own timers, never by a client
    # Its handler writes outside the commit (a pairing code, the customer book): copies of one id run
    # one at a time, so a till's resend never makes a second code or row (``bus.one_copy_at_a_time``).
    side_effects: bool = False
    # Copies on one node of this command for one order take turns (``bus.Turns``): a fire's acknowledgements come
    # together from every station's screens, and side by side all but one would conflict and decide again.
    order_turns: bool = False

    @property
    def durable_first(self) -> bool:
        return self.flow is not Flow.LIVE

    @property
    def summary(self) -> str:
        doc = (self.payload.__doc__ or "").strip()
        return doc.splitlines()[0] if doc and not doc.startswith(self.payload.__name__ + "(") else self.name


def _post(path: str) -> HttpRoute:
    return HttpRoute("POST", path)


def _put(path: str) -> HttpRoute:
    return HttpRoute("PUT", path)


def _delete(path: str) -> HttpRoute:
    return HttpRoute("DELETE", path)


_NOBODY: frozenset[Role] = frozenset()
_CASH = MONEY  # cashiers and managers
_PRINTERS = frozenset({Role.PRINTER})  # print agents
_DISPATCH = frozenset({Role.DISPATCHER}) | MANAGERS
_RIDERS = frozenset({Role.RIDER}) | _DISPATCH  # a rider on its own orders (hub/domain/delivery.py), dispatch on any

REGISTRY: tuple[Spec, ...] = (
    # Orders
    Spec("order.open", payloads.OpenOrder, FRONT, on.open_order, http=_post("/orders")),
    Spec("order.add_item", payloads.AddItem, FRONT, on.add, http=_post("/orders/{order_id}/items")),
    Spec(
        "order.change_item",
        payloads.ChangeItem,
        FRONT,
        on.change,
        http=HttpRoute("PATCH", "/orders/{order_id}/items/{line_id}"),
    ),
    Spec(
        "order.remove_item",
        payloads.RemoveItem,
        FRONT,
        on.remove,
        http=HttpRoute("DELETE", "/orders/{order_id}/items/{line_id}"),
    ),
    Spec("order.fire", payloads.FireOrder, FRONT, on.fire, http=_post("/orders/{order_id}/fire")),
    Spec("order.cancel", payloads.CancelOrder, _CASH, on.cancel, http=_post("/orders/{order_id}/cancel")),
    Spec("order.hold", payloads.HoldCourse, FRONT, on.hold, http=_post("/orders/{order_id}/hold")),
    Spec("order.rush", payloads.RushOrder, FRONT | KITCHEN_SIDE, on.rush, http=_post("/orders/{order_id}/rush")),
    Spec("order.note", payloads.AddNote, FRONT | KITCHEN_SIDE, on.note, http=_post("/orders/{order_id}/notes")),
    Spec("order.move", payloads.MoveOrder, FRONT, on.move, http=_post("/orders/{order_id}/move")),
    # Kitchen
    Spec("order.bump", payloads.BumpOrder, KITCHEN_SIDE, on.bump, http=_post("/orders/{order_id}/bump")),
    Spec("order.recall", payloads.RecallOrder, KITCHEN_SIDE, on.recall, http=_post("/orders/{order_id}/recall")),
    *(
        Spec(
            f"item.{move}",
            payloads.ItemStatusCommand,
            KITCHEN_SIDE | FRONT if move is ItemMove.SERVE else KITCHEN_SIDE,
            on.item_status(move),
            http=_post(f"/orders/{{order_id}}/items/{{line_id}}/{move}"),
        )
        for move in ItemMove
    ),
    Spec(
        "ticket.ack", payloads.AckTickets, KITCHEN_SIDE, on.ack, http=_post("/orders/{order_id}/ack"), order_turns=True
    ),
    Spec("ticket.check_ack", payloads.CheckAck, _NOBODY, on.check_ack, internal=True),
    Spec("order.predict", payloads.PredictReady, _NOBODY, on.predict, internal=True),
    Spec("kitchen.bottleneck", payloads.FlagBottleneck, _NOBODY, on.flag_bottleneck, internal=True),
    Spec("stock.out", payloads.StockCommand, KITCHEN_SIDE, on.stock_out, http=_post("/menu/{menu_item_id}/86")),
    Spec(
        "stock.available",
        payloads.StockCommand,
        KITCHEN_SIDE,
        on.stock_available,
        http=_post("/menu/{menu_item_id}/available"),
    ),
    Spec(
        "stock.set", payloads.SetStock, KITCHEN_SIDE, on.stock_set, http=HttpRoute("PUT", "/menu/{menu_item_id}/stock")
    ),
    Spec(
        "kitchen.configure",
        payloads.ConfigureKitchen,
        MANAGERS,
        on.configure,
        http=HttpRoute("PUT", "/kitchen/settings"),
    ),
    # Tables
    Spec("table.clean", payloads.CleanTable, FRONT, on.clean, http=_post("/tables/{table_id}/clean")),
    Spec("table.merge", payloads.MergeTables, FRONT, on.merge, http=_post("/tables/{from_table_id}/merge")),
    Spec("table.release", payloads.ReleaseTable, MANAGERS, on.release, http=_post("/tables/{table_id}/release")),
    Spec("outbox.retry", payloads.RetryOutbox, MANAGERS, on.retry_outbox, http=_post("/outbox/{outbox_id}/retry")),
    Spec("sweep.report", payloads.ReportSweep, _NOBODY, on.report_sweep, internal=True),
    # Quick service: paid first, cooked, handed over; staff may skip what will not be made
    Spec("order.pickup", payloads.PickupOrder, FRONT | {Role.EXPO}, on.pickup, http=_post("/orders/{order_id}/pickup")),
    Spec(
        "item.skip",
        payloads.SkipItem,
        MONEY | {Role.EXPO},
        on.skip,
        http=_post("/orders/{order_id}/items/{line_id}/skip"),
    ),
    Spec(
        "order.force_ready",
        payloads.ForceReady,
        MONEY | {Role.EXPO},
        on.force_ready,
        http=_post("/orders/{order_id}/force_ready"),
    ),
    # Delivery: batches given to riders, taken out, delivered or failed and brought back (hub/domain/delivery.py)
    Spec("delivery.assign", payloads.DispatchOrders, _DISPATCH, delivery_on.assign, http=_post("/deliveries")),
    Spec(
        "delivery.pickup",
        payloads.DeliveryCommand,
        _RIDERS,
        delivery_on.pickup,
        http=_post("/orders/{order_id}/delivery/pickup"),
    ),
    Spec(
        "delivery.deliver",
        payloads.DeliveryDeliver,
        _RIDERS,
        flow=Flow.DELIVER,
        http=_post("/orders/{order_id}/delivery/deliver"),
    ),
    Spec(
        "delivery.fail",
        payloads.DeliveryFail,
        _RIDERS,
        delivery_on.fail,
        http=_post("/orders/{order_id}/delivery/fail"),
    ),
    Spec(
        "delivery.return",
        payloads.DeliveryCommand,
        _DISPATCH | {Role.CASHIER},
        delivery_on.return_to_restaurant,
        http=_post("/orders/{order_id}/delivery/return"),
    ),
    Spec("delivery.check_eta", payloads.DeliveryCommand, _NOBODY, delivery_on.check_eta, internal=True),
    # Bills and payments
    Spec("bill.preview", payloads.PreviewBill, FRONT, on.preview),
    Spec("bill.request", payloads.RequestBill, FRONT, on.request_bill),
    Spec("bill.release", payloads.RequestBill, FRONT, on.release_bill),
    Spec("bill.expire", payloads.ExpireBillLock, _NOBODY, on.expire_bill, internal=True),
    Spec("order.discount", payloads.DiscountOrder, _CASH, on.discount),
    Spec("order.remove_discount", payloads.RemoveDiscount, _CASH, on.remove_discount),
    Spec("order.pay", payloads.PayOrder, _CASH, flow=Flow.SETTLE),
    Spec("invoice.refund", payloads.RefundInvoice, _CASH, flow=Flow.BOOKS),
    Spec("invoice.void", payloads.VoidInvoice, _CASH, flow=Flow.BOOKS),
    Spec("drawer.float", payloads.DrawerFloat, _CASH, flow=Flow.BOOKS),
    Spec("drawer.payout", payloads.DrawerPayout, _CASH, flow=Flow.BOOKS),
    # Riders' cash (hub/domain/billing.py): change for the shift, cash handed in at the counter
    Spec("rider.float", payloads.RiderCashMove, _CASH, flow=Flow.BOOKS, http=_post("/riders/{rider}/float")),
    Spec("rider.handover", payloads.RiderCashMove, _CASH, flow=Flow.BOOKS, http=_post("/riders/{rider}/handover")),
    Spec("day.close", payloads.CloseDay, MANAGERS, flow=Flow.BOOKS),
    Spec("manager.set_pin", payloads.SetPin, MANAGERS, on.set_pin),
    # Setup: the restaurant changed one part at a time, told live (hub/domain/setup.py)
    Spec("setup.menu_item.put", payloads.PutMenuItem, MANAGERS, setup_on.put_item, http=_put("/setup/menu/items")),
    Spec(
        "setup.menu_item.remove",
        payloads.RemoveMenuItem,
        MANAGERS,
        setup_on.remove_item,
        http=_delete("/setup/menu/items/{menu_item_id}"),
    ),
    Spec(
        "setup.category.put", payloads.PutCategory, MANAGERS, setup_on.put_category, http=_put("/setup/menu/categories")
    ),
    Spec(
        "setup.category.remove",
        payloads.RemoveCategory,
        MANAGERS,
        setup_on.remove_category,
        http=_delete("/setup/menu/categories/{category_id}"),
    ),
    Spec("setup.station.put", payloads.PutStation, MANAGERS, setup_on.put_station, http=_put("/setup/stations")),
    Spec(
        "setup.station.remove",
        payloads.RemoveStation,
        MANAGERS,
        setup_on.remove_station,
        http=_delete("/setup/stations/{station_id}"),
    ),
    Spec("setup.area.put", payloads.PutArea, MANAGERS, setup_on.put_area, http=_put("/setup/areas")),
    Spec(
        "setup.area.remove", payloads.RemoveArea, MANAGERS, setup_on.remove_area, http=_delete("/setup/areas/{area_id}")
    ),
    Spec("setup.table.put", payloads.PutTable, MANAGERS, setup_on.put_table, http=_put("/setup/tables/{table_id}")),
    Spec(
        "setup.table.remove",
        payloads.RemoveTable,
        MANAGERS,
        setup_on.remove_table,
        http=_delete("/setup/tables/{table_id}"),
    ),
    Spec("setup.profile", payloads.UpdateProfile, MANAGERS, setup_on.update_profile, http=_put("/setup/profile")),
    Spec("setup.billing", payloads.UpdateBilling, MANAGERS, setup_on.update_billing, http=_put("/setup/billing")),
    Spec("setup.printer.put", payloads.PutPrinter, MANAGERS, setup_on.put_printer, http=_put("/setup/printers")),
    Spec(
        "setup.printer.remove",
        payloads.RemovePrinter,
        MANAGERS,
        setup_on.remove_printer,
        http=_delete("/setup/printers/{printer_id}"),
    ),
    Spec("setup.desk.put", payloads.PutDesk, MANAGERS, setup_on.put_desk, http=_put("/setup/desks")),
    Spec(
        "setup.desk.remove", payloads.RemoveDesk, MANAGERS, setup_on.remove_desk, http=_delete("/setup/desks/{desk_id}")
    ),
    Spec("setup.staff.put", PutStaff, MANAGERS, setup_on.put_staff, http=_put("/setup/staff/{staff_id}")),
    Spec("setup.staff.remove", RemoveStaff, MANAGERS, setup_on.remove_staff, http=_delete("/setup/staff/{staff_id}")),
    # Devices: pairing codes instead of pasted tokens, and revocation (hub/live/devices.py)
    Spec("device.pair", PairDevice, MANAGERS, setup_on.pair_device, http=_post("/devices"), side_effects=True),
    Spec(
        "device.revoke",
        RevokeDevice,
        MANAGERS,
        setup_on.revoke_device,
        http=_delete("/devices/{device_id}"),
        side_effects=True,
    ),
    # The customer book (Postgres): looked up by phone when a takeaway or delivery order is opened
    Spec("customer.put", PutCustomer, FRONT, customer_on.put_customer, http=_put("/customers"), side_effects=True),
    # Printing: jobs made by fires at printing stations, printed by agents at the restaurant (hub/domain/printing.py)
    Spec("print.claim", payloads.PrintJobCommand, _PRINTERS, print_on.claim),
    Spec("print.done", payloads.PrintJobCommand, _PRINTERS, print_on.done),
    Spec("print.failed", payloads.PrintJobFailed, _PRINTERS, print_on.failed),
    Spec(
        "print.reprint",
        payloads.PrintJobCommand,
        KITCHEN_SIDE | _CASH,  # by what the job prints: tickets the kitchen's, receipts the till's (print_documents)
        print_on.reprint,
        http=_post("/print-jobs/{job_id}/reprint"),
    ),
    Spec(
        "print.handled",
        payloads.PrintJobHandled,
        KITCHEN_SIDE | _CASH,  # by what the job prints, as print.reprint
        print_on.handled,
        http=_post("/print-jobs/{job_id}/handled"),
    ),
    Spec("print.check", payloads.PrintJobCommand, _NOBODY, print_on.check, internal=True),
    # Receipts and the Z-report on paper: jobs like a ticket's, made from the books (hub/domain/print_documents.py)
    Spec("print.receipt", payloads.PrintReceipt, _CASH, paper_on.receipt, http=_post("/orders/{order_id}/receipt")),
    Spec("print.z_report", payloads.PrintZReport, MANAGERS, paper_on.z_report, http=_post("/reports/z/print")),
    # Printer health: what the agents read from the printers, told to expo and the manager (hub/domain/printer_health.py)
    Spec("print.status", payloads.ReportPrinterStatus, _PRINTERS, health_on.report),
    Spec("print.agent_gone", payloads.PrintAgentGone, _NOBODY, health_on.agent_gone, internal=True),
    # Saved group bills (Postgres): orders invoiced together under a title, with the customer's references
    Spec("group.save", SaveGroup, _CASH, group_on.save_group, http=_put("/groups"), side_effects=True),
    # Webhooks (Postgres): integrators' URLs given the restaurant's events, signed (hub/workers/webhooks.py)
    Spec(
        "webhook.subscribe",
        SubscribeWebhook,
        MANAGERS,
        on.subscribe_webhook,
        http=_post("/webhooks"),
        side_effects=True,
    ),
    Spec(
        "webhook.unsubscribe",
        UnsubscribeWebhook,
        MANAGERS,
        on.unsubscribe_webhook,
        http=_delete("/webhooks/{webhook_id}"),
        side_effects=True,
    ),
    Spec(
        "webhook.replay",
        ReplayWebhook,
        MANAGERS,
        on.replay_webhook,
        http=_post("/webhooks/{webhook_id}/replay"),
        side_effects=True,
    ),
)

_BY_NAME: dict[str, Spec] = {s.name: s for s in REGISTRY}

# What clients may send: the public protocol's command types and their payloads.
PUBLIC: Mapping[str, type[payloads.Command]] = {s.name: s.payload for s in REGISTRY if not s.internal}


def spec(name: str) -> Spec | None:
    return _BY_NAME.get(name)
