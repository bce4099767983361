"""The customer's invoice link: ``GET /invoice/{restaurant}/{invoice}.pdf?exp=…&sig=…`` (or ``.json``), no token.

The signature is the proof (``hub/domain/invoice_links.py``), checked before anything is read: a forged or
altered link is 403 and an expired one 410, each with one plain line, and neither costs a database read.
A valid one is served from the invoice archive (``hub/workers/outbox_archive.py``): 200 with the document;
503 with ``Retry-After`` while the invoice waits to be archived (or the archive cannot be reached); 404 when
there is no such invoice to archive.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from fireflow.hub.domain.actors import Actor, can_read
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.invoice_links import FORMATS, LinkCheck
from fireflow.hub.domain.orders import check_tenant
from fireflow.hub.integrations.pushed import PushFailed
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.tables import OutboxRow

if TYPE_CHECKING:
    from fireflow.hub.run.app import Hub

__all__ = ["archived_key", "invoice_routes", "staff_link"]

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 60
_TYPES = {"pdf": "application/pdf", "json": "application/json"}


def _plain(status: int, text: str, **headers: str) -> Response:
    return PlainTextResponse(text + "\n", status_code=status, headers={"Cache-Control": "no-store", **headers})


async def archived_key(hub: Hub, rid: str, invoice_id: str) -> tuple[str, str | None] | None:
    """The archive's row of an invoice: its status and the PDF's key once DONE; None: no such sale."""
    if hub.engine is None:
        return None
    query = select(OutboxRow.status, OutboxRow.remote_id).where(
        OutboxRow.restaurant_id == rid, OutboxRow.target == "archive", OutboxRow.reference == invoice_id
    )
    async with hub.engine.connect() as conn:
        found = (await conn.execute(query.order_by(OutboxRow.id).limit(1))).first()
    return (found.status, found.remote_id) if found is not None else None


async def serve_invoice(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    rid, invoice_id, fmt = (request.path_params[name] for name in ("rid", "invoice_id", "fmt"))
    if fmt not in FORMATS:
        return _plain(404, "Not found: an invoice link ends in .pdf or .json.")
    verdict = hub.invoice_links.check(
        rid, invoice_id, request.query_params.get("exp", ""), request.query_params.get("sig", ""), time.time()
    )
    if verdict is LinkCheck.FORGED:
        return _plain(403, "This invoice link is not valid: ask the restaurant for a new one.")
    if verdict is LinkCheck.EXPIRED:
        return _plain(410, "This invoice link has expired: ask the restaurant for a new one.")
    try:
        found = await archived_key(hub, rid, invoice_id)
    except Exception:
        logger.exception("invoice link: the archive's rows could not be read")
        return _plain(503, "The invoice archive cannot be read right now: try again shortly.", **_later())
    if found is None:
        return _plain(404, "No such invoice in the archive.")
    status, pdf_key = found
    if status != "DONE" or not pdf_key:
        return _plain(
            503,
            "This invoice is not archived yet (a busy restaurant archives after its rush): try again in a few minutes.",
            **_later(),
        )
    key = pdf_key if fmt == "pdf" else pdf_key.removesuffix(".pdf") + ".json"
    try:
        body = await hub.archive_store.get(key)
    except PushFailed as exc:
        logger.warning("invoice link: %s", exc.message)
        return _plain(503, "The invoice archive cannot be reached right now: try again shortly.", **_later())
    if body is None:
        logger.error("invoice link: %s is missing from %s", key, hub.archive_store.description)
        return _plain(404, "This invoice is missing from the archive: ask the restaurant.")
    name = key.rsplit("/", 1)[-1]
    headers = {"Content-Disposition": f'inline; filename="invoice-{name}"', "Cache-Control": "private, max-age=300"}
    return Response(body, media_type=_TYPES[fmt], headers=headers)


async def staff_link(hub: Hub, actor: Actor, request: Request) -> dict[str, Any]:
    """``GET /api/v1/invoices/{invoice_id}/link``: a fresh link for the customer (cashiers and managers), good for
    ``FIREFLOW_INVOICE_LINK_TTL`` from now; ``archived`` says whether it opens the invoice yet."""
    can_read(actor, "cashier")
    invoice_id = request.path_params["invoice_id"]
    check_tenant(actor, invoice_id)
    if hub.engine is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured")
    found = await archived_key(hub, actor.restaurant_id, invoice_id)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no invoice {invoice_id!r} in the archive (each sale's invoice is)")
    links, rid = hub.invoice_links, actor.restaurant_id
    expires = int(time.time()) + links.ttl_s
    return {
        "invoice_id": invoice_id,
        "url": links.until(rid, invoice_id, expires, "pdf"),
        "json_url": links.until(rid, invoice_id, expires, "json"),
        "expires_at": expires * 1000,
        "archived": found[0] == "DONE",
        "status": found[0],
    }


def _later() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)}


def invoice_routes() -> list[Route]:
    return [Route("/invoice/{rid}/{invoice_id}.{fmt}", serve_invoice, methods=["GET"])]
