"""86, portion counts with reservations, and the table life (move, merge), without servers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fireflow.hub.domain import orders as d
from fireflow.hub.domain import stock as s
from fireflow.hub.domain import tables as t
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.stock import StockBook
from fireflow.hub.run.demo import demo_tables
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Counters, Order, OrderStatus, OrderType, Stock, Table, TableStatus
from tests.domain_support import (
    DAY,
    MENU,
    NOW,
    WAITER,
    add,
    change,
    counted,
    events,
    fire,
    remove,
    stock_of,
    tickets,
    types,
    with_items,
)

# -- 86 and stock ------------------------------------------------------------------------------------


def test_counted_item_reserves_on_add_and_runs_out_with_86_events() -> None:
    """3 portions: adding 2 reserves them, 2 more is OUT_OF_STOCK, the last one makes the item 86'd."""
    book = counted("burger", 3)
    order = with_items()
    first = add(order, "burger", 2, book=book)
    assert (stock_of(first, "burger").reserved, stock_of(first, "burger").available) == (2, 1)
    assert types(first)[-1] == "STOCK_CHANGED"
    book = StockBook(first.stock)
    with pytest.raises(DomainError) as err:
        add(first.orders[0], "burger", 2, book=book)
    assert err.value.code is ErrorCode.OUT_OF_STOCK and err.value.details == {"menu_item_id": "burger", "available": 1}
    last = add(first.orders[0], "burger", 1, book=StockBook(first.stock))
    assert stock_of(last, "burger").available == 0
    assert [e.type for e in events(last, "ITEM_86D", "menu")] == ["ITEM_86D"]


def test_removing_releases_and_the_item_is_available_again() -> None:
    """Removing an unfired line gives its portions back, and ITEM_AVAILABLE tells every terminal."""
    added = add(with_items(), "burger", 2, book=counted("burger", 2))
    released = remove(added.orders[0], "L1", book=StockBook(added.stock))
    assert stock_of(released, "burger").reserved == 0
    assert "ITEM_AVAILABLE" in types(released)


def test_fire_consumes_and_cancel_releases_only_what_was_not_fired() -> None:
    """Fire turns reservations into used portions; cancelling later releases only unfired ones."""
    order = add(with_items(), "burger", 2, book=counted("burger", 10)).orders[0]
    fired = fire(order, book=counted("burger", 10, reserved=2))
    assert (stock_of(fired, "burger").on_hand, stock_of(fired, "burger").reserved) == (8, 0)
    more = change(fired.orders[0], "L1", 5, book=StockBook(fired.stock))
    assert stock_of(more, "burger").reserved == 3
    cancelled = d.cancel_order(more.orders[0], {}, StockBook(more.stock), c.CancelOrder(order_id=order.id))
    assert (stock_of(cancelled, "burger").on_hand, stock_of(cancelled, "burger").reserved) == (8, 0)


def test_86_refuses_adds_until_available_again() -> None:
    """stock.out 86s an item for every terminal; adding it is ITEM_UNAVAILABLE; stock.available brings it back."""
    out = s.set_stock_out(MENU, None, c.StockCommand(menu_item_id="fries"), out=True)
    assert types(out) == ["STOCK_CHANGED", "ITEM_86D"] and all(e.channels == ("menu",) for e in out.events)
    with pytest.raises(DomainError) as err:
        add(with_items(), "fries", book=StockBook(out.stock))
    assert err.value.code is ErrorCode.ITEM_UNAVAILABLE
    back = s.set_stock_out(MENU, out.stock[0], c.StockCommand(menu_item_id="fries"), out=False)
    assert types(back) == ["STOCK_CHANGED", "ITEM_AVAILABLE"]
    add(with_items(), "fries", book=StockBook(back.stock))
    assert s.set_stock_out(MENU, back.stock[0], c.StockCommand(menu_item_id="fries"), out=False).events == ()


def test_setting_a_count_keeps_what_open_orders_hold() -> None:
    """stock.set is the count on hand; lines already holding portions keep holding them."""
    current = Stock(menu_item_id="burger", name="b", on_hand=5, reserved=2)
    decision = s.set_stock(MENU, current, c.SetStock(menu_item_id="burger", quantity=3))
    assert (decision.stock[0].on_hand, decision.stock[0].available) == (3, 1)
    uncounted = s.set_stock(MENU, decision.stock[0], c.SetStock(menu_item_id="burger", quantity=None))
    assert uncounted.stock[0].available is None and uncounted.stock[0].sellable


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "change", "remove", "fire", "cancel"]), st.integers(1, 4), st.integers(1, 4)),
        max_size=30,
    )
)
def test_reserved_is_always_the_unfired_quantity(actions: list[tuple[str, int, int]]) -> None:
    """Whatever happens, reserved equals the unfired quantity held and on hand only drops by what was fired."""
    order = with_items()
    stock = Stock(menu_item_id="burger", name="b", on_hand=12)
    fired_total = 0
    for action, n, qty in actions:
        book = StockBook([stock])
        try:
            if action == "add":
                decision = add(order, "burger", qty, book=book)
            elif action == "change":
                decision = change(order, f"L{n}", qty, book=book)
            elif action == "remove":
                decision = remove(order, f"L{n}", book=book)
            elif action == "fire":
                decision = fire(order, book=book)
            else:
                decision = d.cancel_order(order, {}, book, c.CancelOrder(order_id=order.id))
        except DomainError as exc:
            assert exc.code is not ErrorCode.OUT_OF_STOCK or stock.available is not None
            continue
        before = {i.id: i.sent for i in order.items}
        order = decision.orders[0]
        fired_total += sum(i.sent - before.get(i.id, 0) for i in order.items if i.sent > before.get(i.id, 0))
        stock = next((x for x in decision.stock if x.menu_item_id == "burger"), stock)
        unsent = sum(i.unsent for i in order.items) if order.status in d.OPEN else 0
        assert stock.reserved == unsent
        assert stock.on_hand == 12 - fired_total
        assert stock.on_hand is not None and stock.reserved <= stock.on_hand


# -- tables ------------------------------------------------------------------------------------------


def _seated(table: Table, order_id: str) -> Table:
    return table.model_copy(update={"status": TableStatus.OCCUPIED, "order_id": order_id, "version": 1})


def _dine_in(order_id: str, table_id: str, *menu_ids: str) -> Order:
    order = with_items(*menu_ids, kind=OrderType.DINE_IN)
    return order.model_copy(update={"id": order_id, "table_id": table_id})


def test_move_order_to_a_free_table() -> None:
    """A party moves: the old table is free, the new one OCCUPIED, and kitchen cards show the new table."""
    tables = demo_tables()
    order = fire(_dine_in("demo.a", "T1", "burger")).orders[0]
    decision = t.move_order(
        order, _seated(tables[0], order.id), tables[1], c.MoveOrder(order_id=order.id, table_id="T2"), NOW
    )
    assert decision.orders[0].table_id == "T2"
    assert [(x.id, x.status) for x in decision.tables] == [("T1", TableStatus.FREE), ("T2", TableStatus.OCCUPIED)]
    assert types(decision).count("TABLE_STATUS_CHANGED") == 2 and "ORDER_MOVED" in types(decision)
    card = tickets(decision, "kitchen:grill", "TICKET_UPDATED")[0]
    assert card.table_id == "T2"
    busy = _seated(tables[2], "demo.other")
    with pytest.raises(DomainError) as err:
        t.move_order(order, tables[0], busy, c.MoveOrder(order_id=order.id, table_id="T3"), NOW)
    assert err.value.code is ErrorCode.TABLE_UNAVAILABLE


def test_merge_moves_lines_without_firing_anything_again() -> None:
    """Merging T2 into T1: lines are renumbered into T1's order, sent stays sent, both tables seat one order."""
    tables = demo_tables()
    target = fire(_dine_in("demo.a", "T1", "burger")).orders[0]
    source = _dine_in("demo.b", "T2", "fries", "caesar")
    source = fire(source).orders[0]
    source = add(source, "mojito").orders[0]  # unsent
    t1, t2 = _seated(tables[0], target.id), _seated(tables[1], source.id)
    decision = t.merge_tables([t2], source, target, NOW + 5)
    merged, closed = decision.orders
    assert [(i.id, i.menu_item_id, i.sent) for i in merged.items] == [
        ("L1", "burger", 1), ("L2", "fries", 1), ("L3", "caesar", 1), ("L4", "mojito", 0),
    ]  # fmt: skip
    assert closed.status is OrderStatus.MERGED and closed.merged_into == target.id
    assert merged.extra_tables == ("T2",) and decision.tables[0].order_id == target.id
    assert not events(decision, "NEW_KITCHEN_ORDER")
    assert events(decision, "ORDER_MERGED", "kitchen:fry")
    (again,) = tickets(fire(merged), "kitchen:bar")
    assert [tl.line_id for tl in again.lines] == ["L4"]
    cancel = d.cancel_order(
        merged, {t1.id: t1, "T2": decision.tables[0]}, StockBook(), c.CancelOrder(order_id=merged.id)
    )
    assert sorted(x.id for x in cancel.tables if x.status is TableStatus.FREE) == ["T1", "T2"]


def test_merging_an_order_into_itself_is_refused() -> None:
    """Two tables that already share an order cannot be merged again."""
    order = _dine_in("demo.a", "T1", "burger")
    with pytest.raises(DomainError) as err:
        t.merge_tables([], order, order, NOW)
    assert err.value.code is ErrorCode.INVALID_STATE


TABLE_ACTIONS = st.lists(
    st.tuples(st.sampled_from(["open", "cancel", "move", "merge", "clean"]), st.integers(0, 3), st.integers(0, 3)),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(TABLE_ACTIONS)
def test_tables_and_orders_always_point_at_each_other(actions: list[tuple[str, int, int]]) -> None:
    """Opens, cancels, moves and merges in any order: an OCCUPIED table seats exactly the open order that lists it."""
    tables = {tb.id: tb for tb in demo_tables(4)}
    orders: dict[str, Order] = {}
    ids = [f"T{n}" for n in range(1, 5)]
    for step, (action, x, y) in enumerate(actions):
        a, b = tables[ids[x]], tables[ids[y]]
        try:
            if action == "open":
                cmd = c.OpenOrder(type=OrderType.DINE_IN, table_id=a.id, guests=2)
                decision = d.open_order(
                    cmd, WAITER, NOW, order_id=f"demo.o{step}", counters=Counters(), day=DAY, table=a
                )
            elif action == "cancel":
                order = orders[a.order_id or ""]
                mine = {tb.id: tb for tb in tables.values() if tb.order_id == order.id}
                decision = d.cancel_order(order, mine, StockBook(), c.CancelOrder(order_id=order.id))
            elif action == "move":
                order = orders[a.order_id or ""]
                seat = tables[order.table_id or ""]
                decision = t.move_order(order, seat, b, c.MoveOrder(order_id=order.id, table_id=b.id), NOW)
            elif action == "merge":
                source, target = orders[a.order_id or ""], orders[b.order_id or ""]
                seated = [tb for tb in tables.values() if tb.order_id == source.id]
                decision = t.merge_tables(seated, source, target, NOW)
            else:
                decision = t.clean_table(a)
        except (DomainError, KeyError):
            continue
        orders.update({o.id: o for o in decision.orders})
        tables.update({tb.id: tb for tb in decision.tables})
        open_orders = {o.id: o for o in orders.values() if o.status in d.OPEN}
        for table in tables.values():
            if table.status is TableStatus.OCCUPIED:
                order = open_orders[table.order_id or ""]
                assert table.id == order.table_id or table.id in order.extra_tables
            else:
                assert table.status is TableStatus.FREE and table.order_id is None
        for order in open_orders.values():
            for table_id in (order.table_id, *order.extra_tables):
                assert tables[table_id or ""].order_id == order.id


def test_a_line_added_before_counting_never_eats_other_orders_reservations() -> None:
    """Lines hold only what they reserved: firing one added before counting began leaves others' holds alone."""
    early = add(with_items(), "burger", 1).orders[0]  # not counted yet: holds nothing
    assert early.items[0].reserved == 0
    book = counted("burger", 5, reserved=2)  # another order holds 2
    fired = fire(early, book=book)
    assert (stock_of(fired, "burger").on_hand, stock_of(fired, "burger").reserved) == (4, 2)
