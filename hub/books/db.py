"""Postgres access: the async engine and running the Alembic migrations.

Migrations run under a Postgres advisory lock, so nodes starting together on one
database take turns: the first upgrades it, the others find it at head.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from fireflow import migrations

__all__ = ["MIGRATION_LOCK", "alembic_config", "create_engine", "migrate"]

MIGRATION_LOCK = int.from_bytes(b"fireflow")  # the advisory lock key every node migrates under


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


async def migrate(url: str) -> None:
    """Apply every migration, one node at a time (see the module docstring).

    The lock is held on a connection of its own for the whole upgrade; if this
    process dies, Postgres ends the session and the lock with it. The upgrade runs
    in a thread because Alembic's env starts its own event loop.
    """
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                await asyncio.to_thread(_upgrade, url)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        await engine.dispose()


STATEMENT_TIMEOUT_S = 10.0  # well under the payment lock's check (30 s): no commit can land after the lock is let go


def create_engine(url: str) -> AsyncEngine:
    timeout_ms = str(int(STATEMENT_TIMEOUT_S * 1000))
    return create_async_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        connect_args={
            "command_timeout": STATEMENT_TIMEOUT_S,
            # A transaction left open by a node that died is rolled back by the server itself.
            "server_settings": {"statement_timeout": timeout_ms, "idle_in_transaction_session_timeout": timeout_ms},
        },
    )
