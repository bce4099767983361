"""The customer book's command: written to Postgres, answered with the customer as stored."""

from __future__ import annotations

from fireflow.hub.commands.context import Context
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.schema.customers import PutCustomer
from fireflow.schema.protocol import ErrorCode

__all__ = ["put_customer"]


async def put_customer(ctx: Context) -> Decision:
    cmd: PutCustomer = ctx.command
    if ctx.customers is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured for the customer book")
    if cmd.customer_id is not None and not cmd.customer_id.startswith(ctx.rid + "."):
        raise DomainError(ErrorCode.WRONG_TENANT, "that customer belongs to another restaurant")
    fields = cmd.model_dump(mode="json", include={"name", "phones", "addresses", "notes"}, exclude_none=True)
    stored = await ctx.customers.put(ctx.rid, ctx.command_id, ctx.actor.device_id, fields, cmd.customer_id, cmd.version)
    return Decision(result={"customer": stored})
