"""Suggested delivery batches (OR-Tools routing) and the generated day they are measured on, no servers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fireflow.hub.domain import batching
from fireflow.hub.domain.batch_day import DAY_START, generate_day, simulate
from fireflow.hub.domain.batching import Drop, Suggestion, one_by_one, plan_trip, score, suggest
from fireflow.hub.domain.geo import distance_m
from fireflow.schema.base import GeoPoint

ORIGIN = GeoPoint(lat=52.52, lon=13.405)
NOW = DAY_START + 17 * 3_600_000  # 17:00 UTC, 18:00 in Berlin
MIN = 60_000
FAST = 50  # ms: the solver's time limit where a test needs no more


def at(north_m: float, east_m: float) -> GeoPoint:
    """The point ``north_m`` north and ``east_m`` east of the restaurant."""
    return GeoPoint(
        lat=ORIGIN.lat + north_m / 111_320,
        lon=ORIGIN.lon + east_m / (111_320 * math.cos(math.radians(ORIGIN.lat))),
    )


def drop(number: int, north_m: float, east_m: float, *, ready: int = 0, promised: int | None = 45) -> Drop:
    """Order ``number`` at that place, ready and promised so many minutes from NOW."""
    return Drop(
        order_id=f"o{number}",
        number=number,
        at=at(north_m, east_m),
        ready_at=NOW + ready * MIN,
        promised_at=None if promised is None else NOW + promised * MIN,
    )


def trip_of(plans: Sequence[Suggestion], number: int) -> Suggestion:
    """The suggestion that drops order ``number``."""
    return next(plan for plan in plans if number in plan.numbers)


def test_opposite_directions_go_in_different_batches() -> None:
    """Two orders to the north-east and two to the south-west make two trips, one per direction."""
    drops = [drop(1, 2000, 2000), drop(2, 2200, 1800), drop(3, -2000, -2000), drop(4, -1800, -2200)]
    plans = suggest(ORIGIN, drops, now=NOW, time_limit_ms=FAST)
    assert sorted(sorted(plan.numbers) for plan in plans) == [[1, 2], [3, 4]]


def test_three_close_orders_go_in_one_batch_in_order_along_the_street() -> None:
    """Three orders 1, 1.5 and 2 km east make one trip that drops them in order along the way."""
    drops = [drop(2, 0, 1500), drop(3, 0, 2000), drop(1, 0, 1000)]
    plans = suggest(ORIGIN, drops, now=NOW, time_limit_ms=FAST)
    assert len(plans) == 1
    assert plans[0].numbers in ((1, 2, 3), (3, 2, 1))
    assert plans[0].distance_m < sum(plan.distance_m for plan in one_by_one(ORIGIN, drops, now=NOW))


@pytest.mark.parametrize("max_stops", [1, 2, 3])
def test_capacity_is_respected(max_stops: int) -> None:
    """Seven orders in one neighbourhood never make a trip of more than ``max_stops``."""
    drops = [drop(n, 3000 + 50 * n, 1000 - 40 * n) for n in range(1, 8)]
    plans = suggest(ORIGIN, drops, now=NOW, max_stops=max_stops, time_limit_ms=FAST)
    assert all(len(plan.numbers) <= max_stops for plan in plans)
    assert sorted(n for plan in plans for n in plan.numbers) == list(range(1, 8))
    assert len(plans) == math.ceil(7 / max_stops)


def test_a_batch_never_leaves_before_its_last_order_is_ready() -> None:
    """A trip leaves at the earliest when its last order is ready, and says so; its first ETA comes after."""
    drops = [drop(1, 2000, 0, ready=0), drop(2, 2100, 100, ready=4), drop(3, 1900, -100, ready=-10)]
    plans = suggest(ORIGIN, drops, now=NOW, time_limit_ms=FAST, tz="Europe/Berlin")
    for plan in plans:
        ready = max(d.ready_at for d in drops if d.number in plan.numbers)
        assert plan.leaves_at == max(ready, NOW)
        assert plan.etas[0] > plan.leaves_at
    batch = trip_of(plans, 2)
    if len(batch.numbers) > 1:
        assert "leaves 18:04 when #2 is ready" in batch.reason


def test_an_urgent_order_is_not_made_late_by_far_ones() -> None:
    """An order due in 6 minutes that is on time alone is not held for far orders that are not ready yet."""
    urgent = drop(1, 0, 1000, promised=6)
    far = [drop(2, 0, 5000, ready=10, promised=60), drop(3, 200, 5200, ready=10, promised=60)]
    alone = plan_trip(ORIGIN, [urgent], now=NOW, speed_mps=5.0, stop_s=120)
    assert alone.late == 0
    plans = suggest(ORIGIN, [*far, urgent], now=NOW, time_limit_ms=FAST)
    mine = trip_of(plans, 1)
    assert mine.late == 0 and mine.etas[mine.numbers.index(1)] <= NOW + 6 * MIN
    assert plans[0] is mine  # the most urgent trip comes first
    assert trip_of(plans, 2) is trip_of(plans, 3)


def test_reasons_say_direction_spread_times_and_km() -> None:
    """A batch's reason names its compass direction, spread, promised times (restaurant's clock) and km."""
    drops = [drop(1, 2000, 2000, promised=40), drop(2, 2200, 1800, promised=55)]
    (plan,) = suggest(ORIGIN, drops, now=NOW, time_limit_ms=FAST, tz="Europe/Berlin")
    assert plan.reason.startswith("2 orders to the NE, 0.3 km apart; promised 18:40 to 18:55; ")
    one_km = sum(p.distance_m for p in one_by_one(ORIGIN, drops, now=NOW)) / 1000
    assert f"{plan.distance_m / 1000:.1f} km trip, {one_km:.1f} km one by one" in plan.reason
    (single,) = suggest(ORIGIN, [drop(3, -3000, 0, promised=None)], now=NOW, tz="Europe/Berlin")
    assert single.reason == f"1 order to the S, 3.0 km away; {single.distance_m / 1000:.1f} km trip"


def test_a_late_trip_says_who_is_late_and_by_how_much() -> None:
    """An order that cannot be on time is marked late, with its number and minutes, in the reason."""
    (plan,) = suggest(ORIGIN, [drop(7, 0, 3000, promised=-5)], now=NOW)
    assert plan.late == 1
    late_min = math.ceil((plan.etas[0] - (NOW - 5 * MIN)) / MIN)
    assert plan.reason.endswith(f"late: #7 by {late_min} min")


def test_the_same_input_gives_the_same_suggestions() -> None:
    """Planning the same eight orders twice gives the same trips, stops and reasons."""
    drops = [drop(n, 800 * math.cos(n), 3000 * math.sin(n * 1.7), promised=30 + 3 * n) for n in range(1, 9)]
    first = suggest(ORIGIN, drops, now=NOW, time_limit_ms=200)
    assert suggest(ORIGIN, drops, now=NOW, time_limit_ms=200) == first


def test_zero_or_one_drop_never_calls_the_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    """No order gives no trip and one order one trip, without the solver."""

    def no_solver(*args: object, **kwargs: object) -> None:
        raise AssertionError("the solver was called")

    monkeypatch.setattr(batching, "_solve", no_solver)
    assert suggest(ORIGIN, [], now=NOW) == []
    (plan,) = suggest(ORIGIN, [drop(1, 1000, 0)], now=NOW)
    assert plan.numbers == (1,) and plan.late == 0


def test_no_solution_falls_back_to_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the solver finds nothing, the suggestions are the baseline's, oldest first."""
    monkeypatch.setattr(batching, "_solve", lambda *args, **kwargs: None)
    drops = [drop(1, 1000, 0, ready=-1), drop(2, 0, 1000, ready=-5)]
    assert suggest(ORIGIN, drops, now=NOW) == one_by_one(ORIGIN, drops, now=NOW)
    assert [plan.numbers for plan in one_by_one(ORIGIN, drops, now=NOW)] == [(2,), (1,)]


def test_bad_requests_are_refused() -> None:
    """An order twice, no capacity, no speed or a trip with no stop is a ValueError."""
    with pytest.raises(ValueError, match="once"):
        suggest(ORIGIN, [drop(1, 0, 1000), drop(1, 0, 1000)], now=NOW)
    with pytest.raises(ValueError, match="max_stops"):
        suggest(ORIGIN, [drop(1, 0, 1000)], now=NOW, max_stops=0)
    with pytest.raises(ValueError, match="stop"):
        plan_trip(ORIGIN, [], now=NOW, speed_mps=5.0, stop_s=120)


def test_plan_trip_times_and_distances() -> None:
    """A trip's ETAs, return and km follow the road model: haversine x detour at the rider's speed, plus stops."""
    a, b = drop(1, 0, 1000), drop(2, 0, 2000)
    trip = plan_trip(ORIGIN, [a, b], now=NOW, speed_mps=5.0, stop_s=120)
    legs = [distance_m(ORIGIN, a.at), distance_m(a.at, b.at), distance_m(b.at, ORIGIN)]
    road = [leg * batching.DETOUR for leg in legs]
    assert trip.distance_m == round(sum(road))
    assert trip.etas[0] == NOW + math.ceil(road[0] / 5 * 1000)
    assert trip.etas[1] == trip.etas[0] + 120_000 + math.ceil(road[1] / 5 * 1000)
    assert trip.back_at == trip.etas[1] + 120_000 + math.ceil(road[2] / 5 * 1000)


def test_score_counts_km_lateness_and_waiting() -> None:
    """A plan's score adds its km and late minutes and averages ready-to-door minutes."""
    on_time, late = drop(1, 0, 1000, promised=45), drop(2, 0, -3000, promised=1)
    plans = one_by_one(ORIGIN, [on_time, late], now=NOW)
    result = score(plans, [on_time, late])
    assert result.trips == 2 and result.orders == 2 and result.late == 1
    assert result.distance_m == sum(plan.distance_m for plan in plans)
    (late_plan,) = (plan for plan in plans if plan.numbers == (2,))
    assert result.late_min == pytest.approx((late_plan.etas[0] - (NOW + MIN)) / MIN)
    assert result.ready_to_door_min == pytest.approx(sum(plan.etas[0] - NOW for plan in plans) / 2 / MIN)
    assert score([], []).ready_to_door_min == 0.0


places = st.tuples(st.floats(-5000, 5000), st.floats(-5000, 5000))


@settings(max_examples=25, deadline=None)
@given(
    spots=st.lists(st.tuples(places, st.integers(-10, 10), st.none() | st.integers(-10, 60)), max_size=7),
    max_stops=st.integers(1, 4),
)
def test_every_drop_once_within_capacity_etas_increasing(
    spots: list[tuple[tuple[float, float], int, int | None]], max_stops: int
) -> None:
    """Whatever the orders: each is in exactly one trip, no trip is over capacity, ETAs increase along it."""
    drops = [
        drop(n, north, east, ready=ready, promised=promised) for n, ((north, east), ready, promised) in enumerate(spots)
    ]
    plans = suggest(ORIGIN, drops, now=NOW, max_stops=max_stops, time_limit_ms=20)
    assert sorted(oid for plan in plans for oid in plan.order_ids) == sorted(d.order_id for d in drops)
    for plan in plans:
        assert 1 <= len(plan.order_ids) <= max_stops
        assert all(a < b for a, b in zip(plan.etas, plan.etas[1:], strict=False))
        assert plan.leaves_at >= NOW and plan.back_at > plan.etas[-1]


def test_a_generated_day_is_repeatable_and_plausible() -> None:
    """The same seed gives the same day; its orders are within 6 km, ready 12-25 and promised 35-50 min after ordering."""
    day = generate_day(7, orders=120, origin=ORIGIN)
    assert day == generate_day(7, orders=120, origin=ORIGIN) and day != generate_day(8, orders=120, origin=ORIGIN)
    assert len(day.drops) == 120 and len({d.order_id for d in day.drops}) == 120
    assert [d.ready_at for d in day.drops] == sorted(d.ready_at for d in day.drops)
    for d in day.drops:
        assert distance_m(ORIGIN, d.at) <= 6_001
        assert d.promised_at is not None and 10 * MIN <= d.promised_at - d.ready_at <= 38 * MIN
    with pytest.raises(ValueError):
        generate_day(1, orders=-1, origin=ORIGIN)


def test_simulate_refuses_a_planner_that_cheats_or_stalls() -> None:
    """A plan with orders that are not waiting, or no trip while riders are free, is a ValueError."""
    day = generate_day(3, orders=5, origin=ORIGIN)
    ghost = Suggestion(("nobody",), (0,), (NOW,), NOW, NOW, 0, 0, "")
    with pytest.raises(ValueError, match="not waiting"):
        simulate(day, riders=1, planner=lambda origin, drops, now: [ghost])
    with pytest.raises(ValueError, match="no trip"):
        simulate(day, riders=1, planner=lambda origin, drops, now: [])
    with pytest.raises(ValueError):
        simulate(day, riders=0, planner=lambda origin, drops, now: [])


def test_an_empty_day_costs_nothing() -> None:
    """A day with no order replays to zeros, without calling the planner."""
    result = simulate(generate_day(1, orders=0, origin=ORIGIN), riders=2, planner=lambda o, d, now: [])
    assert (result.orders, result.trips, result.planner_calls, result.distance_m, result.stops_per_trip) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert result.lateness_p90_min == result.ready_to_door_p90_min == 0.0


def test_on_a_small_generated_day_the_solver_drives_no_more_than_the_baseline() -> None:
    """With the same riders the solver's plan drives no more km than one by one (other figures are printed)."""
    day = generate_day(11, orders=60, origin=ORIGIN)
    solver = simulate(day, riders=3, planner=lambda o, d, now: suggest(o, d, now=now, time_limit_ms=30))
    baseline = simulate(day, riders=3, planner=lambda o, d, now: one_by_one(o, d, now=now))
    assert solver.orders == baseline.orders == 60
    assert solver.distance_m <= baseline.distance_m
    print(f"\nsolver:   {solver}\nbaseline: {baseline}")
