"""What a ``decide`` function returns: new aggregates, events and side indexes, committed together.

Money decisions also say what the books record; ``AuditNote`` is their line in the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fireflow.schema import events as e
from fireflow.schema.records import Counters, Menu, Order, PrinterHealth, PrintJob, Restaurant, Stock, Table
from fireflow.schema.setup import StaffMember

__all__ = ["AuditNote", "Decision", "Due", "DueKind", "Event", "PrepSample"]


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    channels: tuple[str, ...]
    data: e.EventData


class DueKind(Enum):
    """What a due check is about; its ``subject`` names which one."""

    ACK = "ACK"  # a ticket not acknowledged in time; subject: the ticket id
    SETTLE = "SETTLE"  # a payment lock left behind; subject: the paying command's id
    BILL = "BILL"  # a bill lock running out; subject: the order id
    PRINT = "PRINT"  # a print job's lease running out; subject: the job id
    ETA = "ETA"  # a delivery out with its rider: estimate its arrival again; subject: the order id


@dataclass(frozen=True, slots=True)
class Due:
    """A check the hub must run at ``at`` (ms), or, with ``at`` None, no longer needs to.

    How it is stored (a sorted-set member in Redis) is the live store's business.
    """

    kind: DueKind
    subject: str
    at: int | None


@dataclass(frozen=True, slots=True)
class PrepSample:
    """One line's fire-to-done time, for the per-station, per-item prep statistics."""

    station: str
    menu_item_id: str
    ms: int


@dataclass(frozen=True, slots=True)
class Decision:
    # What the command answers, JSON-ready; a record in it (the order, mostly) is kept as the record, and
    # encoded once by the commit for both the state it writes and the answer (``Store.commit``).
    result: dict[str, Any]
    orders: tuple[Order, ...] = ()
    tables: tuple[Table, ...] = ()
    counters: Counters | None = None
    restaurant: Restaurant | None = None
    menu: Menu | None = None
    dropped_tables: tuple[Table, ...] = ()  # tables taken off the floor plan (setup), as they were found
    staff: tuple[StaffMember, ...] = ()  # people added or changed (setup; with ``restaurant``, whose version guards)
    dropped_staff: tuple[str, ...] = ()  # people removed, with their PINs
    pin_hashes: Mapping[str, str] = field(default_factory=dict)  # staff id -> a new PIN's hash
    dropped_pins: tuple[str, ...] = ()  # staff who no longer approve: their PINs go
    print_jobs: tuple[PrintJob, ...] = ()  # made (version 1) or moved on (checked against the one stored)
    dropped_print_jobs: tuple[str, ...] = ()  # jobs done with long enough ago: their records go
    printer_health: tuple[PrinterHealth, ...] = ()  # printers whose state changed (checked like print jobs)
    stock: tuple[Stock, ...] = ()
    events: tuple[Event, ...] = field(default=())
    due: tuple[Due, ...] = ()
    prep: tuple[PrepSample, ...] = ()
    # (name, figure): the last event goes out only if ``figure`` is above the one last told under ``name``,
    # which it then becomes. Readings taken in one order can commit in another (two tills paying at once);
    # the later-taken one told, an earlier one arriving after it is not (a till's takings never go back).
    latest: tuple[str, int] | None = None
    # Seconds the answer is kept for retries, instead of the node's (a day): the hub's own frequent commands
    # (predictions) would otherwise leave a key a call for a day.
    result_ttl: int | None = None
    # Whether the orders written are noted for the predictor's next look (lua/changed_orders.lua): the predictor's
    # own bookkeeping (a prediction kept on the order) changes nothing it reads, and would have it read them again.
    noted: bool = True


@dataclass(frozen=True, slots=True)
class AuditNote:
    """One line of the audit log: who did what is added by whoever records it."""

    action: str
    entity: str
    entity_id: str
    details: dict[str, Any] = field(default_factory=dict)
