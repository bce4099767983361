"""One server under test with the load generator attached: the sockets, the fires and what they measured.

A scenario describes its ``Load`` (which sockets on which channels, which
waiters fire, the orders' items); ``Run.attach`` connects it through the
generator processes, and each ``Run.step`` fires a plan at a rate and gathers
every worker's view into a ``StepResult``. Latency runs from the moment the fire
command is written to the socket to the moment each screen's read returns the
event, on one clock (CLOCK_MONOTONIC).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.report import say
from fireflow.clients.bench.servers import Server
from fireflow.clients.bench.usage import cpu_seconds
from fireflow.clients.bench.workers import Workers
from fireflow.hub.run.embedded.process import HOST

__all__ = ["STATIONS", "WAITER_RATE", "Load", "Run", "StepResult"]

STATIONS = ("grill", "fry", "cold", "bar")
# A waiter socket stays under the hub's per-socket frame limit (FIREFLOW_RATE, 100/s by default).
WAITER_RATE = 80.0


@dataclass
class Load:
    """What the generator does for one scenario: its sockets, waiters, and the orders it fires."""

    screens: list[tuple[str, list[str], str]]  # token, channels, group (restaurant)
    screen_worker: list[int]
    waiters: list[tuple[str, int, str, int]]  # group, slot, token, worker
    slots: int  # fire-time slots in the shared map
    items: list[str] = field(default_factory=list)
    acks: bool = False  # station screens acknowledge each FIRE ticket they show, as the KDS page does
    # Several hub nodes: generator process i connects to ports[i % len(ports)]; empty: the server's port.
    ports: list[int] = field(default_factory=list)

    def port_of(self, worker: int, default: int) -> int:
        return self.ports[worker % len(self.ports)] if self.ports else default


@dataclass
class StepResult:
    rate: float
    fires: int
    expected: int
    received: int
    duplicates: int
    bytes: int
    errors: int
    first_error: str
    late_ms: float
    max_at: float  # seconds into the step when the slowest delivery's fire was sent
    closed: int
    close_codes: list[int]
    p50: float
    p99: float
    max: float
    ack_p50: float  # fire -> ack: the command path alone
    ack_p99: float
    seconds: float
    server_cpu: float  # % of one core over the step
    extra_cpu: float
    gen_cpu: float
    server_cpu_s: float  # seconds
    server_sys: float  # the part of server_cpu in the kernel (socket writes), %
    child_cpu: float = 0.0  # the part of server_cpu in its children (a hub's background process), %
    tickets_acked: int = 0  # ticket.ack commands the station screens sent (``--acks``) ...
    ack_errors: int = 0  # ... and those refused
    ack_unanswered: int = 0  # ... and those with no answer by the end of the drain
    acks_covered: int = 0  # tickets a screen left out, another screen's TICKET_ACKED having come first
    other_events: int = 0  # frames the screens got besides the fires' NEW_KITCHEN_ORDER (TICKET_ACKED, predictions)

    @property
    def cpu_per_delivery_us(self) -> float:
        """Server CPU per delivered message: comparable across servers, machines and socket counts."""
        return self.server_cpu_s / self.received * 1e6 if self.received else 0.0

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def frame(self) -> int:
        return round(self.bytes / self.received) if self.received else 0

    def notes(self) -> str:
        """What went wrong in the step, for the end of its figure line."""
        notes = []
        if self.duplicates:
            notes.append(f"duplicates={self.duplicates}")
        if self.errors:
            notes.append(f"fire_errors={self.errors} ({self.first_error})")
        if self.closed:
            notes.append(f"sockets_closed={self.closed} codes={self.close_codes}")
        if self.ack_errors or self.ack_unanswered:
            notes.append(f"ticket_acks_refused={self.ack_errors} unanswered={self.ack_unanswered}")
        if self.late_ms > 50:
            notes.append(f"generator_late={self.late_ms:.0f}ms")
        return (" " + " ".join(notes)) if notes else ""


class Run:
    """One server under test with its generator processes attached."""

    def __init__(self, env: Env, server: Server, load: Load, workers: Workers, failed: int) -> None:
        self.env = env
        self.failed = failed  # sockets that could not connect, authenticate or subscribe
        self.server = server
        self.load = load
        self.workers = workers
        self.fired = 0

    @classmethod
    async def attach(cls, env: Env, server: Server, load: Load) -> Run:
        args = env.args
        procs = max(1, args.procs)
        times = env.directory / f"fire-times-{server.name}"
        with times.open("wb") as fh:
            fh.truncate(max(1, load.slots) * 8)
        configs = []
        for index in range(procs):
            configs.append(
                {
                    "index": index,
                    "host": HOST,
                    "port": load.port_of(index, server.port),
                    "client": args.client,
                    "times": str(times),
                    "slots": max(1, load.slots),
                    "concurrency": args.connect_concurrency,
                    "acks": load.acks,
                    "screens": [s for s, w in zip(load.screens, load.screen_worker, strict=True) if w == index],
                    "waiters": [(g, slot, tok) for g, slot, tok, w in load.waiters if w == index],
                }
            )
        say(
            f"{server.name}: connecting {len(load.screens)} sockets + {len(load.waiters)} waiters from {procs} process(es)"
        )
        workers = Workers()
        try:
            started = time.monotonic()
            reports = await workers.start(configs, env.directory, timeout=180 + len(load.screens) / 20)
        except BaseException:
            await workers.stop()
            raise
        connected = sum(r["screens"] for r in reports)
        failed = sum(r["failed"] for r in reports)
        say(f"{server.name}: {connected} sockets connected in {time.monotonic() - started:.1f}s, {failed} failed")
        if failed:
            first = next(r["first_failure"] for r in reports if r["failed"])
            say(f"{server.name}: first connection failure: {first}")
        return cls(env, server, load, workers, failed)

    async def prepare(self, jobs: list[tuple[str, int]]) -> list[list[str]]:
        from fireflow.clients.loadgen import prepare_orders

        started = time.monotonic()
        ports = self.load.ports or [self.server.port]  # several nodes: job i goes through ports[i % len(ports)]
        shares = await asyncio.gather(
            *(
                prepare_orders(
                    HOST,
                    port,
                    jobs[n :: len(ports)],
                    self.load.items,
                    kind=self.env.args.client,
                    frame_rate=WAITER_RATE,
                )
                for n, port in enumerate(ports)
            )
        )
        ids = [shares[i % len(ports)][i // len(ports)] for i in range(len(jobs))]
        total = sum(len(i) for i in ids)
        say(f"{self.server.name}: prepared {total} orders in {time.monotonic() - started:.1f}s")
        return ids

    async def step(self, number: int, rate: float, fires: list[list[Any]], drain: float) -> StepResult:
        """Fire ``fires`` ([slot, group, order id, worker, waiter]) at ``rate``/s; gather every worker's view."""
        if not self.server.alive():
            raise RuntimeError(f"{self.server.name} died:\n{self.server.log_tail()}")
        extras = self.env.extras if self.server.name == "hub" else []
        (user0, sys0), extra0, gen0 = self.server.cpu_split(), cpu_seconds(extras), self.workers.cpu()
        own0 = self.server.own_cpu()
        wall0 = time.monotonic()
        plan = {"cmd": "step", "step": number, "t0": wall0 + 0.5, "rate": rate, "drain": drain}
        plan["base"] = fires[0][0] if fires else 0
        plan["fires"] = fires
        seconds = len(fires) / rate
        reports = await self.workers.ask([plan] * len(self.workers.procs), timeout=seconds + drain + 120)
        wall = time.monotonic() - wall0
        user1, sys1 = self.server.cpu_split()
        cpu, system = user1 + sys1 - user0 - sys0, sys1 - sys0
        children = cpu - (self.server.own_cpu() - own0)
        extra, gen = cpu_seconds(extras) - extra0, self.workers.cpu() - gen0
        from fireflow.clients.loadgen import Histogram

        hist, acks = Histogram(), Histogram()
        for report in reports:
            hist.merge(report["hist"])
            acks.merge(report["ack_hist"])

        def total(key: str) -> int:
            return sum(int(r[key]) for r in reports)

        return StepResult(
            rate=rate,
            fires=len(fires),
            expected=total("expected"),
            received=total("received"),
            duplicates=total("duplicates"),
            bytes=total("bytes"),
            errors=total("errors"),
            first_error=next((r["first_error"] for r in reports if r["first_error"]), ""),
            late_ms=max(float(r["late_ms"]) for r in reports),
            max_at=max(reports, key=lambda r: float(r["hist"]["max_us"]))["max_at"],
            closed=total("closed"),
            close_codes=sorted({c for r in reports for c in r["close_codes"]}),
            p50=hist.percentile_ms(50),
            p99=hist.percentile_ms(99),
            max=hist.max_us / 1000,
            ack_p50=acks.percentile_ms(50),
            ack_p99=acks.percentile_ms(99),
            seconds=seconds,
            server_cpu=cpu / wall * 100 if wall else 0.0,
            extra_cpu=extra / wall * 100 if wall else 0.0,
            gen_cpu=gen / wall * 100 if wall else 0.0,
            server_cpu_s=cpu,
            server_sys=system / wall * 100 if wall else 0.0,
            child_cpu=children / wall * 100 if wall else 0.0,
            tickets_acked=total("tickets_acked"),
            ack_errors=total("ack_errors"),
            ack_unanswered=total("tickets_acked") - total("ack_answers"),
            other_events=total("other_events"),
            acks_covered=total("acks_covered"),
        )

    async def open_sockets(self) -> int:
        reports = await self.workers.ask([{"cmd": "status"}] * len(self.workers.procs), timeout=60)
        codes = sorted({c for r in reports for c in r["close_codes"]})
        if codes:
            say(f"{self.server.name}: closed sockets with codes {codes}")
        return sum(int(r["open"]) for r in reports)

    async def close(self) -> None:
        await self.workers.stop()
