"""The order state machine: ``decide`` functions from state and command to a Decision.

Each function takes the aggregates it needs, the command, the actor and ``now``
and returns the new aggregates (version bumped), the events with the channels
they go to, and the command's result. It raises DomainError to refuse.

What the kitchen has been told is tracked per line (``sent``): firing sends
only what it has not seen, lowering a sent quantity sends a VOID, and firing
again with nothing new is refused, so no ticket is ever sent twice.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fireflow.hub.domain import printing
from fireflow.hub.domain.actors import Actor
from fireflow.hub.domain.decision import Decision, Due, DueKind, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.modifiers import chosen
from fireflow.hub.domain.stock import StockBook
from fireflow.hub.domain.tickets import (
    EXPO,
    FINISHED,
    card_events,
    held_lines,
    kitchen_stations,
    make_ticket,
    ticket_line,
)
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.base import trusted
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import (
    Alert,
    AlertKind,
    Counters,
    DeliveryStatus,
    ItemStatus,
    KitchenTicket,
    Menu,
    Note,
    Order,
    OrderItem,
    OrderStatus,
    OrderType,
    PaymentStatus,
    PrintJob,
    Table,
    TableStatus,
    TicketChange,
    TicketKind,
    TicketLine,
    TicketRef,
)

__all__ = [
    "ALERT_CHANNELS",
    "FINISHED",
    "FOOD_GONE",
    "OPEN",
    "WITH_RIDER",
    "KitchenContext",
    "add_item",
    "add_note",
    "bump",
    "business_day",
    "cancel_order",
    "change_item",
    "check_tenant",
    "check_version",
    "fire_order",
    "hold_course",
    "open_order",
    "order_channels",
    "ready_event",
    "recalled_events",
    "remove_item",
    "require_editable",
    "require_open",
    "rush_order",
    "status_after",
    "table_event",
    "touch",
    "updated",
    "with_status",
]

OPEN = frozenset({OrderStatus.ACTIVE, OrderStatus.READY})
# A delivery the rider still holds: its rider's channel follows the order.
WITH_RIDER = frozenset({DeliveryStatus.ASSIGNED, DeliveryStatus.OUT_FOR_DELIVERY, DeliveryStatus.FAILED})
# The food left the restaurant: the bill is final until it is back (RETURNED).
FOOD_GONE = frozenset({DeliveryStatus.OUT_FOR_DELIVERY, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED})
ALERT_CHANNELS = ("expo", "manager")


class KitchenContext:
    """What the kitchen side of a decision needs to know besides the order: who is watching, and the timers."""

    __slots__ = ("ack_timeout_ms", "by", "live_stations", "print_ms", "printers")

    def __init__(
        self,
        live_stations: Iterable[str] | None = None,
        ack_timeout_ms: int = 30_000,
        printers: Mapping[str, str] | None = None,
        by: str = "",
        print_ms: int = printing.LEASE_MS,
    ) -> None:
        self.live_stations = None if live_stations is None else frozenset(live_stations)
        self.ack_timeout_ms = ack_timeout_ms
        self.printers = dict(printers or {})  # station -> its printer, for stations that print (PRINT, BOTH)
        self.by = by  # the device whose command it is: printed on the ticket as who fired it
        self.print_ms = print_ms  # a print job nobody claims by then goes to the backup printer


def business_day(now: int, timezone: str) -> str:
    """The restaurant's calendar day at ``now``: numbering restarts when it changes."""
    return _day_of_minute(now // 60_000, timezone)


@functools.lru_cache(maxsize=4096)
def _day_of_minute(minute: int, timezone: str) -> str:
    """Days change on a minute in every time zone in use (offsets are whole quarter hours): found once a minute
    per zone, not on every fire (a zone's lookup and a date's making were 1 % of the hub's CPU)."""
    zone = ZoneInfo(timezone) if timezone != "UTC" else UTC
    return datetime.fromtimestamp(minute * 60, zone).date().isoformat()


def check_tenant(actor: Actor, entity_id: str) -> None:
    """Order ids start with their restaurant's id, so another tenant's id is recognised, not just missing."""
    owner, dot, _ = entity_id.partition(".")
    if dot and owner != actor.restaurant_id:
        raise DomainError(ErrorCode.WRONG_TENANT, "that id belongs to another restaurant")


def order_channels(order: Order) -> tuple[str, ...]:
    """The order's own channels; a DELIVERY order's also reach ``dispatch``, and its rider's while the rider has it."""
    channels: tuple[str, ...] = ("orders", f"order:{order.id}")
    if order.opened_by:
        channels = (*channels, f"waiter:{order.opened_by}")
    if order.type is OrderType.DELIVERY:
        channels = (*channels, "dispatch")
        if order.delivery is not None and order.delivery.status in WITH_RIDER:
            channels = (*channels, f"rider:{order.delivery.rider}")
    return channels


def require_open(order: Order) -> None:
    if order.status not in OPEN:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is {order.status}")


def check_version(order: Order, expected: int | None) -> None:
    if expected is not None and expected != order.version:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT,
            f"order changed: version {order.version}, you had {expected}",
            {"current": order.model_dump(mode="json")},
        )


def bump(order: Order, **changes: Any) -> Order:
    """A change clients see: the version they send back moves on."""
    return order.model_copy(update={**changes, "version": order.version + 1, "revision": order.revision + 1})


def touch(order: Order, **changes: Any) -> Order:
    """A change only the kitchen's bookkeeping sees (acknowledgements, alerts): clients' versions stay valid."""
    return order.model_copy(update={**changes, "revision": order.revision + 1})


def updated(order: Order, *events: Event, result_extra: dict[str, Any] | None = None, **fields: Any) -> Decision:
    """ORDER_UPDATED to the order's channels first, then the other events."""
    first = Event("ORDER_UPDATED", order_channels(order), e.OrderChanged(order=order))
    return Decision(
        result={"order": order, **(result_extra or {})},
        orders=(order, *fields.pop("more_orders", ())),
        events=(first, *events),
        **fields,
    )


def table_event(table: Table) -> Event:
    return Event("TABLE_STATUS_CHANGED", ("tables",), e.TableStatusChanged(table=table))


def _next_counters(counters: Counters, day: str) -> Counters:
    if counters.day == day:
        return counters
    return Counters(day=day, version=counters.version)


def open_order(
    cmd: c.OpenOrder,
    actor: Actor,
    now: int,
    *,
    order_id: str,
    counters: Counters,
    day: str,
    table: Table | None,
) -> Decision:
    counters = _next_counters(counters, day)
    counters = counters.model_copy(update={"order_number": counters.order_number + 1, "version": counters.version + 1})
    tables: tuple[Table, ...] = ()
    events: list[Event] = []
    if cmd.type is OrderType.DINE_IN:
        if table is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no table {cmd.table_id!r}")
        if table.status is not TableStatus.FREE:
            raise DomainError(
                ErrorCode.TABLE_UNAVAILABLE,
                f"table {table.name} is {table.status}",
                {"table": table.model_dump(mode="json")},
            )
        occupied = table.model_copy(
            update={"status": TableStatus.OCCUPIED, "order_id": order_id, "version": table.version + 1}
        )
        tables = (occupied,)
        events.append(table_event(occupied))
    notes = (Note(id="N1", text=cmd.notes, internal=True, by=actor.device_id, at=now),) if cmd.notes else ()
    order = Order(
        id=order_id,
        number=counters.order_number,
        type=cmd.type,
        table_id=cmd.table_id if cmd.type is OrderType.DINE_IN else None,
        guests=cmd.guests,
        phone=cmd.phone,
        address=cmd.address,
        location=cmd.location,
        promised_at=cmd.promised_at,
        customer_name=cmd.customer_name,
        notes=notes,
        opened_by=actor.device_id,
        created_at=now,
        version=1,
        revision=1,
    )
    events.insert(0, Event("ORDER_OPENED", order_channels(order), e.OrderChanged(order=order)))
    return Decision(
        result={"order": order},
        orders=(order,),
        tables=tables,
        counters=counters,
        events=tuple(events),
    )


def status_after(status: OrderStatus, items: Iterable[OrderItem]) -> OrderStatus:
    """An open order is READY exactly when it has items, all sent to the kitchen and all finished."""
    items = tuple(items)
    if status not in OPEN:
        return status
    if items and all(i.unsent == 0 and i.status in FINISHED for i in items):
        return OrderStatus.READY
    return OrderStatus.ACTIVE


def front_channels(order: Order, *also: str) -> tuple[str, ...]:
    """The order's own channels, ``also``, and for a takeaway the public board (which shows its token)."""
    channels = (*order_channels(order), *also)
    return (*channels, "board") if order.type is OrderType.TAKEAWAY else channels


def ready_event(order: Order) -> Event:
    channels = front_channels(order, "expo", "cashier")
    data = e.OrderReady(
        order_id=order.id,
        order_number=order.number,
        order_type=order.type,
        table_id=order.table_id,
        token=order.token,
        ready_at=order.ready_at or 0,
    )
    return Event("ORDER_READY", channels, data)


def recalled_events(order: Order) -> list[Event]:
    """A READY order is ACTIVE again (recalled, or more was added): everyone who saw it ready is told.

    The public board only learns that the token is being prepared again, never the order.
    """
    events = [Event("ORDER_RECALLED", (*order_channels(order), "expo", "cashier"), e.OrderChanged(order=order))]
    if order.token is not None:
        events.append(Event("TOKEN_PREPARING", ("board",), e.TokenPreparing(order_id=order.id, token=order.token)))
    return events


def with_status(order: Order, items: tuple[OrderItem, ...], now: int, **changes: Any) -> tuple[Order, list[Event]]:
    """The order with new lines, READY or ACTIVE as they say, and ORDER_READY or ORDER_RECALLED as that changes."""
    status = status_after(order.status, items)
    became_ready = status is OrderStatus.READY and order.status is not OrderStatus.READY
    ready_at = now if became_ready else (order.ready_at if status is OrderStatus.READY else None)
    if became_ready:
        changes["predicted_ready_at"] = None  # done: a recall is predicted afresh, not from before
    new = bump(order, items=items, status=status, ready_at=ready_at, **changes)
    if became_ready:
        return new, [ready_event(new)]
    if order.status is OrderStatus.READY and status is OrderStatus.ACTIVE:
        return new, recalled_events(new)
    return new, []


def _issue(
    order: Order,
    kind: TicketKind,
    by_station: Mapping[str, list[TicketLine]],
    expo_lines: list[TicketLine],
    now: int,
    kitchen: KitchenContext,
) -> tuple[Order, list[Event], list[Due], tuple[PrintJob, ...]]:
    """Number one ticket per station, start its acknowledgement timer, alert if nobody is watching, print jobs."""
    refs = list(order.tickets)
    ids: dict[str, str] = {}
    offline: set[str] = set()
    due: list[Due] = []
    seq = order.ticket_seq
    for station in sorted(by_station):
        seq += 1
        ticket_id = f"{order.id}:t{seq}"
        ids[station] = ticket_id
        watched = kitchen.live_stations is None or station in kitchen.live_stations or station in kitchen.printers
        if not watched:  # no screen live there, and no printer either
            offline.add(station)
        raised = AlertKind.STATION_OFFLINE if station in offline else None
        refs.append(trusted(TicketRef)(id=ticket_id, station=station, kind=kind, sent_at=now, alert=raised))
        due.append(Due(DueKind.ACK, ticket_id, now + kitchen.ack_timeout_ms))
    seq += 1  # expo's copy gets a number of its own
    order = order.model_copy(update={"tickets": tuple(refs), "ticket_seq": seq})
    event_type = "NEW_KITCHEN_ORDER" if kind is TicketKind.FIRE else "TICKET_VOID"
    events: list[Event] = []
    alerts: list[Event] = []
    printed: list[KitchenTicket] = []
    for station, ticket_id in ids.items():
        ticket = make_ticket(order, station, kind, ticket_id, by_station[station], now)
        events.append(Event(event_type, (f"kitchen:{station}",), trusted(e.NewKitchenOrder)(ticket=ticket)))
        printed.append(ticket)
        if station in offline:
            alert = Alert(
                id=f"{ticket_id}:offline",
                kind=AlertKind.STATION_OFFLINE,
                station=station,
                order_id=order.id,
                order_number=order.number,
                ticket_id=ticket_id,
                at=now,
                message=f"Order {order.number}: no screen is live at {station}; its ticket was not seen",
            )
            alerts.append(Event("KITCHEN_ALERT", ALERT_CHANNELS, e.KitchenAlert(alert=alert)))
    if expo_lines:
        expo = make_ticket(order, EXPO, kind, f"{order.id}:x{seq}", expo_lines, now)
        events.append(Event(event_type, ("expo",), trusted(e.NewKitchenOrder)(ticket=expo)))
    jobs, job_events = printing.jobs_for(printed, kitchen.printers, fired_by=kitchen.by, now=now)
    due += [Due(DueKind.PRINT, job.id, now + kitchen.print_ms) for job in jobs]
    return order, events + alerts + list(job_events), due, jobs


def _line(order: Order, line_id: str) -> OrderItem:
    line = order.line(line_id)
    if line is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"order {order.number} has no line {line_id!r}")
    return line


def require_editable(order: Order) -> None:
    """Open, not settled, and no payment of it being recorded (the bill must not change under a payment).

    A settled counter order stays open until picked up (``settlement.pickup``), but its bill is final.
    """
    require_open(order)
    if order.delivery is not None and order.delivery.status in FOOD_GONE:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is {order.delivery.status} with {order.delivery.rider}; its bill can no longer change",
            {"order_id": order.id, "delivery": order.delivery.status.value},
        )
    if order.invoice_id is not None:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is paid (invoice {order.invoice_number}); its bill can no longer change",
            {"order_id": order.id, "invoice_id": order.invoice_id},
        )
    if order.settling is not None:
        raise DomainError(
            ErrorCode.ORDER_LOCKED,
            f"order {order.number} is being paid at {order.settling.by}; try again in a moment",
            {"order_id": order.id},
        )


def add_item(order: Order, menu: Menu, book: StockBook, cmd: c.AddItem, now: int) -> Decision:
    check_version(order, cmd.version)
    require_editable(order)
    item = menu.item(cmd.menu_item_id)
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no menu item {cmd.menu_item_id!r}")
    book.check_sellable(item.id, item.name, cmd.quantity, on_menu=item.available)
    modifiers = chosen(item, cmd.modifiers)
    unit_price = item.price + sum(m.price_delta for m in modifiers)
    if unit_price < 0:
        raise DomainError(
            ErrorCode.INVALID_MODIFIERS, f"{item.name}: those choices would make it cost less than nothing"
        )
    line = OrderItem(
        id=f"L{order.line_seq + 1}",
        menu_item_id=item.id,
        name=item.name,
        unit_price=unit_price,
        modifiers=modifiers,
        quantity=cmd.quantity,
        station=item.station,
        category=item.category,
        tax_code=item.tax_code,
        requires_prep=item.requires_prep,
        notes=cmd.notes,
        course=cmd.course,
        reserved=book.reserve(item.id, cmd.quantity),
    )
    new, events = with_status(order, (*order.items, line), now, line_seq=order.line_seq + 1)
    stock, stock_events = book.settle()
    return updated(new, *events, *stock_events, result_extra={"line_id": line.id}, stock=stock)


def _void(
    order: Order, line: OrderItem, quantity: int, left: int, now: int, kitchen: KitchenContext
) -> tuple[Order, list[Event], list[Due], tuple[PrintJob, ...]]:
    """Tell the line's station (and expo) to stop making ``quantity`` of it; ``left`` remain."""
    voided = ticket_line(line, TicketChange.VOID, quantity, line_quantity=left)
    by_station = {line.station: [voided]} if line.requires_prep else {}
    return _issue(order, TicketKind.VOID, by_station, [voided], now, kitchen)


def change_item(order: Order, book: StockBook, cmd: c.ChangeItem, now: int, kitchen: KitchenContext) -> Decision:
    check_version(order, cmd.version)
    require_editable(order)
    line = _line(order, cmd.line_id)
    if cmd.quantity < line.quantity:
        _require_unpaid_for_less(order)
    unsent = max(cmd.quantity - line.sent, 0)
    reserved = line.reserved
    if unsent > line.unsent:
        book.check_sellable(line.menu_item_id, line.name, unsent - line.unsent)
        reserved += book.reserve(line.menu_item_id, unsent - line.unsent)
    elif unsent < line.unsent:
        reserved -= book.release(line.menu_item_id, min(line.unsent - unsent, line.reserved))
    changes: dict[str, Any] = {"quantity": cmd.quantity, "sent": min(line.sent, cmd.quantity), "reserved": reserved}
    if cmd.notes is not None:
        changes["notes"] = cmd.notes
    new_line = line.model_copy(update=changes)
    items = tuple(new_line if i.id == line.id else i for i in order.items)
    new, events = with_status(order, items, now)
    due: list[Due] = []
    jobs: tuple[PrintJob, ...] = ()
    if cmd.quantity < line.sent:
        new, kitchen_events, due, jobs = _void(new, line, line.sent - cmd.quantity, cmd.quantity, now, kitchen)
        events = kitchen_events + events
    elif line.sent and new_line.notes != line.notes:
        events = card_events(new, now, [line.station] if line.requires_prep else []) + events
    stock, stock_events = book.settle()
    return updated(new, *events, *stock_events, stock=stock, due=tuple(due), print_jobs=jobs)


def _require_unpaid_for_less(order: Order) -> None:
    """A part-paid bill may grow but never shrink below what was taken: settle it, then refund."""
    if order.paid:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"order {order.number} is part-paid ({order.paid}); settle it and refund instead of lowering the bill",
            {"paid": order.paid},
        )


def remove_item(order: Order, book: StockBook, cmd: c.RemoveItem, now: int, kitchen: KitchenContext) -> Decision:
    check_version(order, cmd.version)
    require_editable(order)
    _require_unpaid_for_less(order)
    line = _line(order, cmd.line_id)
    book.release(line.menu_item_id, line.reserved)
    items = tuple(i for i in order.items if i.id != line.id)
    new, events = with_status(order, items, now)
    due: list[Due] = []
    jobs: tuple[PrintJob, ...] = ()
    if line.sent:
        new, kitchen_events, due, jobs = _void(new, line, line.sent, 0, now, kitchen)
        events = kitchen_events + events
    stock, stock_events = book.settle()
    return updated(new, *events, *stock_events, stock=stock, due=tuple(due), print_jobs=jobs)


def fire_order(
    order: Order,
    cmd: c.FireOrder,
    now: int,
    *,
    counters: Counters,
    day: str,
    book: StockBook,
    kitchen: KitchenContext,
) -> Decision:
    check_version(order, cmd.version)
    require_open(order)
    held = set(order.held_courses)
    if cmd.course is not None:
        held.discard(cmd.course)
        to_send = {i.id for i in order.items if i.unsent and i.course == cmd.course}
    else:
        to_send = {i.id for i in order.items if i.unsent and i.course not in held}
    if not to_send:
        waiting = sorted({i.course for i in order.items if i.unsent})
        hint = f"; held courses {waiting} wait for a course fire" if waiting else ""
        raise DomainError(ErrorCode.NOTHING_TO_FIRE, f"order {order.number} has nothing new to fire{hint}")
    items: list[OrderItem] = []
    by_station: dict[str, list[TicketLine]] = {}
    expo_lines: list[TicketLine] = []
    for line in order.items:
        if line.id not in to_send:
            items.append(line)
            continue
        change = TicketChange.NEW if line.sent == 0 else TicketChange.ADDED
        book.consume(line.menu_item_id, line.unsent, reserved=line.reserved)
        if not line.requires_prep:
            status = ItemStatus.DONE
        elif line.status is ItemStatus.PREPARING:
            status = ItemStatus.PREPARING
        else:
            status = ItemStatus.PENDING  # more of a finished line means it is not finished any more
        sent = line.model_copy(
            update={
                "fired": True,
                "sent": line.quantity,
                "reserved": 0,
                "fired_at": now,
                "status": status,
                "done_at": None if line.requires_prep else now,
            }
        )
        items.append(sent)
        tl = ticket_line(sent, change, line.unsent)
        if sent.requires_prep:
            by_station.setdefault(sent.station, []).append(tl)
        expo_lines.append(tl)
    new_counters: Counters | None = None
    token = order.token
    if order.type is OrderType.TAKEAWAY and token is None:
        new_counters = _next_counters(counters, day)
        new_counters = new_counters.model_copy(
            update={"token": new_counters.token + 1, "version": counters.version + 1}
        )
        token = new_counters.token
    fired, ready = with_status(
        order,
        tuple(items),
        now,
        token=token,
        fired_at=order.fired_at or now,
        held_courses=tuple(sorted(held)),
        rush=order.rush or cmd.rush,
    )
    for station, lines in by_station.items():
        lines += held_lines(fired, station)
    expo_lines += held_lines(fired, EXPO)
    fired, kitchen_events, due, jobs = _issue(fired, TicketKind.FIRE, by_station, expo_lines, now, kitchen)
    events = [Event("ORDER_FIRED", order_channels(fired), trusted(e.OrderChanged)(order=fired))]
    if token is not None and order.token is None:
        # The board is public: it learns the token, never the customer.
        events.append(Event("TOKEN_PREPARING", ("board",), trusted(e.TokenPreparing)(order_id=fired.id, token=token)))
    stock, stock_events = book.settle()
    return Decision(
        result={"order": fired, "stations": sorted(by_station)},
        orders=(fired,),
        counters=new_counters,
        stock=stock,
        events=(*events, *kitchen_events, *ready, *stock_events),
        due=tuple(due),
        print_jobs=jobs,
    )


def hold_course(order: Order, cmd: c.HoldCourse, now: int) -> Decision:
    check_version(order, cmd.version)
    require_open(order)
    if cmd.course in order.held_courses:
        raise DomainError(ErrorCode.INVALID_STATE, f"course {cmd.course} is already held")
    lines = [i for i in order.items if i.course == cmd.course]
    if lines and all(i.unsent == 0 for i in lines):
        raise DomainError(ErrorCode.INVALID_STATE, f"course {cmd.course} was already fired")
    held = tuple(sorted({*order.held_courses, cmd.course}))
    new = bump(order, held_courses=held)
    data = e.CourseHeld(order_id=order.id, order_number=order.number, course=cmd.course, held_courses=held)
    held_event = Event("COURSE_HELD", (*order_channels(order), "expo"), data)
    return updated(new, held_event, *card_events(new, now))


def rush_order(order: Order, actor: Actor, cmd: c.RushOrder, now: int) -> Decision:
    require_open(order)
    if cmd.station is not None:
        if not actor.has_station(cmd.station) and actor.stations:
            raise DomainError(ErrorCode.FORBIDDEN, f"this device is not at station {cmd.station!r}")
        stations = {*order.rush_stations} | {cmd.station} if cmd.rush else {*order.rush_stations} - {cmd.station}
        new = bump(order, rush_stations=tuple(sorted(stations)))
        targets: list[str] | None = [cmd.station]
    else:
        new = bump(order, rush=cmd.rush, rush_stations=() if not cmd.rush else order.rush_stations)
        targets = None
    data = e.OrderRushed(order_id=order.id, order_number=order.number, rush=cmd.rush, station=cmd.station)
    rushed = Event("ORDER_RUSHED", (*order_channels(order), "expo"), data)
    return updated(new, rushed, *card_events(new, now, targets))


def add_note(order: Order, actor: Actor, cmd: c.AddNote, now: int) -> Decision:
    require_open(order)
    note = Note(id=f"N{len(order.notes) + 1}", text=cmd.text, internal=cmd.internal, by=actor.device_id, at=now)
    new = bump(order, notes=(*order.notes, note))
    added = Event(
        "ORDER_NOTE_ADDED",
        (*order_channels(order), "expo"),
        e.OrderNoteAdded(order_id=order.id, order_number=order.number, note=note),
    )
    return updated(new, added, *card_events(new, now))


def cancel_order(order: Order, tables: Mapping[str, Table], book: StockBook, cmd: c.CancelOrder) -> Decision:
    check_version(order, cmd.version)
    require_editable(order)
    if order.payment_status is not PaymentStatus.UNPAID:
        raise DomainError(ErrorCode.INVALID_STATE, "a paid order is voided, not cancelled")
    for line in order.items:
        book.release(line.menu_item_id, line.reserved)
    cancelled = bump(order, status=OrderStatus.CANCELLED)
    stations = tuple(kitchen_stations(order))
    channels = (*order_channels(order), "expo", "cashier", *(f"kitchen:{s}" for s in stations))
    if order.token:
        channels = (*channels, "board")
    data = e.OrderCancelled(
        order_id=order.id, order_number=order.number, reason=cmd.reason, stations=stations, token=order.token
    )
    events = [Event("ORDER_CANCELLED", channels, data)]
    freed: list[Table] = []
    for table in tables.values():
        if table.order_id == order.id:
            table = table.model_copy(
                update={"status": TableStatus.FREE, "order_id": None, "version": table.version + 1}
            )
            freed.append(table)
            events.append(table_event(table))
    stock, stock_events = book.settle()
    return Decision(
        result={"order": cancelled},
        orders=(cancelled,),
        tables=tuple(freed),
        stock=stock,
        events=(*events, *stock_events),
    )
