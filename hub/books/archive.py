"""Closed orders out of Redis: the ``archived_orders`` table, and reads of an order that has left Redis.

Redis holds what a restaurant is working on. An order closed for ``FIREFLOW_CLOSED_KEEP`` seconds
is copied here by the archiver (``fireflow.hub.workers.archiver``) and then taken out of Redis, so
Redis memory follows the day's work, not every order ever taken. Every read of an order
(``Store.order``: the API, receipts, refunds) falls back to this table; a command on an archived
order writes it back to Redis, and the archiver copies the newer revision here again later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.schema.records import Order
from fireflow.schema.tables import ArchivedOrderRow

__all__ = ["OrderArchive"]


class OrderArchive:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def put(self, rid: str, orders: Sequence[tuple[Order, int]]) -> None:
        """Keep these orders (each with when it was closed, in ms); an older revision never replaces a newer one."""
        if not orders:
            return
        rows = [
            {
                "restaurant_id": rid,
                "order_id": order.id,
                "revision": order.revision,
                "status": order.status.value,
                "data": order.model_dump(mode="json"),
                "closed_at": datetime.fromtimestamp(closed_ms / 1000, UTC),
            }
            for order, closed_ms in orders
        ]
        stmt = insert(ArchivedOrderRow).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=[ArchivedOrderRow.restaurant_id, ArchivedOrderRow.order_id],
            set_={
                "revision": stmt.excluded.revision,
                "status": stmt.excluded.status,
                "data": stmt.excluded.data,
                "closed_at": stmt.excluded.closed_at,
                "archived_at": datetime.now(UTC),
            },
            where=ArchivedOrderRow.revision < stmt.excluded.revision,
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def order(self, rid: str, order_id: str) -> Order | None:
        query = select(ArchivedOrderRow.data).where(
            ArchivedOrderRow.restaurant_id == rid, ArchivedOrderRow.order_id == order_id
        )
        async with self.engine.connect() as conn:
            data = (await conn.execute(query)).scalar_one_or_none()
        return Order.model_validate(data) if data is not None else None
