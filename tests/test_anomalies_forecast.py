"""The anomalies and the forecast against the real hub and Postgres: weeks of planted books, read by a manager."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fireflow.hub.domain.actors import Role
from tests.conftest import RunningHub
from tests.planted_history import DINNER, GRILL_S, LUNCH, WEEKS, Books, plant


async def test_a_manager_reads_the_planted_anomalies_in_words(hub: RunningHub) -> None:
    """Yesterday's thin lunch, slow grill, Asha's discounts and Mina's refunds come back as anomalies."""
    yesterday, _ = await plant(hub)
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
    yesterday, _ = await plant(hub)
    async with hub.http(Role.MANAGER, device="manager-1") as manager:
        day = (yesterday - timedelta(days=1)).isoformat()
        body = (await manager.get("/api/v1/stats/anomalies", params={"day": day})).json()
    assert body["anomalies"] == [] and body["history_days"] == 7 * WEEKS - 1


async def test_the_forecast_finds_the_dinner_peak_and_cooks_for_it(hub: RunningHub) -> None:
    """Six weeks of lunches and dinners forecast the coming days' peaks at 20:00, with grill cooks."""
    _, zone = await plant(hub)
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
