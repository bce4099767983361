"""The customer book: names, phone numbers, delivery addresses and notes, kept in Postgres.

A takeaway or delivery order starts by looking the caller up by phone, so the
lookup is one indexed query (``phones`` holds digits only, GIN-indexed). A
customer written by a command is keyed by that command's id when it has no id
yet, so a till resending after a timeout updates the same customer instead of
adding a twin; an edit carries the version it was made from, and a stale one is
refused rather than overwriting someone else's change.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.errors import DomainError
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.tables import CustomerRow

__all__ = ["Customers", "digits", "stored"]

LOOKUP_LIMIT = 20
# A caller's number matches a stored one that ends with it or that it ends with ("98450 12345" finds
# "+91 98450-12345" and the other way round), once both are long enough not to match by chance.
SHORTEST_NUMBER = 7
_SAME_NUMBER = text(
    "EXISTS (SELECT 1 FROM unnest(customers.phones) AS p WHERE length(p) >= :shortest"
    " AND (p LIKE '%' || :wanted OR :wanted LIKE '%' || p))"
)


def digits(phone: str) -> str:
    """A phone number as its digits only: "+91 98450-12345" and "919845012345" are the same customer."""
    return re.sub(r"\D", "", phone)


def stored(row: Any) -> dict[str, Any]:
    """A row as the API answers it: without its restaurant, times in epoch milliseconds."""
    found = dict(row._mapping)
    found.pop("restaurant_id", None)
    for when in ("created_at", "updated_at"):
        found[when] = int(found[when].timestamp() * 1000)
    return found


class Customers:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def put(
        self, rid: str, command_id: str, by: str, fields: dict[str, Any], customer_id: str | None, version: int | None
    ) -> dict[str, Any]:
        """Add a customer, or change one (``version``: the one it was loaded at); the customer as stored."""
        now = datetime.now(UTC)
        values = {
            "name": fields["name"],
            "phones": sorted({digits(p) for p in fields["phones"] if digits(p)}),
            "addresses": fields["addresses"],
            "notes": fields["notes"],
            "updated_at": now,
            "updated_by": by,
        }
        if not values["phones"]:
            raise DomainError(ErrorCode.INVALID_COMMAND, "a customer needs a phone number with digits in it")
        key = customer_id or f"{rid}.c{hashlib.sha256(command_id.encode()).hexdigest()[:12]}"
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(
                    select(CustomerRow.version).where(CustomerRow.restaurant_id == rid, CustomerRow.id == key)
                )
            ).scalar()
            if current is None:
                if customer_id is not None:
                    raise DomainError(ErrorCode.NOT_FOUND, f"no customer {customer_id!r}")
                await conn.execute(  # a twin of this command inserting at the same moment: the first row stands
                    insert(CustomerRow)
                    .values(id=key, restaurant_id=rid, created_at=now, version=1, **values)
                    .on_conflict_do_nothing(index_elements=[CustomerRow.id])
                )
            elif customer_id is None:
                pass  # a resend of the command that added it: the first write stands
            else:
                if version is not None and version != current:
                    raise DomainError(
                        ErrorCode.VERSION_CONFLICT,
                        f"the customer changed since you loaded it (now version {current}); reload and try again",
                        {"version": current},
                    )
                await conn.execute(
                    update(CustomerRow)
                    .where(CustomerRow.restaurant_id == rid, CustomerRow.id == key)
                    .values(version=current + 1, **values)
                )
            row = (
                await conn.execute(select(CustomerRow).where(CustomerRow.restaurant_id == rid, CustomerRow.id == key))
            ).first()
        assert row is not None
        return stored(row)

    async def lookup(self, rid: str, phone: str | None, text: str | None) -> list[dict[str, Any]]:
        """Customers with this phone number (its digits), or whose name or number contains ``text``."""
        conditions: list[Any] = []
        if phone:
            wanted = digits(phone)
            conditions.append(CustomerRow.phones.contains([wanted]))
            if len(wanted) >= SHORTEST_NUMBER:  # with or without the country code, either way round
                conditions.append(_SAME_NUMBER.bindparams(wanted=wanted, shortest=SHORTEST_NUMBER))
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(CustomerRow.name.ilike(f"%{escaped}%", escape="\\"))
            if digits(text):
                conditions.append(func.array_to_string(CustomerRow.phones, " ").contains(digits(text)))
        if not conditions:
            raise DomainError(ErrorCode.INVALID_COMMAND, "give phone= or q= (part of a name or number)")
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(CustomerRow)
                .where(CustomerRow.restaurant_id == rid, or_(*conditions))
                .order_by(CustomerRow.updated_at.desc())
                .limit(LOOKUP_LIMIT)
            )
            return [stored(row) for row in rows]
