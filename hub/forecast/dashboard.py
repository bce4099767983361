"""The manager's dashboard in one read: prep times, queues, predicted against actual ready times, takings by hour.

``GET /api/v1/stats/dashboard`` answers what ``/manager``'s Dashboard draws (``clients/web/manager_dashboard.js``),
every 15 to 30 seconds while it is open, so it is one round of small reads: the open orders, the prep
statistics and the scored predictions from Redis, and the day's ledger grouped by quarter hour from Postgres
(``hub/books/takings.py``). Each section is a pure function of what was read (tested without servers);
``read_dashboard`` is the thin shell that reads and calls them.

The books are optional to the dashboard: with no Postgres configured, or Postgres not answering within
``BOOKS_TIMEOUT_S``, the kitchen's sections are still answered and ``books`` says why the takings are not
(``problems`` in plain words), so a manager sees what is wrong, not an empty chart.

Money is integer minor units. Times are seconds (``_s``) or epoch milliseconds (``at``, ``_ms``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.takings import SLOT_S, DayLedger, day_ledger
from fireflow.hub.domain.actors import ALL_STATIONS
from fireflow.hub.domain.billing import CUSTOMER_DEPOSITS, method_of
from fireflow.hub.domain.money import minor_digits
from fireflow.hub.forecast.accuracy import scored, summary
from fireflow.hub.live.store import PrepStat, Store
from fireflow.schema.records import ItemStatus, Order, Restaurant, StationSettings

__all__ = [
    "BOOKS_TIMEOUT_S",
    "RECENT",
    "dashboard",
    "prediction_pairs",
    "prep_by_station",
    "queues",
    "read_dashboard",
    "takings_by_hour",
]

logger = logging.getLogger(__name__)

RECENT = 30  # predicted against actual: the latest this many scored orders per station
_INVOICES = {"SALE": 1, "VOID": -1}  # the day's invoices: sales less voids, as ``Books.day_figures`` counts them
BOOKS_TIMEOUT_S = 3.0  # a dashboard refreshes often: Postgres slower than this is reported, not waited for


def _station_order(settings: Sequence[StationSettings], seen: Iterable[str]) -> list[str]:
    """The restaurant's stations in its own order, then any others the figures name (a station since removed);
    not the expo's settings (``*``, every station), which is no station of its own."""
    known = [s.id for s in settings if s.id != ALL_STATIONS]
    return known + sorted(set(seen) - set(known))


def _names(settings: Sequence[StationSettings]) -> dict[str, tuple[str, str]]:
    return {s.id: (s.name or s.id, s.colour) for s in settings}


def _weighted_quantile(values: Sequence[tuple[float, int]], q: float) -> float:
    """The value below which ``q`` of the weight lies: (value, weight) pairs, weights over zero."""
    ordered = sorted(values)
    total = sum(w for _, w in ordered)
    running = 0
    for value, weight in ordered:
        running += weight
        if running >= q * total:
            return value
    return ordered[-1][0]


def prep_by_station(stats: Sequence[PrepStat], settings: Sequence[StationSettings]) -> list[dict[str, Any]]:
    """Fire-to-done times per station over the hub's prep window (``Store.prep_stats``: seven days).

    The hub keeps a count, mean, min and max per item, not every line, so ``mean_s`` is exact (weighted by
    lines) while ``median_s`` and ``p90_s`` are over the items' mean times weighted by their lines: the
    time of a typical line's item, and of the slow items'. ``max_s`` is the slowest single line.
    """
    by_station: dict[str, list[PrepStat]] = {}
    for stat in stats:
        if stat.count > 0:
            by_station.setdefault(stat.station, []).append(stat)
    names = _names(settings)
    found = []
    for station in _station_order(settings, by_station):
        name, colour = names.get(station, (station, ""))
        items = by_station.get(station, [])
        lines = sum(s.count for s in items)
        row: dict[str, Any] = {"station": station, "name": name, "colour": colour, "lines": lines}
        if not lines:
            found.append(row | dict.fromkeys(("mean_s", "median_s", "p90_s", "max_s")))
            continue
        pairs = [(s.mean_ms / 1000, s.count) for s in items]
        found.append(
            row
            | {
                "mean_s": round(sum(s.mean_ms * s.count for s in items) / lines / 1000, 1),
                "median_s": round(_weighted_quantile(pairs, 0.5), 1),
                "p90_s": round(_weighted_quantile(pairs, 0.9), 1),
                "max_s": round(max(s.max_ms for s in items) / 1000, 1),
            }
        )
    return found


def queues(orders: Iterable[Order], settings: Sequence[StationSettings], now_ms: int) -> list[dict[str, Any]]:
    """Per station, the fired lines still waiting for a cook (PENDING), those being made (PREPARING), and how
    long the oldest waiting one has waited. Lines not fired (held courses) are not in a kitchen's queue yet."""
    waiting: dict[str, int] = {}
    preparing: dict[str, int] = {}
    oldest: dict[str, int] = {}
    for order in orders:
        for line in order.items:
            if not line.requires_prep or line.fired_at is None:
                continue
            if line.status is ItemStatus.PENDING:
                waiting[line.station] = waiting.get(line.station, 0) + 1
                oldest[line.station] = max(oldest.get(line.station, 0), now_ms - line.fired_at)
            elif line.status is ItemStatus.PREPARING:
                preparing[line.station] = preparing.get(line.station, 0) + 1
    names = _names(settings)
    return [
        {
            "station": station,
            "name": names.get(station, (station, ""))[0],
            "colour": names.get(station, (station, ""))[1],
            "waiting": waiting.get(station, 0),
            "preparing": preparing.get(station, 0),
            "oldest_waiting_s": round(oldest[station] / 1000) if station in oldest else None,
        }
        for station in _station_order(settings, {*waiting, *preparing})
    ]


def prediction_pairs(
    entries: Mapping[str, Sequence[Sequence[float]]], settings: Sequence[StationSettings], recent: int = RECENT
) -> list[dict[str, Any]]:
    """Per station, how good the predictions were (``accuracy.summary``: MAE, p90, bias, next to the naive
    guess's) and the latest ``recent`` scored orders' predicted and actual waits, fire to ready, oldest first.
    Scores kept before the waits were (three figures) count in the figures but have no pair to draw."""
    names = _names(settings)
    found = []
    for station in _station_order(settings, entries):
        kept = [list(e) for e in entries.get(station, ())]
        pairs = [e for e in kept if len(e) >= 5][:recent]
        found.append(
            summary(station, kept)
            | {
                "name": names.get(station, (station, ""))[0],
                "colour": names.get(station, (station, ""))[1],
                "recent": [{"at": int(e[2]), "predicted_s": e[3], "actual_s": e[4]} for e in reversed(pairs)],
            }
        )
    return found


def takings_by_hour(ledger: DayLedger, zone: ZoneInfo, through_ms: int | None = None) -> list[dict[str, Any]]:
    """The day's takings per local hour, by the same rule as the day's revenue (``Books.day_figures``): money
    into a tender account (``method_of``) and part payments still held (``CUSTOMER_DEPOSITS``), net of refunds
    and voids, so the hours add up to the day's takings exactly. ``invoices``: sales less voids posted that hour.

    Hours run from the first with a posting to the last, or to ``through_ms``'s hour (today: now), with the
    hours between at zero so a chart's bars stand at their times. No postings: an empty list.
    """
    takings: dict[int, int] = {}  # by the epoch second its local hour starts
    invoices: dict[int, int] = {}

    def hour_of(seconds: float) -> int:
        local = datetime.fromtimestamp(seconds, zone).replace(minute=0, second=0, microsecond=0)
        return int(local.timestamp())

    for slot, account, balance in ledger.balances:
        if method_of(account) is not None or account == CUSTOMER_DEPOSITS:
            hour = hour_of(slot * SLOT_S)
            takings[hour] = takings.get(hour, 0) + balance
    for slot, kind, n in ledger.kinds:
        if kind in _INVOICES:
            hour = hour_of(slot * SLOT_S)
            invoices[hour] = invoices.get(hour, 0) + _INVOICES[kind] * n
    hours = {*takings, *invoices}
    if not hours:
        return []
    last = max(hours) if through_ms is None else max(max(hours), hour_of(through_ms / 1000))
    found = []
    for at in range(min(hours), last + 1, 3600):  # in real hours: a day with a clock change has 23 or 25
        local = datetime.fromtimestamp(at, zone)
        found.append(
            {
                "hour": local.hour,
                "start": local.isoformat(),
                "takings": takings.get(at, 0),
                "invoices": invoices.get(at, 0),
            }
        )
    return found


def dashboard(
    restaurant: Restaurant,
    day: date,
    now_ms: int,
    *,
    orders: Iterable[Order],
    prep: Sequence[PrepStat],
    scores: Mapping[str, Sequence[Sequence[float]]],
    ledger: DayLedger | None,
    books: str,
) -> dict[str, Any]:
    """The whole answer, from what was read. ``ledger`` None: the takings could not be read (``books`` says why:
    ``not_configured`` or ``unavailable``); ``ok`` with an empty ``takings_by_hour``: no sales yet that day."""
    stations = restaurant.kitchen.stations
    zone = _zone(restaurant.timezone)
    today = datetime.fromtimestamp(now_ms / 1000, zone).date() == day
    hours = takings_by_hour(ledger, zone, now_ms if today else None) if ledger is not None else []
    problems = []
    if books == "not_configured":
        problems.append("No books (Postgres) are configured on this hub: takings by hour cannot be shown.")
    elif books == "unavailable":
        problems.append("The books (Postgres) are not answering: takings by hour cannot be shown just now.")
    return {
        "day": day.isoformat(),
        "at": now_ms,
        "timezone": restaurant.timezone,
        "currency": restaurant.currency,
        "minor_digits": minor_digits(restaurant.currency, restaurant.minor_digits),
        "books": books,
        "problems": problems,
        "prep": prep_by_station(prep, stations),
        "queues": queues(orders, stations, now_ms),
        "predictions": prediction_pairs(scores, stations),
        "takings_by_hour": hours,
        "takings": sum(h["takings"] for h in hours) if ledger is not None else None,
        "invoices": sum(h["invoices"] for h in hours) if ledger is not None else None,
    }


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


async def read_dashboard(
    redis: Redis, store: Store, engine: AsyncEngine | None, restaurant: Restaurant, day: date, now_ms: int
) -> dict[str, Any]:
    """Read what the dashboard needs and put it together. Redis failing fails the read (the caller answers
    UNAVAILABLE); Postgres failing or slow only leaves the takings out, said in ``books`` and ``problems``."""
    rid = restaurant.id
    orders = await store.open_orders(rid)
    prep = await store.prep_stats(rid, now_ms)
    scores = await scored(redis, rid)
    ledger: DayLedger | None = None
    if engine is None:
        books = "not_configured"
    else:
        try:
            async with asyncio.timeout(BOOKS_TIMEOUT_S):
                ledger = await day_ledger(engine, rid, day)
            books = "ok"
        except (SQLAlchemyError, OSError) as exc:  # TimeoutError is an OSError
            logger.warning("dashboard of %s without takings: %s", rid, exc)
            books = "unavailable"
    return dashboard(restaurant, day, now_ms, orders=orders, prep=prep, scores=scores, ledger=ledger, books=books)
