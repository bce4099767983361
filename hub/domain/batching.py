"""Suggested delivery batches: ready orders grouped into trips by direction, distance and promised time.

A trip leaves the restaurant, drops its orders in turn and comes back. :func:`suggest` asks OR-Tools'
routing solver (a capacitated vehicle routing problem with a time dimension) for the trips that cost
least, where cost is road metres, plus a fixed price per trip (a rider's time out and back), plus a
price per second that any order arrives after its promised time. :func:`one_by_one`, each order
alone, oldest first, is the baseline it is measured against (``domain/batch_day.py``).

What the suggestions guarantee, whatever the solver does:

- every drop is in exactly one suggestion, and no suggestion has more than ``max_stops`` drops;
- a trip leaves at the earliest when its last order is ready (and not before ``now``);
- ETAs, distances and lateness are worked out here from the stop order (:func:`plan_trip`), not read
  from the solver, so they follow one model: haversine metres times :data:`DETOUR` over the rider's
  speed, plus ``stop_s`` at each door;
- each suggestion says why in words a dispatcher reads: direction, spread, promised times in the
  restaurant's timezone, the trip's km against one by one, and who will be late.

The suggestions come most urgent first (earliest promised time), which is the order to give them to
riders. Zero or one drop never calls the solver; when the solver finds no solution in its time
limit, the baseline is returned. The solver starts from the cheapest arcs and improves with a
guided local search until its time limit: the search itself is deterministic, so the same input
gives the same trips unless a slower run is cut off before the best it found in a faster one
(small batches are settled long before the limit).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from fireflow.hub.domain.geo import bearing_deg, compass, distance_m
from fireflow.schema.base import GeoPoint, OrderType
from fireflow.schema.records import DeliveryStatus, Order, OrderStatus

__all__ = [
    "DETOUR",
    "LATE_COST_PER_S",
    "TRIP_COST_M",
    "Drop",
    "Score",
    "Suggestion",
    "drops_waiting",
    "one_by_one",
    "plan_trip",
    "score",
    "suggest",
]

DETOUR = 1.3  # streets are longer than the straight line: road metres per haversine metre
TRIP_COST_M = 1_000  # one more trip weighs as much as this many road metres (a rider out and back)
LATE_COST_PER_S = 20  # road metres per second late: a late minute weighs 1.2 km
_HORIZON_S = 2 * 24 * 3600  # the solver's time axis, seconds from now
_NEVER = 2**62


@dataclass(frozen=True, slots=True)
class Drop:
    """One delivery order that is ready (or soon ready) to go, where it goes and when it was promised."""

    order_id: str
    number: int
    at: GeoPoint
    ready_at: int  # ms
    promised_at: int | None  # ms


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One trip: the rider leaves at ``leaves_at``, drops in this order, and is back at ``back_at``."""

    order_ids: tuple[str, ...]
    numbers: tuple[int, ...]
    etas: tuple[int, ...]  # ms, arrival at each door
    leaves_at: int  # ms
    back_at: int  # ms
    distance_m: int  # road metres, out and back
    late: int  # stops that arrive after their promised time
    reason: str


@dataclass(frozen=True, slots=True)
class Score:
    """How good a plan is: what riders drive, and what customers wait."""

    trips: int
    orders: int
    distance_m: int
    late: int  # orders that arrive after their promised time
    late_min: float  # minutes late, summed over the late orders
    ready_to_door_min: float  # mean minutes from ready to the door


def _road_m(a: GeoPoint, b: GeoPoint) -> float:
    return distance_m(a, b) * DETOUR


def _ms(road_m: float, speed_mps: float) -> int:
    return math.ceil(road_m / speed_mps * 1000)


def plan_trip(
    origin: GeoPoint, stops: Sequence[Drop], *, now: int, speed_mps: float, stop_s: int, tz: str = "UTC"
) -> Suggestion:
    """The trip that drops ``stops`` in this order, leaving when the last is ready, with its reason."""
    if not stops:
        raise ValueError("a trip needs at least one stop")
    leaves = max(now, *(drop.ready_at for drop in stops))
    clock, here, road, etas = leaves, origin, 0.0, []
    for drop in stops:
        leg = _road_m(here, drop.at)
        clock += _ms(leg, speed_mps)
        etas.append(clock)
        clock += stop_s * 1000
        road += leg
        here = drop.at
    home = _road_m(here, origin)
    trip = Suggestion(
        order_ids=tuple(drop.order_id for drop in stops),
        numbers=tuple(drop.number for drop in stops),
        etas=tuple(etas),
        leaves_at=leaves,
        back_at=clock + _ms(home, speed_mps),
        distance_m=round(road + home),
        late=sum(1 for drop, eta in zip(stops, etas, strict=True) if _late_ms(drop, eta) > 0),
        reason="",
    )
    return _with_reason(trip, origin, stops, now=now, tz=ZoneInfo(tz))


def _late_ms(drop: Drop, eta: int) -> int:
    return 0 if drop.promised_at is None else max(0, eta - drop.promised_at)


def _km(metres: float) -> str:
    return f"{metres / 1000:.1f} km"


def _with_reason(trip: Suggestion, origin: GeoPoint, stops: Sequence[Drop], *, now: int, tz: ZoneInfo) -> Suggestion:
    """The trip with its reason: "3 orders to the NE, 1.2 km apart; promised 19:40 to 19:55; 5.4 km trip, ..."."""

    def hhmm(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).strftime("%H:%M")

    bearings = [math.radians(bearing_deg(origin, drop.at)) for drop in stops]
    mean = math.degrees(math.atan2(sum(map(math.sin, bearings)), sum(map(math.cos, bearings)))) % 360
    far = max(distance_m(origin, drop.at) for drop in stops)
    if len(stops) == 1:
        parts = [f"1 order to the {compass(mean)}, {_km(far)} away"]
    else:
        spread = max(distance_m(a.at, b.at) for a in stops for b in stops)
        parts = [f"{len(stops)} orders to the {compass(mean)}, {_km(spread)} apart"]
    promised = sorted(drop.promised_at for drop in stops if drop.promised_at is not None)
    if promised:
        span = (
            hhmm(promised[0])
            if hhmm(promised[0]) == hhmm(promised[-1])
            else f"{hhmm(promised[0])} to {hhmm(promised[-1])}"
        )
        parts.append(f"promised {span}")
    alone = sum(2 * _road_m(origin, drop.at) for drop in stops)
    parts.append(
        f"{_km(trip.distance_m)} trip" if len(stops) == 1 else f"{_km(trip.distance_m)} trip, {_km(alone)} one by one"
    )
    if trip.leaves_at > now:
        last = max(stops, key=lambda drop: drop.ready_at)
        parts.append(f"leaves {hhmm(trip.leaves_at)} when #{last.number} is ready")
    late = [
        f"#{drop.number} by {math.ceil(_late_ms(drop, eta) / 60_000)} min"
        for drop, eta in zip(stops, trip.etas, strict=True)
        if _late_ms(drop, eta) > 0
    ]
    if late:
        parts.append("late: " + ", ".join(late))
    return replace(trip, reason="; ".join(parts))


def _urgency(trip: Suggestion, drops: dict[str, Drop]) -> tuple[int, int, int]:
    promised = [drops[oid].promised_at for oid in trip.order_ids]
    return (min((p for p in promised if p is not None), default=_NEVER), trip.leaves_at, trip.numbers[0])


def one_by_one(
    origin: GeoPoint, drops: Sequence[Drop], *, now: int, speed_mps: float = 5.0, stop_s: int = 120, tz: str = "UTC"
) -> list[Suggestion]:
    """The baseline: each order its own trip, oldest first (by ready time, then number)."""
    ordered = sorted(drops, key=lambda drop: (drop.ready_at, drop.number))
    return [plan_trip(origin, (drop,), now=now, speed_mps=speed_mps, stop_s=stop_s, tz=tz) for drop in ordered]


def suggest(
    origin: GeoPoint,
    drops: Sequence[Drop],
    *,
    now: int,
    speed_mps: float = 5.0,
    max_stops: int = 3,
    stop_s: int = 120,
    time_limit_ms: int = 300,
    tz: str = "UTC",
) -> list[Suggestion]:
    """Trips for ``drops`` from OR-Tools' routing solver, most urgent first (the baseline if it finds none)."""
    if max_stops < 1 or speed_mps <= 0:
        raise ValueError("max_stops must be at least 1 and speed_mps positive")
    if len({drop.order_id for drop in drops}) != len(drops):
        raise ValueError("each order may be dropped once")
    if len(drops) < 2:
        return one_by_one(origin, drops, now=now, speed_mps=speed_mps, stop_s=stop_s, tz=tz)
    routes = _solve(
        origin, drops, now=now, speed_mps=speed_mps, max_stops=max_stops, stop_s=stop_s, limit_ms=time_limit_ms
    )
    if routes is None:
        return one_by_one(origin, drops, now=now, speed_mps=speed_mps, stop_s=stop_s, tz=tz)
    by_id = {drop.order_id: drop for drop in drops}
    trips = [plan_trip(origin, route, now=now, speed_mps=speed_mps, stop_s=stop_s, tz=tz) for route in routes]
    return sorted(trips, key=lambda trip: _urgency(trip, by_id))


def _solve(
    origin: GeoPoint, drops: Sequence[Drop], *, now: int, speed_mps: float, max_stops: int, stop_s: int, limit_ms: int
) -> list[list[Drop]] | None:
    """The solver's trips (node 0 is the restaurant, node i the drop i-1), or None when it finds none."""
    places = [origin, *(drop.at for drop in drops)]
    road = [[round(_road_m(a, b)) for b in places] for a in places]
    travel = [[math.ceil(metres / speed_mps) for metres in row] for row in road]
    vehicles = len(drops)  # at most one trip per order
    manager = pywrapcp.RoutingIndexManager(len(places), vehicles, 0)
    model = pywrapcp.RoutingModel(manager)

    def metres(i: int, j: int) -> int:
        return road[int(manager.IndexToNode(i))][int(manager.IndexToNode(j))]

    def seconds(i: int, j: int) -> int:
        a, b = int(manager.IndexToNode(i)), int(manager.IndexToNode(j))
        return (stop_s if a else 0) + travel[a][b]

    def stop(i: int) -> int:
        return 1 if manager.IndexToNode(i) else 0

    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitCallback(metres))
    model.SetFixedCostOfAllVehicles(TRIP_COST_M)
    model.AddDimension(model.RegisterUnaryTransitCallback(stop), 0, max_stops, True, "stops")
    model.AddDimension(model.RegisterTransitCallback(seconds), 0, _HORIZON_S, False, "time")
    # "leave": constant along a route (no transit, no slack), so it is at least every stop's ready time.
    model.AddConstantDimension(0, _HORIZON_S, False, "leave")
    time, leave = model.GetDimensionOrDie("time"), model.GetDimensionOrDie("leave")
    for node, drop in enumerate(drops, start=1):
        index = manager.NodeToIndex(node)
        ready_s = max(0, math.ceil((drop.ready_at - now) / 1000))
        leave.CumulVar(index).SetMin(min(ready_s, _HORIZON_S))
        if drop.promised_at is not None:
            due_s = min(max(0, (drop.promised_at - now) // 1000), _HORIZON_S)
            time.SetCumulVarSoftUpperBound(index, due_s, LATE_COST_PER_S)
    for vehicle in range(vehicles):
        start = model.Start(vehicle)
        model.solver().Add(time.CumulVar(start) == leave.CumulVar(start))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, limit_ms))
    solution = model.SolveWithParameters(params)
    if solution is None:
        return None
    routes = []
    for vehicle in range(vehicles):
        route, index = [], solution.Value(model.NextVar(model.Start(vehicle)))
        while not model.IsEnd(index):
            route.append(drops[manager.IndexToNode(index) - 1])
            index = solution.Value(model.NextVar(index))
        if route:
            routes.append(route)
    return routes


def score(plans: Iterable[Suggestion], drops: Iterable[Drop]) -> Score:
    """The plan's km, late orders and minutes, and mean minutes from ready to the door (``drops`` by order id)."""
    by_id = {drop.order_id: drop for drop in drops}
    trips = orders = metres = late = 0
    late_ms = waited_ms = 0
    for plan in plans:
        trips += 1
        metres += plan.distance_m
        for order_id, eta in zip(plan.order_ids, plan.etas, strict=True):
            drop = by_id[order_id]
            orders += 1
            waited_ms += eta - drop.ready_at
            over = _late_ms(drop, eta)
            late += over > 0
            late_ms += over
    return Score(trips, orders, metres, late, late_ms / 60_000, waited_ms / 60_000 / orders if orders else 0.0)


def drops_waiting(orders: Iterable[Order], now: int) -> tuple[list[Drop], list[Order]]:
    """The delivery orders ready and waiting for a rider (never assigned, or back): those with a place as
    drops, oldest ready first, and those without one, which a dispatcher assigns by hand."""
    placed: list[Drop] = []
    unplaced: list[Order] = []
    for order in orders:
        trip = order.delivery
        if order.type is not OrderType.DELIVERY or order.status is not OrderStatus.READY:
            continue
        if trip is not None and trip.status is not DeliveryStatus.RETURNED:
            continue
        if order.location is None:
            unplaced.append(order)
            continue
        placed.append(Drop(order.id, order.number, order.location, order.ready_at or now, order.promised_at))
    return sorted(placed, key=lambda d: (d.ready_at, d.number)), unplaced
