"""What the outbox holds for one restaurant, as the manager reads it: pending, failed with the error, done.

The rows are written by the database (migration 0012) and moved on by ``hub/workers/outbox.py``; this is
the read side only: the latest rows first, with counts by status, so a failure that needs a person is
plain on ``/manager`` and in ``GET /api/v1/outbox``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.errors import DomainError
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.tables import OutboxRow

__all__ = ["STATUSES", "outbox_page", "retry"]

STATUSES = ("PENDING", "FAILED", "DONE")
PAGE = 200


async def outbox_page(engine: AsyncEngine, rid: str, status: str | None = None) -> dict[str, Any]:
    """The restaurant's latest outbox rows (``PAGE``), of one status when asked, and how many of each there are."""
    rows = select(OutboxRow.__table__).where(OutboxRow.restaurant_id == rid)
    if status is not None:
        rows = rows.where(OutboxRow.status == status)
    rows = rows.order_by(OutboxRow.id.desc()).limit(PAGE)
    counts = select(OutboxRow.status, func.count()).where(OutboxRow.restaurant_id == rid).group_by(OutboxRow.status)
    async with engine.connect() as conn:
        found = (await conn.execute(rows)).all()
        by_status = {name: count for name, count in (await conn.execute(counts)).all()}
    return {
        "counts": {name: int(by_status.get(name, 0)) for name in STATUSES},
        "items": [
            {
                "id": row.id,
                "target": row.target,
                "kind": row.kind,
                "reference": row.reference,
                "status": row.status,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "remote_id": row.remote_id,
                "created_at": int(row.created_at.timestamp() * 1000),
                "next_at": int(row.next_at.timestamp() * 1000) if row.status == "PENDING" else None,
                "done_at": int(row.done_at.timestamp() * 1000) if row.done_at else None,
            }
            for row in found
        ],
    }


async def retry(engine: AsyncEngine, rid: str, outbox_id: int) -> None:
    """A FAILED item of ``rid`` back to PENDING, due now (its tries counted afresh). One PENDING already is left as
    it is (a second copy of the retry); one DONE is refused, and so is another restaurant's (as not found)."""
    async with engine.begin() as conn:
        moved = await conn.execute(
            update(OutboxRow)
            .where(OutboxRow.restaurant_id == rid, OutboxRow.id == outbox_id, OutboxRow.status == "FAILED")
            .values(status="PENDING", attempts=0, next_at=func.now())
        )
        if moved.rowcount:
            return
        status = (
            await conn.execute(
                select(OutboxRow.status).where(OutboxRow.restaurant_id == rid, OutboxRow.id == outbox_id)
            )
        ).scalar()
    if status is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no outbox item {outbox_id} in this restaurant")
    if status == "DONE":
        raise DomainError(ErrorCode.INVALID_STATE, f"outbox item {outbox_id} was sent already")
