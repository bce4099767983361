"""The order and table state machines, without servers: rules and properties over random command sequences."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fireflow.hub.domain import kitchen as k
from fireflow.hub.domain import orders as d
from fireflow.hub.domain import tables as t
from fireflow.hub.domain.actors import Actor
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.stock import StockBook
from fireflow.hub.run.demo import demo_tables
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Counters, ItemStatus, Order, OrderStatus, OrderType, TableStatus
from tests.domain_support import (
    DAY,
    EXPO,
    GRILL,
    MENU,
    NOW,
    WAITER,
    add,
    change,
    fire,
    opened,
    remove,
    tickets,
    with_items,
)


def status(order: Order, line: str, kind: str, actor: Actor = EXPO) -> Decision:
    """Run `item.<move>` (kind is the command type) on one line."""
    cmd = c.ItemStatusCommand(order_id=order.id, line_id=line)
    return k.set_item_status(
        order, cmd, k.ItemMove(kind.removeprefix("item.")), actor, NOW + 2, recall_window_ms=600_000
    )


def test_dine_in_occupies_its_table_and_says_so_on_tables() -> None:
    """Opening a dine-in order turns its table OCCUPIED and tells the tables channel."""
    decision = opened(OrderType.DINE_IN, table_id="T1", guests=3)
    (table,) = decision.tables
    assert table.status is TableStatus.OCCUPIED and table.order_id == "demo.o1"
    assert [(e.type, e.channels) for e in decision.events][1] == ("TABLE_STATUS_CHANGED", ("tables",))


def test_occupied_table_is_refused() -> None:
    """A table that is not FREE cannot take a second order."""
    busy = demo_tables()[0].model_copy(update={"status": TableStatus.OCCUPIED})
    cmd = c.OpenOrder(type=OrderType.DINE_IN, table_id="T1", guests=2)
    with pytest.raises(DomainError) as err:
        d.open_order(cmd, WAITER, NOW, order_id="demo.o2", counters=Counters(), day=DAY, table=busy)
    assert err.value.code is ErrorCode.TABLE_UNAVAILABLE


def test_order_numbers_restart_each_day() -> None:
    """Order numbers count up within a day and restart at 1 on the next."""
    cmd = c.OpenOrder(type=OrderType.TAKEAWAY)
    first = d.open_order(cmd, WAITER, NOW, order_id="demo.a", counters=Counters(), day=DAY, table=None)
    assert first.counters is not None
    second = d.open_order(cmd, WAITER, NOW, order_id="demo.b", counters=first.counters, day=DAY, table=None)
    assert second.orders[0].number == 2
    assert second.counters is not None
    third = d.open_order(cmd, WAITER, NOW, order_id="demo.c", counters=second.counters, day="2023-11-15", table=None)
    assert third.orders[0].number == 1


def test_items_snapshot_the_menu() -> None:
    """An added line keeps name, price, station, category, tax code and requires_prep from the menu."""
    order = with_items("burger")
    (line,) = order.items
    menu_item = MENU.item("burger")
    assert menu_item is not None
    assert (line.name, line.unit_price, line.station, line.category, line.tax_code, line.requires_prep) == (
        menu_item.name, menu_item.price, menu_item.station, menu_item.category, menu_item.tax_code, True,
    )  # fmt: skip


def test_a_lines_choices_are_checked_priced_and_kept_as_they_were_chosen() -> None:
    """Required, at most, and only the item's own options; deltas priced in; the menu's order; tickets name them."""
    order = with_items()
    refusals = [
        ({}, "doneness", "choose Doneness"),
        ({"doneness": ["rare", "well"]}, "doneness", "at most 1"),
        ({"doneness": ["raw"]}, "doneness", "no option 'raw'"),
        ({"doneness": ["rare"], "sauce": ["pepper"]}, "sauce", "no choice 'sauce'"),
        ({"doneness": ["rare"], "sides": ["mash", "mash"]}, "sides", "chosen twice"),
    ]
    for modifiers, group, words in refusals:
        with pytest.raises(DomainError) as err:
            add(order, "ribeye", modifiers=modifiers)
        assert err.value.code is ErrorCode.INVALID_MODIFIERS and words in err.value.message, modifiers
        assert err.value.details == {"menu_item_id": "ribeye", "group": group}
    chosen = {"sides": ["truffle-fries", "greens"], "doneness": ["medium"]}
    order = add(order, "ribeye", 2, modifiers=chosen).orders[0]
    (line,) = order.items
    ribeye = MENU.item("ribeye")
    assert ribeye is not None
    assert line.unit_price == ribeye.price + 9000 and line.total == 2 * line.unit_price
    assert [(m.group, m.option, m.name, m.price_delta) for m in line.modifiers] == [
        ("doneness", "medium", "Medium", 0),
        ("sides", "greens", "Greens", 0),
        ("sides", "truffle-fries", "Truffle fries", 9000),
    ]
    assert line.label == "Ribeye steak (Medium, Greens, Truffle fries)"
    (grill,) = tickets(fire(order), "kitchen:grill")
    assert grill.lines[0].modifiers == ("Medium", "Greens", "Truffle fries")
    plain = add(order, "burger").orders[0]  # the burger's choices are all optional
    assert plain.items[1].modifiers == () and plain.items[1].unit_price == MENU.item("burger").price  # type: ignore[union-attr]


def test_unavailable_item_is_refused() -> None:
    """An item marked unavailable cannot be added."""
    menu = MENU.model_copy(update={"items": tuple(i.model_copy(update={"available": False}) for i in MENU.items)})
    with pytest.raises(DomainError) as err:
        d.add_item(with_items(), menu, StockBook(), c.AddItem(order_id="demo.o1", menu_item_id="burger"), NOW)
    assert err.value.code is ErrorCode.ITEM_UNAVAILABLE


def test_fire_sends_each_station_only_its_items_and_expo_everything() -> None:
    """Fire: one NEW_KITCHEN_ORDER per station with that station's lines, one to expo with all of them."""
    decision = fire(with_items("burger", "fries", "burger", "mojito", "water"))
    tickets = {e.channels: e.data for e in decision.events if e.type == "NEW_KITCHEN_ORDER"}
    assert set(tickets) == {("kitchen:grill",), ("kitchen:fry",), ("kitchen:bar",), ("expo",)}
    grill = tickets[("kitchen:grill",)]
    assert [i.menu_item_id for i in grill.ticket.lines] == ["burger", "burger"]  # type: ignore[attr-defined]
    bar = tickets[("kitchen:bar",)]
    assert [i.menu_item_id for i in bar.ticket.lines] == ["mojito"]  # type: ignore[attr-defined]
    assert len(tickets[("expo",)].ticket.lines) == 5  # type: ignore[attr-defined]


def test_no_prep_items_are_done_on_fire_and_alone_make_the_order_ready() -> None:
    """Items needing no preparation go straight to DONE; an order of only those is READY at once."""
    decision = fire(with_items("water", "soda"))
    order = decision.orders[0]
    assert all(i.status is ItemStatus.DONE for i in order.items)
    assert order.status is OrderStatus.READY
    assert "ORDER_READY" in [e.type for e in decision.events]
    assert not [e for e in decision.events if e.type == "NEW_KITCHEN_ORDER" and e.channels != ("expo",)]


def test_takeaway_gets_a_daily_token_on_first_fire_only() -> None:
    """A takeaway order gets the next token of the day when first fired, and keeps it."""
    decision = fire(with_items("burger"), Counters(day=DAY, token=41, version=3))
    order = decision.orders[0]
    assert order.token == 42 and decision.counters is not None and decision.counters.version == 4
    more = add(order, "fries").orders[0]
    again = fire(more, decision.counters)
    assert again.orders[0].token == 42 and again.counters is None


def test_ready_when_every_item_done_and_ready_reaches_waiter_cashier_expo() -> None:
    """The last DONE makes the order READY; ORDER_READY goes to orders, waiter, cashier and expo."""
    order = fire(with_items("burger", "fries", kind=OrderType.DINE_IN)).orders[0]
    order = status(order, "L1", "item.start").orders[0]
    assert order.items[0].status is ItemStatus.PREPARING
    order = status(order, "L1", "item.done").orders[0]
    assert order.status is OrderStatus.ACTIVE
    decision = status(order, "L2", "item.done")
    assert decision.orders[0].status is OrderStatus.READY
    ready = [e for e in decision.events if e.type == "ORDER_READY"]
    assert len(ready) == 1
    assert {"orders", "waiter:waiter-1", "cashier", "expo"} <= set(ready[0].channels)


def test_kitchen_acts_only_on_its_stations_items() -> None:
    """A grill screen may bump a burger but not fries."""
    order = fire(with_items("burger", "fries")).orders[0]
    status(order, "L1", "item.done", GRILL)
    with pytest.raises(DomainError) as err:
        status(order, "L2", "item.done", GRILL)
    assert err.value.code is ErrorCode.FORBIDDEN


def test_stale_version_conflicts_with_current_state() -> None:
    """A command carrying an old version gets VERSION_CONFLICT with the current order."""
    order = with_items("burger")
    with pytest.raises(DomainError) as err:
        add(order, "fries", version=order.version - 1)
    assert err.value.code is ErrorCode.VERSION_CONFLICT
    assert err.value.details is not None and err.value.details["current"]["version"] == order.version


def test_cancel_frees_the_table_and_tells_the_kitchen() -> None:
    """Cancelling a fired dine-in order frees its table and reaches the stations that had tickets."""
    order = fire(with_items("burger", kind=OrderType.DINE_IN)).orders[0]
    table = demo_tables()[0].model_copy(update={"status": TableStatus.OCCUPIED, "order_id": order.id})
    decision = d.cancel_order(order, {table.id: table}, StockBook(), c.CancelOrder(order_id=order.id))
    assert decision.orders[0].status is OrderStatus.CANCELLED
    assert decision.tables[0].status is TableStatus.FREE
    assert "kitchen:grill" in decision.events[0].channels


def test_clean_only_a_dirty_table() -> None:
    """table.clean turns DIRTY into FREE and refuses anything else."""
    table = demo_tables()[0]
    with pytest.raises(DomainError):
        t.clean_table(table)
    dirty = table.model_copy(update={"status": TableStatus.DIRTY})
    assert t.clean_table(dirty).tables[0].status is TableStatus.FREE


def test_other_tenants_ids_are_recognised() -> None:
    """An id minted for another restaurant is WRONG_TENANT, not merely unknown."""
    with pytest.raises(DomainError) as err:
        d.check_tenant(WAITER, "other.o123")
    assert err.value.code is ErrorCode.WRONG_TENANT
    d.check_tenant(WAITER, "demo.o123")


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "change", "remove", "fire", "start", "done", "serve", "cancel"]),
        st.sampled_from([i.id for i in MENU.items]),
        st.integers(min_value=1, max_value=6),
        st.integers(min_value=1, max_value=5),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(ACTIONS)
def test_random_command_sequences_keep_the_invariants(actions: list[tuple[str, str, int, int]]) -> None:
    """Any sequence of commands: refusals change nothing, versions step by one, READY means all sent and done."""
    order = with_items()
    counters = Counters()
    ready_events = 0
    for action, menu_id, line_no, qty in actions:
        line = f"L{line_no}"
        before = order
        try:
            if action == "add":
                decision = add(order, menu_id, qty)
            elif action == "change":
                decision = change(order, line, qty)
            elif action == "remove":
                decision = remove(order, line)
            elif action == "fire":
                decision = fire(order, counters)
            elif action == "cancel":
                decision = d.cancel_order(order, {}, StockBook(), c.CancelOrder(order_id=order.id))
            else:
                decision = status(order, line, f"item.{action}")
        except DomainError:
            assert order == before
            continue
        (order,) = decision.orders
        assert order.version == before.version + 1
        if decision.counters is not None:
            counters = decision.counters
        ready_events += sum(e.type == "ORDER_READY" for e in decision.events)
        if order.status in (OrderStatus.ACTIVE, OrderStatus.READY):
            all_done = bool(order.items) and all(not i.unsent and i.status in d.FINISHED for i in order.items)
            assert (order.status is OrderStatus.READY) == all_done
        assert all(isinstance(i.unit_price * i.quantity, int) for i in order.items)
    assert ready_events >= (1 if order.status is OrderStatus.READY else 0)


@pytest.mark.parametrize(
    ("zone", "midnight_utc"),
    [
        ("UTC", "2026-12-05T00:00:00"),
        ("Asia/Kolkata", "2026-12-04T18:30:00"),
        ("Asia/Kathmandu", "2026-12-04T18:15:00"),
    ],
)
def test_the_business_day_turns_at_the_restaurants_midnight_to_the_millisecond(zone: str, midnight_utc: str) -> None:
    """Found once a minute per zone: still exact on either side of a midnight at a half or quarter hour of UTC."""
    at = int(datetime.fromisoformat(midnight_utc).replace(tzinfo=UTC).timestamp() * 1000)
    assert d.business_day(at - 1, zone) == "2026-12-04"
    assert d.business_day(at, zone) == "2026-12-05"
    assert d.business_day(at + 59_999, zone) == "2026-12-05"
