"""The outbox's drain: every sale, refund and void the books wrote goes to ERPNext, at least once, never twice there.

The rows are written by the database in the posting's own transaction (migration 0012), so nothing settled
is missed. Each is pushed in a transaction of its own that holds the row (``FOR UPDATE SKIP LOCKED``: any
number of nodes drain side by side, never the same row): the push, then the row's new state and the attempt
in the sync log commit together. A node killed mid-push leaves the row as it was, PENDING, and the next
drain pushes it again; ERPNext refuses the second copy as a duplicate of its ``fireflow_id`` (unique there),
which is taken as done. So a push is at least once from here and exactly once there.

- Answers ERPNext may change its mind about (no answer, 5xx, 429) are tried again after a backoff that
  doubles from ``BACKOFF_S`` up to ``BACKOFF_CAP_S`` (with full jitter, so a site coming back is not hit by
  every row at once), and FAILED after ``MAX_ATTEMPTS``.
- Any other refusal (a wrong key, a validation error) is FAILED at once with ERPNext's words: a person must
  change something. The manager's ``outbox.retry`` puts a FAILED row back (``hub/books/outbox.py``).
- A refund or void waits for its sale to be there (its document is what they name). A void of deposits
  alone (no sale was pushed) has nothing to cancel.
- With ``ERPNEXT_URL`` unset (seed 002) each row is logged here, LOGGED in the sync log, and done.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fireflow.hub.domain.erpnext import ErpSettings, InvoiceLine, SoldInvoice, refund_doc, sale_doc
from fireflow.hub.domain.money import minor_digits
from fireflow.hub.integrations.erpnext import ErpNext, Pushed, PushFailed
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.schema.billing import LedgerEntry
from fireflow.schema.tables import (
    InvoiceLineRow,
    InvoiceRow,
    LedgerEntryRow,
    LedgerTransactionRow,
    OutboxAttemptRow,
    OutboxRow,
    PaymentRow,
)

__all__ = ["BACKOFF_CAP_S", "BACKOFF_S", "MAX_ATTEMPTS", "Drained", "OutboxDrain", "backoff_s"]

logger = logging.getLogger(__name__)

BACKOFF_S = 2.0
BACKOFF_CAP_S = 600.0
MAX_ATTEMPTS = 12  # about an hour and a half of a site down before a person is asked
WAIT_FOR_SALE_S = 5.0  # a refund or void whose sale is not pushed yet looks again this soon
IDLE_S = 1.0  # nothing due: the drain looks again this soon


def backoff_s(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before try ``attempts + 1``: full jitter under a doubling ceiling (AWS's "exponential backoff
    and jitter"), so rows that failed together do not come back together."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_S * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass(frozen=True, slots=True)
class Drained:
    """What one push did: the row's id, its new status, and the attempt's outcome."""

    outbox_id: int
    status: str
    outcome: str


class OutboxDrain:
    def __init__(self, engine: AsyncEngine, erp: ErpNext | None, *, settings: ErpSettings | None = None) -> None:
        self.engine = engine
        self.erp = erp  # None: ERPNEXT_URL is unset, rows are logged here only
        self.settings = settings or ErpSettings()

    async def run(self) -> None:
        while True:
            reraise_if_cancelled()
            try:
                pushed = await self.drain()
            except Exception:
                reraise_if_cancelled()
                logger.exception("the outbox's drain failed; it looks again shortly")
                pushed = 0
            if not pushed:
                await asyncio.sleep(IDLE_S)

    async def close(self) -> None:
        if self.erp is not None:
            await self.erp.close()

    async def drain(self, limit: int = 100) -> int:
        """Push what is due, one row at a time, up to ``limit``; how many were handled."""
        handled = 0
        while handled < limit and await self.push_one() is not None:
            handled += 1
        return handled

    async def push_one(self) -> Drained | None:
        """The oldest due row, pushed and recorded in one transaction; None when nothing is due."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(OutboxRow.__table__)
                    .where(OutboxRow.status == "PENDING", OutboxRow.next_at <= func.now())
                    .order_by(OutboxRow.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return None
            return await self._push(conn, row)

    async def _push(self, conn: AsyncConnection, row: Any) -> Drained:
        payload: dict[str, Any] | None = None
        try:
            if row.kind == "SALE":
                invoice = await self._invoice(conn, row.restaurant_id, row.reference)
                payload = sale_doc(invoice, row.subject, self.settings)
                if self.erp is None:
                    return await self._logged(conn, row, payload)
                return await self._done(conn, row, payload, await self.erp.create(payload))
            sale = (
                await conn.execute(
                    select(OutboxRow.status, OutboxRow.remote_id).where(
                        OutboxRow.target == row.target, OutboxRow.kind == "SALE", OutboxRow.reference == row.reference
                    )
                )
            ).first()
            if sale is None:  # deposits voided on an order never settled: no document there
                return await self._finish(conn, row, "DONE", "NOTHING", None, error="no sale of it was sent")
            if sale.status == "PENDING":
                await conn.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == row.id)
                    .values(next_at=func.now() + timedelta(seconds=WAIT_FOR_SALE_S))
                )
                return Drained(row.id, "PENDING", "WAITING")
            if sale.status == "FAILED":
                message = "its sale could not be sent to ERPNext: retry the sale first"
                return await self._finish(conn, row, "FAILED", "FAILED", None, error=message)
            if row.kind == "VOID":
                payload = {"doctype": "Sales Invoice", "name": sale.remote_id, "cancel": True}
                if self.erp is None or sale.remote_id is None:
                    return await self._logged(conn, row, payload)
                return await self._done(conn, row, payload, await self.erp.cancel(sale.remote_id))
            invoice = await self._invoice(conn, row.restaurant_id, row.reference)
            entries, note = await self._posting(conn, row.subject)
            payload = refund_doc(invoice, sale.remote_id or "", row.subject, entries, self.settings, reason=note)
            if self.erp is None or sale.remote_id is None:
                return await self._logged(conn, row, payload)
            return await self._done(conn, row, payload, await self.erp.create(payload))
        except PushFailed as exc:
            attempts = row.attempts + 1
            if exc.retryable and attempts < MAX_ATTEMPTS:
                await conn.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == row.id)
                    .values(
                        attempts=attempts,
                        last_error=exc.message[:1000],
                        next_at=func.now() + timedelta(seconds=backoff_s(attempts)),
                    )
                )
                await self._attempt(conn, row, "FAILED", exc.status or None, payload, exc.response, exc.message)
                logger.warning(
                    "outbox %s (%s %s) not pushed, tried again later: %s", row.id, row.kind, row.reference, exc.message
                )
                return Drained(row.id, "PENDING", "FAILED")
            logger.error("outbox %s (%s %s) failed: %s", row.id, row.kind, row.reference, exc.message)
            return await self._finish(
                conn,
                row,
                "FAILED",
                "FAILED",
                payload,
                error=exc.message,
                http=exc.status or None,
                response=exc.response,
            )

    async def _done(self, conn: AsyncConnection, row: Any, payload: dict[str, Any], pushed: Pushed) -> Drained:
        outcome = "ALREADY" if pushed.already else "SENT"
        return await self._finish(
            conn, row, "DONE", outcome, payload, http=pushed.status, response=pushed.response, remote=pushed.name
        )

    async def _logged(self, conn: AsyncConnection, row: Any, payload: dict[str, Any]) -> Drained:
        logger.info("outbox %s (%s %s): ERPNEXT_URL is not set, logged here only", row.id, row.kind, row.reference)
        return await self._finish(conn, row, "DONE", "LOGGED", payload, error="ERPNEXT_URL is not set: not sent")

    async def _finish(
        self,
        conn: AsyncConnection,
        row: Any,
        status: str,
        outcome: str,
        payload: dict[str, Any] | None,
        *,
        error: str | None = None,
        http: int | None = None,
        response: dict[str, Any] | None = None,
        remote: str | None = None,
    ) -> Drained:
        done = {"done_at": func.now()} if status == "DONE" else {}
        await conn.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(status=status, attempts=row.attempts + 1, last_error=error, remote_id=remote, **done)
        )
        await self._attempt(conn, row, outcome, http, payload, response, error)
        return Drained(row.id, status, outcome)

    @staticmethod
    async def _attempt(
        conn: AsyncConnection,
        row: Any,
        outcome: str,
        http: int | None,
        payload: dict[str, Any] | None,
        response: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        await conn.execute(
            insert(OutboxAttemptRow).values(
                outbox_id=row.id,
                restaurant_id=row.restaurant_id,
                outcome=outcome,
                http_status=http,
                payload=payload,
                response=response,
                error=error[:1000] if error else None,
            )
        )

    @staticmethod
    async def _invoice(conn: AsyncConnection, rid: str, invoice_id: str) -> SoldInvoice:
        invoice = (
            await conn.execute(
                select(InvoiceRow.__table__).where(InvoiceRow.restaurant_id == rid, InvoiceRow.id == invoice_id)
            )
        ).one()
        lines = (
            await conn.execute(
                select(InvoiceLineRow.__table__)
                .where(InvoiceLineRow.invoice_id == invoice_id)
                .order_by(InvoiceLineRow.line_no)
            )
        ).all()
        payments = (
            await conn.execute(
                select(PaymentRow.method, PaymentRow.amount)
                .where(PaymentRow.restaurant_id == rid, PaymentRow.invoice_id == invoice_id)
                .order_by(PaymentRow.created_at, PaymentRow.id)
            )
        ).all()
        return SoldInvoice(
            id=invoice.id,
            number=invoice.number,
            currency=invoice.currency,
            digits=minor_digits(invoice.currency),
            business_day=invoice.business_day,
            created_at=invoice.created_at,
            customer_name=invoice.customer_name,
            discount=invoice.discount,
            service_charge=invoice.service_charge,
            total=invoice.total,
            lines=tuple(
                InvoiceLine(line.menu_item_id, line.name, line.quantity, line.unit_price, line.tax_code, line.tax)
                for line in lines
            ),
            payments=tuple((method, paid) for method, paid in payments),
        )

    @staticmethod
    async def _posting(conn: AsyncConnection, txn_id: str) -> tuple[list[LedgerEntry], str]:
        note = (
            await conn.execute(select(LedgerTransactionRow.note).where(LedgerTransactionRow.id == txn_id))
        ).scalar_one()
        rows = (
            await conn.execute(
                select(LedgerEntryRow.account, LedgerEntryRow.debit, LedgerEntryRow.credit).where(
                    LedgerEntryRow.transaction_id == txn_id
                )
            )
        ).all()
        return [LedgerEntry(account=a, debit=d, credit=c) for a, d, c in rows], note
