"""A generated day of delivery orders, and its replay with finite riders: how good a batch planner is.

:func:`generate_day` makes a seeded, repeatable day: lunch and dinner peaks over a quieter
background, addresses clustered in a few neighbourhoods within about 6 km of the restaurant and a
few scattered ones, food ready 12 to 25 minutes after the order and promised 35 to 50 minutes after it.

:func:`simulate` replays it with a planner (``batching.suggest`` or ``batching.one_by_one``, or any
function of the same shape). Every tick (2 simulated minutes) the orders that are ready and not yet
on a trip go to the planner, and only those; its suggestions start, most urgent first, while a rider
is back at the restaurant; what does not start waits for the next tick and is planned again. The
replay times each trip itself from the stop order the planner chose (``batching.plan_trip``), so a
planner cannot flatter its own ETAs, and both planners get the same riders.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fireflow.hub.domain.batching import Drop, Suggestion, plan_trip
from fireflow.schema.base import GeoPoint

__all__ = ["DAY_START", "Day", "DayResult", "Planner", "generate_day", "simulate"]

DAY_START = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)  # midnight of the generated day, ms
_MIN = 60_000
_METRES_PER_DEGREE = 111_320.0

Planner = Callable[[GeoPoint, Sequence[Drop], int], Sequence[Suggestion]]  # (restaurant, waiting drops, now)


@dataclass(frozen=True, slots=True)
class Day:
    """A generated day: the restaurant, and its delivery orders by ready time."""

    seed: int
    origin: GeoPoint
    drops: tuple[Drop, ...]


@dataclass(frozen=True, slots=True)
class DayResult:
    """What a replayed day cost and how it went for customers (minutes; lateness is arrival minus promised)."""

    orders: int
    trips: int
    planner_calls: int
    distance_m: int
    late: int  # orders at the door after their promised time
    lateness_mean_min: float  # signed: negative is early
    lateness_p90_min: float
    ready_to_door_mean_min: float
    ready_to_door_p90_min: float

    @property
    def stops_per_trip(self) -> float:
        return self.orders / self.trips if self.trips else 0.0


def _peak_minute(rng: random.Random) -> float:
    """Minutes after midnight an order is placed: lunch, dinner, or the quieter hours around them."""
    draw = rng.random()
    if draw < 0.35:
        minute = rng.gauss(12.75 * 60, 50)
    elif draw < 0.85:
        minute = rng.gauss(19.5 * 60, 70)
    else:
        minute = rng.uniform(11 * 60, 22.5 * 60)
    return min(max(minute, 11 * 60), 22.75 * 60)


def _offset(origin: GeoPoint, north_m: float, east_m: float) -> GeoPoint:
    lat = origin.lat + north_m / _METRES_PER_DEGREE
    lon = origin.lon + east_m / (_METRES_PER_DEGREE * math.cos(math.radians(origin.lat)))
    return GeoPoint(lat=lat, lon=lon)


def _polar(rng: random.Random, radius_m: float) -> tuple[float, float]:
    """A point spread evenly over the disc of ``radius_m`` (north, east metres)."""
    r, angle = radius_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return r * math.cos(angle), r * math.sin(angle)


def generate_day(
    seed: int,
    *,
    orders: int = 300,
    origin: GeoPoint,
    neighbourhoods: int = 5,
    radius_m: float = 6_000,
    day_start: int = DAY_START,
) -> Day:
    """A repeatable day of ``orders`` delivery orders around ``origin`` (the same seed, the same day)."""
    if orders < 0 or neighbourhoods < 1 or radius_m <= 0:
        raise ValueError("orders must be >= 0, neighbourhoods >= 1 and radius_m > 0")
    rng = random.Random(seed)
    centres = []
    for _ in range(neighbourhoods):
        distance, angle = rng.uniform(0.15, 0.75) * radius_m, rng.uniform(0, 2 * math.pi)
        centres.append((distance * math.cos(angle), distance * math.sin(angle), rng.uniform(0.5, 1.5)))
    weights = [weight for _, _, weight in centres]
    drops = []
    for n in range(orders):
        created = day_start + round(_peak_minute(rng) * _MIN)
        if rng.random() < 0.15:  # anywhere in town
            north, east = _polar(rng, radius_m)
        else:
            c_north, c_east, _ = rng.choices(centres, weights)[0]
            north, east = c_north + rng.gauss(0, 0.07 * radius_m), c_east + rng.gauss(0, 0.07 * radius_m)
            scale = min(1.0, radius_m / max(math.hypot(north, east), 1.0))
            north, east = north * scale, east * scale
        ready = created + round(rng.uniform(12, 25) * _MIN)
        promised = created + round(rng.uniform(35, 50) * _MIN)
        drops.append((ready, n, _offset(origin, north, east), promised))
    drops.sort(key=lambda drop: (drop[0], drop[1]))
    return Day(
        seed=seed,
        origin=origin,
        drops=tuple(
            Drop(order_id=f"day{seed}.o{i + 1}", number=i + 1, at=at, ready_at=ready, promised_at=promised)
            for i, (ready, _, at, promised) in enumerate(drops)
        ),
    )


def _p90(values: Sequence[float]) -> float:
    """The 90th percentile, nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def simulate(
    day: Day,
    *,
    riders: int,
    planner: Planner,
    tick_ms: int = 2 * _MIN,
    speed_mps: float = 5.0,
    stop_s: int = 120,
) -> DayResult:
    """Replay ``day`` with ``riders`` riders and ``planner``; raises ValueError if a plan is not for the waiting orders."""
    if riders < 1 or tick_ms < 1:
        raise ValueError("riders and tick_ms must be at least 1")
    pending = list(day.drops)  # by ready time
    waiting: dict[str, Drop] = {}
    free_at = [0] * riders  # when each rider is back at the restaurant
    trips = calls = metres = 0
    lateness: list[float] = []
    door: list[float] = []
    now = (pending[0].ready_at // tick_ms) * tick_ms if pending else 0
    while pending or waiting:
        while pending and pending[0].ready_at <= now:
            drop = pending.pop(0)
            waiting[drop.order_id] = drop
        free = sorted(rider for rider in range(riders) if free_at[rider] <= now)
        if waiting and free:
            calls += 1
            started = trips
            for plan in planner(day.origin, list(waiting.values()), now):
                if not free:
                    break
                if not plan.order_ids or any(order_id not in waiting for order_id in plan.order_ids):
                    raise ValueError(f"the planner suggested orders that are not waiting: {plan.order_ids}")
                stops = [waiting.pop(order_id) for order_id in plan.order_ids]
                trip = plan_trip(day.origin, stops, now=now, speed_mps=speed_mps, stop_s=stop_s)
                free_at[free.pop(0)] = trip.back_at
                trips += 1
                metres += trip.distance_m
                for drop, eta in zip(stops, trip.etas, strict=True):
                    door.append((eta - drop.ready_at) / _MIN)
                    if drop.promised_at is not None:
                        lateness.append((eta - drop.promised_at) / _MIN)
            if trips == started:
                raise ValueError("the planner started no trip while orders waited and a rider was free")
        now += tick_ms
    return DayResult(
        orders=len(door),
        trips=trips,
        planner_calls=calls,
        distance_m=metres,
        late=sum(1 for minutes in lateness if minutes > 0),
        lateness_mean_min=sum(lateness) / len(lateness) if lateness else 0.0,
        lateness_p90_min=_p90(lateness),
        ready_to_door_mean_min=sum(door) / len(door) if door else 0.0,
        ready_to_door_p90_min=_p90(door),
    )
