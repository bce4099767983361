"""The handlers of the commands that change live state only: load, then let the domain decide.

Each is ``async (Context) -> Decision``; the bus commits the decision and
retries on a lost race. Which command runs which handler, and who may run it,
is declared once in ``fireflow.hub.commands.registry``.
"""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books import outbox, webhooks
from fireflow.hub.commands.context import Context, Handler
from fireflow.hub.domain import billing, kitchen, orders, ready_times, settlement, setup, stock, sweeps, tables
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as payloads
from fireflow.schema.billing import Discount
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Order, Table
from fireflow.schema.webhooks import ReplayWebhook, SubscribeWebhook, UnsubscribeWebhook


async def open_order(ctx: Context) -> Decision:
    cmd: payloads.OpenOrder = ctx.command
    table = await ctx.store.table(ctx.rid, cmd.table_id) if cmd.table_id else None
    counters, day = await ctx.store.counters(ctx.rid), await ctx.day()
    return orders.open_order(
        cmd, ctx.actor, ctx.now, order_id=f"{ctx.rid}.o{secrets.token_hex(6)}", counters=counters, day=day, table=table
    )


async def add(ctx: Context) -> Decision:
    cmd: payloads.AddItem = ctx.command
    at = await ctx.at_order(cmd.order_id, editable=True, menu=True, items=[cmd.menu_item_id])
    assert at.menu is not None  # at_order refuses an order without one
    return orders.add_item(at.order, at.menu, at.book, cmd, ctx.now)


async def change(ctx: Context) -> Decision:
    cmd: payloads.ChangeItem = ctx.command
    at = await ctx.at_order(cmd.order_id, editable=True)
    return orders.change_item(at.order, at.book, cmd, ctx.now, at.kitchen)


async def remove(ctx: Context) -> Decision:
    cmd: payloads.RemoveItem = ctx.command
    at = await ctx.at_order(cmd.order_id, editable=True)
    return orders.remove_item(at.order, at.book, cmd, ctx.now, at.kitchen)


async def fire(ctx: Context) -> Decision:
    cmd: payloads.FireOrder = ctx.command
    at = await ctx.at_order(cmd.order_id)
    day = await ctx.day()
    return orders.fire_order(at.order, cmd, ctx.now, counters=at.counters, day=day, book=at.book, kitchen=at.kitchen)


async def hold(ctx: Context) -> Decision:
    cmd: payloads.HoldCourse = ctx.command
    return orders.hold_course(await ctx.order(cmd.order_id), cmd, ctx.now)


async def rush(ctx: Context) -> Decision:
    cmd: payloads.RushOrder = ctx.command
    return orders.rush_order(await ctx.order(cmd.order_id), ctx.actor, cmd, ctx.now)


async def note(ctx: Context) -> Decision:
    cmd: payloads.AddNote = ctx.command
    return orders.add_note(await ctx.order(cmd.order_id), ctx.actor, cmd, ctx.now)


def item_status(move: kitchen.ItemMove) -> Handler:
    """The handler of ``item.<move>``: one line of an order moves on (or back, for a recall)."""

    async def handler(ctx: Context) -> Decision:
        cmd: payloads.ItemStatusCommand = ctx.command
        order = await ctx.order(cmd.order_id)
        window = await ctx.recall_window_ms()
        return kitchen.set_item_status(order, cmd, move, ctx.actor, ctx.now, recall_window_ms=window)

    handler.__name__ = f"item_{move.value}"
    return handler


async def bump(ctx: Context) -> Decision:
    cmd: payloads.BumpOrder = ctx.command
    return kitchen.bump_order(await ctx.order(cmd.order_id), cmd, ctx.actor, ctx.now)


async def skip(ctx: Context) -> Decision:
    cmd: payloads.SkipItem = ctx.command
    return kitchen.skip_item(await ctx.order(cmd.order_id), cmd, ctx.actor, ctx.now)


async def force_ready(ctx: Context) -> Decision:
    cmd: payloads.ForceReady = ctx.command
    return kitchen.force_ready(await ctx.order(cmd.order_id), cmd, ctx.actor, ctx.now)


async def pickup(ctx: Context) -> Decision:
    cmd: payloads.PickupOrder = ctx.command
    return settlement.pickup(await ctx.order(cmd.order_id), ctx.actor, ctx.now)


async def recall(ctx: Context) -> Decision:
    cmd: payloads.RecallOrder = ctx.command
    order = await ctx.order(cmd.order_id)
    return kitchen.recall_order(order, cmd, ctx.actor, ctx.now, recall_window_ms=await ctx.recall_window_ms())


async def ack(ctx: Context) -> Decision:
    """A screen's acknowledgement decides on the order as this node committed it, when it did lately (the fire it
    acknowledges, or another screen's acknowledgement): a fire brings two a station. It writes the order if it
    acknowledges anything, and that commit's revision check catches a copy another command has moved past; a
    ticket already acknowledged on a copy stays so. The order is read from Redis when the copy is not here, does
    not hold every ticket named (a later fire's, made elsewhere), or a conflict has dropped it."""
    cmd: payloads.AckTickets = ctx.command
    orders.check_tenant(ctx.actor, cmd.order_id)
    order = ctx.store.committed_order(ctx.rid, cmd.order_id)
    if order is None or not {t.id for t in order.tickets}.issuperset(cmd.ticket_ids):
        order = await ctx.order(cmd.order_id, follow_merge=True)
    return kitchen.ack_tickets(order, cmd, ctx.actor, ctx.now)


async def check_ack(ctx: Context) -> Decision:
    cmd: payloads.CheckAck = ctx.command
    return kitchen.check_ack(await ctx.order(cmd.order_id, follow_merge=True), cmd.ticket_id, ctx.now)


async def predict(ctx: Context) -> Decision:
    cmd: payloads.PredictReady = ctx.command
    ids = [prediction.order_id for prediction in cmd.predictions]
    return ready_times.told(await ctx.store.open_orders_of(ctx.rid, ids), cmd, ctx.now)


async def flag_bottleneck(ctx: Context) -> Decision:
    return ready_times.bottleneck_alert(ctx.command, ctx.now)


async def cancel(ctx: Context) -> Decision:
    cmd: payloads.CancelOrder = ctx.command
    order = await ctx.editable(cmd.order_id)
    party_tables = {}
    for table_id in (order.table_id, *order.extra_tables):
        table = await ctx.store.table(ctx.rid, table_id) if table_id else None
        if table is not None:
            party_tables[table.id] = table
    book = await ctx.book([i.menu_item_id for i in order.items if i.unsent])
    return orders.cancel_order(order, party_tables, book, cmd)


async def clean(ctx: Context) -> Decision:
    cmd: payloads.CleanTable = ctx.command
    return tables.clean_table(await ctx.table(cmd.table_id))


async def release(ctx: Context) -> Decision:
    cmd: payloads.ReleaseTable = ctx.command
    table = await ctx.table(cmd.table_id)
    order = await ctx.store.order(ctx.rid, table.order_id) if table.order_id else None
    return tables.release_table(table, order, cmd)


async def retry_outbox(ctx: Context) -> Decision:
    """A FAILED outbox item back to PENDING in Postgres (the drain sends it within a second); a copy of the command
    finds it PENDING already and answers the same. The answer is kept like any command's for its retries."""
    cmd: payloads.RetryOutbox = ctx.command
    if ctx.money is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "the outbox needs the books (Postgres); none is configured")
    await outbox.retry(ctx.money.books.engine, ctx.rid, cmd.outbox_id)
    return Decision(result={"outbox_id": cmd.outbox_id, "status": "PENDING"})


# The answer to webhook.subscribe (with the secret) is kept in Redis for a copy this long, not the usual day; a
# later copy of the same id finds the subscription by its command id in Postgres (hub/books/webhooks.py).
SECRET_KEPT_S = 600


def _webhook_books(ctx: Context) -> AsyncEngine:
    if ctx.money is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "webhooks need the books (Postgres); none is configured")
    return ctx.money.books.engine


async def subscribe_webhook(ctx: Context) -> Decision:
    """A URL subscribed from the stream's head now, with a secret made here; copies of the id run one at a time
    (the registry's ``side_effects``) and get the first's answer."""
    cmd: SubscribeWebhook = ctx.command
    engine = _webhook_books(ctx)
    head, epoch = await ctx.store.position(ctx.rid)
    found = await webhooks.subscribe(
        engine, ctx.rid, ctx.command_id, ctx.actor.device_id, cmd.url, cmd.events, (epoch, head)
    )
    return Decision(result=found, result_ttl=SECRET_KEPT_S)


async def unsubscribe_webhook(ctx: Context) -> Decision:
    cmd: UnsubscribeWebhook = ctx.command
    return Decision(result=await webhooks.unsubscribe(_webhook_books(ctx), ctx.rid, cmd.webhook_id))


async def replay_webhook(ctx: Context) -> Decision:
    cmd: ReplayWebhook = ctx.command
    return Decision(result=await webhooks.replay(_webhook_books(ctx), ctx.rid, cmd.webhook_id, cmd.from_offset))


async def report_sweep(ctx: Context) -> Decision:
    return sweeps.report(ctx.command)


async def move(ctx: Context) -> Decision:
    cmd: payloads.MoveOrder = ctx.command
    order = await ctx.order(cmd.order_id)
    source = await ctx.store.table(ctx.rid, order.table_id) if order.table_id else None
    return tables.move_order(order, source, await ctx.table(cmd.table_id), cmd, ctx.now)


async def _table_order(ctx: Context, table: Table) -> Order:
    if table.order_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, f"table {table.name} has no open order")
    return await ctx.order(table.order_id)


async def merge(ctx: Context) -> Decision:
    cmd: payloads.MergeTables = ctx.command
    source_table, target_table = await ctx.table(cmd.from_table_id), await ctx.table(cmd.into_table_id)
    source, target = await _table_order(ctx, source_table), await _table_order(ctx, target_table)
    for order in (source, target):
        settlement.check_bill_lock(order, ctx.actor, ctx.now)
    source_tables = [tb for tb in await ctx.store.tables(ctx.rid) if tb.order_id == source.id]
    return tables.merge_tables(source_tables, source, target, ctx.now)


async def _stock_flag(ctx: Context, *, out: bool) -> Decision:
    cmd: payloads.StockCommand = ctx.command
    current = (await ctx.store.stock(ctx.rid, [cmd.menu_item_id])).get(cmd.menu_item_id)
    return stock.set_stock_out(await ctx.menu(), current, cmd, out=out)


async def stock_out(ctx: Context) -> Decision:
    return await _stock_flag(ctx, out=True)


async def stock_available(ctx: Context) -> Decision:
    return await _stock_flag(ctx, out=False)


async def configure(ctx: Context) -> Decision:
    restaurant = await ctx.store.restaurant(ctx.rid, fresh=True)
    if restaurant is None:
        raise DomainError(ErrorCode.NOT_FOUND, "this restaurant is not set up")
    return kitchen.configure(restaurant, await ctx.store.menu(ctx.rid), ctx.command)


async def preview(ctx: Context) -> Decision:
    cmd: payloads.PreviewBill = ctx.command
    restaurant = await ctx.restaurant()
    orders = [await ctx.order(order_id) for order_id in cmd.order_ids]
    return settlement.preview(orders, restaurant.billing, restaurant.currency)


async def discount(ctx: Context) -> Decision:
    cmd: payloads.DiscountOrder = ctx.command
    order = await ctx.editable(cmd.order_id)
    orders.require_editable(order)
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
    return orders.updated(new, result_extra={"bill": bill.model_dump(mode="json"), "approved_by": approver})


async def remove_discount(ctx: Context) -> Decision:
    cmd: payloads.RemoveDiscount = ctx.command
    order = await ctx.editable(cmd.order_id)
    orders.require_editable(order)
    if order.paid:
        raise DomainError(ErrorCode.INVALID_STATE, "a part-paid order's discounts stay until it is settled")
    return orders.updated(billing.remove_discount(order, cmd.discount_id))


async def request_bill(ctx: Context) -> Decision:
    cmd: payloads.RequestBill = ctx.command
    order = await ctx.order(cmd.order_id)
    lock_ms = (await ctx.restaurant()).billing.bill_lock_s * 1000
    return settlement.request_bill(order, await ctx.store.tables(ctx.rid), ctx.actor, ctx.now, lock_ms)


async def _release_bill(ctx: Context, *, expired: bool) -> Decision:
    cmd: payloads.RequestBill | payloads.ExpireBillLock = ctx.command
    order = await ctx.order(cmd.order_id)
    return settlement.release_bill(order, await ctx.store.tables(ctx.rid), ctx.actor, ctx.now, expired=expired)


async def release_bill(ctx: Context) -> Decision:
    return await _release_bill(ctx, expired=False)


async def expire_bill(ctx: Context) -> Decision:
    """The hub's own: the lock ran out (a timer), so the table shows the party is no longer asking."""
    return await _release_bill(ctx, expired=True)


async def set_pin(ctx: Context) -> Decision:
    cmd: payloads.SetPin = ctx.command
    if ctx.pins is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "PINs cannot be set here")
    me = ctx.actor.device_id
    if not any(s.id == me and s.role in setup.APPROVERS for s in await ctx.store.staff(ctx.rid)):
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"{me} is no manager on the staff list: a manager adds it on Staff (setup.staff.put) with its PIN",
            {"staff_id": me},
        )
    await ctx.pins.set(ctx.rid, me, cmd.pin)
    return Decision(result={"manager": ctx.actor.device_id})


async def stock_set(ctx: Context) -> Decision:
    cmd: payloads.SetStock = ctx.command
    current = (await ctx.store.stock(ctx.rid, [cmd.menu_item_id])).get(cmd.menu_item_id)
    return stock.set_stock(await ctx.menu(), current, cmd)
