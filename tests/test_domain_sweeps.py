"""What the sweeps find and may repair, without servers: each fault, its wait, its words; healthy state is quiet."""

from __future__ import annotations

import pytest

from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.sweeps import SETTLE_REPAIR, Fault, SweepRules, faults, finding, ripe
from fireflow.hub.domain.tables import release_table
from fireflow.hub.run.demo import demo_tables
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Order, SweepKind, Table, TableStatus
from tests.domain_support import NOW, fire, opened, with_items

RULES = SweepRules()
HOUR = 3_600_000


def table(status: TableStatus, order_id: str | None = None) -> Table:
    return demo_tables()[0].model_copy(update={"status": status, "order_id": order_id, "version": 3})


def look(
    tables: list[Table],
    orders: list[Order],
    settled: dict[str, str] | None = None,
    watched: tuple[str, ...] = ("grill", "fry", "cold", "bar"),
) -> dict[SweepKind, list[Fault]]:
    found: dict[SweepKind, list[Fault]] = {}
    for fault in faults(tables, orders, settled=settled or {}, watched=watched, rules=RULES):
        found.setdefault(fault.kind, []).append(fault)
    return found


def test_a_healthy_floor_and_kitchen_has_no_fault() -> None:
    order = fire(with_items("burger")).orders[0]  # fired, its station watched
    assert look([table(TableStatus.FREE)], [order]) == {}
    assert look([table(TableStatus.OCCUPIED, order.id)], [order]) == {}


def test_a_seated_table_whose_order_is_gone_is_released_after_its_grace() -> None:
    (fault,) = look([table(TableStatus.OCCUPIED, "demo.o9")], [])[SweepKind.TABLE_WITHOUT_ORDER]
    assert fault.repair is not None and fault.repair.command_type == "table.release"
    assert fault.repair.data == {"table_id": "T1", "version": 3}
    assert not ripe(fault, NOW, NOW + RULES.table_grace_s * 1000 - 1)
    assert ripe(fault, NOW, NOW + RULES.table_grace_s * 1000)
    said = finding(fault, NOW, NOW + 180_000, repaired=True)
    assert (
        said.message.startswith("Table 1 was shown occupied with order demo.o9")
        and "for 3 min" in said.message
        and "released to DIRTY" in said.message
    )
    assert (said.kind, said.subject, said.repaired, said.since) == (SweepKind.TABLE_WITHOUT_ORDER, "T1", True, NOW)


def test_a_dirty_table_is_reported_after_twenty_minutes_never_cleaned_by_the_hub() -> None:
    (fault,) = look([table(TableStatus.DIRTY)], [])[SweepKind.TABLE_DIRTY]
    assert fault.repair is None
    assert ripe(fault, NOW, NOW + 20 * 60_000) and not ripe(fault, NOW, NOW + 19 * 60_000)
    assert "dirty for 25 min" in finding(fault, NOW, NOW + 25 * 60_000, repaired=False).message


def test_an_empty_order_is_cancelled_and_an_unfired_one_reported_counting_from_its_opening() -> None:
    empty = opened().orders[0]
    unfired = with_items("burger", "fries").model_copy(update={"id": "demo.o2", "number": 2})
    found = look([], [empty, unfired])
    (cancel,) = found[SweepKind.ORDER_EMPTY]
    (remind,) = found[SweepKind.ORDER_UNFIRED]
    assert cancel.repair is not None and cancel.repair.command_type == "order.cancel"
    assert cancel.repair.data["order_id"] == empty.id
    assert remind.repair is None
    # the opening is the start: a sweeper seeing it for the first time three hours later acts at once
    late = NOW + 3 * HOUR
    assert ripe(cancel, late, late) and ripe(remind, late, late)
    assert not ripe(remind, NOW, NOW + 2 * HOUR)
    words = finding(remind, late, late, repaired=False).message
    assert words == (
        "Order #2 was opened 3 h 0 min ago and its 2 line(s) were never sent to the kitchen: fire it or cancel it"
    )


def test_an_order_the_books_have_paid_is_closed_from_the_books() -> None:
    order = fire(with_items("burger")).orders[0]
    (fault,) = look([], [order], settled={order.id: "inv-1"})[SweepKind.SETTLED_NOT_CLOSED]
    assert fault.repair is not None
    assert fault.repair.command_type == SETTLE_REPAIR and fault.repair.data == {"order_ids": [order.id]}
    assert "invoice inv-1" in finding(fault, NOW, NOW + 61_000, repaired=True).message
    paid = order.model_copy(update={"invoice_id": "inv-1"})  # a paid takeaway waiting for its pickup
    assert look([], [paid], settled={order.id: "inv-1"}) == {}


def test_tickets_at_a_station_nobody_watches_are_reported_with_their_orders() -> None:
    order = fire(with_items("burger", "fries")).orders[0]
    found = look([], [order], watched=("fry",))
    (fault,) = found[SweepKind.TICKET_UNSEEN]
    assert fault.subject == "grill" and fault.repair is None
    assert "grill: 1 ticket(s) to make (orders #1)" in fault.message


def test_release_refuses_a_table_with_an_open_order_a_free_one_and_a_stale_version() -> None:
    order = fire(with_items("burger")).orders[0]
    seated = table(TableStatus.OCCUPIED, order.id)
    with pytest.raises(DomainError) as refused:
        release_table(seated, order, c.ReleaseTable(table_id="T1"))
    assert refused.value.code is ErrorCode.INVALID_STATE and "open order #1" in refused.value.message
    with pytest.raises(DomainError) as free:
        release_table(table(TableStatus.FREE), None, c.ReleaseTable(table_id="T1"))
    assert free.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(DomainError) as stale:
        release_table(table(TableStatus.OCCUPIED, "gone"), None, c.ReleaseTable(table_id="T1", version=2))
    assert stale.value.code is ErrorCode.VERSION_CONFLICT
    released = release_table(table(TableStatus.OCCUPIED, "gone"), None, c.ReleaseTable(table_id="T1", version=3))
    (after,) = released.tables
    assert (after.status, after.order_id, after.version) == (TableStatus.DIRTY, None, 4)
