"""A day of service planned in advance: who comes when, in what kind of order, and what they eat.

Pure and seeded: the same seed and menu plan the same day, so an evaluation day can be made again
exactly, and the driver (``service.py``) only has to play it against a hub. Arrival times follow the
day part's curve (lunch peaks at one, dinner at half past eight); a day of N orders is N arrival times
drawn from that curve, which is what a Poisson process with that intensity gives when it happens to
bring N customers.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "DAY_PARTS",
    "DayPart",
    "Kind",
    "PlannedLine",
    "PlannedOrder",
    "ServicePlan",
    "arrival_times",
    "plan_service",
]

MINUTE = 60.0


class Kind(StrEnum):
    DINE_IN = "DINE_IN"
    TAKEAWAY = "TAKEAWAY"
    DELIVERY = "DELIVERY"


@dataclass(frozen=True, slots=True)
class DayPart:
    """Opening hours of one service and the shape of its rush: each peak is (hour, spread in hours, weight)."""

    name: str
    opens: float  # hour of the day
    closes: float
    peaks: tuple[tuple[float, float, float], ...]
    floor: float = 0.15  # the quiet hours' intensity, relative to a peak's

    @property
    def seconds(self) -> float:
        return (self.closes - self.opens) * 3600

    def intensity(self, hour: float) -> float:
        """How busy the hour is, relative to a peak (about 1 at a peak, ``floor`` far from any)."""
        return self.floor + sum(w * math.exp(-(((hour - at) / spread) ** 2) / 2) for at, spread, w in self.peaks)


DAY_PARTS: dict[str, DayPart] = {
    "lunch": DayPart("lunch", 11.5, 15.0, ((13.0, 0.6, 1.0),)),
    "dinner": DayPart("dinner", 18.5, 23.0, ((20.5, 0.8, 1.0),)),
    "day": DayPart("day", 11.5, 23.0, ((13.0, 0.7, 0.8), (20.5, 0.9, 1.0))),
}

DEFAULT_MIX: Mapping[Kind, float] = {Kind.DINE_IN: 0.5, Kind.TAKEAWAY: 0.3, Kind.DELIVERY: 0.2}
PARTY_SIZES = ((1, 0.15), (2, 0.4), (3, 0.15), (4, 0.2), (5, 0.05), (6, 0.05))


@dataclass(frozen=True, slots=True)
class PlannedLine:
    menu_item_id: str
    quantity: int = 1
    modifiers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def command(self, order_id: str) -> dict[str, Any]:
        """The ``order.add_item`` data that orders this line."""
        data: dict[str, Any] = {"order_id": order_id, "menu_item_id": self.menu_item_id, "quantity": self.quantity}
        if self.modifiers:
            data["modifiers"] = {group: list(options) for group, options in self.modifiers.items()}
        return data


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    index: int
    at: float  # seconds after the day part opens
    kind: Kind
    lines: tuple[PlannedLine, ...]
    guests: int = 1
    stay: float = 0.0  # dine-in: seconds at the table after the food comes; counter: until the pickup
    tender: str = "CASH"


@dataclass(frozen=True, slots=True)
class ServicePlan:
    part: DayPart
    seed: int
    orders: tuple[PlannedOrder, ...]

    def kinds(self) -> dict[Kind, int]:
        counted = dict.fromkeys(Kind, 0)
        for order in self.orders:
            counted[order.kind] += 1
        return counted


def arrival_times(part: DayPart, count: int, rng: random.Random) -> list[float]:
    """``count`` arrival times (seconds after opening, sorted) drawn from the day part's curve, by inverting
    its cumulative intensity over one-minute steps (linear within a minute)."""
    minutes = max(1, int(part.seconds // MINUTE))
    weights = [part.intensity(part.opens + (m + 0.5) / 60) for m in range(minutes)]
    cumulative: list[float] = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    times = []
    for _ in range(count):
        u = rng.random() * total
        m = bisect.bisect_left(cumulative, u)
        before = cumulative[m - 1] if m else 0.0
        times.append((m + (u - before) / weights[m]) * MINUTE)
    return sorted(times)


def _choose_weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([value for value, _ in pairs], [weight for _, weight in pairs])[0]


def _modifiers(item: Mapping[str, Any], rng: random.Random) -> dict[str, tuple[str, ...]]:
    """Choices a guest would make: every required group answered, optional ones now and then."""
    chosen: dict[str, tuple[str, ...]] = {}
    for group in item.get("modifiers", ()):
        options = [option["id"] for option in group["options"]]
        if group.get("required"):
            chosen[group["id"]] = (rng.choice(options),)
        elif rng.random() < 0.3:
            many = rng.randint(1, min(int(group.get("max_choices", 1)), len(options)))
            chosen[group["id"]] = tuple(rng.sample(options, many))
    return chosen


def _line(item: Mapping[str, Any], rng: random.Random) -> PlannedLine:
    quantity = 2 if rng.random() < 0.12 else 1
    return PlannedLine(item["id"], quantity, _modifiers(item, rng))


def _lines(menu: Sequence[Mapping[str, Any]], kind: Kind, guests: int, rng: random.Random) -> tuple[PlannedLine, ...]:
    """What a party orders: a main each, now and then a starter, a side and a drink; counters order less."""
    by_category: dict[str, list[Mapping[str, Any]]] = {}
    for item in menu:
        if item.get("available", True):
            by_category.setdefault(str(item.get("category", "")), []).append(item)
    everything = [item for items in by_category.values() for item in items]
    mains = by_category.get("mains") or everything
    lines: list[PlannedLine] = []
    eaters = guests if kind is Kind.DINE_IN else rng.randint(1, 3)
    for _ in range(eaters):
        lines.append(_line(rng.choice(mains), rng))
        for category, chance in (("starters", 0.35), ("sides", 0.3), ("salads", 0.15), ("soups", 0.1)):
            if by_category.get(category) and rng.random() < chance:
                lines.append(_line(rng.choice(by_category[category]), rng))
        if by_category.get("drinks") and rng.random() < (0.8 if kind is Kind.DINE_IN else 0.4):
            lines.append(_line(rng.choice(by_category["drinks"]), rng))
    if kind is Kind.DINE_IN and by_category.get("desserts") and rng.random() < 0.25:
        lines.append(_line(rng.choice(by_category["desserts"]), rng))
    return tuple(lines[:30])


def plan_service(
    menu: Sequence[Mapping[str, Any]],
    *,
    orders: int,
    part: DayPart = DAY_PARTS["dinner"],
    seed: int = 1,
    mix: Mapping[Kind, float] = DEFAULT_MIX,
) -> ServicePlan:
    """A day part with ``orders`` orders over ``menu`` (its items as JSON, as ``GET /api/v1/menu`` gives them)."""
    if orders < 0:
        raise ValueError("orders must be at least 0")
    if not menu:
        raise ValueError("the menu has no items")
    rng = random.Random(seed)
    kinds = [(kind, weight) for kind, weight in mix.items() if weight > 0]
    if not kinds:
        raise ValueError("the order mix gives no kind of order a share")
    planned = []
    for index, at in enumerate(arrival_times(part, orders, rng)):
        kind: Kind = _choose_weighted(rng, kinds)
        guests = _choose_weighted(rng, PARTY_SIZES) if kind is Kind.DINE_IN else 1
        stay = rng.uniform(20, 45) * MINUTE if kind is Kind.DINE_IN else rng.uniform(1, 6) * MINUTE
        tender = _choose_weighted(rng, (("CASH", 0.35), ("UPI", 0.4), ("CARD", 0.25)))
        if kind is Kind.DELIVERY:
            tender = "UPI"  # paid online when ordered
        planned.append(PlannedOrder(index, at, kind, _lines(menu, kind, guests, rng), guests, stay, tender))
    return ServicePlan(part, seed, tuple(planned))
