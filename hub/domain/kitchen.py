"""The kitchen's side of an order: item status, bump, recall, skip, ticket acknowledgements and their alerts.

Skipping (``skip_item``, ``force_ready``) is how staff finish what will not be made: the
lines become SKIPPED with the device that said so, and the order READY as when bumped.
"""

from __future__ import annotations

from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.alerts import ticket_alert
from fireflow.hub.domain.decision import Decision, Due, DueKind, Event, PrepSample
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import (
    ALERT_CHANNELS,
    OPEN,
    require_open,
    touch,
    with_status,
)
from fireflow.hub.domain.tickets import ON_SCREEN, card_events
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.base import StrEnum
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import AlertKind, ItemStatus, Menu, Order, OrderItem, OrderStatus, Restaurant, Routing

__all__ = [
    "ItemMove",
    "ack_tickets",
    "bump_order",
    "check_ack",
    "configure",
    "force_ready",
    "recall_order",
    "set_item_status",
    "skip_item",
]


class ItemMove(StrEnum):
    """What a kitchen or floor device does to one line (the commands ``item.<move>``)."""

    START = "start"
    DONE = "done"
    SERVE = "serve"
    RECALL = "recall"


_TRANSITIONS: dict[ItemMove, tuple[frozenset[ItemStatus], ItemStatus]] = {
    ItemMove.START: (frozenset({ItemStatus.PENDING}), ItemStatus.PREPARING),
    ItemMove.DONE: (frozenset({ItemStatus.PENDING, ItemStatus.PREPARING}), ItemStatus.DONE),
    ItemMove.SERVE: (frozenset({ItemStatus.DONE}), ItemStatus.SERVED),
    ItemMove.RECALL: (frozenset({ItemStatus.DONE}), ItemStatus.PREPARING),
}


def _status_event(
    order: Order, line: OrderItem, target: ItemStatus, version: int, now: int, by: str | None = None
) -> Event:
    return Event(
        "ITEM_STATUS_CHANGED",
        (f"kitchen:{line.station}", "expo", "orders", f"order:{order.id}"),
        e.ItemStatusChanged(
            order_id=order.id,
            order_number=order.number,
            line_id=line.id,
            station=line.station,
            status=target,
            previous=line.status,
            order_version=version,
            at=now,
            by=by,
        ),
    )


def _check_station(actor: Actor, station: str) -> None:
    if actor.role is Role.KITCHEN and not actor.has_station(station):
        raise DomainError(ErrorCode.FORBIDDEN, f"this device is not at station {station!r}")


def _move_lines(
    order: Order, lines: list[OrderItem], target: ItemStatus, now: int, by: str | None = None
) -> tuple[Order, list[Event], tuple[PrepSample, ...]]:
    """Move ``lines`` to ``target``; one ITEM_STATUS_CHANGED each, ORDER_READY or ORDER_RECALLED as it follows.

    A SKIPPED line records ``by``, the device that skipped it.
    """
    ids = {line.id for line in lines}
    done_at = now if target in (ItemStatus.DONE, ItemStatus.SKIPPED) else None
    changes: dict[str, object] = {"status": target}
    if target is ItemStatus.PREPARING:  # started, or recalled to be made again: the station's time runs from now
        changes["started_at"] = now
    if target is ItemStatus.SKIPPED:
        changes["skipped_by"] = by
    items = tuple(
        i.model_copy(update=changes | {"done_at": done_at if target is not ItemStatus.SERVED else i.done_at})
        if i.id in ids
        else i
        for i in order.items
    )
    new, status_events = with_status(order, items, now)
    events = [_status_event(order, line, target, new.version, now, by) for line in lines]
    prep: tuple[PrepSample, ...] = ()
    if target is ItemStatus.DONE:
        prep = tuple(
            PrepSample(line.station, line.menu_item_id, now - line.fired_at)
            for line in lines
            if line.requires_prep and line.fired_at is not None
        )
    return new, events + status_events, prep


def _recallable(line: OrderItem, now: int, window_ms: int) -> bool:
    return line.status is ItemStatus.DONE and line.done_at is not None and now - line.done_at <= window_ms


def set_item_status(
    order: Order, cmd: c.ItemStatusCommand, move: ItemMove, actor: Actor, now: int, *, recall_window_ms: int
) -> Decision:
    require_open(order)
    line = order.line(cmd.line_id)
    if line is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"order {order.number} has no line {cmd.line_id!r}")
    _check_station(actor, line.station)
    if not line.fired:
        raise DomainError(ErrorCode.INVALID_STATE, f"{line.name} has not been fired")
    allowed, target = _TRANSITIONS[move]
    if line.status not in allowed:
        raise DomainError(ErrorCode.INVALID_STATE, f"{line.name} is {line.status}, cannot become {target}")
    recall = move is ItemMove.RECALL
    if recall and not line.requires_prep:
        raise DomainError(ErrorCode.INVALID_STATE, f"{line.name} is not made in the kitchen; nothing to recall")
    if recall and not _recallable(line, now, recall_window_ms):
        raise DomainError(ErrorCode.RECALL_EXPIRED, f"{line.name} was bumped over {recall_window_ms // 1000} s ago")
    new, events, prep = _move_lines(order, [line], target, now)
    if recall:
        events += card_events(new, now, [line.station] if line.requires_prep else [])
    return Decision(result={"order": new}, orders=(new,), events=tuple(events), prep=prep)


def _station_filter(actor: Actor, station: str | None) -> str | None:
    if station is not None:
        _check_station(actor, station)
    return station


def _at(line: OrderItem, actor: Actor, station: str | None) -> bool:
    if station is not None:
        return line.station == station
    return actor.role is not Role.KITCHEN or actor.has_station(line.station)


def bump_order(order: Order, cmd: c.BumpOrder, actor: Actor, now: int) -> Decision:
    """Everything still being made (at one station, or at all of the actor's) is DONE."""
    require_open(order)
    station = _station_filter(actor, cmd.station)
    lines = [i for i in order.items if i.sent and i.status in ON_SCREEN and _at(i, actor, station)]
    if not lines:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} has nothing left to make here")
    new, events, prep = _move_lines(order, lines, ItemStatus.DONE, now)
    return Decision(result={"order": new}, orders=(new,), events=tuple(events), prep=prep)


def _skippable(order: Order, line: OrderItem) -> None:
    if line.unsent:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"{line.name} on order {order.number} is not all sent to the kitchen: fire or remove it instead",
        )
    if line.status not in ON_SCREEN:
        raise DomainError(ErrorCode.INVALID_STATE, f"{line.name} is {line.status}, cannot become SKIPPED")


def skip_item(order: Order, cmd: c.SkipItem, actor: Actor, now: int) -> Decision:
    """One sent line still PENDING or PREPARING will not be made: SKIPPED, by the actor's device."""
    require_open(order)
    line = order.line(cmd.line_id)
    if line is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"order {order.number} has no line {cmd.line_id!r}")
    _skippable(order, line)
    new, events, _ = _move_lines(order, [line], ItemStatus.SKIPPED, now, actor.device_id)
    return Decision(result={"order": new}, orders=(new,), events=tuple(events))


def force_ready(order: Order, cmd: c.ForceReady, actor: Actor, now: int) -> Decision:
    """The order is READY now: every line still PENDING or PREPARING is SKIPPED, by the actor's device.

    Refused for a READY order, and for one with lines not yet sent (fire or remove them first).
    """
    require_open(order)
    if order.status is OrderStatus.READY:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is already READY")
    for line in order.items:
        if line.unsent:
            _skippable(order, line)
    lines = [i for i in order.items if i.status in ON_SCREEN]
    if not lines:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} has nothing to make")
    new, events, _ = _move_lines(order, lines, ItemStatus.SKIPPED, now, actor.device_id)
    return Decision(result={"order": new}, orders=(new,), events=tuple(events))


def recall_order(order: Order, cmd: c.RecallOrder, actor: Actor, now: int, *, recall_window_ms: int) -> Decision:
    """Lines bumped within the window go back to PREPARING, so a READY order is ACTIVE again."""
    require_open(order)
    station = _station_filter(actor, cmd.station)
    done = [i for i in order.items if i.requires_prep and i.status is ItemStatus.DONE and _at(i, actor, station)]
    lines = [i for i in done if _recallable(i, now, recall_window_ms)]
    if not lines:
        if done:
            raise DomainError(ErrorCode.RECALL_EXPIRED, f"order {order.number} was bumped too long ago to recall")
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} has nothing bumped to recall")
    new, events, _ = _move_lines(order, lines, ItemStatus.PREPARING, now)
    events += card_events(new, now, {i.station for i in lines})
    return Decision(result={"order": new}, orders=(new,), events=tuple(events))


def ack_tickets(order: Order, cmd: c.AckTickets, actor: Actor, now: int) -> Decision:
    """A screen has shown these tickets: stop their timers and tell the station and expo."""
    refs = {t.id: t for t in order.tickets}
    acked: list[str] = []
    events: list[Event] = []
    due: list[Due] = []
    for ticket_id in dict.fromkeys(cmd.ticket_ids):
        ref = refs.get(ticket_id)
        if ref is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"order {order.number} has no ticket {ticket_id!r}")
        _check_station(actor, ref.station)
        if ref.acked_at is not None:
            continue
        refs[ticket_id] = ref.model_copy(update={"acked_at": now, "acked_by": actor.device_id})
        acked.append(ticket_id)
        due.append(Due(DueKind.ACK, ticket_id, None))
        data = e.TicketAcked(order_id=order.id, ticket_id=ticket_id, station=ref.station, by=actor.device_id, at=now)
        events.append(Event("TICKET_ACKED", (f"kitchen:{ref.station}", "expo"), data))
    if not acked:
        return Decision(result={"acked": []})  # every screen of a station acks; the first one counts
    new = touch(order, tickets=tuple(refs.values()))
    return Decision(result={"acked": acked}, orders=(new,), events=tuple(events), due=tuple(due))


def check_ack(order: Order, ticket_id: str, now: int) -> Decision:
    """The ticket's acknowledgement is due: alert expo and managers if its station still has not shown it."""
    clear = (Due(DueKind.ACK, ticket_id, None),)
    ref = next((t for t in order.tickets if t.id == ticket_id), None)
    if ref is None or ref.acked_at is not None or ref.alert is AlertKind.TICKET_UNACKED or order.status not in OPEN:
        return Decision(result={"alerted": False}, due=clear)
    waiting = [
        i for i in order.items if i.sent and i.requires_prep and i.station == ref.station and i.status in ON_SCREEN
    ]
    if not waiting and ref.kind.value == "FIRE":
        return Decision(result={"alerted": False}, due=clear)  # made already: nothing is missing
    alert = ticket_alert(order, ref, AlertKind.TICKET_UNACKED, now)
    raised = {"alert": AlertKind.TICKET_UNACKED, "alert_at": now}  # snapshots show it while it stands
    tickets = tuple(t.model_copy(update=raised) if t.id == ticket_id else t for t in order.tickets)
    new = touch(order, tickets=tickets)
    event = Event("KITCHEN_ALERT", ALERT_CHANNELS, e.KitchenAlert(alert=alert))
    return Decision(result={"alerted": True}, orders=(new,), events=(event,), due=clear)


def configure(restaurant: Restaurant, menu: Menu | None, cmd: c.ConfigureKitchen) -> Decision:
    """New kitchen timers, told at once to every station's screens, expo and managers."""
    kitchen = restaurant.kitchen
    changes: dict[str, object] = {}
    if cmd.recall_window_s is not None:
        changes["recall_window_s"] = cmd.recall_window_s
    if cmd.ack_timeout_s is not None:
        changes["ack_timeout_s"] = cmd.ack_timeout_s
    if cmd.print_confirm_s is not None:
        changes["print_confirm_s"] = cmd.print_confirm_s
    if cmd.print_manual_s is not None:
        changes["print_manual_s"] = cmd.print_manual_s
    if cmd.stations is not None:
        given = {s.id: s for s in cmd.stations}
        printers = {p.id for p in restaurant.printers}
        for station in given.values():
            if station.warn_after_s >= station.late_after_s:
                raise DomainError(ErrorCode.INVALID_STATE, f"{station.id}: warn must come before late")
            if station.routing is not Routing.SCREEN and station.printer not in printers:
                raise DomainError(
                    ErrorCode.INVALID_SETUP,
                    f"{station.id}: {station.routing.value} needs a printer the restaurant has",
                    {"problems": [f"stations.{station.id}.printer: no printer {station.printer!r}"]},
                )
        kept = tuple(s for s in kitchen.stations if s.id not in given)
        changes["stations"] = (*kept, *given.values())
    kitchen = kitchen.model_copy(update=changes)
    new = restaurant.model_copy(update={"kitchen": kitchen, "version": restaurant.version + 1})
    stations = menu.stations if menu else ()
    channels = ("expo", "manager", *(f"kitchen:{s}" for s in stations))
    event = Event("KITCHEN_SETTINGS_CHANGED", channels, e.KitchenSettingsChanged(kitchen=kitchen))
    return Decision(result={"kitchen": kitchen.model_dump(mode="json")}, restaurant=new, events=(event,))
