"""What a command handler gets: the store, who asks, the validated payload and the time.

Handlers read what they need through it, so every read a decision depends on
goes through one place that also enforces the tenant and the bill lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fireflow.hub.books.customers import Customers
from fireflow.hub.books.groups import Groups
from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain import orders, settlement
from fireflow.hub.domain.actors import Actor
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.invoice_links import InvoiceLinks
from fireflow.hub.domain.stock import StockBook
from fireflow.hub.live.devices import Devices
from fireflow.hub.live.store import Store
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Counters, Menu, Order, Restaurant, Routing, Table

if TYPE_CHECKING:
    from fireflow.hub.commands.settle import BooksOnly

__all__ = ["AtOrder", "Context", "Handler"]


@dataclass(frozen=True, slots=True)
class Context:
    store: Store
    actor: Actor
    command: Any
    command_type: str
    now: int
    pins: Pins | None = None
    devices: Devices | None = None
    customers: Customers | None = None
    command_id: str = ""
    groups: Groups | None = None
    money: BooksOnly | None = None  # the books (Postgres), for what prints from them: receipts, the Z-report
    links: InvoiceLinks | None = None  # the customers' invoice links, for the receipt's QR code

    async def editable(self, order_id: str) -> Order:
        """An order this terminal may change: open, not being paid, and no other terminal holds its bill."""
        order = await self.order(order_id)
        settlement.check_bill_lock(order, self.actor, self.now)
        return order

    async def at_order(
        self, order_id: str, *, editable: bool = False, menu: bool = False, items: Sequence[str] = ()
    ) -> AtOrder:
        """An order with the kitchen's inputs (and the menu, and the stock of ``items``), read in one round trip:
        a fire or an added item is the hot path, and each round trip costs the hub more than the deciding."""
        orders.check_tenant(self.actor, order_id)
        found = await self.store.order_inputs(self.rid, order_id, self.now, kitchen=True, menu=menu, items=items)
        if found.order is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no order {order_id!r}")
        if editable:
            settlement.check_bill_lock(found.order, self.actor, self.now)
        if menu and found.menu is None:
            raise DomainError(ErrorCode.NOT_FOUND, "this restaurant has no menu")
        kitchen = await self._kitchen_context(found.live_stations)
        return AtOrder(found.order, found.counters, StockBook(found.stock), kitchen, found.menu)

    @property
    def rid(self) -> str:
        return self.actor.restaurant_id

    async def order(self, order_id: str, *, follow_merge: bool = False) -> Order:
        orders.check_tenant(self.actor, order_id)
        order = await self.store.order(self.rid, order_id)
        # A merged order's tickets live on in the order it joined: acknowledgements follow them there.
        for _ in range(8):
            if order is None or not follow_merge or order.merged_into is None:
                break
            order = await self.store.order(self.rid, order.merged_into)
        if order is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no order {order_id!r}")
        return order

    async def table(self, table_id: str) -> Table:
        table = await self.store.table(self.rid, table_id)
        if table is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no table {table_id!r}")
        return table

    async def menu(self) -> Menu:
        menu = await self.store.menu(self.rid)
        if menu is None:
            raise DomainError(ErrorCode.NOT_FOUND, "this restaurant has no menu")
        return menu

    async def restaurant(self) -> Restaurant:
        restaurant = await self.store.restaurant(self.rid)
        return restaurant or Restaurant(id=self.rid, name=self.rid)

    async def day(self) -> str:
        return orders.business_day(self.now, (await self.restaurant()).timezone)

    async def book(self, menu_item_ids: list[str]) -> StockBook:
        return StockBook(await self.store.stock(self.rid, menu_item_ids))

    async def _kitchen_context(self, live: set[str]) -> orders.KitchenContext:
        settings = (await self.restaurant()).kitchen
        printers = {s.id: s.printer for s in settings.stations if s.routing is not Routing.SCREEN and s.printer}
        return orders.KitchenContext(
            live, settings.ack_timeout_s * 1000, printers, self.actor.device_id, settings.print_confirm_s * 1000
        )

    async def recall_window_ms(self) -> int:
        return (await self.restaurant()).kitchen.recall_window_s * 1000


@dataclass(frozen=True, slots=True)
class AtOrder:
    """An order and what was read with it (``Context.at_order``)."""

    order: Order
    counters: Counters
    book: StockBook
    kitchen: orders.KitchenContext
    menu: Menu | None


Handler = Callable[[Context], Awaitable[Decision]]
