"""``fireflow bench idle``: N authenticated, subscribed, silent sockets; memory per socket is the RSS growth over N."""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.load import STATIONS, Load, Run
from fireflow.clients.bench.report import MiB, figure, ratio
from fireflow.clients.bench.scenario import Scenario
from fireflow.clients.bench.servers import Server

__all__ = ["IDLE", "IdleResult"]


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--settle", type=float, default=3.0, help="seconds to let memory settle before measuring")


@dataclass
class IdleResult:
    sockets: int
    before: int
    after: int
    cpu: float

    @property
    def per_socket(self) -> float:
        return (self.after - self.before) / self.sockets if self.sockets else 0.0


async def _idle(env: Env, server: Server, args: argparse.Namespace) -> IdleResult:
    procs = max(1, args.procs)
    screens = []
    for i in range(args.sockets):
        rid = env.rid(i % args.restaurants)
        station = STATIONS[(i // args.restaurants) % len(STATIONS)]
        screens.append((env.token(rid, "KITCHEN", f"kds-{i}", (station,)), [f"kitchen:{station}"], rid))
    load = Load(screens, [i % procs for i in range(args.sockets)], [], slots=1)
    await asyncio.sleep(args.settle)
    before = server.rss()
    run = await Run.attach(env, server, load)
    try:
        await asyncio.sleep(args.settle)
        cpu0, wall0 = server.cpu(), time.monotonic()
        await asyncio.sleep(args.settle)
        cpu = (server.cpu() - cpu0) / (time.monotonic() - wall0) * 100
        after = server.rss()
        sockets = await run.open_sockets()
    finally:
        await run.close()
    result = IdleResult(sockets, before, after, cpu)
    figure(
        f"idle[{server.name}]: sockets={sockets} rss_before={before / MiB:.0f}MiB rss_after={after / MiB:.0f}MiB "
        f"per_connection={result.per_socket / 1024:.1f}KiB idle_cpu={cpu:.0f}%"
    )
    return result


def _compare(ours: IdleResult, theirs: IdleResult) -> None:
    figure(f"idle: hub/baseline memory/connection={ratio(ours.per_socket, theirs.per_socket)}")


def _figures(result: IdleResult) -> dict[str, float]:
    return {"KiB/socket": result.per_socket / 1024, "idle_cpu_%": result.cpu}


IDLE = Scenario(
    sockets=10000, procs=2, restaurants=100, options=_options, measure=_idle, compare=_compare, figures=_figures
)
