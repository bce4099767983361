"""The table life: FREE → OCCUPIED → (settled) DIRTY → FREE, moving an order and merging two tables' orders.

A seated table whose order is gone (closed, cancelled, lost) is released to DIRTY by a manager or the
sweeps (``hub/domain/sweeps.py``).
"""

from __future__ import annotations

from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import (
    bump,
    check_version,
    order_channels,
    require_editable,
    require_open,
    table_event,
    updated,
    with_status,
)
from fireflow.hub.domain.tickets import card_events, kitchen_stations
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Order, OrderStatus, OrderType, PaymentStatus, Table, TableStatus

__all__ = ["clean_table", "merge_tables", "move_order", "release_table"]


def _retable(table: Table, status: TableStatus, order_id: str | None) -> Table:
    return table.model_copy(update={"status": status, "order_id": order_id, "version": table.version + 1})


def clean_table(table: Table) -> Decision:
    if table.status is not TableStatus.DIRTY:
        raise DomainError(ErrorCode.INVALID_STATE, f"table {table.name} is {table.status}, not DIRTY")
    cleaned = _retable(table, TableStatus.FREE, None)
    return Decision(
        result={"table": cleaned.model_dump(mode="json")}, tables=(cleaned,), events=(table_event(cleaned),)
    )


def release_table(table: Table, order: Order | None, cmd: c.ReleaseTable) -> Decision:
    """A seated table whose order is gone or no longer open becomes DIRTY; one with an open order is refused."""
    if cmd.version is not None and cmd.version != table.version:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT, f"table {table.name} changed (version {table.version}, not {cmd.version})"
        )
    if table.status not in (TableStatus.OCCUPIED, TableStatus.BILL_REQUESTED):
        raise DomainError(ErrorCode.INVALID_STATE, f"table {table.name} is {table.status}, not seated")
    if order is not None and order.status in (OrderStatus.ACTIVE, OrderStatus.READY):
        raise DomainError(
            ErrorCode.INVALID_STATE, f"table {table.name} has open order #{order.number}: settle or cancel it first"
        )
    released = _retable(table, TableStatus.DIRTY, None)
    return Decision(
        result={"table": released.model_dump(mode="json")}, tables=(released,), events=(table_event(released),)
    )


def _free(table: Table) -> None:
    if table.status is not TableStatus.FREE:
        raise DomainError(
            ErrorCode.TABLE_UNAVAILABLE,
            f"table {table.name} is {table.status}",
            {"table": table.model_dump(mode="json")},
        )


def move_order(order: Order, source: Table | None, target: Table, cmd: c.MoveOrder, now: int) -> Decision:
    """The party moves from its main table to a free one, which is free again; merged tables stay with it."""
    check_version(order, cmd.version)
    require_open(order)
    if order.type is not OrderType.DINE_IN or order.table_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is not at a table")
    if target.id == order.table_id:
        raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is already at {target.name}")
    if source is not None and source.id != order.table_id:
        raise DomainError(
            ErrorCode.INVALID_STATE, f"order {order.number} is seated at {order.table_id}, not {source.id}"
        )
    _free(target)
    new = bump(order, table_id=target.id)
    tables = [_retable(target, TableStatus.OCCUPIED, order.id)]
    if source is not None and source.order_id == order.id:
        tables.insert(0, _retable(source, TableStatus.FREE, None))
    moved = Event(
        "ORDER_MOVED",
        (*order_channels(order), "expo", "cashier"),
        e.OrderMoved(order_id=order.id, order_number=order.number, from_table_id=order.table_id, to_table_id=target.id),
    )
    return updated(new, moved, *(table_event(t) for t in tables), *card_events(new, now), tables=tuple(tables))


def merge_tables(source_tables: list[Table], source: Order, target: Order, now: int) -> Decision:
    """The source order's lines join the target order; the source's tables now seat the target's party.

    Lines are renumbered into the target; what the kitchen was sent, its tickets
    and their acknowledgements move with them, so nothing is fired again.
    """
    if source.id == target.id:
        raise DomainError(ErrorCode.INVALID_STATE, "both tables already share one order")
    for order in (source, target):
        require_editable(order)
        if order.payment_status is not PaymentStatus.UNPAID:
            raise DomainError(ErrorCode.INVALID_STATE, f"order {order.number} is already being paid")
    line_map: dict[str, str] = {}
    moved = []
    seq = target.line_seq
    for line in source.items:
        seq += 1
        line_map[line.id] = f"L{seq}"
        moved.append(line.model_copy(update={"id": f"L{seq}"}))
    notes = tuple(n.model_copy(update={"id": f"N{len(target.notes) + k + 1}"}) for k, n in enumerate(source.notes))
    merged, ready = with_status(
        target,
        (*target.items, *moved),
        now,
        line_seq=seq,
        notes=(*target.notes, *notes),
        tickets=(*target.tickets, *source.tickets),
        ticket_seq=max(target.ticket_seq, source.ticket_seq),
        held_courses=tuple(sorted({*target.held_courses, *source.held_courses})),
        rush=target.rush or source.rush,
        rush_stations=tuple(sorted({*target.rush_stations, *source.rush_stations})),
        extra_tables=tuple(dict.fromkeys((*target.extra_tables, *(t.id for t in source_tables)))),
        fired_at=min((t for t in (target.fired_at, source.fired_at) if t is not None), default=None),
    )
    closed = bump(source, status=OrderStatus.MERGED, merged_into=target.id)
    joined = [_retable(t, TableStatus.OCCUPIED, target.id) for t in source_tables if t.order_id == source.id]
    stations = kitchen_stations(source)
    channels = (
        *order_channels(target),
        *order_channels(source),
        "expo",
        "cashier",
        *(f"kitchen:{s}" for s in stations),
    )
    data = e.OrderMerged(from_order_id=source.id, from_order_number=source.number, order=merged, lines=line_map)
    events = [
        Event("ORDER_MERGED", tuple(dict.fromkeys(channels)), data),
        *(table_event(t) for t in joined),
        *card_events(merged, now, {*stations, *kitchen_stations(target)}),
        *ready,
    ]
    return updated(merged, *events, more_orders=(closed,), tables=tuple(joined), result_extra={"lines": line_map})
