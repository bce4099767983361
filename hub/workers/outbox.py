"""The outbox's drain: everything the hub sends out, at least once from here and never twice there.

The rows are written by the database in the transaction that made what they are about (migrations 0012
and 0013: each sale, refund and void for ERPNext, each sale's invoice for the archive), so nothing
settled is missed. Each is sent in a transaction that holds the row (``FOR UPDATE SKIP LOCKED``: any
number of nodes drain side by side, never the same row), ``BATCH`` rows to a transaction: the send, then
the row's new state and the attempt in the sync log commit together. A node killed mid-send leaves the
rows as they were, PENDING, and the next drain sends them again; every target makes a second copy harmless (ERPNext refuses a duplicate
``fireflow_id``, the archive writes the same object under the same key).

What a row becomes is its target's business (``Target``: ``hub/workers/outbox_erpnext.py``,
``hub/workers/outbox_archive.py``); what a refusal means is decided here, once for all of them:

- Answers the other side may change its mind about (no answer, 5xx, 429) are tried again after a backoff
  that doubles from ``BACKOFF_S`` up to ``BACKOFF_CAP_S`` (with full jitter, so a site coming back is not hit
  by every row at once), and FAILED after ``MAX_ATTEMPTS``.
- Any other refusal (a wrong key, a validation error) is FAILED at once with the other side's words: a
  person must change something. The manager's ``outbox.retry`` puts a FAILED row back (``hub/books/outbox.py``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fireflow.hub.integrations.pushed import PushFailed
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.hub.workers.pressure import Yielding
from fireflow.schema.tables import OutboxAttemptRow, OutboxRow

__all__ = ["BACKOFF_CAP_S", "BACKOFF_S", "MAX_ATTEMPTS", "Drained", "OutboxDrain", "Sent", "Target", "backoff_s"]

logger = logging.getLogger(__name__)

BACKOFF_S = 2.0
BACKOFF_CAP_S = 600.0
MAX_ATTEMPTS = 12  # about an hour and a half of a site down before a person is asked
IDLE_S = 1.0  # nothing due: the drain looks again this soon
BATCH = 20  # rows sent in one transaction (see OutboxDrain.push_batch)


def backoff_s(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before try ``attempts + 1``: full jitter under a doubling ceiling (AWS's "exponential backoff
    and jitter"), so rows that failed together do not come back together."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_S * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass(frozen=True, slots=True)
class Sent:
    """What a target did with a row: ``status`` DONE or FAILED (a person must look), or PENDING to look again
    in ``wait_s`` (it waits for another row); ``outcome`` is the sync log's word for the attempt."""

    status: str
    outcome: str
    payload: dict[str, Any] | None = None
    http: int | None = None
    response: dict[str, Any] | None = None
    remote: str | None = None
    error: str | None = None
    wait_s: float = 0.0


class Target(Protocol):
    """Where rows of one ``target`` go. ``send`` runs in the row's transaction (it may read the books there)
    and raises ``PushFailed`` when the other side did not take it."""

    name: str

    async def send(self, conn: AsyncConnection, row: Any) -> Sent: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Drained:
    """What one push did: the row's id, its new status, and the attempt's outcome."""

    outbox_id: int
    status: str
    outcome: str


class OutboxDrain:
    def __init__(self, engine: AsyncEngine, targets: Sequence[Target], gate: Yielding | None = None) -> None:
        self.engine = engine
        self.targets = {target.name: target for target in targets}
        self.gate = gate  # passed before each batch: the drain stands aside while the CPUs are fought over

    async def run(self) -> None:
        while True:
            reraise_if_cancelled()
            try:
                if self.gate is not None:
                    await self.gate.turn()
                pushed = await self.drain(BATCH)
            except Exception:
                reraise_if_cancelled()
                logger.exception("the outbox's drain failed; it looks again shortly")
                pushed = 0
            if not pushed:
                await asyncio.sleep(IDLE_S)

    async def close(self) -> None:
        for target in self.targets.values():
            await target.close()

    async def drain(self, limit: int = 100) -> int:
        """Send what is due, up to ``limit`` rows, ``BATCH`` to a transaction; how many were handled."""
        handled = 0
        while handled < limit:
            pushed = await self.push_batch(min(BATCH, limit - handled))
            if not pushed:
                break
            handled += len(pushed)
        return handled

    async def push_one(self) -> Drained | None:
        """The oldest due row of this drain's targets, sent and recorded; None when nothing is due."""
        pushed = await self.push_batch(1)
        return pushed[0] if pushed else None

    async def push_batch(self, size: int) -> list[Drained]:
        """The oldest ``size`` due rows of this drain's targets, each sent and recorded, in one transaction that
        holds them all: one BEGIN, SELECT and COMMIT for the batch, not for each row (a sale's two rows cost
        Postgres more than the settlement's own call did). Rows of a target this node does not send wait for a
        node that does. A node killed mid-batch leaves every row of it PENDING, as one row was before: sent
        again, harmlessly (see the module's docstring)."""
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(OutboxRow.__table__)
                    .where(
                        OutboxRow.status == "PENDING",
                        OutboxRow.next_at <= func.now(),
                        OutboxRow.target.in_(self.targets),
                    )
                    .order_by(OutboxRow.id)
                    .limit(size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            return [await self._push(conn, row) for row in rows]

    async def _push(self, conn: AsyncConnection, row: Any) -> Drained:
        try:
            sent = await self.targets[row.target].send(conn, row)
        except PushFailed as exc:
            return await self._refused(conn, row, exc)
        if sent.status == "PENDING":
            await conn.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id)
                .values(next_at=func.now() + timedelta(seconds=sent.wait_s))
            )
            return Drained(row.id, "PENDING", sent.outcome)
        return await self._finish(conn, row, sent)

    async def _refused(self, conn: AsyncConnection, row: Any, exc: PushFailed) -> Drained:
        attempts = row.attempts + 1
        if exc.retryable and attempts < MAX_ATTEMPTS:
            await conn.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id)
                .values(
                    attempts=attempts,
                    last_error=exc.message[:1000],
                    next_at=func.now() + timedelta(seconds=backoff_s(attempts)),
                )
            )
            retried = Sent("PENDING", "FAILED", exc.payload, exc.status or None, exc.response, error=exc.message)
            await self._attempt(conn, row, retried)
            logger.warning(
                "outbox %s (%s %s %s) not sent, tried again later: %s",
                row.id,
                row.target,
                row.kind,
                row.reference,
                exc.message,
            )
            return Drained(row.id, "PENDING", "FAILED")
        logger.error("outbox %s (%s %s %s) failed: %s", row.id, row.target, row.kind, row.reference, exc.message)
        failed = Sent("FAILED", "FAILED", exc.payload, exc.status or None, exc.response, error=exc.message)
        return await self._finish(conn, row, failed)

    async def _finish(self, conn: AsyncConnection, row: Any, sent: Sent) -> Drained:
        done = {"done_at": func.now()} if sent.status == "DONE" else {}
        await conn.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(
                status=sent.status,
                attempts=row.attempts + 1,
                last_error=sent.error[:1000] if sent.error else None,
                remote_id=sent.remote,
                **done,
            )
        )
        await self._attempt(conn, row, sent)
        return Drained(row.id, sent.status, sent.outcome)

    @staticmethod
    async def _attempt(conn: AsyncConnection, row: Any, sent: Sent) -> None:
        await conn.execute(
            insert(OutboxAttemptRow).values(
                outbox_id=row.id,
                restaurant_id=row.restaurant_id,
                outcome=sent.outcome,
                http_status=sent.http,
                payload=sent.payload,
                response=sent.response,
                error=sent.error[:1000] if sent.error else None,
            )
        )
