"""Settlements written to the real Postgres: one per order whatever the race, numbers without gaps, retries safe."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.books import (
    INVOICE_REF,
    AlreadySettled,
    AuditNote,
    AuditRecord,
    Books,
    Closing,
    DayClosed,
    DayMoved,
    InvoiceDraft,
    InvoiceRecord,
    Overdrawn,
    PaymentDraft,
    Settlement,
    _as_json,
)
from fireflow.hub.books.calls import CallFailed
from fireflow.hub.books.db import create_engine, migrate
from fireflow.hub.domain.books_rules import InvoiceStatus
from fireflow.schema.billing import LedgerEntry, LedgerKind, LedgerTransaction, Payment, TenderMethod
from tests.conftest import WAIT, Servers


@pytest.fixture
async def engine(servers: Servers) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(servers.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def books(engine: AsyncEngine) -> AsyncIterator[Books]:
    books = Books(engine)
    yield books
    await books.close()


def settlement(rid: str, order_id: str, key: str, total: int = 1050, *, balanced: bool = True) -> Settlement:
    tax = 50
    invoice = InvoiceDraft(
        order_ids=[order_id], currency="INR", gross=1000, discount=0, service_charge=0, tax=tax, total=total,
        bill={"total": total},
        lines=[{"order_id": order_id, "line_id": "L1", "menu_item_id": "burger", "name": "Burger", "quantity": 1,
                "unit_price": 1000, "gross": 1000, "discount": 0, "net": 1000, "tax_code": "GST5", "tax_rate_bp": 500,
                "tax": tax, "total": total}],
    )  # fmt: skip
    sales = total - tax if balanced else total - tax - 1
    return Settlement(
        key=key, restaurant_id=rid, business_day=date(2026, 11, 23), at=datetime.now(UTC), by="cashier-1",
        role="CASHIER", invoice=invoice,
        payments=[PaymentDraft(key=f"{key}:0", order_id=order_id, method="CASH", amount=total, received=2000,
                               change=2000 - total)],
        postings=[LedgerTransaction(id=f"{INVOICE_REF}:sale", kind=LedgerKind.SALE, reference=INVOICE_REF, at=0,
                                    by="cashier-1", entries=(LedgerEntry(account="cash", debit=total),
                                    LedgerEntry(account="sales", credit=sales), LedgerEntry(account="tax", credit=tax)))],
        audit=[AuditNote("SETTLED", "invoice", INVOICE_REF, {"orders": [order_id]})],
    )  # fmt: skip


async def _scalar(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as conn:
        value: int = (await conn.execute(text(sql), params)).scalar_one()
        return value


async def test_fifty_concurrent_settlements_of_one_order_make_exactly_one_invoice(
    engine: AsyncEngine, books: Books
) -> None:
    """50 attempts with different keys at once: one invoice, number 1; the 49 others are told it is settled."""
    rid = "r" + secrets.token_hex(4)
    attempts = [books.record(settlement(rid, f"{rid}.o1", f"k{n}")) for n in range(50)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    recorded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, AlreadySettled)]
    assert len(recorded) == 1 and len(refused) == 49, [r for r in results if isinstance(r, BaseException)][:3]
    assert recorded[0].invoice_number == 1
    assert await _scalar(engine, "SELECT count(*) FROM invoices WHERE restaurant_id = :r", r=rid) == 1
    assert await _scalar(engine, "SELECT count(*) FROM payments WHERE restaurant_id = :r", r=rid) == 1
    assert await _scalar(engine, "SELECT last_number FROM invoice_counters WHERE restaurant_id = :r", r=rid) == 1


async def test_invoice_numbers_have_no_gaps_under_concurrency_and_failures(engine: AsyncEngine, books: Books) -> None:
    """40 orders settled at once, every fifth attempt failing in the database: numbers are exactly 1..32."""
    rid = "r" + secrets.token_hex(4)
    attempts = [books.record(settlement(rid, f"{rid}.o{n}", f"k{n}", balanced=n % 5 != 0)) for n in range(1, 41)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 8 and all(isinstance(f, CallFailed) for f in failed)
    async with engine.connect() as conn:
        numbers = sorted(
            (await conn.execute(text("SELECT number FROM invoices WHERE restaurant_id = :r"), {"r": rid})).scalars()
        )
    assert numbers == list(range(1, 33))


async def test_a_retry_with_the_same_key_returns_the_first_result(engine: AsyncEngine, books: Books) -> None:
    """Recording the same settlement again (a retried command) changes nothing and returns the same invoice."""
    rid = "r" + secrets.token_hex(4)
    first = await books.record(settlement(rid, f"{rid}.o1", "same"))
    again = await asyncio.gather(*(books.record(settlement(rid, f"{rid}.o1", "same")) for _ in range(5)))
    assert {(a.invoice_id, a.invoice_number, a.duplicate) for a in again} == {(first.invoice_id, 1, True)}
    assert await _scalar(engine, "SELECT count(*) FROM ledger_transactions WHERE restaurant_id = :r", r=rid) == 1
    assert await _scalar(engine, "SELECT count(*) FROM audit_log WHERE restaurant_id = :r", r=rid) == 1


async def test_the_books_answer_with_typed_records(engine: AsyncEngine, books: Books) -> None:
    """An invoice, a payment command's payments and an audit row come back as typed records, not dicts."""
    rid = "r" + secrets.token_hex(4)
    recorded = await books.record(settlement(rid, f"{rid}.o1", "typed"))
    assert recorded.invoice_id is not None
    invoice = await books.invoice(rid, recorded.invoice_id)
    assert invoice == InvoiceRecord(
        id=recorded.invoice_id, number=1, status=InvoiceStatus.ISSUED, total=1050, order_ids=(f"{rid}.o1",),
        settlement_key="typed",
    )  # fmt: skip
    assert await books.invoice(rid, f"{rid}.inv9") is None
    found = await books.find(rid, "typed")
    assert found is not None and (found.invoice_id, found.invoice_number, found.total) == (invoice.id, 1, 1050)
    (payment,) = found.payments
    assert isinstance(payment, Payment) and (payment.id, payment.method, payment.amount, payment.change) == (
        "typed:0", TenderMethod.CASH, 1050, 950,
    )  # fmt: skip
    closed = settlement(rid, f"{rid}.o2", "close")
    await books.record(
        Settlement(key="close", restaurant_id=rid, business_day=closed.business_day, at=closed.at, by="manager-1",
                   role="MANAGER", audit=[AuditNote("DAY_CLOSED", "day", "2026-11-23", {"counted_cash": 700})])
    )  # fmt: skip
    audit = await books.latest_audit(rid, "DAY_CLOSED", "2026-11-23")
    assert isinstance(audit, AuditRecord) and (audit.actor, audit.role, audit.details) == (
        "manager-1", "MANAGER", {"counted_cash": 700},
    )  # fmt: skip
    voided = Settlement(key="void", restaurant_id=rid, business_day=closed.business_day, at=closed.at, by="m",
                        role="MANAGER", invoice_status=(invoice.id, InvoiceStatus.VOIDED))  # fmt: skip
    await books.record(voided)
    assert (await books.invoice(rid, invoice.id)) == dataclasses.replace(invoice, status=InvoiceStatus.VOIDED)


async def _written(engine: AsyncEngine, rid: str) -> tuple[int, ...]:
    """How many rows of each table of the books the restaurant has."""
    tables = ("invoices", "payments", "ledger_transactions", "audit_log", "invoice_counters")
    return tuple([await _scalar(engine, f"SELECT count(*) FROM {t} WHERE restaurant_id = :r", r=rid) for t in tables])


def _close(rid: str, day: date, seen: int) -> Settlement:
    return Settlement(
        key=f"close:{day}:{secrets.token_hex(2)}", restaurant_id=rid, business_day=day, at=datetime.now(UTC),
        by="manager-1", role="MANAGER", audit=[AuditNote("DAY_CLOSED", "day", day.isoformat())],
        closing=Closing(day, seen),
    )  # fmt: skip


async def test_what_the_books_refuse_is_named_and_writes_nothing(engine: AsyncEngine, books: Books) -> None:
    """A close of a day that moved, a second close, an overdrawn rider and an order settled twice: each is its
    own error, and not a row (nor an invoice number) is left behind; money posted to a closed day goes to the next."""
    rid = "r" + secrets.token_hex(4)
    day = date(2026, 11, 23)
    await books.record(settlement(rid, f"{rid}.o1", "k1"))
    before = await _written(engine, rid)
    with pytest.raises(DayMoved):
        await books.record(_close(rid, day, seen=0))  # its report saw no posting; there is one
    with pytest.raises(AlreadySettled) as settled:
        await books.record(settlement(rid, f"{rid}.o1", "k2"))
    assert (settled.value.order_id, settled.value.invoice_id) == (f"{rid}.o1", f"{rid}.inv1")
    handover = dataclasses.replace(
        settlement(rid, f"{rid}.o2", "k3"), invoice=None, payments=(), no_overdraw=("asset:rider_cash:rider-1",),
        postings=[LedgerTransaction(id="handover:k3", kind=LedgerKind.RIDER_HANDOVER, reference="k3", at=0,
                                    by="cashier-1", entries=(LedgerEntry(account="cash", debit=500),
                                    LedgerEntry(account="asset:rider_cash:rider-1", credit=500)))],
    )  # fmt: skip
    with pytest.raises(Overdrawn) as overdrawn:
        await books.record(handover)
    assert (overdrawn.value.account, overdrawn.value.balance) == ("asset:rider_cash:rider-1", 0)
    assert await _written(engine, rid) == before
    await books.record(_close(rid, day, seen=1))
    with pytest.raises(DayClosed) as closed:
        await books.record(_close(rid, day, seen=1))
    assert (closed.value.day, closed.value.last) == (day, day)
    late = await books.record(settlement(rid, f"{rid}.o3", "k4"))  # dated the closed day
    assert late.invoice_number == 2
    moved = await _scalar(
        engine, "SELECT business_day - DATE '2026-11-23' FROM invoices WHERE id = :i", i=late.invoice_id
    )
    assert moved == 1


async def test_a_sale_answers_with_the_days_figures_as_the_day_figures_read_them(
    engine: AsyncEngine, books: Books
) -> None:
    """Asked for, the figures the record returns are those day_figures reads after it (the tills are told them
    without a second query); each posting makes a later reading; after a close the open day is the next."""
    rid = "r" + secrets.token_hex(4)
    day = date(2026, 11, 23)
    first = await books.record(dataclasses.replace(settlement(rid, f"{rid}.o1", "k1"), figures=True))
    second = await books.record(dataclasses.replace(settlement(rid, f"{rid}.o2", "k2", total=2050), figures=True))
    assert first.figures is not None and second.figures is not None
    assert second.figures == await books.day_figures(rid, day) == await books.open_day_figures(rid, day)
    assert (first.figures.invoices, second.figures.invoices) == (1, 2)
    assert first.figures.order < second.figures.order == (day, 2)
    assert (await books.record(settlement(rid, f"{rid}.o3", "k3"))).figures is None  # not asked
    await books.record(_close(rid, day, seen=3))
    after = await books.open_day_figures(rid, day)
    assert (after.day, after.revenue, after.postings) == (date(2026, 11, 24), 0, 0)


async def _invoices(engine: AsyncEngine, rids: list[str]) -> list[tuple[str, str, int, str]]:
    """Each invoice of the restaurants: restaurant, settlement key, number, and the transaction that wrote it."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT restaurant_id, settlement_key, number, xmin::text FROM invoices"
                 " WHERE restaurant_id = ANY(:r) ORDER BY restaurant_id, number"),
            {"r": rids},
        )  # fmt: skip
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_settlements_that_arrive_together_are_committed_together(engine: AsyncEngine, books: Books) -> None:
    """Twelve settlements of three restaurants at once: one call and one transaction writes them all, and each
    restaurant's invoices are numbered in the order its settlements arrived."""
    rids = sorted("r" + secrets.token_hex(4) for _ in range(3))
    arriving = [(rids[n % 3], f"k{n}") for n in range(12)]
    commits = books.settlements.commits
    recorded = await asyncio.gather(*(books.record(settlement(rid, f"{rid}.o{key}", key)) for rid, key in arriving))
    assert books.settlements.commits == commits + 1
    assert [r.duplicate for r in recorded] == [False] * 12
    invoices = await _invoices(engine, rids)
    assert [(rid, key, number) for rid, key, number, _ in invoices] == [
        (rid, key, number) for rid in rids for number, key in enumerate([k for r, k in arriving if r == rid], 1)
    ]
    assert len({written_by for *_, written_by in invoices}) == 1  # one transaction


async def test_a_refusal_in_a_group_is_its_own_callers_and_the_others_are_written(
    engine: AsyncEngine, books: Books
) -> None:
    """A group holding an order settled before: that payment is refused as it would be alone, the group is sent
    again one by one, and the others are written, numbered without a gap."""
    rid, other = sorted("r" + secrets.token_hex(4) for _ in range(2))
    await books.record(settlement(rid, f"{rid}.o1", "k1"))
    split = books.settlements.split
    results = await asyncio.gather(
        books.record(settlement(rid, f"{rid}.o2", "k2")),
        books.record(settlement(rid, f"{rid}.o1", "k3")),  # o1 is invoiced already
        books.record(settlement(other, f"{other}.o1", "k4")),
        return_exceptions=True,
    )
    assert books.settlements.split == split + 1
    first, refused, third = results
    assert isinstance(refused, AlreadySettled) and refused.invoice_id == f"{rid}.inv1"
    assert not isinstance(first, BaseException) and first.invoice_number == 2
    assert not isinstance(third, BaseException) and third.invoice_number == 1
    assert [key for _, key, _, _ in await _invoices(engine, [rid, other])] == ["k1", "k2", "k4"]


async def test_a_payment_given_up_before_its_group_leaves_is_not_written(engine: AsyncEngine, books: Books) -> None:
    """The caller of the middle one gives up while all three wait: the other two are written, that one is not,
    and sent again later it is written then (not told it was a duplicate)."""
    rid = "r" + secrets.token_hex(4)
    waiting = [asyncio.ensure_future(books.record(settlement(rid, f"{rid}.o{n}", f"k{n}"))) for n in range(3)]
    await asyncio.sleep(0)  # each is queued; no group has left yet
    waiting[1].cancel()
    first, second, third = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(second, asyncio.CancelledError)
    assert not isinstance(first, BaseException) and not isinstance(third, BaseException)
    assert (first.invoice_number, third.invoice_number) == (1, 2)
    assert [key for _, key, _, _ in await _invoices(engine, [rid])] == ["k0", "k2"]
    again = await books.record(settlement(rid, f"{rid}.o1", "k1"))
    assert (again.invoice_number, again.duplicate) == (3, False)


async def test_postgres_out_of_reach_is_each_callers_own_error(books: Books) -> None:
    """No connection to be had: every settlement of the group is told, each with an error of its own."""
    await books.calls.close()
    results = await asyncio.gather(
        *(books.record(settlement("r" + secrets.token_hex(4), "o1", f"k{n}")) for n in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, CallFailed) for r in results) and len({id(r) for r in results}) == 3


async def _waiting_on_day_locks(engine: AsyncEngine) -> int:
    return await _scalar(
        engine,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'",
    )


async def test_a_settlement_waiting_on_its_day_lock_holds_up_no_other_restaurant(
    engine: AsyncEngine, books: Books
) -> None:
    """Two restaurants' day locks held by another transaction: their settlements wait in both lanes, and a third
    restaurant's settlement is still written (in a lane opened when theirs outlasted STUCK); theirs once the locks go."""
    held, free = ["r" + secrets.token_hex(4) for _ in range(2)], "r" + secrets.token_hex(4)
    async with engine.connect() as holder:
        for rid in held:
            await holder.execute(text("SELECT pg_advisory_xact_lock(hashtext('fireflow-day:' || :r))"), {"r": rid})
        blocked = []
        for n, rid in enumerate(held, 1):
            blocked.append(asyncio.ensure_future(books.record(settlement(rid, f"{rid}.o1", "k1"))))
            async with asyncio.timeout(WAIT):
                while await _waiting_on_day_locks(engine) < n:
                    await asyncio.sleep(0.01)
        async with asyncio.timeout(WAIT):
            written = await books.record(settlement(free, f"{free}.o1", "k1"))
        assert written.invoice_number == 1 and not any(b.done() for b in blocked)
        assert books.settlements.stuck >= 1
        await holder.rollback()  # the locks go
    async with asyncio.timeout(WAIT):
        assert [b.invoice_number for b in await asyncio.gather(*blocked)] == [1, 1]


async def test_copies_of_one_settlement_in_one_group_write_it_once(engine: AsyncEngine, books: Books) -> None:
    """Three copies of a payment no one has recorded yet, in one group: one invoice, the copies told it was theirs."""
    rid = "r" + secrets.token_hex(4)
    copies = await asyncio.gather(*(books.record(settlement(rid, f"{rid}.o1", "twice")) for _ in range(3)))
    assert [(c.invoice_number, c.duplicate) for c in copies] == [(1, False), (1, True), (1, True)]
    assert await _written(engine, rid) == (1, 1, 1, 1, 1)


async def test_the_settlement_lookups_use_their_whole_key_on_tables_never_analyzed(fresh_database: str) -> None:
    """PL/pgSQL keeps a statement's generic plan for the connection's life, and a new database makes it while the
    tables are small and never analyzed. Each lookup by key must then still be an index condition on every column
    of its key (found on ``restaurant_id`` alone, it walked all the restaurant's rows: migration 0015). Planned
    generic from the first call here, with every plan sent back by auto_explain: a part payment, the settlement
    that takes it on, the settlement's retry and another command's settlement of the same order."""
    await migrate(fresh_database)
    conn = await asyncpg.connect(fresh_database.replace("postgresql+asyncpg://", "postgresql://"))
    plans: list[str] = []
    conn.add_log_listener(lambda _conn, message: plans.append(message.message))
    rid, order_id = "r" + secrets.token_hex(4), "o1"
    part = dataclasses.replace(
        settlement(rid, order_id, "part"), invoice=None, postings=[], audit=[],
        payments=[PaymentDraft(key="part:0", order_id=order_id, method="CASH", amount=50, received=50, change=0)],
    )  # fmt: skip

    async def record(s: Settlement) -> dict[str, Any]:
        answer = await conn.fetchval(
            "SELECT fireflow_record_settlement($1::jsonb)::text", orjson.dumps(_as_json(s)).decode()
        )
        return dict(orjson.loads(answer))

    try:
        try:
            await conn.execute("LOAD 'auto_explain'")
        except (asyncpg.InsufficientPrivilegeError, asyncpg.UndefinedFileError) as exc:  # an external Postgres
            pytest.skip(f"auto_explain cannot be loaded on this Postgres ({exc}): the plans cannot be read")
        for setting in ("auto_explain.log_min_duration = 0", "auto_explain.log_nested_statements = on",
                        "auto_explain.log_level = notice", "plan_cache_mode = force_generic_plan"):  # fmt: skip
            await conn.execute(f"SET {setting}")
        assert (await record(part))["duplicate"] is False
        first = await record(settlement(rid, order_id, "whole"))
        again = await record(settlement(rid, order_id, "whole"))
        assert (again["invoice_id"], again["number"], again["duplicate"]) == (first["invoice_id"], 1, True)
        with pytest.raises(asyncpg.RaiseError, match="already settled"):
            await record(settlement(rid, order_id, "other"))
        attached = await conn.fetchval("SELECT invoice_id FROM payments WHERE payment_key = 'part:0'")
        assert attached == first["invoice_id"]
    finally:
        await conn.close()

    def planned(statement: str) -> list[str]:
        found = [p for p in plans if f"Query Text: {statement}" in p]
        assert found, f"no plan of {statement!r}"
        return found

    def on_whole_key(plan: str, column: str) -> bool:  # "Index Cond: ((restaurant_id = $3) AND (column = ANY …"
        return re.search(rf"Index Cond: \(+restaurant_id\S* = \$\d+\) AND \(+{column}\S* = ANY", plan) is not None

    assert all(on_whole_key(p, "order_id") for p in planned("SELECT o.order_id, o.invoice_id"))
    assert all("Index Scan using pk_invoices" in p for p in planned("SELECT i.number"))
    assert all("ix_payments_unbilled" in p for p in planned("UPDATE payments p"))
    assert all(on_whole_key(p, "payment_key") for p in planned("SELECT 1 FROM payments p"))
