"""Receipts and the Z-report printed: what they print read from the books and the live state, the job decided by
``fireflow.hub.domain.print_documents``.

A settled order's receipt is its invoice as the invoice history reads it (``history.invoice_detail``),
a bill's part payments are the books' rows of the payments the order took (``Books.find``), and the
Z-report is the one ``GET /api/v1/reports/z`` serves (``BooksOnly.z_report``): nothing is added up here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from fireflow.hub.books import history
from fireflow.hub.commands.context import Context
from fireflow.hub.commands.settle import BooksOnly
from fireflow.hub.domain import print_documents
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import check_tenant
from fireflow.schema import commands as c
from fireflow.schema.billing import Payment
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Order

__all__ = ["receipt", "z_report"]


def _books(ctx: Context, what: str) -> BooksOnly:
    if ctx.money is None:
        raise DomainError(ErrorCode.UNAVAILABLE, f"{what} needs the books (Postgres); none is configured")
    return ctx.money


def _unavailable(exc: Exception) -> DomainError:
    return DomainError(ErrorCode.UNAVAILABLE, f"the books (Postgres) cannot be read ({type(exc).__name__}); retry")


async def _invoice(ctx: Context, invoice_id: str) -> dict[str, Any]:
    books = _books(ctx, "a settled order's receipt").books
    try:
        found = await history.invoice_detail(books.engine, ctx.rid, invoice_id)
    except (SQLAlchemyError, OSError) as exc:
        raise _unavailable(exc) from None
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no invoice {invoice_id!r} in the books")
    return found


async def _settled_by(ctx: Context, order_id: str) -> str | None:
    """The invoice that settled an order no longer in the live state (the books keep it)."""
    if ctx.money is None:
        return None
    try:
        return await ctx.money.books.invoice_of(ctx.rid, order_id)
    except (SQLAlchemyError, OSError) as exc:
        raise _unavailable(exc) from None


async def _part_payments(ctx: Context, order: Order) -> list[Payment]:
    """What an order not settled yet has been paid so far, as the books recorded each payment."""
    if not order.payment_keys:
        return []
    books = _books(ctx, "a part-paid bill").books
    payments: list[Payment] = []
    try:
        for key in order.payment_keys:
            found = await books.find(ctx.rid, key)
            payments += found.payments if found is not None else ()
    except (SQLAlchemyError, OSError) as exc:
        raise _unavailable(exc) from None
    return payments


async def receipt(ctx: Context) -> Decision:
    cmd: c.PrintReceipt = ctx.command
    check_tenant(ctx.actor, cmd.order_id)
    restaurant = await ctx.restaurant()
    order = await ctx.store.order(ctx.rid, cmd.order_id)
    invoice_id = order.invoice_id if order is not None else await _settled_by(ctx, cmd.order_id)
    if order is None and invoice_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no order {cmd.order_id!r}")
    printer = print_documents.receipt_printer(restaurant, ctx.actor, cmd.printer)
    lease_ms = restaurant.kitchen.print_confirm_s * 1000
    if invoice_id is not None:
        job_id = print_documents.receipt_job_id(invoice_id)
        made = await ctx.store.print_job(ctx.rid, job_id)
        invoice = await _invoice(ctx, invoice_id)
        link = ctx.links.issued(ctx.rid, invoice_id, invoice["created_at"]) if ctx.links is not None else None
        paper = print_documents.invoice_receipt(invoice, restaurant, link)
    else:
        assert order is not None
        job_id = print_documents.bill_job_id(order)
        made = await ctx.store.print_job(ctx.rid, job_id)
        paper = print_documents.bill_receipt(order, await _part_payments(ctx, order), restaurant, ctx.now)
    return print_documents.receipt_job(job_id, cmd.order_id, paper, printer, ctx.actor, ctx.now, lease_ms, made)


async def z_report(ctx: Context) -> Decision:
    cmd: c.PrintZReport = ctx.command
    restaurant = await ctx.restaurant()
    printer = print_documents.printer_named(restaurant, cmd.printer)
    day = cmd.day or await ctx.day()
    try:
        report = await _books(ctx, "the Z-report").z_report(ctx.rid, day)
    except (SQLAlchemyError, OSError) as exc:
        raise _unavailable(exc) from None
    made = await ctx.store.print_job(ctx.rid, print_documents.z_report_job_id(ctx.rid, report, printer.id))
    lease_ms = restaurant.kitchen.print_confirm_s * 1000
    return print_documents.z_report_job(report, restaurant, printer, ctx.actor, ctx.now, lease_ms, made)
