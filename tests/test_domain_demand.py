"""The demand forecast and the cooks it calls for, without servers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fireflow.hub.forecast.demand import cooks_needed, forecast_orders, peaks, staffing

KOLKATA = ZoneInfo("Asia/Kolkata")
MONDAY = datetime(2026, 11, 2, tzinfo=KOLKATA)  # the history starts on a Monday at midnight, local
PREP = {"grill": 600.0, "fry": 300.0, "bar": 90.0}
LINES = {"grill": 1.2, "fry": 0.8, "bar": 0.5}


def usual(weekday: int, hour: int) -> float:
    """Lunch and dinner, a quiet rest of the day, closed at night; Friday dinner half as busy again."""
    base = {12: 20, 13: 25, 19: 30, 20: 40, 21: 25}.get(hour, 2 if 11 <= hour <= 22 else 0)
    return base * (1.3 if weekday == 4 else 1.0)


def weeks_of(weeks: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    found = []
    for day in range(7 * weeks):
        for hour in range(24):
            rate = usual(day % 7, hour)
            found.append(float(max(0, round(rate + rng.gauss(0, 2)))) if rate else 0.0)  # closed: no orders
    return found


def test_a_clean_weekly_pattern_gives_back_its_peak_hour() -> None:
    """Six weeks of a weekly shape: the week ahead peaks on Friday 20:00 at about 52 orders, within its interval."""
    start = MONDAY + timedelta(weeks=6)
    found = forecast_orders(weeks_of(6), start, days=7)
    assert len(found.hours) == 7 * 24 and found.hours[0].at == start and found.history_hours == 6 * 168
    assert found.method.startswith("river HoltWinters") and "weekly" in found.method
    top = max(found.hours, key=lambda h: h.orders)
    assert (top.at.astimezone(KOLKATA).strftime("%A"), top.at.astimezone(KOLKATA).hour) == ("Friday", 20)
    assert 42 <= top.orders <= 62 and top.low <= 52 <= top.high
    for hour in found.hours:
        assert 0 <= hour.low <= hour.orders <= hour.high
        local = hour.at.astimezone(KOLKATA)
        assert abs(hour.orders - usual(local.weekday(), local.hour)) < 12


def test_each_day_has_its_peak_in_words_with_cooks() -> None:
    """Every forecast day's busiest hour is dinner at 20:00, said with the orders, interval and cooks."""
    start = MONDAY + timedelta(weeks=6)
    found = forecast_orders(weeks_of(6), start, days=7)
    days = peaks(found, KOLKATA, PREP, LINES)
    assert [p.day for p in days] == [(start + timedelta(days=d)).date().isoformat() for d in range(7)]
    assert {p.hour for p in days} == {20}
    friday = next(p for p in days if p.day == "2026-12-18")
    assert friday.message.startswith(f"Friday 20:00\u201321:00: about {round(friday.orders)} orders (")
    assert friday.cooks["grill"] >= 4 and "grill " in friday.message and friday.cooks["bar"] >= 1


def test_a_closed_day_has_no_peak() -> None:
    """A restaurant closed on Sundays gets no Sunday peak, and no cooks that day."""
    closed = [0.0 if (i // 24) % 7 == 6 else orders for i, orders in enumerate(weeks_of(4))]
    found = forecast_orders(closed, MONDAY + timedelta(weeks=4), days=7)
    days = peaks(found, KOLKATA, PREP, LINES)
    assert len(days) == 6 and "2026-12-06" not in {p.day for p in days}  # the Sunday
    sunday = [cooks for at, cooks in staffing(found, PREP, LINES) if at.astimezone(KOLKATA).weekday() == 6]
    assert len(sunday) == 24 and all(set(c.values()) == {0} for c in sunday)


def test_little_history_falls_back_to_a_daily_season_then_to_nothing() -> None:
    """Three days give a daily season; a day alone gives no forecast and says so."""
    daily = forecast_orders(weeks_of(1)[: 3 * 24], MONDAY + timedelta(days=3), days=1)
    assert "daily" in daily.method and len(daily.hours) == 24
    assert max(daily.hours, key=lambda h: h.orders).at.astimezone(KOLKATA).hour == 20
    none = forecast_orders(weeks_of(1)[:24], MONDAY + timedelta(days=1))
    assert none.hours == () and none.method == "not enough history: 24 hours, two days needed"


def test_cooks_per_station_rise_with_the_load() -> None:
    """More orders need more cooks at every station; a closed hour needs nobody; an open one at least one."""
    quiet, busy = cooks_needed(5, PREP, LINES), cooks_needed(50, PREP, LINES)
    assert quiet == {"bar": 1, "fry": 1, "grill": 2}
    assert busy == {"bar": 1, "fry": 5, "grill": 13}  # 50 x 1.2 x 600 s = 10 h of grill work at 80%: 12.5
    for orders in range(1, 80):
        less, more = cooks_needed(orders, PREP, LINES), cooks_needed(orders + 1, PREP, LINES)
        assert all(more[s] >= less[s] for s in PREP)
    assert cooks_needed(0.2, PREP, LINES) == {"bar": 0, "fry": 0, "grill": 0}
    assert cooks_needed(10, PREP, LINES, utilisation=0.5)["grill"] > cooks_needed(10, PREP, LINES)["grill"]


def test_staffing_follows_the_forecast_hour_by_hour() -> None:
    """The staffing plan has one row per forecast hour, with more grill cooks at dinner than at 16:00."""
    found = forecast_orders(weeks_of(4), MONDAY + timedelta(weeks=4), days=1)
    plan = dict(staffing(found, PREP, LINES))
    at = {h.at.astimezone(KOLKATA).hour: h.at for h in found.hours}
    assert len(plan) == 24 and plan[at[20]]["grill"] > plan[at[16]]["grill"] and plan[at[3]]["grill"] == 0
    assert found.hours[0].at.tzinfo is not None and found.hours[0].at.astimezone(UTC).minute == 30  # IST: +5:30
