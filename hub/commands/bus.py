"""Command handlers: validate, load, decide, commit; the same for every transport.

A command id makes a command idempotent: its first result is stored with the
commit, atomically, and every retry gets that result back without effect. A
version conflict from a concurrent writer is retried here with fresh state
(the client's own ``version`` expectation is checked by the domain).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from hub.commands.pins import Pins
from hub.commands.settle import BooksOnly, Settler
from hub.domain import billing, settlement
from hub.domain import kitchen as k
from hub.domain import orders as d
from hub.domain import stock as s
from hub.domain import tables as t
from hub.domain.actors import Actor, Role, check_command
from hub.domain.decision import Decision
from hub.domain.errors import DomainError
from hub.domain.stock import StockBook
from hub.live.store import Store, StoredResult
from schema import commands as c
from schema.billing import Discount
from schema.protocol import ErrorCode
from schema.records import Counters, Menu, Order, Restaurant, Table

__all__ = ["CommandBus", "validation_details"]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def validation_details(exc: ValidationError) -> dict[str, Any]:
    """Pydantic's errors without echoing the input back (it may be large or hostile)."""
    return {"errors": [{"loc": list(err["loc"]), "msg": err["msg"]} for err in exc.errors(include_input=False)[:10]]}


def _require_json_values(command_type: str, data: dict[str, Any]) -> None:
    """Refuse what JSON cannot carry (msgpack bytes and extension types): commands are stored as JSON."""
    for key, value in data.items():
        try:
            orjson.dumps(value)
        except TypeError:
            msg = "bytes and msgpack extension types are not allowed; send strings, numbers, lists and maps"
            details = {"errors": [{"loc": [key], "msg": msg}]}
            raise DomainError(ErrorCode.INVALID_COMMAND, f"invalid {command_type}", details) from None


def fingerprint(command_type: str, data: dict[str, Any]) -> str:
    return hashlib.sha1(command_type.encode() + orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Context:
    store: Store
    actor: Actor
    command: Any
    command_type: str
    now: int
    pins: Pins | None = None

    async def editable(self, order_id: str) -> Order:
        """An order this terminal may change: open, not being paid, and no other terminal holds its bill."""
        order = await self.order(order_id)
        settlement.check_bill_lock(order, self.actor, self.now)
        return order

    @property
    def rid(self) -> str:
        return self.actor.restaurant_id

    async def order(self, order_id: str, *, follow_merge: bool = False) -> Order:
        d.check_tenant(self.actor, order_id)
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
        return d.business_day(self.now, (await self.restaurant()).timezone)

    async def book(self, menu_item_ids: list[str]) -> StockBook:
        return StockBook(await self.store.stock(self.rid, menu_item_ids))

    async def kitchen(self, menu_item_ids: list[str]) -> tuple[Counters, StockBook, d.KitchenContext]:
        """The day's counters, the stock of these items and who is watching which station: one round trip."""
        settings = (await self.restaurant()).kitchen
        counters, stock, live = await self.store.kitchen_inputs(self.rid, menu_item_ids, self.now)
        return counters, StockBook(stock), d.KitchenContext(live, settings.ack_timeout_s * 1000)

    async def recall_window_ms(self) -> int:
        return (await self.restaurant()).kitchen.recall_window_s * 1000


Handler = Callable[[Context], Awaitable[Decision]]


async def _open(ctx: Context) -> Decision:
    cmd: c.OpenOrder = ctx.command
    table = await ctx.store.table(ctx.rid, cmd.table_id) if cmd.table_id else None
    counters, day = await ctx.store.counters(ctx.rid), await ctx.day()
    return d.open_order(
        cmd, ctx.actor, ctx.now, order_id=f"{ctx.rid}.o{secrets.token_hex(6)}", counters=counters, day=day, table=table
    )


async def _add(ctx: Context) -> Decision:
    cmd: c.AddItem = ctx.command
    order = await ctx.editable(cmd.order_id)
    return d.add_item(order, await ctx.menu(), await ctx.book([cmd.menu_item_id]), cmd, ctx.now)


def _line_item(order: Order, line_id: str) -> list[str]:
    line = order.line(line_id)
    return [line.menu_item_id] if line else []


async def _change(ctx: Context) -> Decision:
    cmd: c.ChangeItem = ctx.command
    order = await ctx.editable(cmd.order_id)
    _, book, kitchen = await ctx.kitchen(_line_item(order, cmd.line_id))
    return d.change_item(order, book, cmd, ctx.now, kitchen)


async def _remove(ctx: Context) -> Decision:
    cmd: c.RemoveItem = ctx.command
    order = await ctx.editable(cmd.order_id)
    _, book, kitchen = await ctx.kitchen(_line_item(order, cmd.line_id))
    return d.remove_item(order, book, cmd, ctx.now, kitchen)


async def _fire(ctx: Context) -> Decision:
    cmd: c.FireOrder = ctx.command
    order = await ctx.order(cmd.order_id)
    counters, book, kitchen = await ctx.kitchen([i.menu_item_id for i in order.items if i.unsent])
    return d.fire_order(order, cmd, ctx.now, counters=counters, day=await ctx.day(), book=book, kitchen=kitchen)


async def _hold(ctx: Context) -> Decision:
    cmd: c.HoldCourse = ctx.command
    return d.hold_course(await ctx.order(cmd.order_id), cmd, ctx.now)


async def _rush(ctx: Context) -> Decision:
    cmd: c.RushOrder = ctx.command
    return d.rush_order(await ctx.order(cmd.order_id), ctx.actor, cmd, ctx.now)


async def _note(ctx: Context) -> Decision:
    cmd: c.AddNote = ctx.command
    return d.add_note(await ctx.order(cmd.order_id), ctx.actor, cmd, ctx.now)


async def _item_status(ctx: Context) -> Decision:
    cmd: c.ItemStatusCommand = ctx.command
    order = await ctx.order(cmd.order_id)
    window = await ctx.recall_window_ms()
    return k.set_item_status(order, cmd, ctx.command_type, ctx.actor, ctx.now, recall_window_ms=window)


async def _bump(ctx: Context) -> Decision:
    cmd: c.BumpOrder = ctx.command
    return k.bump_order(await ctx.order(cmd.order_id), cmd, ctx.actor, ctx.now)


async def _recall(ctx: Context) -> Decision:
    cmd: c.RecallOrder = ctx.command
    order = await ctx.order(cmd.order_id)
    return k.recall_order(order, cmd, ctx.actor, ctx.now, recall_window_ms=await ctx.recall_window_ms())


async def _ack(ctx: Context) -> Decision:
    cmd: c.AckTickets = ctx.command
    return k.ack_tickets(await ctx.order(cmd.order_id, follow_merge=True), cmd, ctx.actor, ctx.now)


async def _check_ack(ctx: Context) -> Decision:
    cmd: c.CheckAck = ctx.command
    return k.check_ack(await ctx.order(cmd.order_id, follow_merge=True), cmd.ticket_id, ctx.now)


async def _cancel(ctx: Context) -> Decision:
    cmd: c.CancelOrder = ctx.command
    order = await ctx.editable(cmd.order_id)
    tables = {}
    for table_id in (order.table_id, *order.extra_tables):
        table = await ctx.store.table(ctx.rid, table_id) if table_id else None
        if table is not None:
            tables[table.id] = table
    book = await ctx.book([i.menu_item_id for i in order.items if i.unsent])
    return d.cancel_order(order, tables, book, cmd)


async def _clean(ctx: Context) -> Decision:
    cmd: c.CleanTable = ctx.command
    return t.clean_table(await ctx.table(cmd.table_id))


async def _move(ctx: Context) -> Decision:
    cmd: c.MoveOrder = ctx.command
    order = await ctx.order(cmd.order_id)
    source = await ctx.store.table(ctx.rid, order.table_id) if order.table_id else None
    return t.move_order(order, source, await ctx.table(cmd.table_id), cmd, ctx.now)


async def _table_order(ctx: Context, table: Table) -> Order:
    if table.order_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, f"table {table.name} has no open order")
    return await ctx.order(table.order_id)


async def _merge(ctx: Context) -> Decision:
    cmd: c.MergeTables = ctx.command
    source_table, target_table = await ctx.table(cmd.from_table_id), await ctx.table(cmd.into_table_id)
    source, target = await _table_order(ctx, source_table), await _table_order(ctx, target_table)
    for order in (source, target):
        settlement.check_bill_lock(order, ctx.actor, ctx.now)
    source_tables = [tb for tb in await ctx.store.tables(ctx.rid) if tb.order_id == source.id]
    return t.merge_tables(source_tables, source, target, ctx.now)


async def _stock_flag(ctx: Context) -> Decision:
    cmd: c.StockCommand = ctx.command
    stock = (await ctx.store.stock(ctx.rid, [cmd.menu_item_id])).get(cmd.menu_item_id)
    return s.set_stock_out(await ctx.menu(), stock, cmd, out=ctx.command_type == "stock.out")


async def _configure(ctx: Context) -> Decision:
    restaurant = await ctx.store.restaurant(ctx.rid, fresh=True)
    if restaurant is None:
        raise DomainError(ErrorCode.NOT_FOUND, "this restaurant is not set up")
    return k.configure(restaurant, await ctx.store.menu(ctx.rid), ctx.command)


async def _preview(ctx: Context) -> Decision:
    cmd: c.PreviewBill = ctx.command
    restaurant = await ctx.restaurant()
    orders = [await ctx.order(order_id) for order_id in cmd.order_ids]
    return settlement.preview(orders, restaurant.billing, restaurant.currency)


async def _discount(ctx: Context) -> Decision:
    cmd: c.DiscountOrder = ctx.command
    order = await ctx.editable(cmd.order_id)
    d.require_editable(order)
    restaurant = await ctx.restaurant()
    approver = None
    if cmd.pin is not None:
        if ctx.pins is None:
            raise DomainError(ErrorCode.UNAVAILABLE, "PINs cannot be checked here")
        approver = await ctx.pins.approver(ctx.rid, ctx.actor.device_id, cmd.pin)
    discount = Discount(
        id=f"D{order.version + 1}",  # versions only grow: a removed discount's id is never reused
        kind=cmd.kind,
        value=cmd.value,
        line_id=cmd.line_id,
        reason=cmd.reason,
        by=ctx.actor.device_id,
        approved_by=approver,
    )
    new = billing.add_discount(order, discount, restaurant.billing, paid=order.paid)
    bill = billing.compute_bill([new], restaurant.billing, restaurant.currency)
    return d.updated(new, result_extra={"bill": bill.model_dump(mode="json"), "approved_by": approver})


async def _remove_discount(ctx: Context) -> Decision:
    cmd: c.RemoveDiscount = ctx.command
    order = await ctx.editable(cmd.order_id)
    d.require_editable(order)
    if order.paid:
        raise DomainError(ErrorCode.INVALID_STATE, "a part-paid order's discounts stay until it is settled")
    return d.updated(billing.remove_discount(order, cmd.discount_id))


async def _bill_lock(ctx: Context) -> Decision:
    cmd: c.RequestBill = ctx.command
    order = await ctx.order(cmd.order_id)
    tables = await ctx.store.tables(ctx.rid)
    if ctx.command_type == "bill.request":
        lock_ms = (await ctx.restaurant()).billing.bill_lock_s * 1000
        return settlement.request_bill(order, tables, ctx.actor, ctx.now, lock_ms)
    return settlement.release_bill(order, tables, ctx.actor, ctx.now, expired=ctx.command_type == "bill.expire")


async def _set_pin(ctx: Context) -> Decision:
    cmd: c.SetPin = ctx.command
    if ctx.pins is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "PINs cannot be set here")
    await ctx.pins.set(ctx.rid, ctx.actor.device_id, cmd.pin)
    return Decision(result={"manager": ctx.actor.device_id})


async def _stock_set(ctx: Context) -> Decision:
    cmd: c.SetStock = ctx.command
    stock = (await ctx.store.stock(ctx.rid, [cmd.menu_item_id])).get(cmd.menu_item_id)
    return s.set_stock(await ctx.menu(), stock, cmd)


# Written to the books in Postgres first (hub/commands/settle.py), then told live.
MONEY_COMMANDS = frozenset({"invoice.refund", "invoice.void", "drawer.float", "drawer.payout", "day.close"})

HANDLERS: dict[str, Handler] = {
    "order.open": _open,
    "order.add_item": _add,
    "order.change_item": _change,
    "order.remove_item": _remove,
    "order.fire": _fire,
    "order.cancel": _cancel,
    "order.hold": _hold,
    "order.rush": _rush,
    "order.bump": _bump,
    "order.recall": _recall,
    "order.note": _note,
    "order.move": _move,
    "item.start": _item_status,
    "item.done": _item_status,
    "item.serve": _item_status,
    "item.recall": _item_status,
    "ticket.ack": _ack,
    "ticket.check_ack": _check_ack,
    "table.clean": _clean,
    "table.merge": _merge,
    "stock.out": _stock_flag,
    "stock.available": _stock_flag,
    "stock.set": _stock_set,
    "kitchen.configure": _configure,
    "bill.preview": _preview,
    "order.discount": _discount,
    "order.remove_discount": _remove_discount,
    "bill.request": _bill_lock,
    "bill.release": _bill_lock,
    "bill.expire": _bill_lock,
    "manager.set_pin": _set_pin,
}


class CommandBus:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        settler: Settler | None = None,
        pins: Pins | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settler = settler
        self.pins = pins
        self.money = BooksOnly(settler, pins) if settler is not None else None

    async def execute(self, actor: Actor, command_id: str, command_type: str, data: dict[str, Any]) -> StoredResult:
        """Run one command; raises DomainError with the code to answer."""
        check_command(actor, command_type)
        _require_json_values(command_type, data)
        try:
            command = c.COMMANDS[command_type].model_validate(data)
        except ValidationError as exc:
            raise DomainError(ErrorCode.INVALID_COMMAND, f"invalid {command_type}", validation_details(exc)) from None
        return await self._run(actor, command_id, command_type, command)

    async def execute_internal(self, rid: str, command_id: str, command_type: str, command: c.Command) -> StoredResult:
        """Run one of the hub's own commands (timers): same commit path, idempotent across nodes by id."""
        return await self._run(Actor(rid, Role.MANAGER, "hub"), command_id, command_type, command)

    async def _run(self, actor: Actor, command_id: str, command_type: str, command: c.Command) -> StoredResult:
        fp = fingerprint(command_type, command.model_dump(mode="json"))
        rid = actor.restaurant_id
        prior = await self.store.stored_result(rid, command_id)
        if prior is not None:
            return self._same(prior, fp)
        if command_type in MONEY_COMMANDS:
            if self.money is None:
                raise DomainError(ErrorCode.UNAVAILABLE, "this needs the books (Postgres); none is configured")
            return await self.money.run(actor, command_id, fp, command_type, command)
        if command_type == "order.pay":
            # Money is recorded in Postgres before live state changes: its own path (hub/commands/settle.py).
            if self.settler is None:
                raise DomainError(ErrorCode.UNAVAILABLE, "payments need the books (Postgres); none is configured")
            assert isinstance(command, c.PayOrder)
            return await self.settler.pay(actor, command_id, fp, command)
        handler = HANDLERS[command_type]
        outcome = None
        for attempt in range(MAX_ATTEMPTS):
            now = int(self.clock() * 1000)
            try:
                decision = await handler(Context(self.store, actor, command, command_type, now, self.pins))
            except DomainError as exc:
                if exc.code is ErrorCode.WRONG_TENANT:
                    logger.warning(
                        "tenant violation: restaurant=%s device=%s role=%s command=%s",
                        rid, actor.device_id, actor.role, command_type,
                    )  # fmt: skip
                # A concurrent copy of this command may have committed since we looked.
                prior = await self.store.stored_result(rid, command_id)
                if prior is not None:
                    return self._same(prior, fp)
                raise
            outcome = await self.store.commit(rid, command_id, fp, decision, now)
            if outcome.stored is not None:
                return self._same(outcome.stored, fp) if outcome.duplicate else outcome.stored
            # Lost a race (to another terminal, or on the day's counters): back off a little, at random,
            # so the writers spread out instead of colliding again.
            await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
        conflict = outcome.conflict if outcome else "?"
        raise DomainError(ErrorCode.BUSY, f"too much contention on {conflict}; retry with the same id")

    @staticmethod
    def _same(prior: StoredResult, fp: str) -> StoredResult:
        if prior.fingerprint != fp:
            raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "this command id was used for another command")
        return prior
