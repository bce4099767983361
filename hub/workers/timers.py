"""The hub's own timers: checks that fall due (a ticket not acknowledged in time), run on every node.

Due checks sit in each restaurant's ``due`` sorted set, written atomically
with the commit that started them. Every node polls; each check runs as an
internal command whose id is derived from the check, so when two nodes run
the same one the second gets the stored result and nothing happens twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from hub.commands.bus import CommandBus
from hub.domain.decision import ACK_DUE
from hub.domain.errors import DomainError
from hub.domain.settlement import BILL_DUE, SETTLE_DUE
from hub.live.keys import Keys
from hub.live.store import Store
from hub.supervise import reraise_if_cancelled
from schema.commands import CheckAck, ExpireBillLock
from schema.protocol import ErrorCode

__all__ = ["DueChecks"]

logger = logging.getLogger(__name__)

RESTAURANTS_EVERY = 10.0  # seconds between re-reads of the restaurant list


class DueChecks:
    def __init__(self, store: Store, bus: CommandBus, *, tick: float = 0.5) -> None:
        self.store = store
        self.bus = bus
        self.settler = bus.settler
        self.tick = tick
        self._rids: list[str] = []
        self._rids_at = 0.0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.run_once()
            except (RedisError, OSError) as exc:
                reraise_if_cancelled()
                logger.warning("due checks failed: %s", exc)
            except Exception:
                reraise_if_cancelled()
                logger.exception("due checks failed; trying again next tick")

    async def run_once(self) -> int:
        """Run every check due now; returns how many ran."""
        now = time.monotonic()
        if now - self._rids_at > RESTAURANTS_EVERY or not self._rids:
            self._rids, self._rids_at = await self.store.restaurant_ids(), now
        due = await self.store.due(self._rids, int(time.time() * 1000))
        ran = 0
        for rid, members in due.items():
            for member in members:
                await self._check(rid, member)
                ran += 1
        return ran

    async def _check(self, rid: str, member: str) -> None:
        if member.startswith(SETTLE_DUE) and self.settler is not None:
            try:
                outcome = await self.settler.check(rid, member.removeprefix(SETTLE_DUE))
            except DomainError as exc:
                logger.warning("payment lock %s of %s not resolved yet: %s", member, rid, exc.message)
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("payment lock %s of %s not resolved yet: %s", member, rid, exc)
            else:
                logger.info("payment lock %s of %s: %s", member, rid, outcome)
            return
        if member.startswith(BILL_DUE):
            order_id = member.removeprefix(BILL_DUE)
            try:
                await self.bus.execute_internal(rid, f"expire-{order_id}-{int(time.time())}", "bill.expire",
                                                ExpireBillLock(order_id=order_id))  # fmt: skip
            except DomainError as exc:
                logger.warning("bill lock %s of %s: %s", order_id, rid, exc.message)
                if exc.code is ErrorCode.NOT_FOUND:
                    await self.store.redis.zrem(Keys(rid).due, member)
            return
        if not member.startswith(ACK_DUE):
            logger.error("unknown due check %r of %s; dropping it", member, rid)
            await self.store.redis.zrem(Keys(rid).due, member)
            return
        ticket_id = member.removeprefix(ACK_DUE)
        order_id = ticket_id.rpartition(":")[0]
        try:
            await self.bus.execute_internal(
                rid, f"due-{ticket_id}", "ticket.check_ack", CheckAck(order_id=order_id, ticket_id=ticket_id)
            )
        except DomainError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                await self.store.redis.zrem(Keys(rid).due, member)  # the order is gone: nothing to check
            else:
                logger.warning("due check %s of %s failed: %s", member, rid, exc.message)
