"""The self-healing sweeps: every ``every`` seconds, each restaurant is looked at for drifted state.

What a fault is and what may be done about it is decided in ``hub/domain/sweeps.py``; this reads
the live state and the books, keeps when each fault was first seen (``Keys.sweep_seen``: a fault is
acted on once it stood its time, whichever node looks), runs the repairs as ordinary commands from
the device ``sweeper`` (ids made from the fault, so a repair is made once however many looks race
it), and reports each finding once, to the manager (``sweep.report``: SWEEP_FOUND), and to the
audit log. What a finding asks of a person is logged as a recommendation (``hub/books/recommendations.py``),
followed once its fault clears.

The live nodes share the restaurants: each sweeps those in its shards (``hub/workers/shares.py``), and
takes a dead node's over once their leases run out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from fireflow.hub.books.audit import AuditTrail
from fireflow.hub.books.recommendations import Recommendations
from fireflow.hub.commands.bus import CommandBus
from fireflow.hub.commands.settle import Settler
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import AuditNote
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.recommendations import DONE, sweep_id, sweep_recommendation
from fireflow.hub.domain.sweeps import SETTLE_REPAIR, Fault, SweepRules, faults, finding, ripe
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.store import Store
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.hub.workers.shares import Shares
from fireflow.schema.commands import ReportSweep
from fireflow.schema.records import Routing, SweepFinding

__all__ = ["SWEEPER", "Sweeper", "standing_findings"]

logger = logging.getLogger(__name__)

SWEEPER = "sweeper"  # the device the repairs are made as: the event log names it
_REPORTED = "|reported"
REPORT_AT_ONCE = 200  # findings in one sweep.report (its most)


def _decoded(raw: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()
    }


async def standing_findings(redis: Redis, rid: str) -> list[SweepFinding]:
    """What the sweeps reported whose fault still stood at the last sweep, newest first (a manager's page that
    opens later lists them: the SWEEP_FOUND events came before it)."""
    raw = _decoded(await redis.hgetall(Keys(rid).sweep_seen))
    found = [SweepFinding.model_validate_json(v) for k, v in raw.items() if k.endswith(_REPORTED)]
    return sorted(found, key=lambda f: (-f.at, f.id))


class Sweeper:
    def __init__(
        self,
        redis: Redis,
        store: Store,
        bus: CommandBus,
        settler: Settler | None,
        audit: AuditTrail | None = None,
        *,
        every: float = 30.0,
        rules: SweepRules | None = None,
        recommendations: Recommendations | None = None,
    ) -> None:
        self.redis = redis
        self.store = store
        self.bus = bus
        self.settler = settler
        self.audit = audit
        self.every = every
        self.rules = rules or SweepRules()
        self.recommendations = recommendations  # what a finding asks of staff, and whether they did it
        self.shares = Shares(redis, "sweeper", max(15.0, 3 * every))

    async def run(self) -> None:
        while True:
            reraise_if_cancelled()
            await asyncio.sleep(self.every / 2)
            try:
                # spread over half the interval, not all at once: thousands of restaurants' reads in one
                # burst would stall every socket on the node for as long as they take
                rids = await self.restaurants()
                for rid in rids:
                    await self.shares.renew()  # a round that outlasts a third of the lease renews it as it goes
                    if self.shares.owns(rid):  # not handed on meanwhile
                        await self._sweep_logged(rid)
                    await asyncio.sleep(self.every / 2 / len(rids))
            except (RedisError, OSError) as exc:
                reraise_if_cancelled()
                logger.warning("sweeps paused: %s", exc)

    async def restaurants(self) -> list[str]:
        """The restaurants this node sweeps this round: those in its share of the shards, taken or renewed now."""
        if not await self.shares.hold():
            return []
        return [rid for rid in await self.store.restaurant_ids() if self.shares.owns(rid)]

    async def _sweep_logged(self, rid: str) -> None:
        try:
            await self.sweep(rid, int(time.time() * 1000))
        except (RedisError, OSError):
            raise
        except Exception:
            reraise_if_cancelled()
            logger.exception("sweep of %s failed; the next sweep tries again", rid)

    async def stop(self) -> None:
        await self.shares.release()

    async def sweep(self, rid: str, now_ms: int) -> list[SweepFinding]:
        """One restaurant: the faults standing, repaired or reported once they stood their time."""
        restaurant = await self.store.restaurant(rid)
        if restaurant is None:
            return []
        tables = await self.store.tables(rid)
        orders = await self.store.open_orders(rid)
        printing = {s.id for s in restaurant.kitchen.stations if s.routing is not Routing.SCREEN and s.printer}
        watched = await self.store.live_stations(rid, now_ms) | printing
        books = self.settler.books if self.settler is not None else None
        settled = await books.invoices_of(rid, [o.id for o in orders]) if books is not None else {}
        standing = faults(tables, orders, settled=settled, watched=watched, rules=self.rules)
        seen = await self._seen(rid, standing, now_ms)
        found: list[SweepFinding] = []
        for fault in standing:
            first = seen.get(fault.id, now_ms)
            if fault.id + _REPORTED in seen or not ripe(fault, first, now_ms):
                continue
            handled = await self._handle(rid, fault, first, now_ms)
            if handled is not None:
                found.append(handled)
        for start in range(0, len(found), REPORT_AT_ONCE):
            await self._report(rid, found[start : start + REPORT_AT_ONCE])
        return found

    async def _seen(self, rid: str, standing: list[Fault], now_ms: int) -> dict[str, int]:
        """When each standing fault was first seen (new ones: now); faults no longer standing are forgotten."""
        key = Keys(rid).sweep_seen
        raw = await self.redis.hgetall(key)
        seen = {k: int(v) if not k.endswith(_REPORTED) else 0 for k, v in _decoded(raw).items()}
        ids = {f.id for f in standing}
        gone = [k for k in seen if k.removesuffix(_REPORTED) not in ids]
        new = {f.id: now_ms for f in standing if f.id not in seen}
        cleared = [sweep_id(k.removesuffix(_REPORTED)) for k in gone if k.endswith(_REPORTED)]
        if cleared and self.recommendations is not None:  # what a person was asked to do is done
            await self.recommendations.decided(rid, cleared, DONE, "staff", now_ms)
        if gone or new:
            async with self.redis.pipeline(transaction=False) as pipe:
                if gone:
                    pipe.hdel(key, *gone)
                for fault_id, at in new.items():
                    pipe.hsetnx(key, fault_id, at)  # another node's sighting, if first, stands
                await pipe.execute()
        return {k: v for k, v in seen.items() if k not in gone} | new

    async def _handle(self, rid: str, fault: Fault, first: int, now_ms: int) -> SweepFinding | None:
        """Repair what may be, through its command; None when the hub could not try now (the next sweep will)."""
        repair = fault.repair
        if repair is None:
            return finding(fault, first, now_ms, repaired=False)
        try:
            if repair.command_type == SETTLE_REPAIR:
                await self._resettle(rid, list(repair.data["order_ids"]))
            else:
                actor = Actor(rid, Role.MANAGER, SWEEPER)
                await self.bus.execute(actor, f"sweep:{fault.id}", repair.command_type, dict(repair.data))
        except DomainError as exc:
            if exc.retryable:  # busy or unavailable: not an answer about the fault
                logger.info("sweep of %s: %s not repaired yet: %s", rid, fault.id, exc.message)
                return None
            logger.info("sweep of %s: %s not repaired: %s", rid, fault.id, exc.message)
            return finding(fault, first, now_ms, repaired=False, refused=exc.message)
        return finding(fault, first, now_ms, repaired=True)

    async def _resettle(self, rid: str, order_ids: list[str]) -> None:
        assert self.settler is not None  # a SETTLED_NOT_CLOSED fault comes from the books
        await self.settler.repair(rid, order_ids)

    async def _report(self, rid: str, found: list[SweepFinding]) -> None:
        """SWEEP_FOUND once per finding: the command's id is made from the findings, so a retry is answered."""
        ids = sorted(f.id for f in found)
        command_id = "sweep-report:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]
        await self.bus.execute_internal(rid, command_id, "sweep.report", ReportSweep(findings=found))
        await self.redis.hset(Keys(rid).sweep_seen, mapping={f.id + _REPORTED: f.model_dump_json() for f in found})
        for f in found:
            action = "SWEEP_REPAIRED" if f.repaired else "SWEEP_REPORTED"
            details = {"message": f.message, "since": f.since}
            if self.audit is not None:
                self.audit.record(rid, SWEEPER, Role.MANAGER.value, AuditNote(action, f.kind.value, f.subject, details))
            if not f.repaired and self.recommendations is not None:
                await self.recommendations.given(rid, sweep_recommendation(f), "manager", f.at)
