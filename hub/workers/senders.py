"""What leaves the hub, run beside the durable writer: the outbox's drain (ERPNext, the invoice archive) and
the webhooks' deliveries.

They run where the writer runs: in the node's background process (``FIREFLOW_DURABLE=process``, the
default, niced), in the node itself (``inline``), or in ``fireflow durable`` (for nodes run with ``off``).
They are behind by design, like the writer, and some of their work is CPU the sockets must not wait for: a
PDF is about 13 ms of pure Python, which a thread would still take from the event loop under the GIL. Any
number of them may run at once: each takes its rows with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.invoice_links import InvoiceLinks
from fireflow.hub.integrations.erpnext import ErpNext
from fireflow.hub.integrations.object_store import ObjectStore, open_store
from fireflow.hub.live.store import Store
from fireflow.hub.run.config import Settings
from fireflow.hub.workers.outbox import OutboxDrain, Target
from fireflow.hub.workers.outbox_archive import ArchiveTarget
from fireflow.hub.workers.outbox_erpnext import ErpNextTarget
from fireflow.hub.workers.pressure import Yielding
from fireflow.hub.workers.webhooks import WebhookWorker

__all__ = ["Senders", "invoice_links"]


def invoice_links(settings: Settings) -> InvoiceLinks:
    """The customers' invoice links as this hub signs them (its secret first, former ones still verify)."""
    return InvoiceLinks.of(settings.secrets, settings.public_base_url, settings.invoice_link_ttl)


@dataclass
class Senders:
    """The drain and the webhooks' worker of one process, as its settings ask (either may be off)."""

    store: ObjectStore
    outbox: OutboxDrain | None = None
    webhooks: WebhookWorker | None = None

    @classmethod
    def of(cls, settings: Settings, engine: AsyncEngine, redis: Redis, store: Store) -> Senders:
        archive = open_store(settings.archive_url, settings.data_dir, settings.s3_endpoint_url)
        senders = cls(archive)
        if settings.outbox:
            erp = None
            if settings.erpnext_url:
                erp = ErpNext(settings.erpnext_url, settings.erpnext_api_key, settings.erpnext_api_secret)
            targets: list[Target] = [
                ErpNextTarget(erp, settings.erpnext, store.zone),
                ArchiveTarget(archive, invoice_links(settings), store.restaurant),
            ]
            gate = Yielding(settings.outbox_yield_at, settings.outbox_yield_max)
            senders.outbox = OutboxDrain(engine, targets, gate)
        if settings.webhooks:
            senders.webhooks = WebhookWorker(engine, redis, private_ok=settings.webhook_private)
        return senders

    def tasks(self) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
        """Each worker's run, by the name its task goes by."""
        found: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {}
        if self.outbox is not None:
            found["outbox"] = self.outbox.run
        if self.webhooks is not None:
            found["webhooks"] = self.webhooks.run
        return found

    async def close(self) -> None:
        if self.outbox is not None:
            await self.outbox.close()
        if self.webhooks is not None:
            await self.webhooks.close()
        await self.store.close()
