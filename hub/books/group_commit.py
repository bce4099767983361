"""Settlements that arrive while others are being written go to Postgres together: one statement, one transaction,
one commit for the lot.

Why: in ``fireflow bench settle`` (40 tills) a settlement's call took 13 ms of the node's 40 ms for a payment, with
Postgres itself busy 1.8 ms of it. The rest was the commit's wait for its WAL flush (one fsync for every two
settlements, 2.1 ms each under that load, ``pg_stat_io``) and the two cores' run queue, which every wake-up of one
of ten backends joined. One call for every settlement waiting when a lane comes free pays the round trip, the
transaction and the flush once for all of them. Alternated with the code before, three runs each: 481 / 679 / 634
settlements a second against 456 / 451 / 377, and less CPU on the node for each (hub/MEASUREMENTS.md).

What each caller sees is what it saw from its own call (``Books._call_record``), because anything that is not a
plain answer for every settlement sends each one on its own:

- a group is sorted by restaurant before it is sent, so two groups take the restaurants' day locks (and invoice
  counters) in one order and never wait on each other in a circle; stable, so one restaurant's settlements are
  numbered in the order they arrived;
- an error of the statement (a refusal, a constraint, a deadlock Postgres broke) has rolled back the whole group:
  each settlement is then made alone, and its own answer or error goes to its caller;
- Postgres out of reach (:class:`CallFailed`) is every caller's answer, as it would have been alone: each retries
  under its own key, and the function finds what a lost commit did write;
- a caller that gave up before its group left is not sent; one that gave up after it is written (a retry under the
  same key is told so, as ``duplicate``).

Alone, a settlement costs nothing more: with a lane free it leaves at once, in a group of one, as the plain call.
And one restaurant's trouble stays its own: a call that waits (on a day lock another transaction holds) gives its
lane up after ``STUCK``, so the settlements behind it go on in another.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from fireflow.hub.books.calls import POOL_SIZE, CallFailed, Calls

__all__ = ["GroupCommit"]

LANES = 2  # groups in flight at once: one committing while the next is sent (1 to 4 measured the same)
MOST = 16  # settlements in one group, so no caller waits behind more than that (8 to 32 measured the same)
# A call this long (a group is 10-30 ms under load) is waiting on something, a day lock held elsewhere most likely:
# its lane stops counting, so the other restaurants' settlements are not held up behind it. Up to MOST_LANES calls
# (the books' connections) may wait so.
STUCK = 0.25
MOST_LANES = POOL_SIZE
ONE = "SELECT fireflow_record_settlement($1::jsonb)::text"
# WITH ORDINALITY: each answer named by its place in the group, not by the order rows happen to come back in.
GROUP = "SELECT n, fireflow_record_settlement(s)::text FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS g(s, n)"


@dataclass(slots=True)
class _Waiting:
    restaurant_id: str
    payload: str  # the settlement's JSON, as the function takes it
    answer: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit:
    """``record`` a settlement: the function's answer (JSON text), or the error its own call would have raised."""

    def __init__(self, calls: Calls, *, lanes: int = LANES, most: int = MOST) -> None:
        self.calls = calls
        self.lanes = lanes
        self.most = most
        self._waiting: list[_Waiting] = []
        self._busy = 0  # lanes sending and not stuck; counted down as a lane finds nothing left, before it ends
        self._lanes: set[asyncio.Task[None]] = set()  # held, so a lane is not collected mid-call
        # Read by the node's metrics: calls made, settlements sent in them, groups sent again one by one, calls
        # that outlasted STUCK.
        self.commits = 0
        self.recorded = 0
        self.split = 0
        self.stuck = 0

    async def record(self, restaurant_id: str, payload: str) -> str:
        waiting = _Waiting(restaurant_id, payload)
        self._waiting.append(waiting)
        self._open_lane()
        return await waiting.answer

    def _open_lane(self) -> None:
        if self._waiting and self._busy < self.lanes and len(self._lanes) < MOST_LANES:
            self._busy += 1
            lane = asyncio.get_running_loop().create_task(self._lane(), name="books-group-commit")
            self._lanes.add(lane)

    async def _lane(self) -> None:
        """Send what is waiting, a group at a time, until nothing is; a lane ends with the queue, or after a call
        that outlasted ``STUCK`` (its place went to another lane meanwhile)."""
        group: list[_Waiting] = []
        counted = True  # this lane is one of the ``_busy``

        def step_aside() -> None:
            nonlocal counted
            counted = False
            self._busy -= 1
            self.stuck += 1
            self._open_lane()

        try:
            while counted and self._waiting:
                taken, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
                group = sorted((w for w in taken if not w.answer.done()), key=lambda w: w.restaurant_id)
                if group:
                    timer = asyncio.get_running_loop().call_later(STUCK, step_aside)
                    try:
                        await self._send(group)
                    finally:
                        timer.cancel()
        except BaseException as exc:  # the node stopping (or a fault here): no caller is left waiting
            stranded, self._waiting = [*group, *self._waiting], []
            for waiting in stranded:
                if isinstance(exc, Exception):
                    _answer(waiting, exc=exc)
                else:
                    waiting.answer.cancel()
            raise
        finally:
            self._lanes.discard(asyncio.current_task())
            if counted:
                self._busy -= 1
            self._open_lane()  # for any that came while every lane was stuck

    async def _send(self, group: list[_Waiting]) -> None:
        self.commits += 1
        self.recorded += len(group)
        if len(group) == 1:
            await self._alone(group[0])
            return
        try:
            rows = await self.calls.rows(GROUP, "[" + ",".join(w.payload for w in group) + "]")
        except asyncpg.PostgresError:  # one settlement's error undid the group: each on its own, as if alone
            self.split += 1
            self.commits += len(group)
            for waiting in group:
                await self._alone(waiting)
            return
        except Exception as exc:  # out of reach (CallFailed): each caller's answer, as alone
            for waiting in group:
                _answer(waiting, exc=_copy(exc))
            return
        for n, answer in rows:
            _answer(group[n - 1], answer)

    async def _alone(self, waiting: _Waiting) -> None:
        if waiting.answer.done():
            return
        try:
            answer = await self.calls.value(ONE, waiting.payload)
        except Exception as exc:
            _answer(waiting, exc=exc)
        else:
            _answer(waiting, answer)


def _copy(exc: Exception) -> Exception:
    """One error for each caller: an exception raised in several tasks would gather all their tracebacks."""
    if not isinstance(exc, CallFailed):
        return exc
    copy = CallFailed(str(exc))
    copy.__cause__ = exc.__cause__
    return copy


def _answer(waiting: _Waiting, answer: str | None = None, *, exc: Exception | None = None) -> None:
    if waiting.answer.done():  # its caller gave up meanwhile
        return
    if exc is not None:
        waiting.answer.set_exception(exc)
    else:
        waiting.answer.set_result(answer)  # type: ignore[arg-type]
