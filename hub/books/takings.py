"""A business day's ledger in quarter hours: what the manager's takings-by-hour chart is drawn from.

The figures are the same postings ``fireflow_day_figures`` sums for the day's revenue (sales, deposits,
refunds and voids of that business day), only grouped by when they were posted as well as by account,
so that the hours add up to the day's takings to the minor unit (``hub/forecast/dashboard.py`` applies
the one rule of which accounts are takings, ``fireflow.hub.domain.billing.method_of``).

Postings are grouped by quarter hour since the epoch, not by the restaurant's hour, in Postgres: every
time zone in use is a whole number of quarter hours from UTC (India's +5:30, Nepal's +5:45), so each
quarter lies wholly inside one local hour, and the database needs no time-zone data of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["SLOT_S", "DayLedger", "day_ledger"]

SLOT_S = 900  # a quarter of an hour

_BALANCES = text(
    f"""
    SELECT floor(extract(epoch FROM t.created_at) / {SLOT_S})::bigint AS slot, e.account,
           sum(e.debit) - sum(e.credit) AS balance
      FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
     WHERE t.restaurant_id = :rid AND t.business_day = :day AND t.kind IN ('SALE', 'DEPOSIT', 'REFUND', 'VOID')
     GROUP BY slot, e.account
    """
)
_KINDS = text(
    f"""
    SELECT floor(extract(epoch FROM t.created_at) / {SLOT_S})::bigint AS slot, t.kind, count(*) AS n
      FROM ledger_transactions t
     WHERE t.restaurant_id = :rid AND t.business_day = :day AND t.kind IN ('SALE', 'VOID')
     GROUP BY slot, t.kind
    """
)


@dataclass(frozen=True, slots=True)
class DayLedger:
    """Each account's debits less credits per quarter hour, and the sales and voids posted in each."""

    balances: tuple[tuple[int, str, int], ...]  # (slot, account, balance in minor units)
    kinds: tuple[tuple[int, str, int], ...]  # (slot, SALE or VOID, postings)


async def day_ledger(engine: AsyncEngine, restaurant_id: str, day: date) -> DayLedger:
    """The business day's takings postings by quarter hour (two small grouped queries, one connection)."""
    params = {"rid": restaurant_id, "day": day}
    async with engine.connect() as conn:
        balances = (await conn.execute(_BALANCES, params)).all()
        kinds = (await conn.execute(_KINDS, params)).all()
    return DayLedger(
        balances=tuple((int(r.slot), str(r.account), int(r.balance)) for r in balances),
        kinds=tuple((int(r.slot), str(r.kind), int(r.n)) for r in kinds),
    )
