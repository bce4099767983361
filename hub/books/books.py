"""The books in Postgres: a settlement's invoice, payments, ledger postings and audit rows, in one transaction.

Settlement is durable first: the hub acknowledges a settlement only after
this transaction has committed, and only then changes live state in Redis.
A retry (same settlement key) finds what was recorded and returns it, so a
hub that died between the two steps finishes the second on the retry; the
invoice number comes from a counter row updated in the same transaction, so
a transaction that fails leaves no gap; and one row per settled order makes
a second settlement of an order fail in the database, whatever the race.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fireflow.hub.domain.billing import method_of
from fireflow.hub.domain.books_rules import Invoice, InvoiceStatus
from fireflow.hub.domain.decision import AuditNote
from fireflow.hub.domain.money import average
from fireflow.hub.domain.settlement import INVOICE_REF
from fireflow.schema.billing import LedgerEntry, LedgerKind, LedgerTransaction, Payment, TenderMethod
from fireflow.schema.tables import (
    AuditRow,
    BillGroupRow,
    InvoiceLineRow,
    InvoiceOrderRow,
    InvoiceRow,
    LedgerEntryRow,
    LedgerTransactionRow,
    PaymentRow,
)

__all__ = [
    "INVOICE_REF",
    "AlreadySettled",
    "AuditNote",
    "AuditRecord",
    "Books",
    "Closing",
    "DayClosed",
    "DayFigures",
    "DayMoved",
    "Found",
    "InvoiceDraft",
    "InvoiceRecord",
    "Overdrawn",
    "PaymentDraft",
    "Recorded",
    "Settlement",
]

logger = logging.getLogger(__name__)


class AlreadySettled(Exception):
    """Another settlement already holds one of these orders."""

    def __init__(self, order_id: str, invoice_id: str) -> None:
        super().__init__(f"order {order_id} is already settled by invoice {invoice_id}")
        self.order_id = order_id
        self.invoice_id = invoice_id


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    key: str
    order_id: str
    method: str
    amount: int
    change: int = 0
    received: int | None = None
    reference: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    order_ids: Sequence[str]
    currency: str
    gross: int
    discount: int
    service_charge: int
    tax: int
    total: int
    bill: dict[str, Any]
    lines: Sequence[dict[str, Any]]
    customer_name: str | None = None
    group: Mapping[str, Any] | None = None  # the saved group bill it pays: id, title, customer, references


@dataclass(frozen=True, slots=True)
class Settlement:
    key: str
    restaurant_id: str
    business_day: date
    at: datetime
    by: str
    role: str
    invoice: InvoiceDraft | None = None
    payments: Sequence[PaymentDraft] = ()
    postings: Sequence[LedgerTransaction] = ()
    audit: Sequence[AuditNote] = ()
    invoice_status: tuple[str, InvoiceStatus] | None = None  # (invoice id, new status): VOIDED, REFUNDED
    closing: Closing | None = None  # a day's close: written only if the day is as its report saw it
    no_overdraw: Sequence[str] = ()  # accounts the postings may not take below zero (checked under the day lock)


@dataclass(frozen=True, slots=True)
class Closing:
    """What a day's close saw: the day, and how many ledger transactions of it its report counted."""

    day: date
    seen: int


class DayClosed(Exception):
    """The day (or a later one) is closed already: days close once, in order."""

    def __init__(self, day: date, last: date) -> None:
        super().__init__(f"{day.isoformat()} cannot be closed: {last.isoformat()} is closed already")
        self.day, self.last = day, last


class Overdrawn(Exception):
    """A posting would take an account below zero (a rider handing in more than the rider holds)."""

    def __init__(self, account: str, balance: int) -> None:
        super().__init__(f"{account} holds {balance}")
        self.account, self.balance = account, balance


class DayMoved(Exception):
    """Money was posted to the day while its close was being made: make the report again."""


@dataclass(frozen=True, slots=True)
class Recorded:
    invoice_id: str | None
    invoice_number: int | None
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Found:
    """What the books hold for one payment command: its payments, and its invoice when it settled."""

    invoice_id: str | None
    invoice_number: int | None
    total: int | None
    payments: tuple[Payment, ...]


@dataclass(frozen=True, slots=True)
class InvoiceRecord(Invoice):
    """An invoice as the books hold it: what the rules need, and the payment command that issued it."""

    settlement_key: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audit log."""

    action: str
    entity: str
    entity_id: str
    actor: str
    role: str
    at: datetime
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DayFigures:
    revenue: int
    invoices: int
    by_method: dict[str, int]
    discounts: int
    tax: int
    service_charge: int

    @property
    def average_bill(self) -> int:
        return average(self.revenue, self.invoices)  # by the one rounding rule, as the Z-report's


class Books:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def find(self, restaurant_id: str, key: str) -> Found | None:
        """The payments recorded under a payment command's id (``<key>:<n>``), and its invoice."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        PaymentRow.payment_key,
                        PaymentRow.method,
                        PaymentRow.amount,
                        PaymentRow.received,
                        PaymentRow.change,
                        PaymentRow.reference,
                        PaymentRow.created_at,
                        PaymentRow.created_by,
                    )
                    .where(
                        PaymentRow.restaurant_id == restaurant_id,
                        PaymentRow.payment_key.like(key.replace("_", r"\_") + ":%", escape="\\"),
                    )
                    .order_by(PaymentRow.payment_key)
                )
            ).all()
            payments = tuple(
                Payment(
                    id=p.payment_key,
                    method=TenderMethod(p.method),
                    amount=p.amount,
                    received=p.received,
                    change=p.change,
                    reference=p.reference,
                    at=int(p.created_at.timestamp() * 1000),
                    by=p.created_by,
                )
                for p in rows
            )
            invoice = (
                await conn.execute(
                    select(InvoiceRow.id, InvoiceRow.number, InvoiceRow.total).where(
                        InvoiceRow.restaurant_id == restaurant_id, InvoiceRow.settlement_key == key
                    )
                )
            ).first()
        if not payments and invoice is None:
            return None
        if invoice is None:
            return Found(None, None, None, payments)
        return Found(invoice.id, invoice.number, invoice.total, payments)

    async def invoice(self, restaurant_id: str, invoice_id: str) -> InvoiceRecord | None:
        """An invoice's status, total and orders."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        InvoiceRow.id, InvoiceRow.number, InvoiceRow.status, InvoiceRow.total, InvoiceRow.settlement_key
                    ).where(InvoiceRow.restaurant_id == restaurant_id, InvoiceRow.id == invoice_id)
                )
            ).first()
            if row is None:
                return None
            orders = (
                await conn.execute(
                    select(InvoiceOrderRow.order_id)
                    .where(InvoiceOrderRow.invoice_id == invoice_id)
                    .order_by(InvoiceOrderRow.order_id)
                )
            ).scalars()
            return InvoiceRecord(
                id=row.id,
                number=row.number,
                status=InvoiceStatus(row.status),
                total=row.total,
                order_ids=tuple(orders),
                settlement_key=row.settlement_key,
            )

    async def invoice_of(self, restaurant_id: str, order_id: str) -> str | None:
        """The invoice that settled an order, if any."""
        async with self.engine.connect() as conn:
            found: str | None = (
                await conn.execute(
                    select(InvoiceOrderRow.invoice_id).where(
                        InvoiceOrderRow.restaurant_id == restaurant_id, InvoiceOrderRow.order_id == order_id
                    )
                )
            ).scalar()
            return found

    async def posted(self, restaurant_id: str, posting_id: str) -> LedgerTransaction | None:
        """A ledger transaction written under this id (a command's own), if it was."""
        found = await self.transactions(restaurant_id, ids=[self._txn_id(restaurant_id, posting_id, "")])
        return found[0] if found else None

    async def transactions(
        self,
        restaurant_id: str,
        *,
        day: date | None = None,
        references: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[LedgerTransaction]:
        """Ledger transactions of a business day, or with these references or ids, with their entries, in order."""
        query = select(LedgerTransactionRow).where(LedgerTransactionRow.restaurant_id == restaurant_id)
        if ids is not None:
            query = query.where(LedgerTransactionRow.id.in_(list(ids)))
        if day is not None:
            query = query.where(LedgerTransactionRow.business_day == day)
        if references is not None:
            query = query.where(LedgerTransactionRow.reference.in_(list(references)))
        async with self.engine.connect() as conn:
            txns = (await conn.execute(query.order_by(LedgerTransactionRow.created_at, LedgerTransactionRow.id))).all()
            ids = [t.id for t in txns]
            entries: Sequence[Any] = []
            if ids:
                entries = (
                    await conn.execute(
                        select(
                            LedgerEntryRow.transaction_id,
                            LedgerEntryRow.account,
                            LedgerEntryRow.debit,
                            LedgerEntryRow.credit,
                        )
                        .where(LedgerEntryRow.transaction_id.in_(ids))
                        .order_by(LedgerEntryRow.id)
                    )
                ).all()
        by_txn: dict[str, list[LedgerEntry]] = {}
        for e in entries:
            by_txn.setdefault(e.transaction_id, []).append(
                LedgerEntry(account=e.account, debit=e.debit, credit=e.credit)
            )
        return [
            LedgerTransaction(
                id=t.id.removeprefix(f"{restaurant_id}/"),  # as the domain named it
                kind=LedgerKind(t.kind),
                reference=t.reference,
                entries=tuple(by_txn.get(t.id, ())),
                at=int(t.created_at.timestamp() * 1000),
                by=t.created_by,
                category=t.category,
                note=t.note,
            )
            for t in txns
        ]

    async def audit(self, restaurant_id: str, actor: str, role: str, note: AuditNote) -> None:
        """One audit row on its own (what is refused matters too: wrong PINs, tenant violations)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(AuditRow).values(
                    restaurant_id=restaurant_id,
                    at=datetime.now(UTC),
                    actor=actor,
                    role=role,
                    action=note.action,
                    entity=note.entity,
                    entity_id=note.entity_id,
                    details=note.details,
                )
            )

    async def latest_audit(self, restaurant_id: str, action: str, entity_id: str) -> AuditRecord | None:
        """The newest audit row of ``action`` on ``entity_id`` (e.g. a day's close)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        AuditRow.action,
                        AuditRow.entity,
                        AuditRow.entity_id,
                        AuditRow.actor,
                        AuditRow.role,
                        AuditRow.at,
                        AuditRow.details,
                    )
                    .where(
                        AuditRow.restaurant_id == restaurant_id,
                        AuditRow.action == action,
                        AuditRow.entity_id == entity_id,
                    )
                    .order_by(AuditRow.id.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        return AuditRecord(row.action, row.entity, row.entity_id, row.actor, row.role, row.at, dict(row.details or {}))

    async def day_figures(self, restaurant_id: str, day: date) -> DayFigures:
        """The business day's takings from the ledger itself, so they agree with the Z-report to the minor unit.

        Net of refunds and voids; the drawer's float and payouts are not takings.
        """
        sales_kinds = ("SALE", "DEPOSIT", "REFUND", "VOID")
        async with self.engine.connect() as conn:
            balances = (
                await conn.execute(
                    text(
                        "SELECT e.account, sum(e.debit) - sum(e.credit) FROM ledger_entries e "
                        "JOIN ledger_transactions t ON t.id = e.transaction_id "
                        "WHERE t.restaurant_id = :rid AND t.business_day = :day AND t.kind = ANY(:kinds) "
                        "GROUP BY e.account"
                    ),
                    {"rid": restaurant_id, "day": day, "kinds": list(sales_kinds)},
                )
            ).all()
            kinds: dict[str, int] = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT kind, count(*) FROM ledger_transactions WHERE restaurant_id = :rid "
                            "AND business_day = :day GROUP BY kind"
                        ),
                        {"rid": restaurant_id, "day": day},
                    )
                ).all()
            )
        held = {str(account): int(balance) for account, balance in balances}
        by_method: dict[str, int] = {}
        for account, value in sorted(held.items()):
            method = method_of(account)
            if method is not None and value:
                by_method[method.value] = by_method.get(method.value, 0) + value
        return DayFigures(
            # Takings less part payments still held for bills not settled yet (a credit balance).
            revenue=sum(by_method.values()) + held.get("liability:customer_deposits", 0),
            invoices=int(kinds.get("SALE", 0)) - int(kinds.get("VOID", 0)),
            by_method=by_method,
            discounts=held.get("revenue:discounts", 0),
            tax=-sum(v for a, v in held.items() if a.startswith("liability:tax:")),
            service_charge=-held.get("liability:service_charge", 0),
        )

    async def record(self, s: Settlement) -> Recorded:
        """Write it all, or find it written before under the same key; raises AlreadySettled."""
        try:
            async with self.engine.begin() as conn:
                prior = await self._prior(conn, s)
                if prior is not None:
                    return prior
                s = await self._on_open_day(conn, s)
                await self._check_overdraw(conn, s)
                return await self._write(conn, s)
        except (IntegrityError, AlreadySettled) as exc:
            # The same key committed concurrently (a retry racing its original, seen as the orders
            # being settled or as a duplicate row): that one is the result.
            async with self.engine.connect() as conn:
                prior = await self._prior(conn, s)
            if prior is not None:
                return prior
            if isinstance(exc, AlreadySettled):
                raise
            raise self._settled_by_other(exc, s) from exc

    async def _on_open_day(self, conn: AsyncConnection, s: Settlement) -> Settlement:
        """Take the restaurant's day lock: money posted to a closed day goes to the day after it.

        Postings and closes of one restaurant take turns on a transaction-scoped advisory lock, so
        a close sees every posting of its day and no posting lands in a day once it is closed:
        a closed day's report never changes.
        """
        rid = s.restaurant_id
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"fireflow-day:{rid}"})
        last = await self._last_closed(conn, rid)
        if s.closing is not None:
            if last is not None and last >= s.closing.day:
                raise DayClosed(s.closing.day, last)
            seen = (
                await conn.execute(
                    select(func.count())
                    .select_from(LedgerTransactionRow)
                    .where(
                        LedgerTransactionRow.restaurant_id == rid,
                        LedgerTransactionRow.business_day == s.closing.day,
                    )
                )
            ).scalar_one()
            if seen != s.closing.seen:
                raise DayMoved(s.closing.day)
            return s
        if last is not None and s.business_day <= last:
            return dataclasses.replace(s, business_day=last + timedelta(days=1))
        return s

    async def _check_overdraw(self, conn: AsyncConnection, s: Settlement) -> None:
        """Raise Overdrawn if the postings take a guarded account below zero; the day lock is held, so no
        other posting of the restaurant can move it meanwhile."""
        for account in s.no_overdraw:
            moved = sum(e.debit - e.credit for p in s.postings for e in p.entries if e.account == account)
            balance = (await self._balances(conn, s.restaurant_id, [account])).get(account, 0)
            if balance + moved < 0:
                raise Overdrawn(account, balance)

    @staticmethod
    async def _balances(
        conn: AsyncConnection,
        rid: str,
        accounts: Sequence[str] | None = None,
        *,
        prefix: str = "",
        before: date | None = None,
    ) -> dict[str, int]:
        query = (
            select(LedgerEntryRow.account, func.sum(LedgerEntryRow.debit - LedgerEntryRow.credit))
            .join(LedgerTransactionRow, LedgerTransactionRow.id == LedgerEntryRow.transaction_id)
            .where(LedgerTransactionRow.restaurant_id == rid)
            .group_by(LedgerEntryRow.account)
        )
        if accounts is not None:
            query = query.where(LedgerEntryRow.account.in_(list(accounts)))
        if prefix:
            query = query.where(LedgerEntryRow.account.startswith(prefix, autoescape=True))
        if before is not None:
            query = query.where(LedgerTransactionRow.business_day < before)
        return {str(account): int(balance) for account, balance in (await conn.execute(query)).all()}

    async def balances(
        self,
        restaurant_id: str,
        *,
        accounts: Sequence[str] | None = None,
        prefix: str = "",
        before: date | None = None,
    ) -> dict[str, int]:
        """Accounts' balances over every day (or the days ``before`` one): these ``accounts``, or those with ``prefix``."""
        async with self.engine.connect() as conn:
            return await self._balances(conn, restaurant_id, accounts, prefix=prefix, before=before)

    @staticmethod
    async def _last_closed(conn: AsyncConnection, rid: str) -> date | None:
        last = (
            await conn.execute(
                select(func.max(AuditRow.entity_id)).where(
                    AuditRow.restaurant_id == rid, AuditRow.action == "DAY_CLOSED"
                )
            )
        ).scalar()
        return None if last is None else date.fromisoformat(last)

    async def open_day(self, restaurant_id: str, today: date) -> date:
        """The business day money goes to now: ``today``, or the day after the last one closed."""
        async with self.engine.connect() as conn:
            last = await self._last_closed(conn, restaurant_id)
        return today if last is None or today > last else last + timedelta(days=1)

    async def _prior(self, conn: AsyncConnection, s: Settlement) -> Recorded | None:
        if s.invoice is not None:
            row = (
                await conn.execute(
                    select(InvoiceRow.id, InvoiceRow.number).where(
                        InvoiceRow.restaurant_id == s.restaurant_id, InvoiceRow.settlement_key == s.key
                    )
                )
            ).first()
            return Recorded(row.id, row.number, duplicate=True) if row is not None else None
        keys = [p.key for p in s.payments]
        if keys:
            found = (
                await conn.execute(
                    select(PaymentRow.id).where(
                        PaymentRow.restaurant_id == s.restaurant_id, PaymentRow.payment_key.in_(keys)
                    )
                )
            ).first()
        else:
            ids = [self._txn_id(s.restaurant_id, p.id, "") for p in s.postings]
            found = (
                await conn.execute(select(LedgerTransactionRow.id).where(LedgerTransactionRow.id.in_(ids)))
            ).first()
        return Recorded(None, None, duplicate=True) if found is not None else None

    @staticmethod
    def _txn_id(rid: str, posting_id: str, invoice_id: str) -> str:
        return f"{rid}/{posting_id.replace(INVOICE_REF, invoice_id)}"  # ids are per restaurant; the table is shared

    async def settlement_key(self, invoice_id: str) -> str | None:
        """The id of the command that made an invoice."""
        async with self.engine.connect() as conn:
            found: str | None = (
                await conn.execute(select(InvoiceRow.settlement_key).where(InvoiceRow.id == invoice_id))
            ).scalar()
        return found

    def _settled_by_other(self, exc: IntegrityError, s: Settlement) -> Exception:
        if "pk_invoice_orders" in str(exc.orig):
            return AlreadySettled(", ".join(s.invoice.order_ids) if s.invoice else "?", "another invoice")
        return exc

    async def _write(self, conn: AsyncConnection, s: Settlement) -> Recorded:
        rid = s.restaurant_id
        invoice_id: str | None = None
        number: int | None = None
        if s.invoice is not None:
            inv = s.invoice
            held = (
                await conn.execute(
                    select(InvoiceOrderRow.order_id, InvoiceOrderRow.invoice_id).where(
                        InvoiceOrderRow.restaurant_id == rid, InvoiceOrderRow.order_id.in_(list(inv.order_ids))
                    )
                )
            ).first()
            if held is not None:
                raise AlreadySettled(held.order_id, held.invoice_id)
            # The counter row stays locked until commit: concurrent settlements number one after another,
            # and a rolled-back one gives its number back.
            number = (
                await conn.execute(
                    text(
                        "INSERT INTO invoice_counters (restaurant_id, last_number) VALUES (:rid, 1) "
                        "ON CONFLICT (restaurant_id) DO UPDATE SET last_number = invoice_counters.last_number + 1 "
                        "RETURNING last_number"
                    ),
                    {"rid": rid},
                )
            ).scalar_one()
            invoice_id = f"{rid}.inv{number}"
            await conn.execute(
                insert(InvoiceRow).values(
                    id=invoice_id,
                    restaurant_id=rid,
                    number=number,
                    settlement_key=s.key,
                    business_day=s.business_day,
                    status="ISSUED",
                    currency=inv.currency,
                    gross=inv.gross,
                    discount=inv.discount,
                    service_charge=inv.service_charge,
                    tax=inv.tax,
                    total=inv.total,
                    customer_name=inv.customer_name,
                    group_id=inv.group["id"] if inv.group else None,
                    created_by=s.by,
                    created_at=s.at,
                    bill=inv.bill
                    | {"invoice_id": invoice_id, "number": number}
                    | ({"group": dict(inv.group)} if inv.group else {}),
                )
            )
            if inv.group is not None:  # a group is invoiced once: a payment that finds it taken rolls back whole
                taken = await conn.execute(
                    update(BillGroupRow)
                    .where(
                        BillGroupRow.restaurant_id == rid,
                        BillGroupRow.id == inv.group["id"],
                        BillGroupRow.invoice_id.is_(None),
                    )
                    .values(invoice_id=invoice_id)
                )
                if taken.rowcount != 1:
                    raise AlreadySettled(f"of group {inv.group['id']}", "another invoice")
            await conn.execute(
                insert(InvoiceOrderRow),
                [{"restaurant_id": rid, "order_id": o, "invoice_id": invoice_id} for o in inv.order_ids],
            )
            if inv.lines:
                await conn.execute(
                    insert(InvoiceLineRow),
                    [{**line, "invoice_id": invoice_id, "line_no": n} for n, line in enumerate(inv.lines, 1)],
                )
            # Part payments taken before the bill was settled now belong to this invoice.
            await conn.execute(
                update(PaymentRow)
                .where(PaymentRow.restaurant_id == rid, PaymentRow.order_id.in_(list(inv.order_ids)))
                .where(PaymentRow.invoice_id.is_(None))
                .values(invoice_id=invoice_id)
            )
        if s.payments:
            await conn.execute(
                insert(PaymentRow),
                [
                    {
                        "id": f"{rid}.pay.{p.key}",
                        "restaurant_id": rid,
                        "payment_key": p.key,
                        "order_id": p.order_id,
                        "invoice_id": invoice_id,
                        "method": p.method,
                        "amount": p.amount,
                        "received": p.received,
                        "change": p.change,
                        "reference": p.reference,
                        "business_day": s.business_day,
                        "created_by": s.by,
                        "created_at": s.at,
                    }
                    for p in s.payments
                ],
            )
        ref = invoice_id or ""
        for posting in s.postings:
            txn_id = self._txn_id(rid, posting.id, ref)
            await conn.execute(
                insert(LedgerTransactionRow).values(
                    id=txn_id,
                    restaurant_id=rid,
                    kind=posting.kind.value,
                    reference=posting.reference.replace(INVOICE_REF, ref),
                    business_day=s.business_day,
                    created_by=s.by,
                    created_at=s.at,
                    category=posting.category,
                    note=posting.note[:500],
                )
            )
            await conn.execute(
                insert(LedgerEntryRow),
                [
                    {"transaction_id": txn_id, "account": x.account, "debit": x.debit, "credit": x.credit}
                    for x in posting.entries
                ],
            )
        if s.invoice_status is not None:
            target, status = s.invoice_status
            await conn.execute(
                update(InvoiceRow)
                .where(InvoiceRow.restaurant_id == rid, InvoiceRow.id == target)
                .values(status=status.value)
            )
        if s.audit:
            await conn.execute(
                insert(AuditRow),
                [
                    {
                        "restaurant_id": rid,
                        "at": s.at,
                        "actor": s.by,
                        "role": s.role,
                        "action": note.action,
                        "entity": note.entity,
                        "entity_id": note.entity_id.replace(INVOICE_REF, ref),
                        "details": note.details,
                    }
                    for note in s.audit
                ],
            )
        return Recorded(invoice_id, number, duplicate=False)
