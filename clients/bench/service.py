"""``fireflow bench service``: a simulated day of the demo restaurant, to see how good the predictions are.

The simulator (``clients/simulator``) plays ``--orders`` orders over ``--day-part`` at ``--speed``,
with a planted ``--slowdown`` at one station,
against a hub that predicts (looking a twentieth of a second after each change, so a prediction
comes within a few service seconds of its fire). It prints the day's summary: lines and prep times
per station, and per station the mean absolute error and 90th percentile of the hub's first
prediction of when that station is done with an order, next to the naive guess (the fire time plus
the slowest item's mean fire-to-done time so far), in service minutes; the bottleneck alerts heard,
true (two or more tickets at that station turned late within 15 minutes after: what the alert said)
or false, and the lead of the
slowed station's first alert over its first late ticket. Then the hub's own scoring of the
predictions (``GET /api/v1/stats/predictions``, wall-clock seconds, which the speed scales).
"""

from __future__ import annotations

import argparse
import asyncio
import urllib.request

import orjson

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.report import figure, say
from fireflow.clients.bench.scenario import Scenario
from fireflow.clients.bench.servers import Server
from fireflow.clients.simulator import DAY_PARTS, DEMO_KITCHEN, Report, Simulation, Slowdown, plan_service, staffed_for
from fireflow.clients.simulator.cooks import late_times
from fireflow.clients.simulator.plan import DayPart
from fireflow.hub.run.demo import demo_setup
from fireflow.hub.run.embedded.process import HOST

__all__ = ["SERVICE"]


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", type=int, default=600, help="orders in the day")
    p.add_argument("--speed", type=float, default=120.0, help="service seconds per second")
    p.add_argument("--day-part", choices=sorted(DAY_PARTS), default="day", help="which service")
    p.add_argument("--seed", type=int, default=1, help="the same seed plays the same day")
    p.add_argument(
        "--restaurant-times",
        action="store_true",
        help="keep the demo restaurant's late times (grill 12 min) instead of ones that fit the simulated pace",
    )
    p.add_argument(
        "--slowdown",
        default="grill,19.5,20.5,2.0",
        help="a planted slowdown STATION,FROM,TO,FACTOR (hours of the day; '' for none): that station's prep "
        "times multiplied meanwhile, to see the bottleneck alerts' lead time (default grill,19.5,20.5,2.0)",
    )


def _slowdown(text: str, part: DayPart) -> Slowdown | None:
    if not text:
        return None
    try:
        station, start, end, factor = text.split(",")
        return Slowdown(station, (float(start) - part.opens) * 3600, (float(end) - part.opens) * 3600, float(factor))
    except ValueError:
        raise SystemExit(f"bench service: --slowdown {text!r} is not STATION,FROM,TO,FACTOR") from None


def _hub_env(args: argparse.Namespace) -> dict[str, str]:
    return {"FIREFLOW_PREDICT_TICK": "0.05"}


async def _service(env: Env, hub: Server, args: argparse.Namespace) -> Report:
    if args.orders < 1 or args.speed <= 0:
        raise SystemExit("bench service: --orders must be at least 1 and --speed above 0")
    rid = env.rid(0)
    menu = [item.model_dump(mode="json") for item in demo_setup().menu]
    plan = plan_service(menu, orders=args.orders, part=DAY_PARTS[args.day_part], seed=args.seed)
    slowdown = _slowdown(args.slowdown, plan.part)
    staffed = staffed_for(DEMO_KITCHEN, plan, menu)
    kitchen = staffed if slowdown is None else staffed.with_slowdown(slowdown)
    say(
        "lines made at once, staffed for the day's busiest half hour: "
        + ", ".join(f"{s} {n}" for s, n in staffed.cooks.items())
    )
    lasts = plan.part.seconds / args.speed
    say(f"playing {plan.part.name}: {len(plan.orders)} orders at {args.speed:g}x, about {lasts / 60:.0f} min")
    late = {} if args.restaurant_times else late_times(staffed, menu)
    if late:
        say("late times to fit the kitchen's pace: " + ", ".join(f"{s} {v // 60} min" for s, v in late.items()))
    simulation = Simulation(
        f"ws://{HOST}:{hub.port}/ws",
        lambda role, device, stations: env.token(rid, role, device, stations),
        plan,
        kitchen,
        speed=args.speed,
        late_after=late,
    )
    report = await simulation.run()
    for line in report.summary():
        figure(line)
    request = urllib.request.Request(
        f"http://{HOST}:{hub.port}/api/v1/stats/predictions",
        headers={"Authorization": f"Bearer {env.token(rid, 'MANAGER', 'bench-manager')}"},
    )
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
    figure("  the hub's own scoring (GET /api/v1/stats/predictions), service minutes: MAE p90 | naive MAE p90")
    for row in orjson.loads(body)["stations"]:
        figure(
            f"  {row['station']:<8} {row['scored']:4d} scored  {_minutes(row['mae_s'], args.speed)} "
            f"{_minutes(row['p90_s'], args.speed)} | {_minutes(row['naive_mae_s'], args.speed)} "
            f"{_minutes(row['naive_p90_s'], args.speed)}"
        )
    return report


def _minutes(wall_s: float | None, speed: float) -> str:
    return "    -" if wall_s is None else f"{wall_s * speed / 60:5.1f}"


# 40 tables: a restaurant doing 600 orders a day seats more than the demo's dozen
SERVICE = Scenario(
    sockets=1, procs=1, restaurants=None, options=_options, measure=_service, hub_env=_hub_env, tables=40
)
