"""Audit rows written off the request path: what was refused is recorded without slowing the refusal.

A refusal worth auditing (another restaurant's id, say) is answered at once;
its row goes into a bounded queue (``record`` never waits and never raises),
which one supervised task (``run``) writes to the ``audit_log`` table in
order. While Postgres is down the task holds the row and retries with
backoff; if the queue fills meanwhile, newer rows are dropped, counted and
logged, never held in unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from fireflow.hub.books.books import AuditNote, Books
from fireflow.hub.retry import Backoff
from fireflow.hub.supervise import reraise_if_cancelled

__all__ = ["AUDIT_QUEUE", "AuditTrail"]

logger = logging.getLogger(__name__)

AUDIT_QUEUE = 1024  # rows waiting for Postgres before new ones are dropped


@dataclass(frozen=True, slots=True)
class _Row:
    restaurant_id: str
    actor: str
    role: str
    note: AuditNote


class AuditTrail:
    def __init__(
        self, books: Books | None, *, limit: int = AUDIT_QUEUE, on_drop: Callable[[], None] | None = None
    ) -> None:
        self.books = books
        self.on_drop = on_drop
        self._queue: asyncio.Queue[_Row] = asyncio.Queue(limit)

    def record(self, restaurant_id: str, actor: str, role: str, note: AuditNote) -> None:
        """Queue one audit row; without books (no Postgres) there is nowhere to write it, and it is only logged."""
        if self.books is None:
            return
        try:
            self._queue.put_nowait(_Row(restaurant_id, actor, role, note))
        except asyncio.QueueFull:
            logger.warning("audit queue full; dropped %s of %s by %s", note.action, restaurant_id, actor)
            if self.on_drop is not None:
                self.on_drop()

    async def drained(self) -> None:
        """Until every row queued so far is written."""
        await self._queue.join()

    async def run(self) -> None:
        """Write queued rows forever, in order; a row that cannot be written yet is retried, never skipped."""
        if self.books is None:
            await asyncio.Event().wait()  # nothing will ever be queued
        books = self.books
        assert books is not None
        backoff = Backoff(first=0.2, ceiling=5.0)
        while True:
            reraise_if_cancelled()  # a library may have swallowed our cancellation in the last round
            row = await self._queue.get()
            try:
                await self._write(books, row, backoff)
            finally:
                self._queue.task_done()  # written, or lost with a crash the supervisor logs and restarts

    async def _write(self, books: Books, row: _Row, backoff: Backoff) -> None:
        while True:
            try:
                await books.audit(row.restaurant_id, row.actor, row.role, row.note)
            except (SQLAlchemyError, OSError) as exc:
                reraise_if_cancelled()
                delay = backoff.next()
                logger.warning("audit row not written yet (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            else:
                backoff.reset()
                return
