"""The money tables in the real Postgres: models match the migrations, and the ledger's rules hold in the database."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.db import alembic_config, create_engine, migrate
from fireflow.schema.tables import Base, LedgerEntryRow, LedgerTransactionRow
from tests.conftest import Servers


@pytest.fixture
async def engine(servers: Servers) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(servers.database_url)
    yield engine
    await engine.dispose()


async def test_the_migrations_build_exactly_the_models(engine: AsyncEngine) -> None:
    """Alembic finds no difference between the migrated database and the SQLAlchemy models."""
    async with engine.connect() as conn:
        # The events table's partitions are made at run time (hub/books/partitions.py), not models of their own.
        opts = {"include_name": lambda name, kind, _: not (kind == "table" and str(name).startswith("events_"))}
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts=opts), Base.metadata)
        )
    assert diff == []


def _txn(entries: list[tuple[str, int, int]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    txn_id = "t" + secrets.token_hex(6)
    now = datetime.now(UTC)
    txn = {"id": txn_id, "restaurant_id": "r1", "kind": "SALE", "reference": "x", "business_day": date.today(),
           "created_by": "test", "created_at": now}  # fmt: skip
    rows = [{"transaction_id": txn_id, "account": a, "debit": d, "credit": c} for a, d, c in entries]
    return txn, rows


async def _post(engine: AsyncEngine, entries: list[tuple[str, int, int]]) -> str:
    txn, rows = _txn(entries)
    async with engine.begin() as conn:
        await conn.execute(insert(LedgerTransactionRow), [txn])
        await conn.execute(insert(LedgerEntryRow), rows)
    return str(txn["id"])


async def test_an_unbalanced_transaction_cannot_commit(engine: AsyncEngine) -> None:
    """Debits 1000 against credits 999 is refused at commit by the database itself; nothing of it remains."""
    with pytest.raises(DBAPIError, match="does not balance"):
        await _post(engine, [("cash", 1000, 0), ("sales", 0, 999)])
    balanced = await _post(engine, [("cash", 1000, 0), ("sales", 0, 950), ("tax:GST5", 0, 50)])
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM ledger_entries WHERE transaction_id = :t"),
                                    {"t": balanced})).scalar_one()  # fmt: skip
    assert count == 3


async def test_an_entry_is_a_debit_or_a_credit_never_both_or_negative(engine: AsyncEngine) -> None:
    """The check constraint refuses a two-sided, an empty and a negative entry."""
    for bad in ([("cash", 5, 5), ("sales", 0, 0)], [("cash", -5, 0), ("sales", 0, -5)]):
        with pytest.raises(DBAPIError, match="ck_ledger_entries_side"):
            await _post(engine, bad)


async def test_the_ledger_is_append_only(engine: AsyncEngine) -> None:
    """Posted entries and transactions cannot be updated or deleted: mistakes are reversed, not erased."""
    txn = await _post(engine, [("cash", 100, 0), ("sales", 0, 100)])
    for statement in (
        "UPDATE ledger_entries SET debit = 1 WHERE transaction_id = :t AND debit > 0",
        "DELETE FROM ledger_entries WHERE transaction_id = :t",
        "DELETE FROM ledger_transactions WHERE id = :t",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement), {"t": txn})


_TOTALS = """
SELECT (SELECT coalesce(jsonb_object_agg(x.k, x.n), '{}') FROM (
            SELECT business_day || ' ' || kind AS k, postings AS n FROM ledger_day_kinds WHERE restaurant_id = :r) x),
       (SELECT coalesce(jsonb_object_agg(x.k, x.n), '{}') FROM (
            SELECT business_day || ' ' || kind AS k, count(*) AS n FROM ledger_transactions WHERE restaurant_id = :r
             GROUP BY 1) x),
       (SELECT coalesce(jsonb_object_agg(x.k, x.b), '{}') FROM (
            SELECT business_day || ' ' || kind || ' ' || account AS k, balance AS b FROM ledger_day_balances
             WHERE restaurant_id = :r) x),
       (SELECT coalesce(jsonb_object_agg(x.k, x.b), '{}') FROM (
            SELECT t.business_day || ' ' || t.kind || ' ' || e.account AS k, sum(e.debit - e.credit) AS b
              FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
             WHERE t.restaurant_id = :r GROUP BY 1) x)
"""


async def _totals(engine: AsyncEngine, rid: str) -> tuple[Any, Any, Any, Any]:
    """The day totals the database keeps, and the same summed over the ledger: (kept, summed) twice."""
    async with engine.connect() as conn:
        kinds, counted, balances, summed = (await conn.execute(text(_TOTALS), {"r": rid})).one()
    return kinds, counted, balances, summed


async def _post_many(
    engine: AsyncEngine, rid: str, postings: list[tuple[str, date, list[tuple[str, int, int]]]]
) -> None:
    """Several transactions in one statement each for the transactions and their entries, in one commit."""
    txns, rows = [], []
    for kind, day, entries in postings:
        txn, entry_rows = _txn(entries)
        txns.append(txn | {"restaurant_id": rid, "kind": kind, "business_day": day})
        rows += entry_rows
    async with engine.begin() as conn:
        await conn.execute(insert(LedgerTransactionRow), txns)
        await conn.execute(insert(LedgerEntryRow), rows)


async def test_the_database_keeps_each_days_totals_equal_to_its_ledger(engine: AsyncEngine) -> None:
    """Every committed posting, one at a time or several in a statement, is in its day's totals (how many of
    each kind, each account's balance by kind); one rolled back is not; and the day's figures read them."""
    rid = "totals-" + secrets.token_hex(4)
    day, next_day = date(2026, 3, 1), date(2026, 3, 2)
    await _post_many(engine, rid, [("SALE", day, [("cash", 1050, 0), ("sales", 0, 1000), ("tax:GST5", 0, 50)])])
    await _post_many(
        engine,
        rid,
        [
            ("SALE", day, [("upi", 500, 0), ("sales", 0, 500)]),
            ("REFUND", day, [("sales", 200, 0), ("cash", 0, 200)]),
            ("FLOAT", day, [("cash", 5000, 0), ("equity:float", 0, 5000)]),
            ("SALE", next_day, [("cash", 300, 0), ("sales", 0, 300)]),
        ],
    )
    with pytest.raises(DBAPIError, match="does not balance"):
        await _post_many(engine, rid, [("SALE", day, [("cash", 999, 0), ("sales", 0, 1)])])
    kinds, counted, balances, summed = await _totals(engine, rid)
    assert kinds == counted == {"2026-03-01 SALE": 2, "2026-03-01 REFUND": 1, "2026-03-01 FLOAT": 1,
                                "2026-03-02 SALE": 1}  # fmt: skip
    assert balances == summed
    assert balances["2026-03-01 SALE sales"] == -1500 and balances["2026-03-01 SALE cash"] == 1050
    async with engine.connect() as conn:
        figures = (await conn.execute(text("SELECT fireflow_day_figures(:r, :d)"), {"r": rid, "d": day})).scalar_one()
    # Takings: sales, refunds, voids and deposits; the float is counted as a posting but is not takings.
    assert figures == {
        "day": "2026-03-01",
        "accounts": {"cash": 850, "upi": 500, "sales": -1300, "tax:GST5": -50},
        "kinds": {"SALE": 2, "REFUND": 1, "FLOAT": 1},
    }


async def test_a_ledger_from_before_the_totals_is_summed_into_them(fresh_database: str) -> None:
    """Migrated from 0009 with postings in the ledger: the totals hold them, and later postings add to them;
    undone, the day's figures are summed over the ledger again and answer the same."""
    await asyncio.to_thread(command.upgrade, alembic_config(fresh_database), "0009")
    engine = create_engine(fresh_database)
    rid, day = "before-" + secrets.token_hex(4), date(2026, 3, 1)
    sale = ("SALE", day, [("cash", 700, 0), ("sales", 0, 700)])

    async def figures() -> Any:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT fireflow_day_figures(:r, :d)"), {"r": rid, "d": day})).scalar_one()

    try:
        await _post_many(engine, rid, [sale, sale])
        before = await figures()
        await migrate(fresh_database)
        kinds, counted, balances, summed = await _totals(engine, rid)
        assert kinds == counted == {"2026-03-01 SALE": 2} and balances == summed
        assert await figures() == before == {"day": "2026-03-01", "accounts": {"cash": 1400, "sales": -1400},
                                             "kinds": {"SALE": 2}}  # fmt: skip
        await _post_many(engine, rid, [sale])
        assert (await _totals(engine, rid))[0] == {"2026-03-01 SALE": 3}
        await asyncio.to_thread(command.downgrade, alembic_config(fresh_database), "0009")
        assert (await figures())["accounts"] == {"cash": 2100, "sales": -2100}
    finally:
        await engine.dispose()
