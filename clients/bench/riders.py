"""``fireflow bench riders``: riders' phones sending positions to dispatchers, alone and with the kitchen load.

``--riders`` riders (500 by default) spread over the restaurants, each sending a fix every ``--every``
seconds (2 s), riding round a 1 km circle about its restaurant, their sends spread evenly over the
period; one dispatcher socket per restaurant subscribed to ``dispatch``. Riders and dispatchers run in
this process, so a fix's ``at`` and the moment its ``positions`` frame is read are on one clock (the
wall clock): that difference is the dispatcher's update latency (it includes the hub's coalescing
window, ``FIREFLOW_POSITION_WINDOW``).

Two phases: the riders alone for ``--alone`` seconds, where the hub's CPU per position is the hub
process's CPU time over the phase divided by the fixes it accepted (read from its ``/metrics``); then
the riders again while the kitchen scenario's load runs (its screens, orders and fires, reused), for
the latency under load, the hub's CPU over the whole, and the kitchen's own figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import time
import urllib.request
from dataclasses import dataclass, field

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.kitchen import KITCHEN, KITCHEN_ITEMS, _kitchen_load
from fireflow.clients.bench.load import Run, StepResult
from fireflow.clients.bench.report import figure, ms, say
from fireflow.clients.bench.scenario import Scenario
from fireflow.clients.bench.servers import Server
from fireflow.hub.run.embedded.process import HOST
from fireflow.schema.protocol import SUBPROTOCOL_JSON

__all__ = ["RIDERS"]

CENTRE = (12.9716, 77.5946)
RADIUS_M = 1_000.0
SPEED_MPS = 8.0
METRES_PER_DEGREE = 111_195.0


def _options(p: argparse.ArgumentParser) -> None:
    KITCHEN.options(p)
    p.add_argument("--riders", type=int, default=500, help="riders sending positions, over the restaurants")
    p.add_argument("--every", type=float, default=2.0, help="seconds between a rider's fixes")
    p.add_argument("--alone", type=float, default=10.0, help="seconds of riders alone (CPU per position)")


@dataclass
class _Latency:
    """Fix-to-dispatcher latencies (ms) while ``on``."""

    on: bool = False
    samples: list[float] = field(default_factory=list)
    frames: int = 0

    def take(self) -> list[float]:
        taken, self.samples = self.samples, []
        return taken


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def _metric(port: int, name: str, outcome: str) -> float:
    """One counter of the hub's /metrics (0 when it has none yet)."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf'^{name}_total{{outcome="{outcome}"}} ([0-9.e+]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def _open(port: int, token: str) -> ClientConnection:
    ws = await websockets.connect(
        f"ws://{HOST}:{port}/ws",
        subprotocols=[SUBPROTOCOL_JSON],  # type: ignore[list-item]
        compression=None,
        max_size=None,
    )
    await ws.send(orjson.dumps({"op": "auth", "token": token}).decode())
    welcome = orjson.loads(await ws.recv())
    if welcome.get("op") != "welcome":
        raise RuntimeError(f"auth refused: {welcome}")
    return ws


async def _dispatcher(port: int, token: str, latency: _Latency, ready: asyncio.Event) -> None:
    ws = await _open(port, token)
    try:
        await ws.send(orjson.dumps({"op": "subscribe", "channels": ["dispatch"]}).decode())
        async for raw in ws:
            frame = orjson.loads(raw)
            op = frame.get("op")
            if op == "positions":
                now = time.time() * 1000
                if latency.on:
                    latency.frames += 1
                    latency.samples.extend(now - fix["at"] for fix in frame["riders"])
            elif op == "ping":
                await ws.send(orjson.dumps({"op": "pong", "t": frame.get("t")}).decode())
            elif op == "subscribed":
                ready.set()
    finally:
        await ws.close()


@dataclass
class _Go:
    """The riders' shared start: connected ones counted, then sending from ``start`` (loop time) while ``sending``."""

    riders: int
    connected: int = 0
    all_connected: asyncio.Event = field(default_factory=asyncio.Event)
    sending: asyncio.Event = field(default_factory=asyncio.Event)
    start: float = 0.0


async def _rider(port: int, token: str, phase: float, every: float, go: _Go) -> None:
    """Ride round the circle, a fix every ``every`` seconds at ``phase`` into the period, while ``go.sending``."""
    ws = await _open(port, token)
    go.connected += 1
    if go.connected == go.riders:
        go.all_connected.set()

    async def drain() -> None:  # pings need no answer: the fixes keep the socket alive
        async for _ in ws:
            pass

    reader = asyncio.create_task(drain())
    lat0, lon0 = CENTRE
    angle0 = phase * 2 * math.pi
    try:
        await go.sending.wait()
        loop = asyncio.get_running_loop()
        n = 0
        while True:
            due = go.start + phase * every + n * every
            n += 1
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not go.sending.is_set():
                return
            angle = angle0 + SPEED_MPS * n * every / RADIUS_M
            lat = lat0 + RADIUS_M * math.cos(angle) / METRES_PER_DEGREE
            lon = lon0 + RADIUS_M * math.sin(angle) / (METRES_PER_DEGREE * math.cos(math.radians(lat0)))
            fix = {"op": "position", "lat": lat, "lon": lon, "accuracy": 8.0, "at": int(time.time() * 1000)}
            await ws.send(orjson.dumps(fix).decode())
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await ws.close()


@dataclass
class RidersResult:
    accepted: float
    seconds: float
    cpu_s: float
    p50: float
    p99: float
    max: float
    frames: int
    dropped: float
    kitchen: StepResult | None = None
    idle_cpu_s: float | None = None  # what the hub spends over as long with nobody sending

    @property
    def cpu_per_position_us(self) -> float:
        return self.cpu_s / self.accepted * 1e6 if self.accepted else 0.0

    @property
    def net_cpu_per_position_us(self) -> float | None:
        if self.idle_cpu_s is None or not self.accepted:
            return None
        return max(0.0, self.cpu_s - self.idle_cpu_s) / self.accepted * 1e6


def _line(name: str, phase: str, found: RidersResult) -> None:
    per_s = found.accepted / found.seconds if found.seconds else 0.0
    net_us = found.net_cpu_per_position_us
    net = f" (net of idle: {net_us:.0f}us)" if net_us is not None else ""
    figure(
        f"riders[{name}] {phase}: positions/s={per_s:.0f} hub_cpu={found.cpu_s / found.seconds * 100:.0f}% "
        f"cpu/position={found.cpu_per_position_us:.0f}us{net} dispatcher p50={ms(found.p50)} p99={ms(found.p99)} "
        f"max={ms(found.max)} positions_frames={found.frames} dropped={found.dropped:.0f}"
    )


async def _phase(server: Server, latency: _Latency, seconds: float) -> tuple[float, float, float]:
    """Watch the riders for ``seconds``: (fixes accepted, dropped positions frames, hub CPU seconds)."""
    port = server.port
    accepted0, dropped0 = (
        _metric(port, "fireflow_positions", "accepted"),
        _metric(port, "fireflow_position_frames", "dropped"),
    )
    cpu0 = server.cpu()
    latency.take()
    latency.frames = 0
    latency.on = True
    await asyncio.sleep(seconds)
    latency.on = False
    cpu = server.cpu() - cpu0
    accepted = _metric(port, "fireflow_positions", "accepted") - accepted0
    dropped = _metric(port, "fireflow_position_frames", "dropped") - dropped0
    return accepted, dropped, cpu


def _result(latency: _Latency, accepted: float, dropped: float, cpu: float, seconds: float) -> RidersResult:
    samples = latency.take()
    return RidersResult(
        accepted=accepted,
        seconds=seconds,
        cpu_s=cpu,
        p50=_percentile(samples, 50),
        p99=_percentile(samples, 99),
        max=max(samples, default=0.0),
        frames=latency.frames,
        dropped=dropped,
    )


async def _riders(env: Env, server: Server, args: argparse.Namespace) -> RidersResult:
    if args.riders < 1 or args.every <= 0:
        raise SystemExit("bench riders: --riders must be at least 1 and --every above 0")
    port = server.port
    latency = _Latency()
    go = _Go(args.riders)
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    say(f"{server.name}: connecting {args.restaurants} dispatcher(s) and {args.riders} rider(s)")
    try:
        for n in range(args.restaurants):
            ready = asyncio.Event()
            token = env.token(env.rid(n), "DISPATCHER", f"bench-dispatch-{n}")
            tasks.append(asyncio.create_task(_dispatcher(port, token, latency, ready)))
            await asyncio.wait_for(ready.wait(), 30)
        for r in range(args.riders):
            token = env.token(env.rid(r % args.restaurants), "RIDER", f"bench-rider-{r}")
            phase = r / max(1, args.riders)
            tasks.append(asyncio.create_task(_rider(port, token, phase, args.every, go)))
        await asyncio.wait_for(go.all_connected.wait(), 60 + args.riders / 20)
        quiet = min(args.alone, 5.0)
        say(f"{server.name}: {quiet:g}s with everyone connected and quiet (the hub's own ticking)")
        idle0 = server.cpu()
        await asyncio.sleep(quiet)
        idle = (server.cpu() - idle0) / quiet  # CPU seconds per second
        go.start = loop.time() + 0.5
        go.sending.set()
        await asyncio.sleep(max(0.0, go.start - loop.time()) + args.every)  # every rider sent once
        say(f"{server.name}: riders alone for {args.alone:g}s")
        accepted, dropped, cpu = await _phase(server, latency, args.alone)
        alone = _result(latency, accepted, dropped, cpu, args.alone)
        alone.idle_cpu_s = idle * args.alone
        _line(server.name, "alone", alone)

        load = _kitchen_load(env, args)
        run = await Run.attach(env, server, load)
        try:
            total = round(args.rate * args.duration)
            counts = [len(range(n, total, args.restaurants)) for n in range(args.restaurants)]
            jobs = [(env.token(env.rid(n), "WAITER", f"bench-prep-{n}"), counts[n]) for n in range(args.restaurants)]
            say(f"{server.name}: preparing {total} orders ({len(KITCHEN_ITEMS)} items each)")
            ids = iter(await run.prepare([j for j in jobs if j[1]]))
            orders = [next(ids) if counts[n] else [] for n in range(args.restaurants)]
            procs = max(1, args.procs)
            rs = args.restaurants
            fires = [[k, env.rid(k % rs), orders[k % rs][k // rs], (k % rs) % procs, 0] for k in range(total)]
            say(f"{server.name}: riders with the kitchen firing {total} orders at {args.rate:g}/s")
            accepted0 = _metric(port, "fireflow_positions", "accepted")
            dropped0 = _metric(port, "fireflow_position_frames", "dropped")
            latency.take()
            latency.frames = 0
            latency.on = True
            started = loop.time()
            kitchen = await run.step(0, args.rate, fires, args.drain)
            latency.on = False
            seconds = loop.time() - started
        finally:
            await run.close()
        accepted = _metric(port, "fireflow_positions", "accepted") - accepted0
        dropped = _metric(port, "fireflow_position_frames", "dropped") - dropped0
        loaded = _result(latency, accepted, dropped, kitchen.server_cpu_s, seconds)
        loaded.kitchen = kitchen
        _line(server.name, "with kitchen", loaded)
        figure(
            f"riders[{server.name}] kitchen: p50={ms(kitchen.p50)} p99={ms(kitchen.p99)} "
            f"deliveries/s={kitchen.received / kitchen.seconds:.0f} lost={kitchen.lost} "
            f"fire->ack p50={ms(kitchen.ack_p50)} p99={ms(kitchen.ack_p99)}{kitchen.notes()}"
        )
        return loaded
    finally:
        go.sending.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


RIDERS: Scenario[RidersResult] = Scenario(
    sockets=KITCHEN.sockets, procs=KITCHEN.procs, restaurants=KITCHEN.restaurants, options=_options, measure=_riders
)
