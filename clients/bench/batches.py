"""``fireflow bench batches``: suggested delivery batches against one-by-one trips, on generated days.

No servers: each day is generated (``hub/domain/batch_day.py``) and replayed twice with the same
riders, once with the solver's suggestions (``batching.suggest``) and once with the baseline, each
order alone and oldest first (``batching.one_by_one``). Per day it prints a line per planner and the
solver/baseline ratios, then the medians over the days: km driven, late orders, p90 lateness
(minutes after the promised time; negative is early), mean minutes from ready to the door, and the
solver's wall time per call that had at least two orders to plan (median and p99).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from fireflow.clients.bench.report import figure, ms, ratio, say
from fireflow.hub.domain.batch_day import DayResult, generate_day, simulate
from fireflow.hub.domain.batching import Drop, Suggestion, one_by_one, suggest
from fireflow.schema.base import GeoPoint

__all__ = ["main"]

ORIGIN = GeoPoint(lat=52.5200, lon=13.4050)  # any city centre: the day is generated around it


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fireflow bench batches", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--days", type=int, default=5, help="generated days (seeds --seed, --seed+1, ...)")
    p.add_argument("--orders", type=int, default=300, help="delivery orders per day")
    p.add_argument("--riders", type=int, default=8, help="riders, the same for both planners")
    p.add_argument("--seed", type=int, default=1, help="the first day's seed")
    p.add_argument("--max-stops", type=int, default=3, help="orders per trip at most")
    p.add_argument("--time-limit", type=int, default=300, help="the solver's time limit per call (ms)")
    return p


def _p99(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else sum(values)


def _line(name: str, label: str, result: DayResult) -> str:
    return (
        f"batches[{name}] {label}: km={result.distance_m / 1000:.0f} trips={result.trips} "
        f"stops/trip={result.stops_per_trip:.2f} late={result.late}/{result.orders} "
        f"p90_lateness={result.lateness_p90_min:.1f}min ready_to_door={result.ready_to_door_mean_min:.1f}min"
    )


def _ratios(label: str, ours: DayResult, theirs: DayResult) -> str:
    return (
        f"batches[solver/baseline] {label}: km={ratio(ours.distance_m, theirs.distance_m)} "
        f"late={ratio(ours.late, theirs.late)} ready_to_door={ratio(ours.ready_to_door_mean_min, theirs.ready_to_door_mean_min)}"
    )


def _median(results: Sequence[DayResult]) -> DayResult:
    def mid(values: Sequence[float]) -> float:
        return float(statistics.median(values))

    return DayResult(
        orders=round(mid([r.orders for r in results])),
        trips=round(mid([r.trips for r in results])),
        planner_calls=round(mid([r.planner_calls for r in results])),
        distance_m=round(mid([r.distance_m for r in results])),
        late=round(mid([r.late for r in results])),
        lateness_mean_min=mid([r.lateness_mean_min for r in results]),
        lateness_p90_min=mid([r.lateness_p90_min for r in results]),
        ready_to_door_mean_min=mid([r.ready_to_door_mean_min for r in results]),
        ready_to_door_p90_min=mid([r.ready_to_door_p90_min for r in results]),
    )


def main(argv: list[str]) -> int:
    """Run the scenario; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.days < 1 or args.orders < 1 or args.riders < 1 or args.max_stops < 1 or args.time_limit < 1:
        raise SystemExit("bench batches: --days, --orders, --riders, --max-stops and --time-limit must be at least 1")
    solver_ms: list[float] = []

    def solver(origin: GeoPoint, drops: Sequence[Drop], now: int) -> list[Suggestion]:
        started = time.perf_counter()
        plans = suggest(origin, drops, now=now, max_stops=args.max_stops, time_limit_ms=args.time_limit)
        if len(drops) > 1:
            solver_ms.append((time.perf_counter() - started) * 1000)
        return plans

    def baseline(origin: GeoPoint, drops: Sequence[Drop], now: int) -> list[Suggestion]:
        return one_by_one(origin, drops, now=now)

    ours, theirs = [], []
    for seed in range(args.seed, args.seed + args.days):
        say(f"day {seed}: {args.orders} orders, {args.riders} riders")
        day = generate_day(seed, orders=args.orders, origin=ORIGIN)
        ours.append(simulate(day, riders=args.riders, planner=solver))
        theirs.append(simulate(day, riders=args.riders, planner=baseline))
        figure(_line("solver", f"day={seed}", ours[-1]))
        figure(_line("baseline", f"day={seed}", theirs[-1]))
        figure(_ratios(f"day={seed}", ours[-1], theirs[-1]))
    label = f"median of {args.days} days"
    figure(_line("solver", label, _median(ours)))
    figure(_line("baseline", label, _median(theirs)))
    figure(_ratios(label, _median(ours), _median(theirs)))
    if solver_ms:
        figure(
            f"batches[solver] calls={len(solver_ms)} per_call_p50={ms(statistics.median(solver_ms))} "
            f"per_call_p99={ms(_p99(solver_ms))} time_limit={args.time_limit}ms"
        )
    return 0
