"""Postgres access: the async engine and running the Alembic migrations.

Migrations run under a Postgres advisory lock, so nodes starting together on one
database take turns: the first upgrades it, the others find it at head. A node
waits for the lock a bounded time: a holder stuck for minutes (a migration waiting
on a table lock, a hung session) gets a clear error, not a node that never starts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from fireflow import migrations

__all__ = [
    "MIGRATION_LOCK",
    "MIGRATION_LOCK_TIMEOUT_S",
    "SESSION_SETTINGS",
    "STATEMENT_TIMEOUT_S",
    "MigrationLocked",
    "alembic_config",
    "create_engine",
    "migrate",
]

MIGRATION_LOCK = int.from_bytes(b"fireflow")  # the advisory lock key every node migrates under
MIGRATION_LOCK_TIMEOUT_S = 300.0  # far longer than any of our migrations takes; a holder past it is stuck
LOCK_NOT_AVAILABLE = "55P03"  # Postgres's SQLSTATE when lock_timeout ends a wait


class MigrationLocked(Exception):
    """Another session held the migration lock for longer than we wait; the message is one line for people."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


async def migrate(url: str, *, lock_timeout: float = MIGRATION_LOCK_TIMEOUT_S) -> None:
    """Apply every migration, one node at a time (see the module docstring).

    The lock is held on a connection of its own for the whole upgrade; if this
    process dies, Postgres ends the session and the lock with it. The upgrade runs
    in a thread because Alembic's env starts its own event loop.
    """
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"SET lock_timeout = {max(1, round(lock_timeout * 1000))}"))
            try:
                await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                    raise
                raise MigrationLocked(
                    f"another session has held the migration lock (pg_advisory_lock {MIGRATION_LOCK}) for over "
                    f"{lock_timeout:g} s; see pg_locks for its pid, end it, and start again"
                ) from None
            try:
                await asyncio.to_thread(_upgrade, url)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        await engine.dispose()


STATEMENT_TIMEOUT_S = 10.0  # well under the payment lock's check (30 s): no commit can land after the lock is let go
_TIMEOUT_MS = str(int(STATEMENT_TIMEOUT_S * 1000))
# Every session of ours, the engine's and the books' calls' (calls.py): a transaction left open by a node
# that died is rolled back by the server itself.
SESSION_SETTINGS = {"statement_timeout": _TIMEOUT_MS, "idle_in_transaction_session_timeout": _TIMEOUT_MS}


def create_engine(url: str) -> AsyncEngine:
    return create_async_engine(
        url,
        # Settlements have their own pool (calls.py, 10); this one serves lookups, reports and the rarer
        # money commands. Three nodes, their books' calls and durable writers stay inside Postgres's
        # default 100 connections.
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        connect_args={
            "command_timeout": STATEMENT_TIMEOUT_S,
            "server_settings": SESSION_SETTINGS,
        },
    )
