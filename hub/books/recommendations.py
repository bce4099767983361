"""The recommendations log in Postgres: advice given, what staff did, and how often they took it.

Written on paths that are rare and already slow for a person: a refused settlement (the guidance), a
settlement with force, a sweep's finding. A bill paid without force after guidance was a wait: that
is read from the invoices when the log is read, so the ordinary payment path writes nothing more.
Logging never fails what it logs: a write that fails is logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.recommendations import ASK_TO_WAIT, DONE, Recommendation
from fireflow.schema.tables import InvoiceOrderRow, RecommendationRow

__all__ = ["Recommendations"]

logger = logging.getLogger(__name__)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


class Recommendations:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def given(self, restaurant_id: str, rec: Recommendation, to: str, at_ms: int) -> None:
        """Log advice once: the same bill refused again, or the same fault, keeps its first row."""
        row = {
            "restaurant_id": restaurant_id,
            "id": rec.id,
            "kind": rec.kind,
            "subject": rec.subject[:160],
            "order_ids": list(rec.order_ids),
            "recommended": rec.recommended,
            "options": list(rec.options),
            "reason": rec.reason[:500],
            "given_at": _at(at_ms),
            "given_to": to,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(RecommendationRow).values(row).on_conflict_do_nothing())
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("recommendation %s of %s not logged: %s", rec.id, restaurant_id, exc)

    async def decided(self, restaurant_id: str, ids: Sequence[str], chosen: str, by: str, at_ms: int) -> None:
        """What staff did about advice not yet decided (ids with no row: nothing was advised, nothing done)."""
        if not ids:
            return
        r = RecommendationRow
        followed = true() if chosen == DONE else r.recommended == chosen
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(r)
                    .where(r.restaurant_id == restaurant_id, r.id.in_(list(ids)), r.decided_at.is_(None))
                    .values(chosen=chosen, followed=followed, decided_at=_at(at_ms), decided_by=by)
                )
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("recommendations %s of %s not decided: %s", ", ".join(ids), restaurant_id, exc)

    async def read(self, restaurant_id: str, since_ms: int, latest: int = 20) -> dict[str, Any]:
        """Per kind: how many given, decided and followed, and the rate; and the latest few, newest first.

        A settlement's guidance with no decision whose bill has since been invoiced was a wait (the
        cashier paid without force once the kitchen was done)."""
        r = RecommendationRow
        paid = exists().where(
            InvoiceOrderRow.restaurant_id == r.restaurant_id, InvoiceOrderRow.order_id == func.any(r.order_ids)
        )
        waited = and_(r.chosen.is_(None), r.kind == "SETTLEMENT", paid)
        chosen = case((waited, ASK_TO_WAIT), else_=r.chosen).label("chosen")
        followed = case((waited, r.recommended == ASK_TO_WAIT), else_=r.followed).label("followed")
        rows = (
            select(r.id, r.kind, r.subject, r.recommended, r.reason, r.given_at, r.decided_at, chosen, followed)
            .where(r.restaurant_id == restaurant_id, r.given_at >= _at(since_ms))
            .subquery()
        )
        async with self.engine.connect() as conn:
            kinds = await conn.execute(
                select(
                    rows.c.kind,
                    func.count(),
                    func.count(rows.c.chosen),
                    func.count().filter(rows.c.followed.is_(True)),
                )
                .group_by(rows.c.kind)
                .order_by(rows.c.kind)
            )
            recent = await conn.execute(select(rows).order_by(rows.c.given_at.desc(), rows.c.id).limit(latest))
            return {
                "kinds": [
                    {
                        "kind": kind,
                        "given": given,
                        "decided": decided,
                        "followed": took,
                        "rate": round(took / decided, 3) if decided else None,
                    }
                    for kind, given, decided, took in kinds
                ],
                "latest": [
                    {
                        "id": row.id,
                        "kind": row.kind,
                        "subject": row.subject,
                        "recommended": row.recommended,
                        "reason": row.reason,
                        "given_at": _ms(row.given_at),
                        "chosen": row.chosen,
                        "followed": row.followed,
                        "decided_at": _ms(row.decided_at),
                    }
                    for row in recent
                ],
            }
