"""The saved group bills' command: the orders checked against the live state, the group written to Postgres."""

from __future__ import annotations

from fireflow.hub.commands.context import Context
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.schema.groups import SaveGroup
from fireflow.schema.protocol import ErrorCode

__all__ = ["save_group"]


async def save_group(ctx: Context) -> Decision:
    cmd: SaveGroup = ctx.command
    if ctx.groups is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured for group bills")
    if cmd.group_id is not None and not cmd.group_id.startswith(ctx.rid + "."):
        raise DomainError(ErrorCode.WRONG_TENANT, "that group belongs to another restaurant")
    for order_id in cmd.order_ids:
        await ctx.order(order_id)  # this restaurant's (else WRONG_TENANT, audited), and known (else NOT_FOUND)
    stored = await ctx.groups.save(ctx.rid, ctx.command_id, ctx.actor.device_id, cmd)
    return Decision(result={"group": stored})
