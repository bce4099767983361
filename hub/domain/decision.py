"""What a ``decide`` function returns: new aggregates, events and side indexes, committed together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schema import events as e
from schema.records import Counters, Order, Restaurant, Stock, Table

__all__ = ["ACK_DUE", "Decision", "Due", "Event", "PrepSample", "ack_due_key"]


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    channels: tuple[str, ...]
    data: e.EventData


@dataclass(frozen=True, slots=True)
class Due:
    """A check the hub must run at ``at`` (ms), or, with ``at`` None, no longer needs to."""

    key: str
    at: int | None


@dataclass(frozen=True, slots=True)
class PrepSample:
    """One line's fire-to-done time, for the per-station, per-item prep statistics."""

    station: str
    menu_item_id: str
    ms: int


@dataclass(frozen=True, slots=True)
class Decision:
    result: dict[str, Any]
    orders: tuple[Order, ...] = ()
    tables: tuple[Table, ...] = ()
    counters: Counters | None = None
    restaurant: Restaurant | None = None
    stock: tuple[Stock, ...] = ()
    events: tuple[Event, ...] = field(default=())
    due: tuple[Due, ...] = ()
    prep: tuple[PrepSample, ...] = ()


ACK_DUE = "ack|"


def ack_due_key(ticket_id: str) -> str:
    """The timer of a ticket's acknowledgement; a ticket id starts with the id of the order it was sent for."""
    return ACK_DUE + ticket_id
