"""``fireflow bench kitchen``: orders with one item per station fired at a steady rate through the real command path.

N screens per restaurant (two per station plus two expo by default). Open and
add are prepared before the clock starts; only the fire is timed. Every screen
of the restaurant gets exactly one NEW_KITCHEN_ORDER per fire, so expected
deliveries are known and ``lost`` = expected - received after a drain period.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

from fireflow.clients.bench import profile
from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.load import STATIONS, Load, Run, StepResult
from fireflow.clients.bench.report import MiB, figure, ms, ratio, say
from fireflow.clients.bench.scenario import Scenario
from fireflow.clients.bench.servers import Server

__all__ = ["KITCHEN", "KITCHEN_ITEMS", "kitchen_screens", "planned_fires"]

KITCHEN_ITEMS = ["burger", "fries", "caesar", "mojito"]  # one per station: every screen gets each fire


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, default=200.0, help="fires per second, all restaurants together")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of firing")
    p.add_argument("--drain", type=float, default=5.0, help="seconds to wait for late deliveries")
    p.add_argument(
        "--acks",
        action="store_true",
        help="station screens acknowledge each ticket they show as the KDS page does: after a moment of their own (up "
        "to 1 s), unless another screen's TICKET_ACKED came first",
    )
    profile.add_option(p, "firing")


def kitchen_screens(env: Env, sockets: int, restaurants: int) -> Iterator[tuple[int, int, tuple[str, list[str], str]]]:
    """``sockets`` screens over ``restaurants``: two per station and expo, in turn; each as (restaurant n,
    its screen j, (token, channels, restaurant id))."""
    lanes = [*(f"kitchen:{s}" for s in STATIONS), "expo"]
    per, extra = divmod(sockets, restaurants)
    for n in range(restaurants):
        rid = env.rid(n)
        for j in range(per + (1 if n < extra else 0)):
            lane = lanes[j % len(lanes)]
            if lane == "expo":
                token = env.token(rid, "EXPO", f"expo-{j}", ("*",))
            else:
                token = env.token(rid, "KITCHEN", f"kds-{j}", (lane.partition(":")[2],))
            yield n, j, (token, [lane], rid)


def _kitchen_load(env: Env, args: argparse.Namespace) -> Load:
    screens: list[tuple[str, list[str], str]] = []
    owner: list[int] = []
    procs = max(1, args.procs)
    for n, _, screen in kitchen_screens(env, args.sockets, args.restaurants):
        screens.append(screen)
        owner.append(n % procs)  # a restaurant's screens and its waiter share a process
    waiters = [
        (env.rid(n), 0, env.token(env.rid(n), "WAITER", "bench-waiter"), n % procs) for n in range(args.restaurants)
    ]
    fires = round(args.rate * args.duration)
    return Load(screens, owner, waiters, slots=fires, items=KITCHEN_ITEMS, acks=args.acks)


async def planned_fires(
    env: Env, run: Run, total: int, restaurants: int, who: str, process_of: Callable[[int], int]
) -> list[list[Any]]:
    """``total`` orders prepared (opened, one item per station) round the restaurants, then the plan firing
    them: [k, restaurant id, order id, the generator process of restaurant n, step]."""
    counts = [len(range(n, total, restaurants)) for n in range(restaurants)]
    jobs = [(env.token(env.rid(n), "WAITER", f"bench-prep-{n}"), counts[n]) for n in range(restaurants)]
    say(f"{who}: preparing {total} orders ({len(KITCHEN_ITEMS)} items each)")
    ids = iter(await run.prepare([j for j in jobs if j[1]]))
    orders = [next(ids) if counts[n] else [] for n in range(restaurants)]
    return [[k, env.rid(k % restaurants), orders[k % restaurants][k // restaurants], process_of(k % restaurants), 0]
            for k in range(total)]  # fmt: skip


async def _kitchen(env: Env, server: Server, args: argparse.Namespace) -> StepResult:
    load = _kitchen_load(env, args)
    run = await Run.attach(env, server, load)
    try:
        procs = max(1, args.procs)
        total = round(args.rate * args.duration)
        fires = await planned_fires(env, run, total, args.restaurants, server.name, lambda n: n % procs)
        say(f"{server.name}: firing {total} orders at {args.rate:g}/s for {args.duration:g}s")
        paused = await _gc_pauses(server)
        async with profile.measured(args, server, "firing"):
            result = await run.step(0, args.rate, fires, args.drain)
        paused = [after - before for after, before in zip(await _gc_pauses(server), paused, strict=True)]
        rss = server.rss()
        failed = run.failed
    finally:
        await run.close()
    if failed:
        result.first_error = result.first_error or "some sockets did not connect"
    extra = f" redis+pg_cpu={result.extra_cpu:.0f}%" if server.name == "hub" and env.extras else ""
    if server.name == "hub":  # its background process (the durable writer, the predictor), within hub_cpu
        extra = f" background_cpu={result.child_cpu:.0f}%{extra} node_gc={paused[0]:.0f}x/{paused[1] * 1000:.0f}ms"
    if args.acks:
        extra = f"{extra} tickets_acked={result.tickets_acked} acks_covered={result.acks_covered}"
    extra = f"{extra} other_frames={result.other_events}"
    figure(
        f"kitchen[{server.name}]: p50={ms(result.p50)} p99={ms(result.p99)} max={ms(result.max)} "
        f"deliveries/s={result.received / result.seconds:.0f} lost={result.lost} "
        f"{server.name}_rss={rss / MiB:.0f}MiB {server.name}_cpu={result.server_cpu:.0f}%(sys={result.server_sys:.0f}%)"
        f"{extra} cpu/delivery={result.cpu_per_delivery_us:.0f}us{_split(result) if server.name == 'hub' else ''} loadgen_cpu={result.gen_cpu:.0f}% fire->ack p50={ms(result.ack_p50)} p99={ms(result.ack_p99)} "
        f"max_at=+{result.max_at:.1f}s frame={result.frame}B{result.notes()}{f' connect_failed={failed}' if failed else ''}"
    )
    return result


def _split(result: StepResult) -> str:
    """The hub's CPU a delivery, split: the node (sockets, commands) and its background process."""
    background = result.cpu_per_delivery_us * result.child_cpu / result.server_cpu if result.server_cpu else 0.0
    return f" (node {result.cpu_per_delivery_us - background:.0f}, background {background:.0f})"


async def _gc_pauses(server: Server) -> list[float]:
    """The node's collector pauses so far and their seconds in all (none for a baseline, which has no /metrics):
    the loop stands still for each, so they show in the tail of fire->screen."""
    if server.name != "hub":
        return [0.0, 0.0]
    names = ("fireflow_gc_pause_seconds_count", "fireflow_gc_pause_seconds_sum")
    found = await server.metrics(*names)
    return [sum(v for (name, _), v in found.items() if name == wanted) for wanted in names]


def _compare(ours: StepResult, theirs: StepResult) -> None:
    figure(f"kitchen: hub/baseline p99={ratio(ours.p99, theirs.p99)} cpu={ratio(ours.server_cpu, theirs.server_cpu)}")


def _frame(result: StepResult) -> int:
    return result.frame


def _figures(result: StepResult) -> dict[str, float]:
    return {"cpu/delivery_us": result.cpu_per_delivery_us, "p99_ms": result.p99, "lost": result.lost}


KITCHEN = Scenario(
    sockets=2000,
    procs=1,
    restaurants=200,
    options=_options,
    measure=_kitchen,
    compare=_compare,
    frame=_frame,
    hub_env=profile.hub_env,
    figures=_figures,
)
