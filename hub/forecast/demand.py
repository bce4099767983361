"""Orders per hour for the coming days, from the restaurant's own history, and the cooks each station needs.

Pure: counts per hour in, a :class:`Forecast` out; no clock (``start`` is passed in), no I/O
(``hub/forecast/history.py`` counts the fired orders and calls this).

The forecaster is river's Holt-Winters (``time_series.HoltWinters``, already ours for the prep times),
with a weekly season of 168 hours once two weeks are on the books (a Friday dinner is not a Monday's),
a daily one of 24 hours from two days, and nothing before (said in ``method``). It is multiplicative on
the counts plus one: a restaurant's hours differ by a factor (dinner is three lunches), and river's
additive start takes the first week's values as ratios; the one keeps the empty night hours finite.
There is no trend: three days ahead, the weekly shape matters, not a drift. river's Holt-Winters has
no season without a trend, and starts its trend at the first season's mean step (last value less first,
over 167 hours); a week that ends busier than it began would drift the level for good. So the trend
starts at zero and ``beta`` is as good as zero.

The interval is the 5th to 95th percentile of the model's one-step errors over the history, taken as
ratios so a busy hour gets a wider band than a quiet one. One-step errors understate the errors days
ahead, so the band is the nominal 90% one: on six weeks of a noisy weekly pattern it held about 8 in 10
of the hours that followed (an 80% band, read as "most weeks, between"). It does not widen with the
horizon: the season carries the forecast, not the last hours.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from river import time_series

from fireflow.hub.forecast.anomalies import DASH

__all__ = [
    "DAY_HOURS",
    "MIN_ORDERS",
    "UTILISATION",
    "WEEK_HOURS",
    "Forecast",
    "HourForecast",
    "Peak",
    "cooks_needed",
    "forecast_orders",
    "peaks",
    "staffing",
]

WEEK_HOURS, DAY_HOURS = 168, 24
UTILISATION = 0.8  # the share of an hour a cook is busy at best: the rest is plating, cleaning, the unexpected
MIN_ORDERS = 0.5  # an hour forecast under this many orders needs nobody (the kitchen is closed)
_HOLT_WINTERS: Any = time_series.HoltWinters  # river leaves it untyped
ALPHA, BETA, GAMMA = 0.02, 1e-6, 0.3  # level, trend (river needs one with a season; none in effect), season


@dataclass(frozen=True, slots=True)
class HourForecast:
    at: datetime  # the hour's start (aware)
    orders: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Forecast:
    """The hours ahead; ``method`` says how (or why there are none); ``history_hours`` it learned from."""

    hours: tuple[HourForecast, ...]
    method: str
    history_hours: int


@dataclass(frozen=True, slots=True)
class Peak:
    """A day's busiest forecast hour, with its cooks and a line a manager reads."""

    day: str
    hour: int
    orders: float
    low: float
    high: float
    cooks: Mapping[str, int]
    message: str


def forecast_orders(history: Sequence[float], start: datetime, days: int = 3) -> Forecast:
    """Orders in each of the ``days * 24`` hours from ``start``; ``history``: the orders of each hour before
    it, oldest first, the last one the hour just before ``start``, hours of none counted as 0."""
    season = WEEK_HOURS if len(history) >= 2 * WEEK_HOURS else DAY_HOURS if len(history) >= 2 * DAY_HOURS else 0
    if not season:
        method = f"not enough history: {len(history)} hours, two days needed"
        return Forecast((), method, len(history))
    model: Any = _HOLT_WINTERS(alpha=ALPHA, beta=BETA, gamma=GAMMA, seasonality=season, multiplicative=True)
    ratios: list[float] = []
    for seen, count in enumerate(history):
        if seen >= season:  # the model starts after one season; its one-step errors from then on
            expected = max(model.forecast(1)[0], 1e-9)
            ratios.append((count + 1) / expected)
        model.learn_one(count + 1)
        if seen == season - 1:  # initialised on this value: no trend (see the module docstring)
            model.trend[-1] = 0.0
    low_ratio, high_ratio = _band(ratios)
    hours = []
    for h, value in enumerate(model.forecast(days * DAY_HOURS)):
        value = max(value, 0.0)
        hours.append(
            HourForecast(
                start + timedelta(hours=h),
                round(max(value - 1, 0.0), 1),
                round(max(value * low_ratio - 1, 0.0), 1),
                round(max(value * high_ratio - 1, 0.0), 1),
            )
        )
    kind = "weekly (168 h)" if season == WEEK_HOURS else "daily (24 h)"
    method = (
        f"river HoltWinters, multiplicative, {kind} season, from {len(history)} hours; "
        "interval: 5th-95th percentile of its one-step errors"
    )
    return Forecast(tuple(hours), method, len(history))


def _band(ratios: Sequence[float]) -> tuple[float, float]:
    if len(ratios) < 2:
        return 1.0, 1.0
    twentieths = statistics.quantiles(ratios, n=20, method="inclusive")
    return min(twentieths[0], 1.0), max(twentieths[-1], 1.0)


def cooks_needed(
    orders: float,
    prep_s: Mapping[str, float],
    lines_per_order: Mapping[str, float],
    utilisation: float = UTILISATION,
) -> dict[str, int]:
    """Cooks each station needs for an hour of ``orders``: its work (orders x its lines an order x seconds a
    line) over what one cook gives in an hour at ``utilisation``, rounded up; one at least if it has work.

    The load rule, not Erlang-C: Erlang-C prices the wait of a queue fed at random with one server per
    customer, while a cook works several pans at once and tickets come in waves; its answer would rest on
    a service-time distribution we do not know. The load rule is what a chef checks by hand, and the
    80% leaves the slack that keeps a queue short. ``prep_s``: seconds a line (from start to done).
    """
    if orders < MIN_ORDERS:
        return dict.fromkeys(sorted(prep_s.keys() & lines_per_order.keys()), 0)
    found: dict[str, int] = {}
    for station in sorted(prep_s.keys() & lines_per_order.keys()):
        work = orders * lines_per_order[station] * prep_s[station]
        found[station] = max(1, math.ceil(work / (3600 * utilisation))) if work > 0 else 0
    return found


def staffing(
    forecast: Forecast, prep_s: Mapping[str, float], lines_per_order: Mapping[str, float]
) -> list[tuple[datetime, dict[str, int]]]:
    """The cooks each station needs, hour by hour of the forecast."""
    return [(hour.at, cooks_needed(hour.orders, prep_s, lines_per_order)) for hour in forecast.hours]


def peaks(
    forecast: Forecast, tz: ZoneInfo, prep_s: Mapping[str, float], lines_per_order: Mapping[str, float]
) -> list[Peak]:
    """Each local day's busiest hour, with its cooks: ``Friday 20:00-21:00: about 46 orders (38-55); grill 4
    cooks, fry 2``. Stations are named busiest first; a day with under :data:`MIN_ORDERS` in any hour has none."""
    best: dict[str, HourForecast] = {}
    for hour in forecast.hours:  # a day (or the rest of one) with nothing expected has no peak to speak of
        if hour.orders < MIN_ORDERS:
            continue
        day = hour.at.astimezone(tz).date().isoformat()
        if day not in best or hour.orders > best[day].orders:
            best[day] = hour
    found = []
    for day, hour in sorted(best.items()):
        local = hour.at.astimezone(tz)
        cooks = cooks_needed(hour.orders, prep_s, lines_per_order)
        ranked = sorted(cooks.items(), key=lambda c: (-c[1], c[0]))
        words = ", ".join(
            f"{s} {n} cook{'s' if n != 1 else ''}" if i == 0 else f"{s} {n}" for i, (s, n) in enumerate(ranked)
        )
        message = (
            f"{local:%A} {local.hour:02d}:00{DASH}{(local.hour + 1) % 24:02d}:00: about {round(hour.orders)} orders "
            f"({round(hour.low)}{DASH}{round(hour.high)})" + (f"; {words}" if words else "")
        )
        found.append(Peak(day, local.hour, hour.orders, hour.low, hour.high, cooks, message))
    return found
