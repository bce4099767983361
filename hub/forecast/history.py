"""The books read for the anomalies and the forecast: the thin I/O around ``anomalies.py`` and ``demand.py``.

Everything comes from Postgres, so today and the weeks before it are read alike: the events table
(orders fired, items started and done, orders ready, the last snapshot of each order for its
discounts, and which devices worked a day), the invoices (takings by hour) and the audit log
(refunds and voids, by whom). Each query is bounded by ``committed_at`` (or ``created_at``, ``at``)
over :data:`HISTORY_DAYS`, so it touches only that many months of the events' partitions.

Hours and days are the restaurant's (``Restaurant.timezone``). Staff are devices: the device that
gave a discount (``Discount.by``), ran a refund or void (the audit row's actor), and worked the day
(opened, fired or took payment for an order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.money import percent_of
from fireflow.hub.forecast import anomalies, demand

__all__ = ["HISTORY_DAYS", "Kitchen", "anomalies_of", "forecast_of", "kitchen"]

HISTORY_DAYS = 56  # eight weeks: enough same weekdays to judge an hour, short enough to follow a new menu

_FIRED = text(
    "SELECT data->'order'->>'id' AS order_id, min((data->'order'->>'number')::int) AS number, "
    "min(committed_at) AS at FROM events WHERE restaurant_id = :rid AND type = 'ORDER_FIRED' "
    "AND committed_at >= :start AND committed_at < :end GROUP BY 1"
)
_READY = text(
    "SELECT data->>'order_id' AS order_id, min(committed_at) AS at FROM events WHERE restaurant_id = :rid "
    "AND type = 'ORDER_READY' AND committed_at >= :start AND committed_at < :end GROUP BY 1"
)
_CANCELLED = text(
    "SELECT DISTINCT data->>'order_id' AS order_id FROM events WHERE restaurant_id = :rid "
    "AND type = 'ORDER_CANCELLED' AND committed_at >= :start AND committed_at < :end"
)
_ITEMS = text(
    "SELECT data->>'order_id' AS order_id, data->>'line_id' AS line_id, data->>'station' AS station, "
    "min(committed_at) FILTER (WHERE data->>'status' = 'PREPARING') AS started, "
    "max(committed_at) FILTER (WHERE data->>'status' = 'DONE') AS done "
    "FROM events WHERE restaurant_id = :rid AND type = 'ITEM_STATUS_CHANGED' "
    "AND committed_at >= :start AND committed_at < :end GROUP BY 1, 2, 3"
)
_SNAPSHOTS = text(
    "SELECT DISTINCT ON (data->'order'->>'id') committed_at AS at, data->'order'->'discounts' AS discounts, "
    "data->'order'->'items' AS items FROM events WHERE restaurant_id = :rid "
    "AND type IN ('ORDER_OPENED', 'ORDER_UPDATED', 'ORDER_FIRED') "
    "AND committed_at >= :start AND committed_at < :end "
    "ORDER BY data->'order'->>'id', committed_at DESC, \"offset\" DESC"
)
_WORKED = text(
    "SELECT DISTINCT device, date_trunc('hour', committed_at) AS at FROM events WHERE restaurant_id = :rid "
    "AND type IN ('ORDER_OPENED', 'ORDER_FIRED', 'PAYMENT_RECORDED') AND device <> '' "
    "AND committed_at >= :start AND committed_at < :end"
)
_TAKINGS = text(
    "SELECT created_at AS at, total FROM invoices WHERE restaurant_id = :rid AND status <> 'VOIDED' "
    "AND created_at >= :start AND created_at < :end"
)
_BACKS = text(
    "SELECT a.actor, a.at, a.action, COALESCE((a.details->>'amount')::bigint, i.total, 0) AS amount "
    "FROM audit_log a LEFT JOIN invoices i ON i.id = a.entity_id AND a.action = 'VOIDED' "
    "WHERE a.restaurant_id = :rid AND a.action IN ('REFUNDED', 'VOIDED') AND a.at >= :start AND a.at < :end"
)


@dataclass(frozen=True, slots=True)
class Kitchen:
    """What the kitchen's lines cost, from the events: seconds a line (median start to done) and lines an
    order, per station."""

    prep_s: Mapping[str, float]
    lines_per_order: Mapping[str, float]


def _local_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz)


async def _rows(engine: AsyncEngine, query: Any, rid: str, start: datetime, end: datetime) -> Sequence[Any]:
    async with engine.connect() as conn:
        return (await conn.execute(query, {"rid": rid, "start": start, "end": end})).all()


async def _durations(
    engine: AsyncEngine, rid: str, start: datetime, end: datetime, tz: ZoneInfo, now: datetime
) -> dict[date, list[anomalies.Duration]]:
    """Each order's fire-to-ready seconds (subject ``order``) and fire-to-done at each station, by local day.

    When the books run up to ``now`` (today is asked), an order fired today, not ready and not cancelled
    is still waiting: it counts with the time it has waited so far (the slowest are the ones still out).
    """
    fired = {r.order_id: r for r in await _rows(engine, _FIRED, rid, start, end) if r.order_id}
    ready = {r.order_id: r.at for r in await _rows(engine, _READY, rid, start, end)}
    station_done: dict[tuple[str, str], datetime] = {}
    for r in await _rows(engine, _ITEMS, rid, start, end):
        if r.done is not None and r.station:
            key = (r.order_id, r.station)
            station_done[key] = max(station_done.get(key, r.done), r.done)
    live_since = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0) if end >= now else None
    cancelled = {r.order_id for r in await _rows(engine, _CANCELLED, rid, start, end)} if live_since else set()
    found: dict[date, list[anomalies.Duration]] = {}
    for order_id, f in fired.items():
        day, number = f.at.astimezone(tz).date(), f.number or 0
        if order_id in ready and ready[order_id] > f.at:
            seconds = (ready[order_id] - f.at).total_seconds()
            found.setdefault(day, []).append(anomalies.Duration("order", seconds, order_id, number))
        elif live_since is not None and f.at >= live_since and order_id not in ready and order_id not in cancelled:
            waited = (now - f.at).total_seconds()
            found.setdefault(day, []).append(anomalies.Duration("order", waited, order_id, number, waiting=True))
    for (order_id, station), done in station_done.items():
        f = fired.get(order_id)
        if f is not None and done > f.at:
            duration = anomalies.Duration(station, (done - f.at).total_seconds(), order_id, f.number or 0)
            found.setdefault(f.at.astimezone(tz).date(), []).append(duration)
    return found


async def _takings(
    engine: AsyncEngine, rid: str, start: datetime, end: datetime, tz: ZoneInfo
) -> dict[date, dict[int, int]]:
    found: dict[date, dict[int, int]] = {}
    for r in await _rows(engine, _TAKINGS, rid, start, end):
        local = r.at.astimezone(tz)
        hours = found.setdefault(local.date(), {})
        hours[local.hour] = hours.get(local.hour, 0) + int(r.total)
    return found


def _discount_amount(discount: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> int:
    """A discount in minor units: an amount as given, a percent of its line's (or the order's) gross."""
    value = int(discount.get("value") or 0)
    if discount.get("kind") != "PERCENT":
        return value
    line = discount.get("line_id")
    gross = sum(
        int(i.get("unit_price") or 0) * int(i.get("quantity") or 0)
        for i in items
        if line is None or i.get("id") == line
    )
    return percent_of(gross, value)


async def _staff_days(
    engine: AsyncEngine, rid: str, start: datetime, end: datetime, tz: ZoneInfo
) -> list[anomalies.StaffDay]:
    """Every (device, local day) that worked or gave a discount, refund or void, with its counts."""
    counts: dict[tuple[str, date], dict[str, int]] = {}

    def add(staff: str, at: datetime, what: str = "", amount: int = 0) -> None:
        row = counts.setdefault((staff, at.astimezone(tz).date()), {})
        if what:
            row[what] = row.get(what, 0) + 1
            row[what[:-1] + "_amount"] = row.get(what[:-1] + "_amount", 0) + amount

    for r in await _rows(engine, _WORKED, rid, start, end):
        add(r.device, r.at)
    for r in await _rows(engine, _SNAPSHOTS, rid, start, end):
        items = r.items if isinstance(r.items, list) else []
        for discount in r.discounts if isinstance(r.discounts, list) else []:
            if isinstance(discount, dict) and discount.get("by"):
                add(str(discount["by"]), r.at, "discounts", _discount_amount(discount, items))
    for r in await _rows(engine, _BACKS, rid, start, end):
        add(r.actor, r.at, "refunds" if r.action == "REFUNDED" else "voids", int(r.amount))
    return [anomalies.StaffDay(staff, day, **row) for (staff, day), row in sorted(counts.items())]


async def anomalies_of(
    engine: AsyncEngine,
    rid: str,
    day: date,
    now: datetime,
    tz: ZoneInfo,
    currency: str,
    digits: int | None,
    names: Mapping[str, str],
) -> tuple[anomalies.Findings, int]:
    """The anomalies of ``day`` against the :data:`HISTORY_DAYS` before it, and how many of those days
    traded (had an invoice). Today's hours are judged once finished; a past day's all are."""
    start = _local_start(day - timedelta(days=HISTORY_DAYS), tz)
    day_start, day_end = _local_start(day, tz), _local_start(day + timedelta(days=1), tz)
    end = min(day_end, now) if day_start <= now else day_end
    durations = await _durations(engine, rid, start, end, tz, now)
    earlier = [d for when, found in durations.items() if when < day for d in found]
    takings = await _takings(engine, rid, start, end, tz)
    history = {when: hours for when, hours in takings.items() if when < day}
    local_now = now.astimezone(tz)
    if day < local_now.date():
        finished: range = range(24)
    elif day == local_now.date():
        finished = range(local_now.hour)
    else:
        finished = range(0)
    staff = await _staff_days(engine, rid, start, end, tz)
    when = "today" if day == local_now.date() else f"on {day.isoformat()}"
    findings = (
        anomalies.takings_below_curve(day, takings.get(day, {}), history, finished, currency, digits)
        + anomalies.slow_orders(earlier, durations.get(day, []), when)
        + anomalies.staff_outliers(
            day,
            [s for s in staff if s.day < day],
            [s for s in staff if s.day == day],
            names,
            currency,
            digits,
            when,
        )
    )
    return findings, len(history)


async def kitchen(engine: AsyncEngine, rid: str, start: datetime, end: datetime, orders: int | None = None) -> Kitchen:
    """Each station's median seconds a line (started to done) and lines an order (lines done over the
    ``orders`` fired, counted here when not given)."""
    if orders is None:
        orders = len(await _rows(engine, _FIRED, rid, start, end))
    prep: dict[str, list[float]] = {}
    lines: dict[str, int] = {}
    for r in await _rows(engine, _ITEMS, rid, start, end):
        if r.done is None or not r.station:
            continue
        lines[r.station] = lines.get(r.station, 0) + 1
        if r.started is not None and r.done > r.started:
            prep.setdefault(r.station, []).append((r.done - r.started).total_seconds())
    prep_s = {station: anomalies.robust(seconds)[0] for station, seconds in prep.items()}
    per_order = {station: count / orders for station, count in lines.items() if orders and station in prep_s}
    return Kitchen(prep_s, per_order)


async def forecast_of(engine: AsyncEngine, rid: str, now: datetime, tz: ZoneInfo, days: int) -> dict[str, Any]:
    """The read ``/stats/forecast``: orders per hour from the next hour to the end of the ``days``-th day
    after today (the rest of today, then whole days), each day's peak and the cooks per station each hour,
    from the orders fired in the :data:`HISTORY_DAYS` before now."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = hour - timedelta(days=HISTORY_DAYS)
    fired = await _rows(engine, _FIRED, rid, start, hour)
    counts: dict[datetime, int] = {}
    for r in fired:
        at = r.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        counts[at] = counts.get(at, 0) + 1
    first = min(counts, default=hour)
    series = [
        float(counts.get(first + timedelta(hours=h), 0)) for h in range(int((hour - first).total_seconds()) // 3600)
    ]
    # The hour under way is forecast too (its orders so far are not a whole hour) and left out of the answer,
    # which runs to the end of the restaurant's day ``days`` after today: tonight, then whole days.
    found = demand.forecast_orders(series, hour, days + 2)
    last = _local_start(now.astimezone(tz).date() + timedelta(days=days + 1), tz)
    ahead = demand.Forecast(tuple(h for h in found.hours[1:] if h.at < last), found.method, found.history_hours)
    lines = await kitchen(engine, rid, start, hour, len(fired))
    plan = demand.staffing(ahead, lines.prep_s, lines.lines_per_order)
    return {
        "hours": [
            {"at": h.at.astimezone(tz).isoformat(), "orders": h.orders, "low": h.low, "high": h.high}
            for h in ahead.hours
        ],
        "peaks": [
            {"day": p.day, "hour": p.hour, "orders": p.orders, "cooks": dict(p.cooks), "message": p.message}
            for p in demand.peaks(ahead, tz, lines.prep_s, lines.lines_per_order)
        ],
        "staffing": [{"at": at.astimezone(tz).isoformat(), "cooks": cooks} for at, cooks in plan],
        "method": found.method,
        "history_days": len({at.astimezone(tz).date() for at in counts}),
    }
