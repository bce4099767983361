"""The print jobs' commands: the job read from the live state, the decision left to ``fireflow.hub.domain.printing``."""

from __future__ import annotations

import contextlib

from fireflow.hub.commands.context import Context
from fireflow.hub.domain import print_documents, printing
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import check_tenant
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import OrderStatus, PrintJob

__all__ = ["check", "claim", "done", "failed", "handled", "reprint"]


async def _job(ctx: Context) -> PrintJob:
    cmd: c.PrintJobCommand = ctx.command
    check_tenant(ctx.actor, cmd.job_id)  # a job's id starts with its restaurant's id (a ticket's, an order's, a day's)
    job = await ctx.store.print_job(ctx.rid, cmd.job_id)
    if job is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no print job {cmd.job_id!r}")
    return job


async def claim(ctx: Context) -> Decision:
    lease_ms = (await ctx.restaurant()).kitchen.print_confirm_s * 1000
    return printing.claim(await _job(ctx), ctx.actor, ctx.now, lease_ms)


async def done(ctx: Context) -> Decision:
    return printing.confirm(await _job(ctx), ctx.actor, ctx.now)


async def failed(ctx: Context) -> Decision:
    return printing.fail(await _job(ctx), ctx.actor, ctx.command, await ctx.restaurant(), ctx.now)


async def handled(ctx: Context) -> Decision:
    cmd: c.PrintJobHandled = ctx.command
    job = await _job(ctx)
    print_documents.check_reprint(job, ctx.actor, "handle")
    return printing.handle(job, ctx.actor, cmd.how, ctx.now)


async def reprint(ctx: Context) -> Decision:
    job = await _job(ctx)
    print_documents.check_reprint(job, ctx.actor)  # a receipt's copy is the till's, a ticket's the kitchen's
    earlier = await ctx.store.print_job(ctx.rid, printing.reprint_id(job))
    lease_ms = (await ctx.restaurant()).kitchen.print_confirm_s * 1000
    return printing.reprint(job, ctx.actor, ctx.now, lease_ms, earlier)


async def check(ctx: Context) -> Decision:
    job = await _job(ctx)
    cancelled = False
    if printing.on_manual_list(job) and job.order_id:  # a cancelled order's ticket needs no hands
        with contextlib.suppress(DomainError):
            order = await ctx.order(job.order_id, follow_merge=True)
            cancelled = order.status in (OrderStatus.CANCELLED, OrderStatus.VOIDED)
    return printing.check(job, await ctx.restaurant(), ctx.now, cancelled=cancelled)
