"""The events table by month: rows land in their month, months are made ahead, old months are dropped whole."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fireflow.hub.books import partitions
from fireflow.hub.books.db import alembic_config, migrate


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


async def test_rows_from_before_the_migration_move_into_the_partitions(fresh_database: str) -> None:
    """Migrated from 0006 with rows in the plain table: every row kept, each in its month or before all of them."""
    await asyncio.to_thread(command.upgrade, alembic_config(fresh_database), "0006")
    engine = create_async_engine(fresh_database)
    now = datetime.now(UTC)
    try:
        await _insert(engine, 1, datetime(2020, 1, 5, tzinfo=UTC))
        await _insert(engine, 2, now)
        await migrate(fresh_database)
        async with engine.connect() as conn:
            kind = (await conn.execute(text("SELECT relkind::text FROM pg_class WHERE relname = 'events'"))).scalar()
        assert kind == "p"  # partitioned
        this_month = partitions.month_name(now.date())
        assert await _where(engine) == {1: f"events_before_{now:%Y_%m}", 2: this_month}
    finally:
        await engine.dispose()


async def test_months_are_made_ahead_and_old_ones_dropped_whole(fresh_database: str) -> None:
    await migrate(fresh_database)
    engine = create_async_engine(fresh_database)
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


async def test_a_month_whose_rows_sit_in_the_default_is_left_to_it(fresh_database: str) -> None:
    """A clock far ahead put a row in DEFAULT; making that month later is skipped (logged), the row still read."""
    await migrate(fresh_database)
    engine = create_async_engine(fresh_database)
    far = datetime(2040, 6, 1, tzinfo=UTC)
    try:
        await _insert(engine, 1, far)
        assert await _where(engine) == {1: "events_default"}
        made = await partitions.ensure_months(engine, far, ahead=1)
        assert made == [partitions.month_name(date(2040, 7, 1))]  # June is left to the default, July is made
        assert await _where(engine) == {1: "events_default"}
    finally:
        await engine.dispose()


async def test_downgrading_to_the_plain_table_keeps_every_row(fresh_database: str) -> None:
    """0007 undone and done again: the rows go back to one plain table and into the months again."""
    await migrate(fresh_database)
    engine = create_async_engine(fresh_database)
    now = datetime.now(UTC)
    try:
        await _insert(engine, 1, now)
        await asyncio.to_thread(command.downgrade, alembic_config(fresh_database), "0006")
        assert await _where(engine) == {1: "events"}
        await migrate(fresh_database)
        assert await _where(engine) == {1: partitions.month_name(now.date())}
    finally:
        await engine.dispose()
