"""The events table, partitioned by month of ``committed_at``: made ahead of time, pruned whole.

Every event of every restaurant lands in ``events``; one table would grow without end and could
only be trimmed by a DELETE that bloats it. Partitioned by month, an old month is one
``DROP TABLE`` (``fireflow events prune --before YYYY-MM``), and a month's queries touch only
its partition. Months are made :data:`AHEAD` ahead (by the migration, by each durable writer as it
starts and every few hours), so the DEFAULT partition only catches a clock far off: its rows
stay readable, and the month they belong to is then left to it (a partition cannot be made over
rows the default already holds; the writer logs that once).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["AHEAD", "ensure_months", "month_name", "months", "prune"]

logger = logging.getLogger(__name__)

AHEAD = 3  # months made ahead of the current one


def _first(day: date) -> date:
    return day.replace(day=1)


def _next(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def month_name(month: date) -> str:
    return f"events_{month.year:04d}_{month.month:02d}"


def months(start: date, count: int) -> list[date]:
    """``count`` first days of months from ``start``'s."""
    found = [_first(start)]
    while len(found) < count:
        found.append(_next(found[-1]))
    return found


async def _exists(conn: AsyncConnection, name: str) -> bool:
    return bool((await conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})).scalar())


async def ensure_months(engine: AsyncEngine, now: datetime | None = None, ahead: int = AHEAD) -> list[str]:
    """Make the partitions of this month and the ``ahead`` next ones that are missing; the names made."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    made = []
    for month in months(today, ahead + 1):
        name = month_name(month)
        async with engine.begin() as conn:
            if await _exists(conn, name):
                continue
            try:
                await conn.execute(
                    text(
                        f"CREATE TABLE {name} PARTITION OF events FOR VALUES "
                        f"FROM ('{month.isoformat()}T00:00:00+00:00') TO ('{_next(month).isoformat()}T00:00:00+00:00')"
                    )
                )
            except DBAPIError as exc:  # the default partition holds rows of that month (a clock far off)
                logger.warning("events partition %s not made: %s", name, str(exc).splitlines()[0])
                continue
        made.append(name)
    return made


async def prune(engine: AsyncEngine, before: date) -> list[str]:
    """Drop the partitions wholly before ``before``'s month (months, and the one before all of them); the names."""
    limit = _first(before)
    async with engine.begin() as conn:
        names = (
            await conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' ORDER BY c.relname"
                )
            )
        ).scalars()
        dropped = []
        for name in names:
            ends = _end(name)
            if ends is not None and ends <= limit:
                await conn.execute(text(f"DROP TABLE {name}"))
                dropped.append(name)
    return dropped


def _end(name: str) -> date | None:
    """Where a partition's range ends: a month's next month; ``events_before_YYYY_MM``'s month; else None."""
    parts = name.split("_")
    try:
        month = date(int(parts[-2]), int(parts[-1]), 1)
    except (ValueError, IndexError):
        return None  # events_default
    return month if name.startswith("events_before_") else _next(month)
