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

from hub.domain import orders as d
from hub.domain.actors import Actor, check_command
from hub.domain.errors import DomainError
from hub.store import Store, StoredResult
from schema import commands as c
from schema.protocol import ErrorCode
from schema.records import Order

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
    command: c.Command
    command_type: str
    now: int

    @property
    def rid(self) -> str:
        return self.actor.restaurant_id

    async def order(self, order_id: str) -> Order:
        d.check_tenant(self.actor, order_id)
        order = await self.store.order(self.rid, order_id)
        if order is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no order {order_id!r}")
        return order

    async def day(self) -> str:
        restaurant = await self.store.restaurant(self.rid)
        return d.business_day(self.now, restaurant.timezone if restaurant else "UTC")


Handler = Callable[[Context], Awaitable[d.Decision]]


async def _open(ctx: Context) -> d.Decision:
    cmd = ctx.command
    assert isinstance(cmd, c.OpenOrder)
    table = await ctx.store.table(ctx.rid, cmd.table_id) if cmd.table_id else None
    counters, day = await ctx.store.counters(ctx.rid), await ctx.day()
    return d.open_order(
        cmd, ctx.actor, ctx.now, order_id=f"{ctx.rid}.o{secrets.token_hex(6)}", counters=counters, day=day, table=table
    )


async def _add(ctx: Context) -> d.Decision:
    cmd = ctx.command
    assert isinstance(cmd, c.AddItem)
    order = await ctx.order(cmd.order_id)
    menu = await ctx.store.menu(ctx.rid)
    if menu is None:
        raise DomainError(ErrorCode.NOT_FOUND, "this restaurant has no menu")
    return d.add_item(order, menu, cmd, ctx.now)


async def _change(ctx: Context) -> d.Decision:
    cmd = ctx.command
    assert isinstance(cmd, c.ChangeItem)
    return d.change_item(await ctx.order(cmd.order_id), cmd)


async def _remove(ctx: Context) -> d.Decision:
    cmd = ctx.command
    assert isinstance(cmd, c.RemoveItem)
    return d.remove_item(await ctx.order(cmd.order_id), cmd, ctx.now)


async def _fire(ctx: Context) -> d.Decision:
    cmd = ctx.command
    assert isinstance(cmd, c.FireOrder)
    order = await ctx.order(cmd.order_id)
    return d.fire_order(order, cmd, ctx.now, counters=await ctx.store.counters(ctx.rid), day=await ctx.day())


async def _item_status(ctx: Context) -> d.Decision:
    cmd = ctx.command
    assert isinstance(cmd, c.ItemStatusCommand)
    return d.set_item_status(await ctx.order(cmd.order_id), cmd, ctx.command_type, ctx.actor, ctx.now)


async def _cancel(ctx: Context) -> d.Decision:
    cmd = ctx.command
    assert isinstance(cmd, c.CancelOrder)
    order = await ctx.order(cmd.order_id)
    table = await ctx.store.table(ctx.rid, order.table_id) if order.table_id else None
    return d.cancel_order(order, table, cmd)


async def _clean(ctx: Context) -> d.Decision:
    cmd = ctx.command
    assert isinstance(cmd, c.CleanTable)
    table = await ctx.store.table(ctx.rid, cmd.table_id)
    if table is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no table {cmd.table_id!r}")
    return d.clean_table(table)


HANDLERS: dict[str, Handler] = {
    "order.open": _open,
    "order.add_item": _add,
    "order.change_item": _change,
    "order.remove_item": _remove,
    "order.fire": _fire,
    "order.cancel": _cancel,
    "item.start": _item_status,
    "item.done": _item_status,
    "item.serve": _item_status,
    "table.clean": _clean,
}


class CommandBus:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def execute(self, actor: Actor, command_id: str, command_type: str, data: dict[str, Any]) -> StoredResult:
        """Run one command; raises DomainError with the code to answer."""
        check_command(actor, command_type)
        _require_json_values(command_type, data)
        try:
            command = c.COMMANDS[command_type].model_validate(data)
        except ValidationError as exc:
            raise DomainError(ErrorCode.INVALID_COMMAND, f"invalid {command_type}", validation_details(exc)) from None
        fp = fingerprint(command_type, command.model_dump(mode="json"))
        rid = actor.restaurant_id
        prior = await self.store.stored_result(rid, command_id)
        if prior is not None:
            return self._same(prior, fp)
        handler = HANDLERS[command_type]
        outcome = None
        for attempt in range(MAX_ATTEMPTS):
            now = int(self.clock() * 1000)
            try:
                decision = await handler(Context(self.store, actor, command, command_type, now))
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
