"""The handlers of the delivery commands: load the orders, the rider and the billing rules, then let
``fireflow.hub.domain.delivery`` decide.
"""

from __future__ import annotations

import hashlib

from fireflow.hub.commands.context import Context
from fireflow.hub.domain import delivery, eta
from fireflow.hub.domain.decision import Decision
from fireflow.hub.live.positions import read_track
from fireflow.schema import commands as payloads
from fireflow.schema.records import DeliveryStatus

__all__ = ["assign", "fail", "pickup", "return_to_restaurant"]


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


async def fail(ctx: Context) -> Decision:
    cmd: payloads.DeliveryFail = ctx.command
    return delivery.fail(await ctx.order(cmd.order_id), cmd, ctx.actor, ctx.now)


async def return_to_restaurant(ctx: Context) -> Decision:
    cmd: payloads.DeliveryCommand = ctx.command
    return delivery.return_to_restaurant(await ctx.order(cmd.order_id), ctx.actor, ctx.now)


async def check_eta(ctx: Context) -> Decision:
    """The hub's own ETA check of an order out for delivery (a due check from pickup): its rider's fixes,
    the rider's other stops and the restaurant's clock, then ``fireflow.hub.domain.eta.check``."""
    cmd: payloads.DeliveryCommand = ctx.command
    order = await ctx.order(cmd.order_id)
    trip = order.delivery
    if trip is None or trip.status is not DeliveryStatus.OUT_FOR_DELIVERY:
        return eta.check(order, (), None, ctx.now)  # stops the check
    track = await read_track(ctx.store.redis, ctx.rid, trip.rider)
    orders = await ctx.store.open_orders(ctx.rid) if track is not None else []
    restaurant = await ctx.restaurant()
    return eta.check(order, orders, track, ctx.now, timezone=restaurant.timezone)
