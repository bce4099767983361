"""Printer health's commands: the stored state read from the live store, the decision left to
``fireflow.hub.domain.printer_health``."""

from __future__ import annotations

from fireflow.hub.commands.context import Context
from fireflow.hub.domain import printer_health
from fireflow.hub.domain.decision import Decision
from fireflow.schema import commands as c

__all__ = ["agent_gone", "report"]


async def report(ctx: Context) -> Decision:
    cmd: c.ReportPrinterStatus = ctx.command
    printers = (await ctx.restaurant()).printers
    current = (await ctx.store.printer_health(ctx.rid)).get(cmd.printer_id)
    return printer_health.report(printers, current, ctx.actor, cmd, ctx.now)


async def agent_gone(ctx: Context) -> Decision:
    """The hub's own, when a print agent's last socket on a node closed: its printers UNKNOWN, unless it is
    connected again (on any node). The state is read before the sockets: an agent's report committed in
    between moves a version this decision is checked against, so it is decided again, seeing the agent back."""
    cmd: c.PrintAgentGone = ctx.command
    health = await ctx.store.printer_health(ctx.rid)
    if await ctx.store.print_agent_connected(ctx.rid, cmd.agent, ctx.now):
        return Decision(result={"agent": cmd.agent, "printers": []})
    return printer_health.agent_gone(health.values(), cmd.agent, ctx.now)
