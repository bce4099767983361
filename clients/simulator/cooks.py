"""How long the simulated kitchen takes: prep times per station and item, cooks per station, planted slowdowns.

Prep times are log-normal (a few quick plates, a long tail of slow ones), as measured prep times are.
A slowdown multiplies one station's times for a stretch of the service (a cook off sick, a fryer
cooling down): the evaluation days plant one and see whether the hub warned in time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fireflow.clients.simulator.plan import ServicePlan

__all__ = [
    "DEMO_KITCHEN",
    "KitchenModel",
    "Slowdown",
    "late_times",
    "staffed_for",
]


@dataclass(frozen=True, slots=True)
class Slowdown:
    station: str
    start: float  # seconds after opening
    end: float
    factor: float  # prep times there are multiplied by this meanwhile

    def applies(self, station: str, at: float) -> bool:
        return station == self.station and self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class KitchenModel:
    """Median prep seconds per station, how some items differ, how many lines each station makes at once.

    ``cooks`` counts hands and burners together: a grill cook has several steaks on at once.
    """

    medians: Mapping[str, float]
    cooks: Mapping[str, int]
    item_factors: Mapping[str, float] = field(default_factory=dict)
    spread: float = 0.35  # sigma of log prep time
    default_median: float = 240.0
    slowdowns: tuple[Slowdown, ...] = ()

    def prep_seconds(self, station: str, menu_item_id: str, quantity: int, at: float, rng: random.Random) -> float:
        """One line's time at the pass, in service seconds: a second portion adds half a first's."""
        median = self.medians.get(station, self.default_median) * self.item_factors.get(menu_item_id, 1.0)
        seconds = median * math.exp(rng.gauss(0.0, self.spread)) * (1 + 0.5 * (quantity - 1))
        for slowdown in self.slowdowns:
            if slowdown.applies(station, at):
                seconds *= slowdown.factor
        return seconds

    def cooks_at(self, station: str) -> int:
        return max(1, int(self.cooks.get(station, 1)))

    def with_slowdown(self, slowdown: Slowdown) -> KitchenModel:
        return KitchenModel(
            self.medians,
            self.cooks,
            self.item_factors,
            self.spread,
            self.default_median,
            (*self.slowdowns, slowdown),
        )


# The demo's four stations, against their warn/late colours (grill 8/12 min, fry and cold 5/8, bar 2/4).
DEMO_KITCHEN = KitchenModel(
    medians={"grill": 360.0, "fry": 220.0, "cold": 170.0, "bar": 75.0},
    cooks={"grill": 6, "fry": 4, "cold": 2, "bar": 2},
    item_factors={"ribeye": 1.4, "paneer-tikka": 0.85, "calamari": 1.15, "gazpacho": 0.6, "mojito": 1.3},
)


BUSY_AT_PEAK = 0.8  # a kitchen is staffed so that its stations are this busy in the busiest half hour
LATE_QUANTILE_Z = 1.96  # a ticket is late past its slowest item's 97.5th percentile prep time ...
LATE_WAIT_S = 120.0  # ... and this much of a wait for a hand


def late_times(model: KitchenModel, menu: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The late time (seconds from fire) a kitchen of this pace would set per station, in whole minutes: its
    slowest item's 97.5th percentile prep time and a short wait. A day with no slowdown then turns few
    tickets late, so a slowdown's alerts stand out from the everyday tail."""
    slowest: dict[str, float] = {}
    for item in menu:
        if not item.get("requires_prep", True):
            continue
        station = str(item["station"])
        median = model.medians.get(station, model.default_median) * model.item_factors.get(str(item["id"]), 1.0)
        slowest[station] = max(slowest.get(station, 0.0), median)
    tail = math.exp(LATE_QUANTILE_Z * model.spread)
    return {station: 60 * math.ceil((median * tail + LATE_WAIT_S) / 60) for station, median in slowest.items()}


def staffed_for(model: KitchenModel, plan: ServicePlan, menu: Sequence[Mapping[str, Any]]) -> KitchenModel:
    """``model`` with as many hands at each station as ``plan``'s busiest half hour needs (at ``BUSY_AT_PEAK``),
    and never fewer than it has: a restaurant that does 600 orders a day has the grill line for it."""
    station_of = {str(item["id"]): str(item["station"]) for item in menu if item.get("requires_prep", True)}
    work: dict[tuple[str, int], float] = {}  # (station, half hour) -> seconds of making
    for order in plan.orders:
        half_hour = int(order.at // 1800)
        for line in order.lines:
            station = station_of.get(line.menu_item_id)
            if station is None:
                continue
            median = model.medians.get(station, model.default_median) * model.item_factors.get(line.menu_item_id, 1.0)
            key = (station, half_hour)
            work[key] = work.get(key, 0.0) + median * (1 + 0.5 * (line.quantity - 1))
    hands = dict(model.cooks)
    for (station, _), seconds in work.items():
        needed = math.ceil(seconds / 1800 / BUSY_AT_PEAK)
        hands[station] = max(hands.get(station, 1), needed)
    return replace(model, cooks=hands)
