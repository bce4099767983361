"""Saved group bills in Postgres: saved once however often a till resends, changed with their version.

The orders they name live in Redis while open; a group only keeps their ids, its
title, customer and references, and, once paid, the invoice that covers it (set
in the same transaction as the invoice: ``fireflow.hub.books.books``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.customers import stored
from fireflow.hub.domain.errors import DomainError
from fireflow.schema.groups import SaveGroup
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.tables import BillGroupRow

__all__ = ["LIST_LIMIT", "Groups"]

LIST_LIMIT = 50


class Groups:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(self, rid: str, command_id: str, by: str, cmd: SaveGroup) -> dict[str, Any]:
        """Add a group, or change one not yet invoiced (``cmd.version``: the one it was loaded at)."""
        now = datetime.now(UTC)
        values = {
            "title": cmd.title,
            "customer_name": cmd.customer_name or None,
            "reference1": cmd.reference1,
            "reference2": cmd.reference2,
            "order_ids": list(cmd.order_ids),
            "updated_at": now,
            "updated_by": by,
        }
        key = cmd.group_id or f"{rid}.g{hashlib.sha256(command_id.encode()).hexdigest()[:12]}"
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(
                    select(BillGroupRow.version, BillGroupRow.invoice_id)
                    .where(BillGroupRow.restaurant_id == rid, BillGroupRow.id == key)
                    .with_for_update()
                )
            ).first()
            if current is None:
                if cmd.group_id is not None:
                    raise DomainError(ErrorCode.NOT_FOUND, f"no group {cmd.group_id!r}")
                await conn.execute(  # a twin of this command inserting at the same moment: the first row stands
                    insert(BillGroupRow)
                    .values(id=key, restaurant_id=rid, created_at=now, version=1, **values)
                    .on_conflict_do_nothing(index_elements=[BillGroupRow.id])
                )
            elif cmd.group_id is not None:
                if current.invoice_id is not None:
                    raise DomainError(
                        ErrorCode.INVALID_STATE,
                        f"group {cmd.title!r} is already invoiced ({current.invoice_id}); it can no longer change",
                        {"invoice_id": current.invoice_id},
                    )
                if cmd.version is not None and cmd.version != current.version:
                    raise DomainError(
                        ErrorCode.VERSION_CONFLICT,
                        f"the group changed since you loaded it (now version {current.version}); reload and try again",
                        {"version": current.version},
                    )
                await conn.execute(
                    update(BillGroupRow)
                    .where(BillGroupRow.restaurant_id == rid, BillGroupRow.id == key)
                    .values(version=current.version + 1, **values)
                )
            # else: a resend of the command that added it; the first write stands
        found = await self.get(rid, key)
        assert found is not None
        return found

    async def get(self, rid: str, group_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(BillGroupRow).where(BillGroupRow.restaurant_id == rid, BillGroupRow.id == group_id)
                )
            ).first()
        return None if row is None else stored(row)

    async def find(self, rid: str, text: str | None, invoiced: bool | None) -> list[dict[str, Any]]:
        """Groups whose title, customer or references contain ``text``; newest first, LIST_LIMIT at most."""
        conditions: list[Any] = [BillGroupRow.restaurant_id == rid]
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{escaped}%"
            columns = (BillGroupRow.title, BillGroupRow.customer_name, BillGroupRow.reference1, BillGroupRow.reference2)
            conditions.append(or_(*(column.ilike(like, escape="\\") for column in columns)))
        if invoiced is not None:
            done = BillGroupRow.invoice_id.is_not(None)
            conditions.append(done if invoiced else BillGroupRow.invoice_id.is_(None))
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(BillGroupRow).where(*conditions).order_by(BillGroupRow.updated_at.desc()).limit(LIST_LIMIT)
            )
            return [stored(row) for row in rows]
