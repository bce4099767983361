"""The money tables in the real Postgres: models match the migrations, and the ledger's rules hold in the database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.db import create_engine
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
