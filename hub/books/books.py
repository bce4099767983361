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

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fireflow.hub.books.calls import CallFailed, Calls
from fireflow.hub.books.group_commit import GroupCommit
from fireflow.hub.domain.billing import method_of
from fireflow.hub.domain.books_rules import Invoice, InvoiceStatus
from fireflow.hub.domain.decision import AuditNote
from fireflow.hub.domain.money import average
from fireflow.hub.domain.settlement import INVOICE_REF
from fireflow.schema.billing import LedgerEntry, LedgerKind, LedgerTransaction, Payment, TenderMethod
from fireflow.schema.tables import (
    AuditRow,
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
    figures: bool = False  # answer with the day's figures (Recorded.figures): the tills are told them


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
    figures: DayFigures | None = None  # the day's figures just after it, when the settlement asked for them


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
    """A business day's takings, and how many postings the day had when they were read: the ledger is append
    only, so of two readings of one day the one with more postings is the later."""

    day: date
    revenue: int
    invoices: int
    by_method: dict[str, int]
    discounts: int
    tax: int
    service_charge: int
    postings: int = 0

    @property
    def order(self) -> tuple[date, int]:
        """Later readings sort after earlier ones (a day after a close included)."""
        return self.day, self.postings

    @property
    def rank(self) -> int:
        """``order`` as one number (a day holds far fewer than 10⁹ postings), for ``Decision.latest``."""
        return self.day.toordinal() * 10**9 + self.postings

    @property
    def average_bill(self) -> int:
        return average(self.revenue, self.invoices)  # by the one rounding rule, as the Z-report's


INVOICES_OF = (
    f"SELECT order_id, invoice_id FROM {InvoiceOrderRow.__tablename__}"
    " WHERE restaurant_id = $1 AND order_id = ANY($2::text[])"
)
REFUSED_HINT = "fireflow-books"  # the hint of what fireflow_record_settlement raises when it refuses


def _as_json(s: Settlement) -> dict[str, Any]:
    """A settlement as ``fireflow_record_settlement`` takes it: rows in the tables' column names, the invoice's
    placeholder (``invoice_ref``) still in ids, references and audit entities for the function to fill in."""
    rid = s.restaurant_id
    found: dict[str, Any] = {
        "key": s.key,
        "restaurant_id": rid,
        "business_day": s.business_day.isoformat(),
        "at": s.at.isoformat(),
        "by": s.by,
        "role": s.role,
        "invoice_ref": INVOICE_REF,
        "figures": s.figures,
        "payments": [
            {
                "id": f"{rid}.pay.{p.key}",
                "payment_key": p.key,
                "order_id": p.order_id,
                "method": p.method,
                "amount": p.amount,
                "received": p.received,
                "change": p.change,
                "reference": p.reference,
            }
            for p in s.payments
        ],
        "postings": [
            {
                "id": posting.id,
                "kind": posting.kind.value,
                "reference": posting.reference,
                "category": posting.category,
                "note": posting.note,
                "entries": [{"account": e.account, "debit": e.debit, "credit": e.credit} for e in posting.entries],
            }
            for posting in s.postings
        ],
        "audit": [
            {"action": n.action, "entity": n.entity, "entity_id": n.entity_id, "details": n.details} for n in s.audit
        ],
        # Each guarded account, and what the postings move it by.
        "no_overdraw": {
            account: sum(e.debit - e.credit for p in s.postings for e in p.entries if e.account == account)
            for account in s.no_overdraw
        },
    }
    if s.invoice is not None:
        inv = s.invoice
        found["invoice"] = {
            "order_ids": list(inv.order_ids),
            "currency": inv.currency,
            "gross": inv.gross,
            "discount": inv.discount,
            "service_charge": inv.service_charge,
            "tax": inv.tax,
            "total": inv.total,
            "customer_name": inv.customer_name,
            "bill": inv.bill,
            "lines": list(inv.lines),
            "group": None if inv.group is None else dict(inv.group),
        }
    if s.closing is not None:
        found["closing"] = {"day": s.closing.day.isoformat(), "seen": s.closing.seen}
    if s.invoice_status is not None:
        target, status = s.invoice_status
        found["invoice_status"] = [target, status.value]
    return found


def _refusal(exc: asyncpg.PostgresError) -> Exception | None:
    """What ``fireflow_record_settlement`` refused, as the exception the settler handles; None: not a refusal."""
    if getattr(exc, "hint", None) != REFUSED_HINT:
        return None
    why = orjson.loads(getattr(exc, "detail", None) or "{}")
    match why.get("refused"):
        case "ALREADY_SETTLED":
            return AlreadySettled(why["order_id"], why["invoice_id"])
        case "DAY_CLOSED":
            return DayClosed(date.fromisoformat(why["day"]), date.fromisoformat(why["last"]))
        case "DAY_MOVED":
            return DayMoved(date.fromisoformat(why["day"]))
        case "OVERDRAWN":
            return Overdrawn(why["account"], int(why["balance"]))
    return None


# A day's figures (fireflow_day_figures, migration 0009); ``follow``: of the day money goes to now
# (fireflow_open_day: the day after the last closed one, when ``day`` is closed).
FIGURES = text("SELECT fireflow_day_figures(:rid, CASE WHEN :follow THEN fireflow_open_day(:rid, :day) ELSE :day END)")
OPEN_DAY = text("SELECT fireflow_open_day(:rid, :day)")


def _json(answer: Any) -> Any:
    """A jsonb value as the driver gave it (text, or already decoded)."""
    return orjson.loads(answer) if isinstance(answer, str | bytes) else answer


def _day_figures(found: Mapping[str, Any]) -> DayFigures:
    """fireflow_day_figures's answer as the tills see it: takings by tender, net of refunds and voids."""
    held = {str(account): int(balance) for account, balance in found["accounts"].items()}
    kinds = {str(kind): int(n) for kind, n in found["kinds"].items()}
    by_method: dict[str, int] = {}
    for account, value in sorted(held.items()):
        method = method_of(account)
        if method is not None and value:
            by_method[method.value] = by_method.get(method.value, 0) + value
    return DayFigures(
        day=date.fromisoformat(found["day"]),
        # Takings less part payments still held for bills not settled yet (a credit balance).
        revenue=sum(by_method.values()) + held.get("liability:customer_deposits", 0),
        invoices=kinds.get("SALE", 0) - kinds.get("VOID", 0),
        by_method=by_method,
        discounts=held.get("revenue:discounts", 0),
        tax=-sum(v for a, v in held.items() if a.startswith("liability:tax:")),
        service_charge=-held.get("liability:service_charge", 0),
        postings=sum(kinds.values()),
    )


class Books:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.calls = Calls(engine.url)  # the settlement's one call, off the engine (calls.py says why)
        self.settlements = GroupCommit(self.calls)  # with those that arrive while others are written

    async def close(self) -> None:
        await self.calls.close()

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

    async def invoices_of(self, restaurant_id: str, order_ids: Sequence[str]) -> dict[str, str]:
        """Which of ``order_ids`` an invoice settled (order -> invoice): one query for a sweep's open orders."""
        if not order_ids:
            return {}
        # On asyncpg (``calls.py``), one prepared statement whatever the number of ids: through the engine, each
        # sweep compiled its IN list afresh (about 1 ms of the node's CPU a restaurant).
        rows = await self.calls.rows(INVOICES_OF, restaurant_id, list(order_ids))
        return {row["order_id"]: row["invoice_id"] for row in rows}

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
        return await self._figures(restaurant_id, day, follow_close=False)

    async def open_day_figures(self, restaurant_id: str, today: date) -> DayFigures:
        """The figures of the day money goes to now: ``today``, or the day after the last one closed."""
        return await self._figures(restaurant_id, today, follow_close=True)

    async def _figures(self, restaurant_id: str, day: date, *, follow_close: bool) -> DayFigures:
        async with self.engine.connect() as conn:
            answer = (
                await conn.execute(FIGURES, {"rid": restaurant_id, "day": day, "follow": follow_close})
            ).scalar_one()
        return _day_figures(_json(answer))

    async def record(self, s: Settlement) -> Recorded:
        """Write it all, or find it written before under the same key; raises AlreadySettled, DayClosed,
        DayMoved or Overdrawn when the books refuse it (nothing written), CallFailed (an OSError) when
        Postgres did not take it.

        One round trip: the transaction is the database function ``fireflow_record_settlement``
        (migration 0009), given the settlement as JSON (:func:`_as_json`), in one call with the settlements
        that arrived while others were being written (``group_commit.py``).
        """
        payload = orjson.dumps(_as_json(s)).decode()
        try:
            return await self._call_record(s.restaurant_id, payload)
        except asyncpg.IntegrityConstraintViolationError:
            # A row of another settlement committed between the function's checks and its writes
            # (they take the day lock first, so only a settlement by some other path): the checks,
            # run again, name it.
            try:
                return await self._call_record(s.restaurant_id, payload)
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise self._settled_by_other(exc, s) from exc

    async def _call_record(self, restaurant_id: str, payload: str) -> Recorded:
        try:
            answer = await self.settlements.record(restaurant_id, payload)
        except asyncpg.IntegrityConstraintViolationError:
            raise
        except asyncpg.PostgresError as exc:
            refused = _refusal(exc)
            if refused is None:
                raise CallFailed(f"settlement not recorded: {exc}") from exc
            raise refused from None
        found = orjson.loads(answer)
        figures = None if found.get("figures") is None else _day_figures(found["figures"])
        return Recorded(found["invoice_id"], found["number"], duplicate=found["duplicate"], figures=figures)

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

    async def open_day(self, restaurant_id: str, today: date) -> date:
        """The business day money goes to now: ``today``, or the day after the last one closed."""
        async with self.engine.connect() as conn:
            day: date = (await conn.execute(OPEN_DAY, {"rid": restaurant_id, "day": today})).scalar_one()
        return day

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

    def _settled_by_other(self, exc: asyncpg.IntegrityConstraintViolationError, s: Settlement) -> Exception:
        if getattr(exc, "constraint_name", None) == "pk_invoice_orders":
            return AlreadySettled(", ".join(s.invoice.order_ids) if s.invoice else "?", "another invoice")
        return CallFailed(f"settlement not recorded: {exc}")
