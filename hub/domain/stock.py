"""86 and portion counts: reserve on add, release on remove or cancel, consume on fire.

``StockBook`` is a working copy of the stock records a decision touches; the
decide functions move quantities through it and then ask it for the changed
records and the events every terminal needs (counts, and 86 / available when
an item flips).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Menu, MenuItem, Stock

__all__ = ["MENU_CHANNELS", "StockBook", "set_stock", "set_stock_out"]

MENU_CHANNELS = ("menu",)


class StockBook:
    def __init__(self, stock: Mapping[str, Stock] | Iterable[Stock] = ()) -> None:
        records = stock.values() if isinstance(stock, Mapping) else stock
        self._before = {s.menu_item_id: s for s in records}
        self._now = dict(self._before)

    def get(self, menu_item_id: str) -> Stock | None:
        return self._now.get(menu_item_id)

    def check_sellable(self, menu_item_id: str, name: str, quantity: int, *, on_menu: bool = True) -> None:
        if not on_menu:
            raise DomainError(ErrorCode.ITEM_UNAVAILABLE, f"{name} is not on the menu now")
        stock = self._now.get(menu_item_id)
        if stock is None:
            return
        if stock.out:
            raise DomainError(ErrorCode.ITEM_UNAVAILABLE, f"{name} is 86'd", {"menu_item_id": menu_item_id})
        available = stock.available
        if available is not None and available < quantity:
            raise DomainError(
                ErrorCode.OUT_OF_STOCK,
                f"only {available} {name} left",
                {"menu_item_id": menu_item_id, "available": available},
            )

    def _counted(self, menu_item_id: str) -> Stock | None:
        stock = self._now.get(menu_item_id)
        return stock if stock is not None and stock.on_hand is not None else None

    def reserve(self, menu_item_id: str, quantity: int) -> int:
        """Hold portions for a line; returns how many were held (none when the item is not counted)."""
        stock = self._counted(menu_item_id)
        if stock is None:
            return 0
        self._now[menu_item_id] = stock.model_copy(update={"reserved": stock.reserved + quantity})
        return quantity

    def release(self, menu_item_id: str, quantity: int) -> int:
        """Give back portions a line held; returns how many (a line only ever gives back what it holds)."""
        stock = self._counted(menu_item_id)
        if stock is not None and quantity > 0:
            self._now[menu_item_id] = stock.model_copy(update={"reserved": max(stock.reserved - quantity, 0)})
        return quantity

    def consume(self, menu_item_id: str, quantity: int, *, reserved: int) -> None:
        """Fired: ``quantity`` portions are used, of which the line held ``reserved``."""
        stock = self._counted(menu_item_id)
        if stock is None or stock.on_hand is None:
            return
        on_hand = max(stock.on_hand - quantity, 0)
        self._now[menu_item_id] = stock.model_copy(
            update={"on_hand": on_hand, "reserved": max(stock.reserved - reserved, 0)}
        )

    def replace(self, stock: Stock) -> None:
        self._now[stock.menu_item_id] = stock

    def changed(self) -> tuple[Stock, ...]:
        """The records that changed, each with its version bumped once."""
        return tuple(
            s.model_copy(update={"version": s.version + 1})
            for item_id, s in self._now.items()
            if s != self._before.get(item_id)
        )

    def events(self, changed: tuple[Stock, ...]) -> tuple[Event, ...]:
        events: list[Event] = []
        for stock in changed:
            events.append(Event("STOCK_CHANGED", MENU_CHANNELS, e.StockChanged(stock=stock)))
            before = self._before.get(stock.menu_item_id)
            was = before.sellable if before is not None else True
            if was != stock.sellable:
                data = e.ItemAvailability(menu_item_id=stock.menu_item_id, name=stock.name, available=stock.available)
                events.append(Event("ITEM_AVAILABLE" if stock.sellable else "ITEM_86D", MENU_CHANNELS, data))
        return tuple(events)

    def settle(self) -> tuple[tuple[Stock, ...], tuple[Event, ...]]:
        changed = self.changed()
        return changed, self.events(changed)


def _menu_item(menu: Menu, menu_item_id: str) -> MenuItem:
    item = menu.item(menu_item_id)
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no menu item {menu_item_id!r}")
    return item


def _stock_decision(book: StockBook, item: MenuItem) -> Decision:
    changed, events = book.settle()
    current = changed[0] if changed else book.get(item.id)
    return Decision(
        result={"stock": current.model_dump(mode="json") if current else None},
        stock=changed,
        events=events,
    )


def set_stock_out(menu: Menu, stock: Stock | None, cmd: c.StockCommand, out: bool) -> Decision:
    """stock.out (86) and stock.available: the item's count, if any, is kept."""
    item = _menu_item(menu, cmd.menu_item_id)
    current = stock or Stock(menu_item_id=item.id, name=item.name)
    book = StockBook([current])
    if current.out == out and (out or current.sellable):
        return _stock_decision(book, item)  # already so: nothing to tell anyone
    # Bringing an item back that had run out of portions without a new count makes it uncounted.
    on_hand = current.on_hand if out or current.on_hand is None or current.on_hand > current.reserved else None
    book.replace(current.model_copy(update={"out": out, "on_hand": on_hand}))
    return _stock_decision(book, item)


def set_stock(menu: Menu, stock: Stock | None, cmd: c.SetStock) -> Decision:
    """Portions on hand, as the kitchen counts them; unfired order lines hold some (``None`` stops counting).

    Reservations are counted from the moment an item is counted: lines added
    before hold nothing.
    """
    item = _menu_item(menu, cmd.menu_item_id)
    current = stock or Stock(menu_item_id=item.id, name=item.name)
    book = StockBook([current])
    reserved = 0 if cmd.quantity is None or current.on_hand is None else current.reserved
    out = False if cmd.quantity else current.out
    book.replace(current.model_copy(update={"on_hand": cmd.quantity, "reserved": reserved, "out": out}))
    return _stock_decision(book, item)
