"""The anomalies and the forecast against the real hub and Postgres: weeks of planted books, read by a manager."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.actors import Role
from fireflow.schema.tables import AuditRow, EventRow, InvoiceRow
from tests.conftest import RunningHub

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


def _at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def _ordinary_day(books: Books, day: date) -> None:
    """Four lunch orders and eight dinner orders, shared by two waiters who each give a discount."""
    for n in range(4):
        books.order(_at(day, LUNCH, 5 + 8 * n, books.zone), by=("pos-asha", "pos-ravi")[n % 2])
    for n in range(8):
        discount_by = {0: "pos-asha", 1: "pos-ravi"}.get(n)
        books.order(
            _at(day, DINNER, 3 + 7 * n, books.zone), by=("pos-asha", "pos-ravi")[n % 2], discount_by=discount_by
        )


async def _plant(hub: RunningHub) -> tuple[date, ZoneInfo]:
    """Six weeks of ordinary days before yesterday; yesterday a thin lunch, a slow grill, Asha's discounts
    and Mina's refunds. Today is left as it is."""
    restaurant = await hub.hub.store.restaurant(hub.rid)
    zone = ZoneInfo(restaurant.timezone)
    today = datetime.now(UTC).astimezone(zone).date()
    yesterday = today - timedelta(days=1)
    books = Books(hub.rid, zone)
    for back in range(1, 7 * WEEKS + 1):
        _ordinary_day(books, yesterday - timedelta(days=back))
    books.order(_at(yesterday, LUNCH, 10, zone), by="pos-ravi")  # one lunch order of the usual four
    for n in range(8):
        slow = GRILL_S * 4 if n in (2, 5, 6) else GRILL_S
        books.order(_at(yesterday, DINNER, 3 + 7 * n, zone), by="pos-ravi", grill_s=slow)
    for n in range(9):  # Asha's nine discounted orders, fired after dinner and paid for at the next day's open
        books.order(_at(yesterday, 22, 2 + 3 * n, zone), by="pos-asha", discount_by="pos-asha", invoiced=False)
    for n in range(4):
        books.refund(_at(yesterday, 21, 10 + n, zone), "pos-mina", 120_00)
    books.order(_at(yesterday, 21, 30, zone), by="pos-mina", invoiced=False)  # Mina worked the day
    await books.write(hub.hub.engine)
    return yesterday, zone


async def test_a_manager_reads_the_planted_anomalies_in_words(hub: RunningHub) -> None:
    """Yesterday's thin lunch, slow grill, Asha's discounts and Mina's refunds come back as anomalies."""
    yesterday, _ = await _plant(hub)
    async with hub.http(Role.MANAGER, device="manager-1") as manager:
        answer = await manager.get("/api/v1/stats/anomalies", params={"day": yesterday.isoformat()})
        assert answer.status_code == 200, answer.text
        body = answer.json()
    assert body["day"] == yesterday.isoformat() and body["history_days"] == 7 * WEEKS
    found = {(a["kind"], a["subject"]): a for a in body["anomalies"]}
    lunch = found[("TAKINGS_BELOW_CURVE", "12:00\u201313:00")]
    weekday = yesterday.strftime("%A")
    assert lunch["message"] == (
        f"Takings 12:00\u201313:00 are ₹500, about 75% below a usual {weekday} at this hour (₹2,000 ±₹0, from 6 weeks)"
    )
    assert lunch["figures"] == {"hour": 12, "takings": 500_00, "usual": 2_000_00, "spread": 0, "below_pct": 75} | {
        "weeks": WEEKS
    }
    grill = found[("SLOW_ORDERS", "grill")]
    assert grill["message"].startswith("3 of 19 orders at the grill station took much longer than usual on ")
    assert grill["figures"]["slowest_s"] == GRILL_S * 4 + 60 and grill["figures"]["usual_s"] == GRILL_S + 60
    asha = found[("STAFF_DISCOUNTS", "pos-asha")]
    assert asha["message"].startswith(f"pos-asha gave 9 discounts on {yesterday.isoformat()} (₹1,350), against 1 ")
    assert asha["figures"]["count"] == 9 and asha["figures"]["amount"] == 9 * 150_00
    mina = found[("STAFF_REFUNDS", "pos-mina")]
    assert mina["figures"] == {
        "count": 4,
        "amount": 480_00,
        "usual": 0,
        "limit": 2.0,
        "peers": 2 * 7 * WEEKS + 2,
    }  # Asha and Ravi, then and that day
    assert {a["kind"] for a in body["anomalies"]} <= {"TAKINGS_BELOW_CURVE", "SLOW_ORDERS", "STAFF_DISCOUNTS"} | {
        "STAFF_REFUNDS"
    }
    assert all(a["severity"] in ("medium", "high") for a in body["anomalies"])


async def test_an_ordinary_day_raises_nothing(hub: RunningHub) -> None:
    """The day before yesterday, as ordinary as the weeks before it, raises no anomaly."""
    yesterday, _ = await _plant(hub)
    async with hub.http(Role.MANAGER, device="manager-1") as manager:
        day = (yesterday - timedelta(days=1)).isoformat()
        body = (await manager.get("/api/v1/stats/anomalies", params={"day": day})).json()
    assert body["anomalies"] == [] and body["history_days"] == 7 * WEEKS - 1


async def test_the_forecast_finds_the_dinner_peak_and_cooks_for_it(hub: RunningHub) -> None:
    """Six weeks of lunches and dinners forecast the coming days' peaks at 20:00, with grill cooks."""
    _, zone = await _plant(hub)
    async with hub.http(Role.MANAGER, device="manager-1") as manager:
        answer = await manager.get("/api/v1/stats/forecast", params={"days": 2})
        assert answer.status_code == 200, answer.text
        body = answer.json()
    local_now = datetime.now(UTC).astimezone(zone)
    rest_of_today = 23 - local_now.hour
    assert len(body["hours"]) == 48 + rest_of_today and len(body["staffing"]) == len(body["hours"])
    last = datetime.fromisoformat(body["hours"][-1]["at"])
    assert (last.date(), last.hour) == (local_now.date() + timedelta(days=2), 23)
    assert body["method"].startswith("river HoltWinters") and "weekly" in body["method"]
    assert body["history_days"] == 7 * WEEKS + 1
    first = datetime.fromisoformat(body["hours"][0]["at"])
    assert first > datetime.now(UTC) - timedelta(hours=1) and first.minute == 0
    assert all(0 <= h["low"] <= h["orders"] <= h["high"] for h in body["hours"])
    assert {p["hour"] for p in body["peaks"]} <= {LUNCH, DINNER} and len(body["peaks"]) >= 2
    top = max(body["peaks"], key=lambda p: p["orders"])
    assert top["hour"] == DINNER and 3 <= top["orders"] <= 14
    assert top["message"].startswith(f"{date.fromisoformat(top['day']):%A} 20:00\u201321:00: about ")
    assert top["cooks"]["grill"] >= 1 and "grill " in top["message"]
    dinner = next(s for s in body["staffing"] if datetime.fromisoformat(s["at"]).astimezone(zone).hour == DINNER)
    night = next(s for s in body["staffing"] if datetime.fromisoformat(s["at"]).astimezone(zone).hour == 4)
    assert dinner["cooks"]["grill"] >= 1 and night["cooks"] == {"grill": 0}


async def test_orders_still_waiting_today_are_slow_orders(hub: RunningHub) -> None:
    """Today, orders fired long ago and not ready yet count as slow, the slowest said to be still waiting."""
    restaurant = await hub.hub.store.restaurant(hub.rid)
    zone = ZoneInfo(restaurant.timezone)
    now = datetime.now(UTC).astimezone(zone)
    books = Books(hub.rid, zone)
    for back in range(1, 31):  # a month of quick orders: a minute and a second from fire to ready
        books.order(now - timedelta(days=back), by="pos-ravi", grill_s=1)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    early = max(now - timedelta(minutes=10), midnight)  # the first minutes of a day can only wait that long
    for n in range(5):
        books.order(max(now - timedelta(minutes=3 + n), midnight), by="pos-ravi", grill_s=1)
    for n in range(2):
        books.waiting(early + timedelta(seconds=n), by="pos-ravi")
    await books.write(hub.hub.engine)
    async with hub.http(Role.MANAGER, device="manager-1") as manager:
        body = (await manager.get("/api/v1/stats/anomalies")).json()
    slow = next(a for a in body["anomalies"] if a["kind"] == "SLOW_ORDERS" and a["subject"] == "order")
    assert slow["message"].startswith("2 of 7 orders at the pass (whole orders) took much longer than usual today; ")
    assert "is still waiting after" in slow["message"]
    assert slow["figures"]["waiting"] == 2 and slow["figures"]["slowest_waiting"] is True
    assert slow["figures"]["usual_s"] == 61.0


async def test_who_may_read_and_what_is_refused(hub: RunningHub) -> None:
    """A waiter is refused (403 FORBIDDEN); a bad day or days is 400 INVALID_FRAME; no history is said so."""
    async with hub.http(Role.WAITER) as waiter:
        for path in ("/api/v1/stats/anomalies", "/api/v1/stats/forecast"):
            refused = await waiter.get(path)
            assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN", path
    async with hub.http(Role.MANAGER, device="manager-1") as manager:
        for path, params in (
            ("/api/v1/stats/anomalies", {"day": "1/2/2026"}),
            ("/api/v1/stats/forecast", {"days": "0"}),
            ("/api/v1/stats/forecast", {"days": "8"}),
            ("/api/v1/stats/forecast", {"days": "three"}),
            ("/api/v1/stats/forecast", {"days": "\u00b2"}),  # a digit to str.isdigit, not to int()
        ):
            bad = await manager.get(path, params=params)
            assert bad.status_code == 400 and bad.json()["code"] == "INVALID_FRAME", params
        empty = (await manager.get("/api/v1/stats/forecast")).json()
        assert empty["hours"] == [] and empty["peaks"] == [] and empty["history_days"] == 0
        assert empty["method"].startswith("not enough history")
        today = (await manager.get("/api/v1/stats/anomalies")).json()
        assert today["anomalies"] == [] and today["history_days"] == 0
        assert any(note.startswith("Takings not judged: 0 earlier") for note in today["notes"])
