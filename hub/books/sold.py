"""A settled invoice read back from the books for what leaves the hub (``hub/domain/sold.py``): its lines and
payments, and a ledger posting's entries. Read inside the outbox's transaction, so it sees what the row does."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fireflow.hub.domain.money import minor_digits
from fireflow.hub.domain.sold import InvoiceLine, Posting, SoldInvoice
from fireflow.schema.billing import LedgerEntry
from fireflow.schema.tables import InvoiceLineRow, InvoiceRow, LedgerEntryRow, LedgerTransactionRow, PaymentRow

__all__ = ["posting", "sold_invoice"]


async def sold_invoice(conn: AsyncConnection, rid: str, invoice_id: str) -> SoldInvoice:
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


async def posting(conn: AsyncConnection, txn_id: str) -> Posting:
    txn = (
        await conn.execute(
            select(LedgerTransactionRow.note, LedgerTransactionRow.business_day, LedgerTransactionRow.created_at).where(
                LedgerTransactionRow.id == txn_id
            )
        )
    ).one()
    rows = (
        await conn.execute(
            select(LedgerEntryRow.account, LedgerEntryRow.debit, LedgerEntryRow.credit).where(
                LedgerEntryRow.transaction_id == txn_id
            )
        )
    ).all()
    entries = tuple(LedgerEntry(account=a, debit=d, credit=c) for a, d, c in rows)
    return Posting(entries, txn.note, txn.business_day, txn.created_at)
