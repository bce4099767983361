"""The hot calls straight on asyncpg, no ORM in between: a settlement, and the durable writer's batches.

A settlement is one call to ``fireflow_record_settlement`` (migration 0009). Through SQLAlchemy's async
engine that call cost about 875 µs of hub CPU on this machine (a pool checkout with a pre-ping round trip,
the greenlet hop, the result's wrapping); on a plain asyncpg pool, 123 µs. At hundreds of settlements a
second per node that difference is most of a core, so the call goes here. The durable writer's batch of
events is one INSERT over arrays here (hub/workers/durable.py), not SQLAlchemy's executemany. The
tables stay SQLAlchemy models under Alembic; the rest of the books (reports, lookups) stay on the
engine, where their cost does not matter.

The pool keeps no session state between calls (no LISTEN, advisory locks, cursors or SET), so returning a
connection only rolls back a transaction a cancelled call left open (asyncpg does that itself) and skips
asyncpg's default reset query, one more round trip per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from fireflow.hub.books.db import SESSION_SETTINGS, STATEMENT_TIMEOUT_S

__all__ = ["CallFailed", "Calls"]

POOL_SIZE = 10  # as the engine's: a node's concurrent settlements each hold one connection for one call
# What a connection lost under a call raises: the call is made once more on a fresh connection.
LOST = (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.InterfaceError, ConnectionError)


class CallFailed(OSError):
    """Postgres did not answer the call (down, restarting, too slow) or raised an error that is not one of the
    books' refusals. An OSError, so every caller that answers UNAVAILABLE when the books cannot be reached
    does so here too; the driver's error is its ``__cause__``."""


async def _keep(_connection: asyncpg.Connection) -> None:
    """Nothing to undo: see the module's docstring."""


class Calls:
    """A lazily opened asyncpg pool on the books' database, for :meth:`value` and :meth:`execute` calls."""

    def __init__(self, url: URL, *, size: int = POOL_SIZE) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock | None = None

    async def _opened(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        self._opening = self._opening or asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=self._size,
                        reset=_keep,
                        command_timeout=STATEMENT_TIMEOUT_S,
                        server_settings=SESSION_SETTINGS,
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    raise CallFailed(f"Postgres not reachable: {exc}") from exc
        return self._pool

    async def value(self, sql: str, *args: Any) -> Any:
        """The first column of the first row ``sql`` answers (see :meth:`_call` for what it raises)."""
        pool = await self._opened()
        return await self._call(lambda: pool.fetchval(sql, *args))

    async def execute(self, sql: str, *args: Any) -> None:
        """Run ``sql`` (see :meth:`_call` for what it raises)."""
        pool = await self._opened()
        await self._call(lambda: pool.execute(sql, *args))

    @staticmethod
    async def _call(call: Callable[[], Awaitable[Any]]) -> Any:
        """What the statement itself raised (an ``asyncpg.PostgresError``: a refusal, a constraint) is raised as
        it is, for the caller to read. A connection found dead (Postgres restarted since it was pooled) is
        replaced and the call made once more on the fresh one, safe only because every call made here is
        idempotent (by its key, or ON CONFLICT DO NOTHING). Anything else that stops the call (Postgres down,
        shutting down, a statement timeout) is a :class:`CallFailed`.
        """
        for attempt in range(2):
            try:
                return await call()
            except LOST as exc:
                if attempt:
                    raise CallFailed(f"Postgres connection lost: {exc}") from exc
            except (asyncpg.exceptions.OperatorInterventionError, OSError, TimeoutError) as exc:
                raise CallFailed(f"Postgres call failed: {exc}") from exc
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
