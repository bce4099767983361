"""The hot calls straight on asyncpg, no ORM in between: a settlement, the durable writer's batches, the sweeps'
look for settled orders.

A settlement is one call to ``fireflow_record_settlement`` (migration 0009), made with the others waiting in one
statement (``group_commit.py``). Through SQLAlchemy's async
engine that call cost about 875 µs of hub CPU on this machine (a pool checkout with a pre-ping round trip,
the greenlet hop, the result's wrapping); on a plain asyncpg pool, 123 µs. At hundreds of settlements a
second per node that difference is most of a core, so the call goes here, on connections of its own
(``Calls`` says why not asyncpg's pool). The durable writer's batch of events is one INSERT over arrays
here (hub/workers/durable.py), not SQLAlchemy's executemany. The tables stay SQLAlchemy models under Alembic; the rest of the books (reports, lookups) stay on the
engine, where their cost does not matter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from fireflow.hub.books.db import SESSION_SETTINGS, STATEMENT_TIMEOUT_S

__all__ = ["CallFailed", "Calls"]

POOL_SIZE = 10  # as the engine's: settlements take two at a time (group_commit.LANES), more while calls wait on locks
# What a connection lost under a call raises (a server that ended it mid-reply leaves the client's protocol in a
# state it reports as an internal error): the call is made once more on a fresh connection.
LOST = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
)


class CallFailed(OSError):
    """Postgres did not answer the call (down, restarting, too slow) or raised an error that is not one of the
    books' refusals. An OSError, so every caller that answers UNAVAILABLE when the books cannot be reached
    does so here too; the driver's error is its ``__cause__``."""


class Calls:
    """Up to ``size`` asyncpg connections on the books' database, opened as needed, for :meth:`value` and
    :meth:`execute` calls; a call waits its turn (first come, first served) when all are busy.

    Not ``asyncpg.Pool``: its checkout and return (a queue, a timeout, an idle timer set and cancelled on
    every use, a reset coroutine) cost 120 µs of CPU a call here against 56 µs for the call itself on a
    free connection (``SELECT`` of a 2.6 KB jsonb, one at a time; 82 against 25 µs with 20 in flight).
    A connection is handed back as it is: the calls leave no session state (no LISTEN, advisory locks,
    cursors or SET, and each runs in its own implicit transaction). One whose call was lost, cancelled or
    broken off is closed instead, never handed to the next call in an unknown state.
    """

    def __init__(self, url: URL, *, size: int = POOL_SIZE) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._size = size
        self._free: deque[asyncpg.Connection] = deque()
        self._waiting: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._open = 0  # connections made and not yet closed, free or in a call (or being made)
        self._closed = False

    async def value(self, sql: str, *args: Any) -> Any:
        """The first column of the first row ``sql`` answers (see :meth:`_call` for what it raises)."""
        return await self._call(lambda connection: connection.fetchval(sql, *args))

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Every row ``sql`` answers (see :meth:`_call` for what it raises)."""
        found: list[asyncpg.Record] = await self._call(lambda connection: connection.fetch(sql, *args))
        return found

    async def execute(self, sql: str, *args: Any) -> None:
        """Run ``sql`` (see :meth:`_call` for what it raises)."""
        await self._call(lambda connection: connection.execute(sql, *args))

    async def _call(self, call: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        """What the statement itself raised (an ``asyncpg.PostgresError``: a refusal, a constraint) is raised as
        it is, for the caller to read. A connection found dead (Postgres restarted since it was opened) is
        replaced and the call made once more on the fresh one, safe only because every call made here is
        idempotent (by its key, or ON CONFLICT DO NOTHING). Anything else that stops the call (Postgres down,
        shutting down, a statement timeout) is a :class:`CallFailed`.
        """
        for attempt in range(2):
            connection = await self._acquire()
            keep = False
            try:
                answer = await call(connection)
                keep = True
                return answer
            except asyncpg.PostgresError as exc:
                if isinstance(exc, asyncpg.exceptions.OperatorInterventionError):
                    raise CallFailed(f"Postgres call failed: {exc}") from exc
                keep = not isinstance(exc, LOST)
                if keep:
                    raise  # the statement's own error: the connection is as good as before
                if attempt:
                    raise CallFailed(f"Postgres connection lost: {exc}") from exc
            except LOST as exc:
                if attempt:
                    raise CallFailed(f"Postgres connection lost: {exc}") from exc
            except (OSError, TimeoutError) as exc:
                raise CallFailed(f"Postgres call failed: {exc}") from exc
            finally:
                self._release(connection, keep)
        raise AssertionError("unreachable")

    async def _acquire(self) -> asyncpg.Connection:
        if self._closed:
            raise CallFailed("the books' connections are closed (the node is stopping)")
        while self._free:
            connection = self._free.popleft()
            if not connection.is_closed():
                return connection
            self._open -= 1
        if self._open < self._size:
            self._open += 1
            try:
                return await asyncpg.connect(
                    self._dsn, command_timeout=STATEMENT_TIMEOUT_S, server_settings=SESSION_SETTINGS
                )
            except BaseException as exc:
                self._open -= 1
                self._hand_on(None)  # a waiter may open one in its place
                if isinstance(exc, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)):
                    raise CallFailed(f"Postgres not reachable: {exc}") from exc
                raise
        turn: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            handed = await turn
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.result() is not None:
                self._release(turn.result(), keep=True)  # handed one just as it was cancelled: pass it on
            raise
        return handed if handed is not None else await self._acquire()

    def _release(self, connection: asyncpg.Connection, keep: bool) -> None:
        if not keep or self._closed or connection.is_closed():
            connection.terminate()
            self._open -= 1
            self._hand_on(None)
            return
        self._hand_on(connection)

    def _hand_on(self, connection: asyncpg.Connection | None) -> None:
        """To the longest waiter (``None``: room for it to open one), else back to the free ones."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(connection)
                return
        if connection is not None:
            self._free.append(connection)

    async def close(self) -> None:
        self._closed = True
        free, self._free = list(self._free), deque()
        for connection in free:
            self._open -= 1
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
