"""Builders for the domain tests: a demo order moved through decide functions, no servers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fireflow.hub.domain import orders as d
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.stock import StockBook
from fireflow.hub.run.demo import demo_menu, demo_tables
from fireflow.schema import commands as c
from fireflow.schema.records import Counters, KitchenTicket, Order, OrderType, Stock

WAITER = Actor("demo", Role.WAITER, "waiter-1")
GRILL = Actor("demo", Role.KITCHEN, "kds-grill", ("grill",))
EXPO = Actor("demo", Role.EXPO, "expo-1", ("*",))
MENU = demo_menu()
NOW = 1_700_000_000_000
DAY = "2023-11-14"
ALL_LIVE = d.KitchenContext(live_stations=("grill", "fry", "cold", "bar"), ack_timeout_ms=30_000)


def opened(kind: OrderType = OrderType.TAKEAWAY, **fields: Any) -> Decision:
    cmd = c.OpenOrder(type=kind, **fields)
    table = demo_tables()[0] if kind is OrderType.DINE_IN else None
    return d.open_order(cmd, WAITER, NOW, order_id="demo.o1", counters=Counters(), day=DAY, table=table)


def add(order: Order, menu_id: str, quantity: int = 1, *, book: StockBook | None = None, **fields: Any) -> Decision:
    cmd = c.AddItem(order_id=order.id, menu_item_id=menu_id, quantity=quantity, **fields)
    return d.add_item(order, MENU, book or StockBook(), cmd, NOW)


def with_items(*menu_ids: str, kind: OrderType = OrderType.TAKEAWAY) -> Order:
    order = opened(kind, **({"table_id": "T1", "guests": 2} if kind is OrderType.DINE_IN else {})).orders[0]
    for menu_id in menu_ids:
        order = add(order, menu_id).orders[0]
    return order


def fire(
    order: Order,
    counters: Counters | None = None,
    *,
    now: int = NOW + 1,
    kitchen: d.KitchenContext = ALL_LIVE,
    book: StockBook | None = None,
    **fields: Any,
) -> Decision:
    cmd = c.FireOrder(order_id=order.id, **fields)
    return d.fire_order(
        order, cmd, now, counters=counters or Counters(), day=DAY, book=book or StockBook(), kitchen=kitchen
    )


def change(order: Order, line: str, quantity: int, *, book: StockBook | None = None) -> Decision:
    cmd = c.ChangeItem(order_id=order.id, line_id=line, quantity=quantity)
    return d.change_item(order, book or StockBook(), cmd, NOW + 2, ALL_LIVE)


def remove(order: Order, line: str, *, book: StockBook | None = None) -> Decision:
    return d.remove_item(order, book or StockBook(), c.RemoveItem(order_id=order.id, line_id=line), NOW + 2, ALL_LIVE)


def events(decision: Decision, kind: str, channel: str | None = None) -> list[Event]:
    return [e for e in decision.events if e.type == kind and (channel is None or channel in e.channels)]


def tickets(decision: Decision, channel: str, kind: str = "NEW_KITCHEN_ORDER") -> list[KitchenTicket]:
    return [e.data.ticket for e in events(decision, kind, channel)]  # type: ignore[attr-defined]


def lines_of(ticket: KitchenTicket) -> list[tuple[str, str, int, int]]:
    """(line id, change, quantity, line quantity) per ticket line: what a cook reads."""
    return [(t.line_id, t.change.value, t.quantity, t.line_quantity) for t in ticket.lines]


def counted(menu_item_id: str, on_hand: int, *, reserved: int = 0, out: bool = False) -> StockBook:
    return StockBook([Stock(menu_item_id=menu_item_id, name=menu_item_id, on_hand=on_hand, reserved=reserved, out=out)])


def stock_of(decision: Decision, menu_item_id: str) -> Stock:
    return next(s for s in decision.stock if s.menu_item_id == menu_item_id)


def types(decision: Decision) -> list[str]:
    return [e.type for e in decision.events]


def union(*groups: Iterable[str]) -> set[str]:
    return {x for g in groups for x in g}
