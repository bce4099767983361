"""Migrations: several nodes starting at once on a fresh database do not race."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fireflow.hub.books.db import MIGRATION_LOCK, MigrationLocked, alembic_config, migrate
from tests.conftest import ROOT, WAIT


async def _versions(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all())
    finally:
        await engine.dispose()


def _head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def test_four_concurrent_migrations_of_a_fresh_database_all_succeed_once(fresh_database: str) -> None:
    """Four migrate() calls at once on an empty database all succeed, and it ends at head with one version row."""
    results = await asyncio.gather(*(migrate(fresh_database) for _ in range(4)), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert await _versions(fresh_database) == [_head(fresh_database)]


async def test_four_nodes_migrating_a_fresh_database_at_once_all_succeed(fresh_database: str) -> None:
    """Four `fireflow migrate` processes started together on an empty database all succeed; it ends at head once."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {"DATABASE_URL": fresh_database}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fireflow.hub.run.cli", "migrate", env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(4)
    ]  # fmt: skip
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 12 * WAIT)
    assert [p.returncode for p in procs] == [0] * 4, [out.decode()[-2000:] for out, _ in outputs]
    assert await _versions(fresh_database) == [_head(fresh_database)]


async def test_a_migration_lock_held_too_long_ends_the_wait_with_one_clear_line(fresh_database: str) -> None:
    """A session stuck holding the migration lock: migrate() gives up after its lock timeout and says why."""
    holder = create_async_engine(fresh_database, isolation_level="AUTOCOMMIT")
    try:
        async with holder.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            with pytest.raises(MigrationLocked) as err:
                await asyncio.wait_for(migrate(fresh_database, lock_timeout=0.3), WAIT)
            assert "migration lock" in str(err.value) and "0.3 s" in str(err.value) and "\n" not in str(err.value)
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        await migrate(fresh_database, lock_timeout=0.3)  # let go: the next node migrates
        assert await _versions(fresh_database) == [_head(fresh_database)]
    finally:
        await holder.dispose()
