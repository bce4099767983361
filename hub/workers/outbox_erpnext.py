"""The outbox's ERPNext target (seed 002): each sale, refund and void the books wrote becomes a Sales Invoice,
a return, or a cancel there (``hub/domain/erpnext.py`` makes the documents).

- A refund or void waits for its sale to be there (its document is what they name). A void of deposits
  alone (no sale was pushed) has nothing to cancel.
- With ``ERPNEXT_URL`` unset (seed 002) each row is logged here, LOGGED in the sync log, and done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fireflow.hub.books.sold import posting, sold_invoice
from fireflow.hub.domain.erpnext import ErpSettings, refund_doc, sale_doc
from fireflow.hub.integrations.erpnext import ErpNext
from fireflow.hub.integrations.pushed import Pushed, PushFailed
from fireflow.hub.workers.outbox import Sent
from fireflow.schema.tables import OutboxRow

__all__ = ["ErpNextTarget"]

logger = logging.getLogger(__name__)

WAIT_FOR_SALE_S = 5.0  # a refund or void whose sale is not pushed yet looks again this soon


class ErpNextTarget:
    name = "erpnext"

    def __init__(
        self,
        erp: ErpNext | None,
        settings: ErpSettings | None = None,
        zones: Callable[[str], Awaitable[tzinfo]] | None = None,
    ) -> None:
        self.erp = erp  # None: ERPNEXT_URL is unset, rows are logged here only
        self.settings = settings or ErpSettings()
        self.zones = zones  # a restaurant's timezone (its settings in Redis); None: UTC

    async def _zone(self, rid: str) -> tzinfo:
        return UTC if self.zones is None else await self.zones(rid)

    async def close(self) -> None:
        if self.erp is not None:
            await self.erp.close()

    async def send(self, conn: AsyncConnection, row: Any) -> Sent:
        if row.kind == "SALE":
            invoice = await sold_invoice(conn, row.restaurant_id, row.reference)
            payload = sale_doc(invoice, row.subject, self.settings, await self._zone(row.restaurant_id))
            if self.erp is None:
                return self._logged(row, payload)
            return _done(payload, await self._push(payload, self.erp.create(payload)))
        sale = (
            await conn.execute(
                select(OutboxRow.status, OutboxRow.remote_id).where(
                    OutboxRow.target == self.name, OutboxRow.kind == "SALE", OutboxRow.reference == row.reference
                )
            )
        ).first()
        if sale is None:  # deposits voided on an order never settled: no document there
            return Sent("DONE", "NOTHING", error="no sale of it was sent")
        if sale.status == "PENDING":
            return Sent("PENDING", "WAITING", wait_s=WAIT_FOR_SALE_S)
        if sale.status == "FAILED":
            return Sent("FAILED", "FAILED", error="its sale could not be sent to ERPNext: retry the sale first")
        if row.kind == "VOID":
            payload = {"doctype": "Sales Invoice", "name": sale.remote_id, "cancel": True}
            if self.erp is None or sale.remote_id is None:
                return self._logged(row, payload)
            return _done(payload, await self._push(payload, self.erp.cancel(sale.remote_id)))
        invoice = await sold_invoice(conn, row.restaurant_id, row.reference)
        refund = await posting(conn, row.subject)
        zone = await self._zone(row.restaurant_id)
        payload = refund_doc(invoice, sale.remote_id or "", row.subject, refund, self.settings, zone)
        if self.erp is None or sale.remote_id is None:
            return self._logged(row, payload)
        return _done(payload, await self._push(payload, self.erp.create(payload)))

    @staticmethod
    async def _push(payload: dict[str, Any], call: Awaitable[Pushed]) -> Pushed:
        """ERPNext's answer to ``call``; a refusal carries what was sent, for the sync log."""
        try:
            return await call
        except PushFailed as exc:
            exc.payload = payload
            raise

    @staticmethod
    def _logged(row: Any, payload: dict[str, Any]) -> Sent:
        logger.info("outbox %s (%s %s): ERPNEXT_URL is not set, logged here only", row.id, row.kind, row.reference)
        return Sent("DONE", "LOGGED", payload, error="ERPNEXT_URL is not set: not sent")


def _done(payload: dict[str, Any], pushed: Pushed) -> Sent:
    outcome = "ALREADY" if pushed.already else "SENT"
    return Sent("DONE", outcome, payload, pushed.status, pushed.response, remote=pushed.name)
