"""Weeks of books planted in Postgres as the durable writer and settlement would leave them, for the reads of
the anomalies and the forecast (tests/test_anomalies_forecast.py, tests/test_browser_dashboard.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.schema.tables import AuditRow, EventRow, InvoiceRow
from tests.conftest import RunningHub

__all__ = ["DINNER", "GRILL_S", "LUNCH", "WEEKS", "Books", "local_at", "ordinary_day", "plant"]

WEEKS = 6
LUNCH, DINNER = 12, 20  # the hours orders come in: 4 at lunch, 8 at dinner, every day
GRILL_S = 600  # a grill line's usual seconds from start to done


class Books:
    """Rows as the durable writer and settlement would leave them, for one restaurant, in bulk."""

    def __init__(self, rid: str, zone: ZoneInfo) -> None:
        self.rid, self.zone = rid, zone
        self.events: list[dict[str, Any]] = []
        self.invoices: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []
        self.offsets = itertools.count(1)
        self.numbers = itertools.count(1)

    def _event(self, kind: str, at: datetime, data: dict[str, Any], order_id: str, device: str = "") -> None:
        self.events.append(
            {
                "restaurant_id": self.rid,
                "epoch": "planted",
                "offset": next(self.offsets),
                "type": kind,
                "channels": ["orders"],
                "data": data,
                "committed_at": at,
                "device": device,
                "order_ids": [order_id],
            }
        )

    def order(
        self,
        fired: datetime,
        *,
        by: str,
        grill_s: float = GRILL_S,
        discount_by: str | None = None,
        invoiced: bool = True,
    ) -> None:
        """An order fired at ``fired`` by ``by``: one grill line started a minute later, ready when done."""
        number = next(self.numbers)
        order_id = f"{self.rid}-o{number}"
        discounts = [{"id": "d1", "kind": "AMOUNT", "value": 150_00, "by": discount_by}] if discount_by else []
        items = [{"id": "l1", "station": "grill", "unit_price": 500_00, "quantity": 1}]
        snapshot = {"order": {"id": order_id, "number": number, "items": items, "discounts": discounts}}
        self._event("ORDER_FIRED", fired, snapshot, order_id, by)
        started, done = fired + timedelta(seconds=60), fired + timedelta(seconds=60 + grill_s)
        for status, at in (("PREPARING", started), ("DONE", done)):
            line = {"order_id": order_id, "line_id": "l1", "station": "grill", "status": status}
            self._event("ITEM_STATUS_CHANGED", at, line, order_id, "kds-grill")
        self._event("ORDER_READY", done, {"order_id": order_id}, order_id, "kds-grill")
        if invoiced:
            self.invoice(order_id, number, fired + timedelta(minutes=20), by)

    def waiting(self, fired: datetime, by: str) -> None:
        """An order fired at ``fired`` that nobody has made yet."""
        number = next(self.numbers)
        order_id = f"{self.rid}-o{number}"
        snapshot = {"order": {"id": order_id, "number": number, "items": [], "discounts": []}}
        self._event("ORDER_FIRED", fired, snapshot, order_id, by)

    def invoice(self, order_id: str, number: int, at: datetime, by: str, total: int = 500_00) -> None:
        self.invoices.append(
            {
                "id": f"{order_id}-inv",
                "restaurant_id": self.rid,
                "number": number,
                "settlement_key": f"{order_id}-pay",
                "business_day": at.astimezone(self.zone).date(),
                "status": "ISSUED",
                "currency": "INR",
                "gross": total,
                "discount": 0,
                "service_charge": 0,
                "tax": 0,
                "total": total,
                "created_by": by,
                "created_at": at,
                "bill": {},
            }
        )

    def refund(self, at: datetime, by: str, amount: int) -> None:
        details = {"amount": amount, "method": "CASH", "reason": "cold", "approved_by": "manager-1"}
        row = {"restaurant_id": self.rid, "at": at, "actor": by, "role": "CASHIER", "action": "REFUNDED"}
        self.audit.append(row | {"entity": "invoice", "entity_id": "x", "details": details})

    async def write(self, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(EventRow), self.events)
            await conn.execute(insert(InvoiceRow), self.invoices)
            if self.audit:
                await conn.execute(insert(AuditRow), self.audit)


def local_at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def ordinary_day(books: Books, day: date) -> None:
    """Four lunch orders and eight dinner orders, shared by two waiters who each give a discount."""
    for n in range(4):
        books.order(local_at(day, LUNCH, 5 + 8 * n, books.zone), by=("pos-asha", "pos-ravi")[n % 2])
    for n in range(8):
        discount_by = {0: "pos-asha", 1: "pos-ravi"}.get(n)
        books.order(
            local_at(day, DINNER, 3 + 7 * n, books.zone), by=("pos-asha", "pos-ravi")[n % 2], discount_by=discount_by
        )


async def plant(hub: RunningHub) -> tuple[date, ZoneInfo]:
    """Six weeks of ordinary days before yesterday; yesterday a thin lunch, a slow grill, Asha's discounts
    and Mina's refunds. Today is left as it is."""
    restaurant = await hub.hub.store.restaurant(hub.rid)
    zone = ZoneInfo(restaurant.timezone)
    today = datetime.now(UTC).astimezone(zone).date()
    yesterday = today - timedelta(days=1)
    books = Books(hub.rid, zone)
    for back in range(1, 7 * WEEKS + 1):
        ordinary_day(books, yesterday - timedelta(days=back))
    books.order(local_at(yesterday, LUNCH, 10, zone), by="pos-ravi")  # one lunch order of the usual four
    for n in range(8):
        slow = GRILL_S * 4 if n in (2, 5, 6) else GRILL_S
        books.order(local_at(yesterday, DINNER, 3 + 7 * n, zone), by="pos-ravi", grill_s=slow)
    for n in range(9):  # Asha's nine discounted orders, fired after dinner and paid for at the next day's open
        books.order(local_at(yesterday, 22, 2 + 3 * n, zone), by="pos-asha", discount_by="pos-asha", invoiced=False)
    for n in range(4):
        books.refund(local_at(yesterday, 21, 10 + n, zone), "pos-mina", 120_00)
    books.order(local_at(yesterday, 21, 30, zone), by="pos-mina", invoiced=False)  # Mina worked the day
    await books.write(hub.hub.engine)
    return yesterday, zone
