"""The handlers of the delivery commands: load the orders, the rider and the billing rules, then let
``fireflow.hub.domain.delivery`` decide.
"""

from __future__ import annotations

import hashlib

from fireflow.hub.commands.context import Context
from fireflow.hub.domain import delivery
from fireflow.hub.domain.decision import Decision
from fireflow.schema import commands as payloads

__all__ = ["assign", "deliver", "fail", "pickup", "return_to_restaurant"]


async def assign(ctx: Context) -> Decision:
    cmd: payloads.DispatchOrders = ctx.command
    orders = [await ctx.order(order_id) for order_id in cmd.order_ids]
    rider = await ctx.devices.get(ctx.rid, cmd.rider) if ctx.devices is not None else None
    restaurant = await ctx.restaurant()
    # From the command id: copies of one command (a dispatcher's resend) make one batch.
    batch = f"{ctx.rid}.b{hashlib.sha256(ctx.command_id.encode()).hexdigest()[:12]}"
    return delivery.assign(
        orders,
        cmd,
        ctx.actor,
        ctx.now,
        batch=batch,
        rider=rider,
        settings=restaurant.billing,
        currency=restaurant.currency,
    )


async def pickup(ctx: Context) -> Decision:
    cmd: payloads.DeliveryCommand = ctx.command
    restaurant = await ctx.restaurant()
    order = await ctx.order(cmd.order_id)
    return delivery.pickup(order, ctx.actor, ctx.now, settings=restaurant.billing, currency=restaurant.currency)


async def deliver(ctx: Context) -> Decision:
    cmd: payloads.DeliveryDeliver = ctx.command
    restaurant = await ctx.restaurant()
    order = await ctx.order(cmd.order_id)
    return delivery.deliver(order, cmd, ctx.actor, ctx.now, settings=restaurant.billing, currency=restaurant.currency)


async def fail(ctx: Context) -> Decision:
    cmd: payloads.DeliveryFail = ctx.command
    return delivery.fail(await ctx.order(cmd.order_id), cmd, ctx.actor, ctx.now)


async def return_to_restaurant(ctx: Context) -> Decision:
    cmd: payloads.DeliveryCommand = ctx.command
    return delivery.return_to_restaurant(await ctx.order(cmd.order_id), ctx.actor, ctx.now)
