"""The outbox's invoice archive target (seed 000, issue 14): each sale's invoice stored as JSON and as a PDF.

Migration 0013 queues a row (target ``archive``) with every SALE posting; this target reads the invoice
back from the books in the row's transaction, makes its JSON document (``hub/domain/invoice_document.py``)
and its PDF (``hub/printing/invoice_pdf.py``, with the customer's link as a QR code) and puts both in the
object store (``hub/integrations/object_store.py``): the JSON first, the PDF last, so a PDF there means its
invoice is archived whole. The row's ``remote_id`` is the PDF's key.

Both are the same bytes however often they are made (the link's expiry counts from the invoice's issue, the
PDF's dates are the invoice's), and go to the same keys: a node killed mid-send, or two nodes racing, write
the same objects again, harmlessly. A store that did not take them raises ``PushFailed``: the drain retries
with backoff (store down, 5xx, SlowDown) or marks the row FAILED (access denied, no such bucket).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fireflow.hub.books.sold import sold_invoice
from fireflow.hub.domain.invoice_document import Issuer, archive_keys, document_bytes, invoice_document
from fireflow.hub.domain.invoice_links import InvoiceLinks
from fireflow.hub.integrations.object_store import ObjectStore
from fireflow.hub.integrations.pushed import PushFailed
from fireflow.hub.printing.invoice_pdf import invoice_pdf
from fireflow.hub.workers.outbox import Sent
from fireflow.schema.billing import Bill
from fireflow.schema.records import Restaurant
from fireflow.schema.tables import InvoiceRow

__all__ = ["ArchiveTarget", "stored_bill"]

logger = logging.getLogger(__name__)

RestaurantOf = Callable[[str], Awaitable[Restaurant | None]]


async def stored_bill(conn: AsyncConnection, rid: str, invoice_id: str) -> Bill:
    """The bill an invoice was settled with, as the books stored it (its tax split, each line's figures)."""
    stored = (
        await conn.execute(select(InvoiceRow.bill).where(InvoiceRow.restaurant_id == rid, InvoiceRow.id == invoice_id))
    ).scalar_one()
    return Bill.model_validate({name: stored[name] for name in Bill.model_fields})


class ArchiveTarget:
    name = "archive"

    def __init__(self, store: ObjectStore, links: InvoiceLinks, restaurant: RestaurantOf) -> None:
        self.store = store  # the hub's: it serves the customers' links too, and the hub closes it
        self.links = links
        self.restaurant = restaurant  # the name and timezone printed: the live setup's (Redis)

    async def close(self) -> None:
        return None

    async def send(self, conn: AsyncConnection, row: Any) -> Sent:
        if row.kind != "SALE":  # 0013 queues sales only; anything else has no invoice of its own to keep
            return Sent("DONE", "NOTHING", error=f"the archive keeps sales' invoices, not a {row.kind}")
        rid = row.restaurant_id
        invoice = await sold_invoice(conn, rid, row.reference)
        bill = await stored_bill(conn, rid, row.reference)
        try:
            restaurant = await self.restaurant(rid)
        except (RedisError, OSError) as exc:
            raise PushFailed(f"the restaurant's name could not be read from Redis: {exc}", retryable=True) from None
        issuer = Issuer(rid, restaurant.name if restaurant else rid, restaurant.timezone if restaurant else "UTC")
        document = invoice_document(invoice, bill, issuer)
        link = self.links.issued(rid, invoice.id, int(invoice.created_at.timestamp() * 1000))
        keys = archive_keys(rid, invoice)
        data = document_bytes(document)
        pdf = await asyncio.to_thread(invoice_pdf, document, link)  # a few ms of CPU: off the sockets' loop
        payload = {
            "store": self.store.description,
            "json": keys.json,
            "pdf": keys.pdf,
            "json_sha256": hashlib.sha256(data).hexdigest(),
            "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
        }
        try:
            await self.store.put(keys.json, data, "application/json")
            await self.store.put(keys.pdf, pdf, "application/pdf")
        except PushFailed as exc:
            exc.payload = payload
            raise
        logger.info("invoice %s of %s archived in %s as %s", invoice.number, rid, self.store.description, keys.pdf)
        return Sent("DONE", "SENT", payload, remote=keys.pdf)
