"""The print jobs' commands: the job read from the live state, the decision left to ``fireflow.hub.domain.printing``."""

from __future__ import annotations

from fireflow.hub.commands.context import Context
from fireflow.hub.domain import printing
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import check_tenant
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import PrintJob

__all__ = ["check_lease", "claim", "done", "failed", "reprint"]


async def _job(ctx: Context) -> PrintJob:
    cmd: c.PrintJobCommand = ctx.command
    check_tenant(ctx.actor, cmd.job_id)  # a job's id is its ticket's, which starts with its restaurant's id
    job = await ctx.store.print_job(ctx.rid, cmd.job_id)
    if job is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no print job {cmd.job_id!r}")
    return job


async def claim(ctx: Context) -> Decision:
    lease_ms = (await ctx.restaurant()).kitchen.print_confirm_s * 1000
    return printing.claim(await _job(ctx), ctx.actor, ctx.now, lease_ms)


async def done(ctx: Context) -> Decision:
    return printing.confirm(await _job(ctx), ctx.actor)


async def failed(ctx: Context) -> Decision:
    printers = (await ctx.restaurant()).printers
    return printing.fail(await _job(ctx), ctx.actor, ctx.command, printers, ctx.now)


async def reprint(ctx: Context) -> Decision:
    job = await _job(ctx)
    earlier = await ctx.store.print_job(ctx.rid, printing.reprint_id(job))
    return printing.reprint(job, ctx.actor, ctx.now, earlier)


async def check_lease(ctx: Context) -> Decision:
    restaurant = await ctx.restaurant()
    return printing.lease_ended(
        await _job(ctx), ctx.now, restaurant.printers, restaurant.kitchen.print_confirm_s * 1000
    )
