"""The events table by month: rows land in their month, months are made ahead, old months are dropped whole."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fireflow.hub.books import partitions
from fireflow.hub.books.db import alembic_config, migrate
from tests.conftest import Servers


@pytest.fixture
async def fresh(servers: Servers) -> AsyncIterator[str]:
    """A new, empty database on the suite's Postgres, dropped afterwards."""
    name = "parts_" + secrets.token_hex(4)
    admin = create_async_engine(servers.database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(servers.database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _insert(engine: AsyncEngine, offset: int, at: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                'INSERT INTO events (restaurant_id, epoch, "offset", type, channels, data, committed_at) '
                "VALUES ('r1', 'e1', :o, 'ORDER_OPENED', '{orders}', '{}', :at)"
            ),
            {"o": offset, "at": at},
        )


async def _where(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text('SELECT "offset", tableoid::regclass::text FROM events ORDER BY "offset"'))
        return {int(o): str(t) for o, t in rows}


async def test_rows_from_before_the_migration_move_into_the_partitions(fresh: str) -> None:
    """Migrated from 0006 with rows in the plain table: every row kept, each in its month or before all of them."""
    await asyncio.to_thread(command.upgrade, alembic_config(fresh), "0006")
    engine = create_async_engine(fresh)
    now = datetime.now(UTC)
    try:
        await _insert(engine, 1, datetime(2020, 1, 5, tzinfo=UTC))
        await _insert(engine, 2, now)
        await migrate(fresh)
        async with engine.connect() as conn:
            kind = (await conn.execute(text("SELECT relkind::text FROM pg_class WHERE relname = 'events'"))).scalar()
        assert kind == "p"  # partitioned
        this_month = partitions.month_name(now.date())
        assert await _where(engine) == {1: f"events_before_{now:%Y_%m}", 2: this_month}
    finally:
        await engine.dispose()


async def test_months_are_made_ahead_and_old_ones_dropped_whole(fresh: str) -> None:
    await migrate(fresh)
    engine = create_async_engine(fresh)
    today = datetime.now(UTC)
    try:
        assert await partitions.ensure_months(engine) == []  # the migration made this month and 3 ahead
        later = today + timedelta(days=31 * 4)
        made = await partitions.ensure_months(engine, later)
        assert made and partitions.month_name(later.date()) in made
        assert await partitions.ensure_months(engine, later) == []  # made once
        await _insert(engine, 1, today - timedelta(days=400))  # before all months
        await _insert(engine, 2, today)
        dropped = await partitions.prune(engine, today.date())
        assert dropped == [f"events_before_{today:%Y_%m}"]
        assert await _where(engine) == {2: partitions.month_name(today.date())}  # this month's rows stay
        next_month = partitions.months(today.date(), 2)[1]
        assert partitions.month_name(today.date()) in await partitions.prune(engine, next_month)
        assert await _where(engine) == {}
    finally:
        await engine.dispose()


async def test_a_month_whose_rows_sit_in_the_default_is_left_to_it(fresh: str) -> None:
    """A clock far ahead put a row in DEFAULT; making that month later is skipped (logged), the row still read."""
    await migrate(fresh)
    engine = create_async_engine(fresh)
    far = datetime(2040, 6, 1, tzinfo=UTC)
    try:
        await _insert(engine, 1, far)
        assert await _where(engine) == {1: "events_default"}
        made = await partitions.ensure_months(engine, far, ahead=1)
        assert made == [partitions.month_name(date(2040, 7, 1))]  # June is left to the default, July is made
        assert await _where(engine) == {1: "events_default"}
    finally:
        await engine.dispose()
