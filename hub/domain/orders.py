"""The order and table state machines: ``decide`` functions from state and command to a Decision.

Each function takes the aggregates it needs, the command, the actor and ``now``
and returns the new aggregates (version bumped), the events with the channels
they go to, and the command's result. It raises DomainError to refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.domain.actors import Actor, Role
from hub.domain.errors import DomainError
from schema import commands as c
from schema import events as e
from schema.protocol import ErrorCode
from schema.records import (
    Counters,
    ItemStatus,
    KitchenTicket,
    Menu,
    Order,
    OrderItem,
    OrderStatus,
    OrderType,
    PaymentStatus,
    Table,
    TableStatus,
)

__all__ = [
    "FINISHED",
    "Decision",
    "Event",
    "add_item",
    "business_day",
    "cancel_order",
    "change_item",
    "check_tenant",
    "clean_table",
    "fire_order",
    "open_order",
    "remove_item",
    "set_item_status",
]

FINISHED = frozenset({ItemStatus.DONE, ItemStatus.SERVED, ItemStatus.SKIPPED})
OPEN = frozenset({OrderStatus.ACTIVE, OrderStatus.READY})


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    channels: tuple[str, ...]
    data: e.EventData


@dataclass(frozen=True, slots=True)
class Decision:
    result: dict[str, Any]
    orders: tuple[Order, ...] = ()
    tables: tuple[Table, ...] = ()
    counters: Counters | None = None
    events: tuple[Event, ...] = field(default=())


def business_day(now: int, timezone: str) -> str:
    """The restaurant's calendar day at ``now``: numbering restarts when it changes."""
    return datetime.fromtimestamp(now / 1000, ZoneInfo(timezone) if timezone != "UTC" else UTC).date().isoformat()


def check_tenant(actor: Actor, entity_id: str) -> None:
    """Order ids start with their restaurant's id, so another tenant's id is recognised, not just missing."""
    owner, dot, _ = entity_id.partition(".")
    if dot and owner != actor.restaurant_id:
        raise DomainError(ErrorCode.WRONG_TENANT, "that id belongs to another restaurant")


def _order_channels(order: Order) -> tuple[str, ...]:
    channels = ("orders", f"order:{order.id}")
    return (*channels, f"waiter:{order.opened_by}") if order.opened_by else channels


def _require_open(order: Order) -> None:
    if order.status not in OPEN:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is {order.status}")


def _check_version(order: Order, expected: int | None) -> None:
    if expected is not None and expected != order.version:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT,
            f"order changed: version {order.version}, you had {expected}",
            {"current": order.model_dump(mode="json")},
        )


def _bump(order: Order, **changes: Any) -> Order:
    return order.model_copy(update={**changes, "version": order.version + 1})


def _updated(order: Order, result_extra: dict[str, Any] | None = None) -> Decision:
    event = Event("ORDER_UPDATED", _order_channels(order), e.OrderChanged(order=order))
    return Decision(
        result={"order": order.model_dump(mode="json"), **(result_extra or {})}, orders=(order,), events=(event,)
    )


def _table_event(table: Table) -> Event:
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
        events.append(_table_event(occupied))
    order = Order(
        id=order_id,
        number=counters.order_number,
        type=cmd.type,
        table_id=cmd.table_id if cmd.type is OrderType.DINE_IN else None,
        guests=cmd.guests,
        phone=cmd.phone,
        address=cmd.address,
        customer_name=cmd.customer_name,
        notes=cmd.notes,
        opened_by=actor.device_id,
        created_at=now,
        version=1,
    )
    events.insert(0, Event("ORDER_OPENED", _order_channels(order), e.OrderChanged(order=order)))
    return Decision(
        result={"order": order.model_dump(mode="json")},
        orders=(order,),
        tables=tables,
        counters=counters,
        events=tuple(events),
    )


def add_item(order: Order, menu: Menu, cmd: c.AddItem, now: int) -> Decision:
    _check_version(order, cmd.version)
    _require_open(order)
    item = menu.item(cmd.menu_item_id)
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no menu item {cmd.menu_item_id!r}")
    if not item.available:
        raise DomainError(ErrorCode.ITEM_UNAVAILABLE, f"{item.name} is not available")
    line = OrderItem(
        id=f"L{order.line_seq + 1}",
        menu_item_id=item.id,
        name=item.name,
        unit_price=item.price,
        quantity=cmd.quantity,
        station=item.station,
        category=item.category,
        tax_code=item.tax_code,
        requires_prep=item.requires_prep,
        notes=cmd.notes,
    )
    updated = _bump(order, items=(*order.items, line), line_seq=order.line_seq + 1, status=OrderStatus.ACTIVE)
    return _updated(updated, {"line_id": line.id})


def _unfired_line(order: Order, line_id: str) -> OrderItem:
    line = order.line(line_id)
    if line is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"order {order.number} has no line {line_id!r}")
    if line.fired:
        raise DomainError(ErrorCode.INVALID_STATE, f"{line.name} was already sent to the kitchen")
    return line


def change_item(order: Order, cmd: c.ChangeItem) -> Decision:
    _check_version(order, cmd.version)
    _require_open(order)
    line = _unfired_line(order, cmd.line_id)
    changes: dict[str, Any] = {"quantity": cmd.quantity}
    if cmd.notes is not None:
        changes["notes"] = cmd.notes
    new_line = line.model_copy(update=changes)
    items = tuple(new_line if i.id == line.id else i for i in order.items)
    return _updated(_bump(order, items=items))


def remove_item(order: Order, cmd: c.RemoveItem, now: int) -> Decision:
    _check_version(order, cmd.version)
    _require_open(order)
    line = _unfired_line(order, cmd.line_id)
    items = tuple(i for i in order.items if i.id != line.id)
    status = _status_after(order.status, items)
    if status is OrderStatus.READY and order.status is not OrderStatus.READY:
        # Removing the last unfired line can leave only finished ones: that is a READY order too.
        ready = _bump(order, items=items, status=status, ready_at=now)
        decision = _updated(ready)
        return replace(decision, events=(*decision.events, _ready_event(ready)))
    return _updated(_bump(order, items=items, status=status))


def _status_after(status: OrderStatus, items: Iterable[OrderItem]) -> OrderStatus:
    """An open order is READY exactly when it has items and every one is finished."""
    items = tuple(items)
    if status not in OPEN:
        return status
    if items and all(i.fired and i.status in FINISHED for i in items):
        return OrderStatus.READY
    return OrderStatus.ACTIVE


def _ready_event(order: Order) -> Event:
    channels = (*_order_channels(order), "expo", "cashier")
    if order.type is OrderType.TAKEAWAY:
        channels = (*channels, "board")
    data = e.OrderReady(
        order_id=order.id,
        order_number=order.number,
        order_type=order.type,
        table_id=order.table_id,
        token=order.token,
        ready_at=order.ready_at or 0,
    )
    return Event("ORDER_READY", channels, data)


def fire_order(order: Order, cmd: c.FireOrder, now: int, *, counters: Counters, day: str) -> Decision:
    _check_version(order, cmd.version)
    _require_open(order)
    unfired = [i for i in order.items if not i.fired]
    if not unfired:
        raise DomainError(ErrorCode.NOTHING_TO_FIRE, f"order {order.number} has nothing new to fire")
    fired_ids = {i.id for i in unfired}
    items = tuple(
        i.model_copy(
            update={
                "fired": True,
                "fired_at": now,
                "status": ItemStatus.PENDING if i.requires_prep else ItemStatus.DONE,
                "done_at": None if i.requires_prep else now,
            }
        )
        if i.id in fired_ids
        else i
        for i in order.items
    )
    new_counters: Counters | None = None
    token = order.token
    if order.type is OrderType.TAKEAWAY and token is None:
        new_counters = _next_counters(counters, day)
        new_counters = new_counters.model_copy(
            update={"token": new_counters.token + 1, "version": counters.version + 1}
        )
        token = new_counters.token
    status = _status_after(order.status, items)
    fired = _bump(
        order,
        items=items,
        token=token,
        fired_at=order.fired_at or now,
        status=status,
        ready_at=now if status is OrderStatus.READY else None,
    )
    events = [Event("ORDER_FIRED", _order_channels(fired), e.OrderChanged(order=fired))]
    if token is not None and order.token is None:
        # The board is public: it learns the token, never the customer.
        events.append(Event("TOKEN_PREPARING", ("board",), e.TokenPreparing(order_id=fired.id, token=token)))
    new_lines = [i for i in fired.items if i.id in fired_ids]
    stations = sorted({i.station for i in new_lines if i.requires_prep})
    for station in stations:
        ticket = _ticket(fired, station, [i for i in new_lines if i.requires_prep and i.station == station])
        events.append(Event("NEW_KITCHEN_ORDER", (f"kitchen:{station}",), e.NewKitchenOrder(ticket=ticket)))
    events.append(Event("NEW_KITCHEN_ORDER", ("expo",), e.NewKitchenOrder(ticket=_ticket(fired, "*", new_lines))))
    if status is OrderStatus.READY:
        events.append(_ready_event(fired))
    return Decision(
        result={"order": fired.model_dump(mode="json"), "stations": stations},
        orders=(fired,),
        counters=new_counters,
        events=tuple(events),
    )


def _ticket(order: Order, station: str, items: list[OrderItem]) -> KitchenTicket:
    return KitchenTicket(
        order_id=order.id,
        order_number=order.number,
        order_type=order.type,
        station=station,
        table_id=order.table_id,
        token=order.token,
        notes=order.notes,
        fired_at=order.fired_at,
        items=tuple(items),
    )


_TRANSITIONS: dict[str, tuple[frozenset[ItemStatus], ItemStatus]] = {
    "item.start": (frozenset({ItemStatus.PENDING}), ItemStatus.PREPARING),
    "item.done": (frozenset({ItemStatus.PENDING, ItemStatus.PREPARING}), ItemStatus.DONE),
    "item.serve": (frozenset({ItemStatus.DONE}), ItemStatus.SERVED),
}


def set_item_status(order: Order, cmd: c.ItemStatusCommand, command_type: str, actor: Actor, now: int) -> Decision:
    _require_open(order)
    line = order.line(cmd.line_id)
    if line is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"order {order.number} has no line {cmd.line_id!r}")
    if actor.role is Role.KITCHEN and not actor.has_station(line.station):
        raise DomainError(ErrorCode.FORBIDDEN, f"{line.name} is made at {line.station}, not at this station")
    if not line.fired:
        raise DomainError(ErrorCode.INVALID_STATE, f"{line.name} has not been fired")
    allowed, target = _TRANSITIONS[command_type]
    if line.status not in allowed:
        raise DomainError(ErrorCode.INVALID_STATE, f"{line.name} is {line.status}, cannot become {target}")
    done_at = now if target is ItemStatus.DONE else line.done_at
    new_line = line.model_copy(update={"status": target, "done_at": done_at})
    items = tuple(new_line if i.id == line.id else i for i in order.items)
    status = _status_after(order.status, items)
    became_ready = status is OrderStatus.READY and order.status is not OrderStatus.READY
    updated = _bump(order, items=items, status=status, ready_at=now if became_ready else order.ready_at)
    events = [
        Event(
            "ITEM_STATUS_CHANGED",
            (f"kitchen:{line.station}", "expo", "orders", f"order:{order.id}"),
            e.ItemStatusChanged(
                order_id=order.id,
                order_number=order.number,
                line_id=line.id,
                station=line.station,
                status=target,
                previous=line.status,
                order_version=updated.version,
            ),
        )
    ]
    if became_ready:
        events.append(_ready_event(updated))
    return Decision(result={"order": updated.model_dump(mode="json")}, orders=(updated,), events=tuple(events))


def cancel_order(order: Order, table: Table | None, cmd: c.CancelOrder) -> Decision:
    _check_version(order, cmd.version)
    _require_open(order)
    if order.payment_status is not PaymentStatus.UNPAID:
        raise DomainError(ErrorCode.INVALID_STATE, "a paid order is voided, not cancelled")
    cancelled = _bump(order, status=OrderStatus.CANCELLED)
    stations = tuple(sorted({i.station for i in order.items if i.fired and i.requires_prep}))
    channels = (*_order_channels(order), "expo", *(f"kitchen:{s}" for s in stations))
    if order.token:
        channels = (*channels, "board")
    data = e.OrderCancelled(order_id=order.id, order_number=order.number, reason=cmd.reason, stations=stations)
    events = [Event("ORDER_CANCELLED", channels, data)]
    tables: tuple[Table, ...] = ()
    if table is not None and table.order_id == order.id:
        freed = table.model_copy(update={"status": TableStatus.FREE, "order_id": None, "version": table.version + 1})
        tables = (freed,)
        events.append(_table_event(freed))
    return Decision(
        result={"order": cancelled.model_dump(mode="json")}, orders=(cancelled,), tables=tables, events=tuple(events)
    )


def clean_table(table: Table) -> Decision:
    if table.status is not TableStatus.DIRTY:
        raise DomainError(ErrorCode.INVALID_STATE, f"table {table.name} is {table.status}, not DIRTY")
    cleaned = table.model_copy(update={"status": TableStatus.FREE, "order_id": None, "version": table.version + 1})
    return Decision(
        result={"table": cleaned.model_dump(mode="json")}, tables=(cleaned,), events=(_table_event(cleaned),)
    )
