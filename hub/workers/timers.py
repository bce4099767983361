"""The hub's own timers: checks that fall due, run by the node whose share holds the restaurant.

A check is a typed ``Due`` (its kind and subject): a ticket not acknowledged
in time, a bill lock running out, a payment lock left behind. They sit in
each restaurant's ``due`` sorted set, written atomically with the commit that
started them (the live store encodes and decodes them).

The live nodes share the restaurants (``hub/workers/shares.py``): every node reading every restaurant
a commit woke, and every restaurant on each sweep, made thirty nodes do thirty times the reads. A node
polls its own: those a commit woke (the fan-out's wake-ups) and those whose first check has fallen
due, and all of them on a sweep every ``SWEEP_S``, and at once those of a shard it has just taken. A
dead node's restaurants wait for its leases to run out (``lease``, ``FIREFLOW_DUE_LEASE``).

Each check runs as an internal command whose id is derived from the check, so when two nodes run
the same one (a shard changing hands mid-check) the second gets the stored result and nothing happens
twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from fireflow.hub.commands.bus import CommandBus
from fireflow.hub.domain.decision import Due, DueKind
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.live.store import Store
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.hub.workers.shares import Shares
from fireflow.schema.commands import CheckAck, DeliveryCommand, ExpireBillLock, PrintJobCommand
from fireflow.schema.protocol import ErrorCode

__all__ = ["DueChecks"]

logger = logging.getLogger(__name__)

RESTAURANTS_EVERY = 10.0  # seconds between re-reads of the restaurant list
# Every restaurant's due checks are read at least this often; between sweeps only those of a restaurant a
# commit woke (it may have added or moved one) or whose first check has fallen due. A check added by a
# commit whose wake-up this node missed runs at most this late.
SWEEP_S = 5.0
# Each tick's look at every restaurant's due checks is made in this many parts spread over the tick: 200
# restaurants' reads in one burst held the node's loop (and every socket's events) for 6-8 ms.
DUE_PARTS = 5
LEASE_S = 10.0  # a dead node's restaurants' checks wait at most this long (FIREFLOW_DUE_LEASE)


class DueChecks:
    def __init__(
        self, store: Store, bus: CommandBus, *, tick: float = 0.5, sweep: float = SWEEP_S, lease: float = LEASE_S
    ) -> None:
        self.store = store
        self.bus = bus
        self.settler = bus.settler
        self.tick = tick
        self.sweep = sweep
        self.shares = Shares(store.redis, "due", lease)
        self._all: list[str] = []  # every restaurant, re-read each RESTAURANTS_EVERY
        self._rids: list[str] = []  # this node's: those in its shards
        self._rids_of: frozenset[int] | None = None  # the shards ``_rids`` was made for
        self._rids_at = 0.0
        self._woken: set[str] = set()  # restaurants a commit woke since their last read
        self._first: dict[str, int] = {}  # when each restaurant's first check falls due (ms), as last read
        self._swept: dict[int, float] = {}  # part -> when all of its restaurants were last read
        self.reads: dict[str, int] = {}  # reads per restaurant: what the wake-ups spare is seen here

    def woken(self, rid: str) -> None:
        """A commit of ``rid`` (the fan-out's wake-up): its due checks may have changed."""
        if self.shares.owns(rid):
            self._woken.add(rid)

    def missed(self) -> None:
        """Wake-ups may have been lost (the subscription was away): read every restaurant next time."""
        self._swept.clear()

    async def run(self) -> None:
        part = 0
        while True:
            reraise_if_cancelled()  # a library may have swallowed our cancellation in the last round
            await asyncio.sleep(self.tick / DUE_PARTS)
            try:
                await self.run_once(part, DUE_PARTS)
            except (RedisError, OSError) as exc:
                reraise_if_cancelled()
                logger.warning("due checks failed: %s", exc)
            except Exception:
                reraise_if_cancelled()
                logger.exception("due checks failed; trying again next tick")
            part = (part + 1) % DUE_PARTS

    async def stop(self) -> None:
        """Let this node's share go: the other nodes take its restaurants' checks over at once."""
        await self.shares.release()

    async def run_once(self, part: int = 0, parts: int = 1) -> int:
        """Run every check due now (of this node's restaurants in ``part`` of ``parts``); returns how many ran."""
        now = time.monotonic()
        if await self.shares.renew() and self.shares.taken:
            self._swept.clear()  # a shard just taken: its restaurants' checks may be overdue
        if now - self._rids_at > RESTAURANTS_EVERY or not self._all:
            self._all, self._rids_at = await self.store.restaurant_ids(), now
            self._rids_of = None
        if self._rids_of != self.shares.held:
            self._rids_of = self.shares.held
            self._rids = [rid for rid in self._all if self.shares.owns(rid)]
            self._woken.intersection_update(self._rids)
        now_ms = int(time.time() * 1000)
        mine = self._rids[part::parts]
        if now - self._swept.get(part, -1e9) > self.sweep:
            self._swept[part] = now
            reading = mine
        else:
            woken, first = self._woken, self._first
            reading = [rid for rid in mine if rid in woken or first.get(rid, now_ms + 1) <= now_ms]
        if not reading:
            return 0
        self._woken.difference_update(reading)
        for rid in reading:
            self.reads[rid] = self.reads.get(rid, 0) + 1
        try:
            due, first_due = await self.store.due_and_next(reading, now_ms)
        except BaseException:
            self._woken.update(reading)  # not read after all: read them next time
            raise
        for rid in reading:
            if rid in first_due:
                self._first[rid] = first_due[rid]
            else:
                self._first.pop(rid, None)
        ran = 0
        for rid, checks in due.items():
            for check in checks:
                await self._check(rid, check)
                ran += 1
        return ran

    async def _check(self, rid: str, due: Due) -> None:
        if due.kind is DueKind.SETTLE:
            await self._payment_lock(rid, due)
        elif due.kind is DueKind.BILL:
            await self._bill_lock(rid, due)
        elif due.kind is DueKind.PRINT:
            await self._print_lease(rid, due)
        elif due.kind is DueKind.ETA:
            await self._eta(rid, due)
        else:
            await self._ack(rid, due)

    async def _payment_lock(self, rid: str, due: Due) -> None:
        if self.settler is None:  # no books on this hub, so no payments: nothing can resolve it
            logger.error("payment lock %s of %s cannot be checked without the books; dropping it", due.subject, rid)
            await self.store.drop_due(rid, due)
            return
        try:
            outcome = await self.settler.check(rid, due.subject)
        except DomainError as exc:
            logger.warning("payment lock %s of %s not resolved yet: %s", due.subject, rid, exc.message)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("payment lock %s of %s not resolved yet: %s", due.subject, rid, exc)
        else:
            logger.info("payment lock %s of %s: %s", due.subject, rid, outcome)
            if self.bus.metrics is not None:
                self.bus.metrics.settlements.labels("lock_" + outcome.replace(" ", "_")).inc()

    async def _bill_lock(self, rid: str, due: Due) -> None:
        order_id = due.subject
        try:
            await self.bus.execute_internal(rid, f"expire-{order_id}-{int(time.time())}", "bill.expire",
                                            ExpireBillLock(order_id=order_id))  # fmt: skip
        except DomainError as exc:
            logger.warning("bill lock %s of %s: %s", order_id, rid, exc.message)
            if exc.code is ErrorCode.NOT_FOUND:
                await self.store.drop_due(rid, due)

    async def _print_lease(self, rid: str, due: Due) -> None:
        try:
            command_id = f"print-{due.subject}-{int(time.time())}"  # early on a skewed clock: the next run acts
            await self.bus.execute_internal(rid, command_id, "print.check", PrintJobCommand(job_id=due.subject))
        except DomainError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                await self.store.drop_due(rid, due)
            else:
                logger.warning("print lease of %s of %s: %s", due.subject, rid, exc.message)

    async def _eta(self, rid: str, due: Due) -> None:
        """A delivery's ETA, estimated again (hub/domain/eta.py); the id is the check's, so nodes run it once."""
        try:
            command = DeliveryCommand(order_id=due.subject)
            await self.bus.execute_internal(rid, f"eta-{due.subject}-{due.at}", "delivery.check_eta", command)
        except DomainError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                await self.store.drop_due(rid, due)
            else:
                logger.warning("ETA of %s of %s: %s", due.subject, rid, exc.message)

    async def _ack(self, rid: str, due: Due) -> None:
        ticket_id = due.subject
        order_id = ticket_id.rpartition(":")[0]  # a ticket id starts with its order's id
        try:
            await self.bus.execute_internal(
                rid, f"due-{ticket_id}", "ticket.check_ack", CheckAck(order_id=order_id, ticket_id=ticket_id)
            )
        except DomainError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                await self.store.drop_due(rid, due)  # the order is gone: nothing to check
            else:
                logger.warning("ack check of %s of %s failed: %s", ticket_id, rid, exc.message)
