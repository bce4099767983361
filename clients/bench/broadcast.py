"""``fireflow bench broadcast``: every socket on one channel while the fire rate steps up.

All sockets watch ``kitchen:grill`` of one restaurant. "held" is the highest
step with no loss and p99 under ``--p99-limit``; stepping goes on past that
limit (to ``--stop-p99``) and "lossless" is the highest step with no loss at
all, the throughput ceiling. With thousands of sockets one event's fan-out
burst alone can take most of the p99 budget, whatever the rate.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.load import WAITER_RATE, Load, Run, StepResult
from fireflow.clients.bench.report import MiB, figure, ms, rates, ratio
from fireflow.clients.bench.scenario import Scenario
from fireflow.clients.bench.servers import Server

__all__ = ["BROADCAST", "Held"]

DEFAULT_RATES = "1,2,5,10,15,20,30,40,60,80,120,160,240,320"


@dataclass
class Held:
    """The highest step held by the issue's rule (no loss, p99 under the limit), and the highest with no loss."""

    step: StepResult | None
    lossless: StepResult | None
    sockets: int

    @property
    def deliveries(self) -> float:
        return self.step.rate * self.sockets if self.step else 0.0

    @property
    def lossless_deliveries(self) -> float:
        return self.lossless.rate * self.sockets if self.lossless else 0.0


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rates", type=rates, default=rates(DEFAULT_RATES), help="events/s per step, ascending")
    p.add_argument("--step", type=float, default=5.0, help="seconds per step")
    p.add_argument("--drain", type=float, default=2.0, help="seconds to wait for late deliveries per step")
    p.add_argument("--p99-limit", type=float, default=100.0, help="ms; a step with p99 at or above is not held")
    p.add_argument("--stop-p99", type=float, default=1000.0, help="ms; stop stepping once p99 reaches this")
    p.add_argument("--waiters", type=int, default=4, help="waiter sockets sharing the fires")


async def _broadcast(env: Env, server: Server, args: argparse.Namespace) -> Held:
    rid = env.rid(0)
    procs = max(1, args.procs)
    rates = args.rates
    step_seconds = args.step
    waiter_count = max(args.waiters, math.ceil(max(rates) / WAITER_RATE))
    screens = [(env.token(rid, "KITCHEN", f"kds-{i}", ("grill",)), ["kitchen:grill"], rid) for i in range(args.sockets)]
    waiters = [(rid, w, env.token(rid, "WAITER", f"bench-waiter-{w}"), w % procs) for w in range(waiter_count)]
    slots = sum(max(1, round(r * step_seconds)) for r in rates)
    load = Load(screens, [i % procs for i in range(args.sockets)], waiters, slots, items=["burger"])
    run = await Run.attach(env, server, load)
    held: StepResult | None = None
    best: StepResult | None = None
    base = 0
    try:
        for number, rate in enumerate(rates):
            count = max(1, round(rate * step_seconds))
            per_socket = 70  # 2 frames per order: stays inside the hub's burst allowance
            jobs = [
                (env.token(rid, "WAITER", f"bench-prep-{number}-{j}"), min(per_socket, count - j * per_socket))
                for j in range(math.ceil(count / per_socket))
            ]
            ids = [oid for chunk in await run.prepare(jobs) for oid in chunk]
            fires = [[base + k, rid, ids[k], (k % waiter_count) % procs, k % waiter_count] for k in range(count)]
            base += count
            step = await run.step(number, rate, fires, args.drain)
            lossless = step.lost == 0 and not step.errors
            ok = lossless and step.p99 < args.p99_limit
            figure(
                f"broadcast[{server.name}] step: rate={rate:g}/s deliveries/s={step.received / step.seconds:.0f} "
                f"lost={step.lost} p50={ms(step.p50)} p99={ms(step.p99)} max={ms(step.max)} "
                f"{server.name}_cpu={step.server_cpu:.0f}%(sys={step.server_sys:.0f}%) cpu/delivery={step.cpu_per_delivery_us:.1f}us "
                f"loadgen_cpu={step.gen_cpu:.0f}% fire->ack p99={ms(step.ack_p99)}{step.notes()}"
                f"{'' if ok else '  <- not held'}"
            )
            if ok:
                held = step
            if lossless:
                best = step
            # Past the p99 limit, keep stepping to find the throughput ceiling, unless latency is already hopeless.
            if not lossless or step.p99 >= args.stop_p99:
                break
        rss = server.rss()
    finally:
        await run.close()
    result = Held(held, best, args.sockets)
    name = server.name
    if held is None:
        figure(f"broadcast[{name}]: held=none (no step had lost=0 with p99<{args.p99_limit:g}ms)")
    else:
        figure(
            f"broadcast[{name}]: held={held.rate:g} events/s x {args.sockets} sockets = {result.deliveries:.0f} "
            f"deliveries/s with lost=0 p99={ms(held.p99)} {name}_cpu={held.server_cpu:.0f}% "
            f"cpu/delivery={held.cpu_per_delivery_us:.1f}us {name}_rss={rss / MiB:.0f}MiB"
        )
    if best is not None and best is not held:
        figure(
            f"broadcast[{name}]: lossless={best.rate:g} events/s = {result.lossless_deliveries:.0f} deliveries/s "
            f"(p99={ms(best.p99)}, above the limit) {name}_cpu={best.server_cpu:.0f}% "
            f"cpu/delivery={best.cpu_per_delivery_us:.1f}us"
        )
    return result


def _compare(ours: Held, theirs: Held) -> None:
    ours_cpu = ours.lossless.cpu_per_delivery_us if ours.lossless else 0.0
    theirs_cpu = theirs.lossless.cpu_per_delivery_us if theirs.lossless else 0.0
    figure(
        f"broadcast: hub/baseline held deliveries/s={ratio(ours.deliveries, theirs.deliveries)} "
        f"lossless deliveries/s={ratio(ours.lossless_deliveries, theirs.lossless_deliveries)} "
        f"cpu/delivery={ratio(ours_cpu, theirs_cpu)} (at each one's highest lossless step)"
    )


def _frame(result: Held) -> int:
    return result.lossless.frame if result.lossless is not None else 0


def _figures(result: Held) -> dict[str, float]:
    """The step held and the highest lossless one (deliveries a second), and the CPU a delivery at the latter."""
    cpu = result.lossless.cpu_per_delivery_us if result.lossless else 0.0
    return {"held/s": result.deliveries, "lossless/s": result.lossless_deliveries, "cpu/delivery_us": cpu}


BROADCAST = Scenario(
    sockets=5000,
    procs=2,
    restaurants=None,
    options=_options,
    measure=_broadcast,
    compare=_compare,
    frame=_frame,
    figures=_figures,
)
