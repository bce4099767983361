"""Invoice history for people and integrations: filtered, sorted, paged; and one invoice whole.

The back office searches by number, customer or day and pages through the
result; an ERP or accountant's script reads the same pages. Every filter is a
parameter of one SQL query (never text pasted into SQL), sorting is by a named
column from a fixed list with the id as the tie-break, so a page never repeats
or skips a row while nothing is added, and a page is at most ``MAX_PER_PAGE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.errors import DomainError
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.tables import (
    EventRow,
    InvoiceLineRow,
    InvoiceOrderRow,
    InvoiceRow,
    LedgerEntryRow,
    LedgerTransactionRow,
    PaymentRow,
)

__all__ = [
    "MAX_PER_PAGE",
    "SORTS",
    "InvoiceQuery",
    "invoice_detail",
    "invoice_page",
    "order_history",
    "query_from",
]

MAX_PER_PAGE = 200
SORTS = {
    "number": InvoiceRow.number,
    "created_at": InvoiceRow.created_at,
    "total": InvoiceRow.total,
    "business_day": InvoiceRow.business_day,
}
STATUSES = ("ISSUED", "VOIDED", "REFUNDED")


@dataclass(frozen=True, slots=True)
class InvoiceQuery:
    day_from: date | None = None
    day_to: date | None = None
    status: str | None = None
    customer: str | None = None  # part of the name, any case
    number: int | None = None
    sort: str = "number"
    descending: bool = True
    page: int = 1
    per_page: int = 50


def _int(params: dict[str, str], name: str, low: int, high: int, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_COMMAND, f"{name} must be a whole number, not {raw[:20]!r}") from None
    if not low <= value <= high:
        raise DomainError(ErrorCode.INVALID_COMMAND, f"{name} must be from {low} to {high}")
    return value


def _day(params: dict[str, str], name: str) -> date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_COMMAND, f"{name} must be a day as YYYY-MM-DD, not {raw[:20]!r}") from None


def query_from(params: dict[str, str]) -> InvoiceQuery:
    """The query a request's parameters ask for; a bad one is refused naming the parameter."""
    sort = params.get("sort", "-number")
    descending = sort.startswith("-")
    column = sort.lstrip("-")
    if column not in SORTS:
        raise DomainError(ErrorCode.INVALID_COMMAND, f"sort must be one of {', '.join(SORTS)} (- for descending)")
    status = params.get("status") or None
    if status is not None and status.upper() not in STATUSES:
        raise DomainError(ErrorCode.INVALID_COMMAND, f"status must be one of {', '.join(STATUSES)}")
    customer = (params.get("customer") or "").strip()[:80] or None
    return InvoiceQuery(
        day_from=_day(params, "from"),
        day_to=_day(params, "to"),
        status=status.upper() if status else None,
        customer=customer,
        number=_int(params, "number", 1, 10**12, None),
        sort=column,
        descending=descending,
        page=_int(params, "page", 1, 10**6, 1) or 1,
        per_page=_int(params, "per_page", 1, MAX_PER_PAGE, 50) or 50,
    )


def _where(restaurant_id: str, q: InvoiceQuery) -> Any:
    conditions = [InvoiceRow.restaurant_id == restaurant_id]
    if q.day_from is not None:
        conditions.append(InvoiceRow.business_day >= q.day_from)
    if q.day_to is not None:
        conditions.append(InvoiceRow.business_day <= q.day_to)
    if q.status is not None:
        conditions.append(InvoiceRow.status == q.status)
    if q.number is not None:
        conditions.append(InvoiceRow.number == q.number)
    if q.customer is not None:
        escaped = q.customer.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(InvoiceRow.customer_name.ilike(f"%{escaped}%", escape="\\"))
    return and_(*conditions)


def _summary_columns() -> Any:
    """The columns of an invoice's summary (a Select; SQLAlchemy types its columns one by one)."""
    columns = select(
        InvoiceRow.id,
        InvoiceRow.number,
        InvoiceRow.business_day,
        InvoiceRow.status,
        InvoiceRow.currency,
        InvoiceRow.gross,
        InvoiceRow.discount,
        InvoiceRow.service_charge,
        InvoiceRow.tax,
        InvoiceRow.total,
        InvoiceRow.customer_name,
        InvoiceRow.group_id,
        InvoiceRow.created_by,
        InvoiceRow.created_at,
    )
    return columns


def _summary(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    found["business_day"] = found["business_day"].isoformat()
    found["created_at"] = int(found["created_at"].timestamp() * 1000)
    return found


async def invoice_page(engine: AsyncEngine, restaurant_id: str, q: InvoiceQuery) -> dict[str, Any]:
    """One page of a restaurant's invoices, with how many match in all."""
    where = _where(restaurant_id, q)
    column = SORTS[q.sort]
    order = (column.desc(), InvoiceRow.id.desc()) if q.descending else (column.asc(), InvoiceRow.id.asc())
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(InvoiceRow).where(where))).scalar_one()
        rows = (
            await conn.execute(
                _summary_columns().where(where).order_by(*order).limit(q.per_page).offset((q.page - 1) * q.per_page)
            )
        ).all()
        ids = [row.id for row in rows]
        orders: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            links = await conn.execute(
                select(InvoiceOrderRow.invoice_id, InvoiceOrderRow.order_id)
                .where(InvoiceOrderRow.invoice_id.in_(ids))
                .order_by(InvoiceOrderRow.order_id)
            )
            for invoice_id, order_id in links:
                orders[invoice_id].append(order_id)
    return {
        "invoices": [_summary(row) | {"order_ids": orders[row.id]} for row in rows],
        "page": q.page,
        "per_page": q.per_page,
        "total": total,
        "pages": max(1, -(-total // q.per_page)),
    }


async def invoice_detail(engine: AsyncEngine, restaurant_id: str, invoice_id: str) -> dict[str, Any] | None:
    """An invoice whole: its figures, the bill as computed, its lines, orders and payments."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                _summary_columns()
                .add_columns(InvoiceRow.bill)
                .where(InvoiceRow.restaurant_id == restaurant_id, InvoiceRow.id == invoice_id)
            )
        ).first()
        if row is None:
            return None
        lines = await conn.execute(
            select(*(c for c in InvoiceLineRow.__table__.columns if c.name != "invoice_id"))
            .where(InvoiceLineRow.invoice_id == invoice_id)
            .order_by(InvoiceLineRow.line_no)
        )
        orders = await conn.execute(
            select(InvoiceOrderRow.order_id).where(InvoiceOrderRow.invoice_id == invoice_id).order_by("order_id")
        )
        payments = await conn.execute(
            select(
                PaymentRow.method,
                PaymentRow.amount,
                PaymentRow.received,
                PaymentRow.change,
                PaymentRow.reference,
                PaymentRow.order_id,
                PaymentRow.payment_key,
                PaymentRow.created_by,
                PaymentRow.created_at,
            )
            .where(PaymentRow.restaurant_id == restaurant_id, PaymentRow.invoice_id == invoice_id)
            .order_by(PaymentRow.created_at, PaymentRow.payment_key)  # part payments first, as they were taken
        )
        # What each refund gave back: its credits to the tender accounts (books_rules.paid_out, in SQL).
        given_back = func.sum(LedgerEntryRow.credit).label("amount")
        refunds = await conn.execute(
            select(
                LedgerTransactionRow.created_at, LedgerTransactionRow.created_by, LedgerTransactionRow.note, given_back
            )
            .join(LedgerEntryRow, LedgerEntryRow.transaction_id == LedgerTransactionRow.id)
            .where(
                LedgerTransactionRow.restaurant_id == restaurant_id,
                LedgerTransactionRow.reference == invoice_id,
                LedgerTransactionRow.kind == "REFUND",
                LedgerEntryRow.account.startswith("asset:"),
            )
            .group_by(LedgerTransactionRow.id)
            .order_by(LedgerTransactionRow.created_at)
        )
        given = [
            {"at": int(r.created_at.timestamp() * 1000), "by": r.created_by, "reason": r.note, "amount": int(r.amount)}
            for r in refunds
        ]
        return _summary(row) | {
            "bill": row.bill,
            "order_ids": list(orders.scalars()),
            "lines": [dict(line._mapping) for line in lines],
            "payments": [dict(p._mapping) | {"created_at": int(p.created_at.timestamp() * 1000)} for p in payments],
            "refunds": given,
            "refunded": sum(r["amount"] for r in given),
        }


async def order_history(engine: AsyncEngine, restaurant_id: str, order_id: str) -> list[dict[str, Any]]:
    """Every stored event about an order, oldest first, each with the device whose command caused it."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(EventRow.offset, EventRow.type, EventRow.device, EventRow.committed_at, EventRow.data)
            .where(EventRow.restaurant_id == restaurant_id, EventRow.order_ids.contains([order_id]))
            .order_by(EventRow.committed_at, EventRow.offset)
        )
        return [
            {
                "offset": row.offset,
                "type": row.type,
                "device": row.device,
                "at": int(row.committed_at.timestamp() * 1000),
                "data": row.data,
            }
            for row in rows
        ]
