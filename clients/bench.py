"""``fireflow bench kitchen|broadcast|idle``: measure one hub process under a realistic load.

The bench starts everything itself so that a figure always comes with the
same setup: embedded Redis and Postgres in a temporary directory (unless
REDIS_URL / DATABASE_URL are set), migrations, seeded restaurants, ONE hub
process (``python -m hub.run.cli serve``), and the load generator
(``clients/loadgen.py``) in its own processes, so the hub's CPU and memory
(read with psutil) are its own. ``--baseline`` runs the same load against a
bare websockets broadcast server (``clients/baseline.py``) in the same run
and prints hub/baseline ratios: on a shared 2-core machine the ratio says
more than the absolute numbers.

Scenarios:

- ``kitchen``: N screens per restaurant (two per station plus two expo by
  default), orders with one item per station fired at a steady rate through
  the real command path (open and add are prepared before the clock starts;
  only the fire is timed). Every screen of the restaurant gets exactly one
  NEW_KITCHEN_ORDER per fire, so expected deliveries are known and
  ``lost`` = expected - received after a drain period. Latency runs from the
  moment the fire command is written to the socket to the moment each
  screen's read returns the event, on one clock (CLOCK_MONOTONIC).
- ``broadcast``: every socket on one channel (``kitchen:grill`` of one
  restaurant); the fire rate steps up. "held" is the highest step with no
  loss and p99 under ``--p99-limit``; stepping goes on past that limit (to
  ``--stop-p99``) and "lossless" is the highest step with no loss at all, the
  throughput ceiling. With thousands of sockets one event's fan-out burst
  alone can take most of the p99 budget, whatever the rate.
- ``idle``: N authenticated, subscribed, silent sockets; memory per socket is
  the growth of the server's RSS divided by N.

Progress goes to stderr; figure lines to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

__all__ = ["run"]

MiB = 1024 * 1024
STATIONS = ("grill", "fry", "cold", "bar")
KITCHEN_ITEMS = ["burger", "fries", "caesar", "mojito"]  # one per station: every screen gets each fire
# A waiter socket stays under the hub's per-socket frame limit (FIREFLOW_RATE, 100/s by default).
WAITER_RATE = 80.0
DEFAULT_RATES = "1,2,5,10,15,20,30,40,60,80,120,160,240,320"

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
except OSError:  # pragma: no cover
    _LIBC = None


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _figure(line: str) -> None:
    print(line, flush=True)


def _child_preexec() -> None:
    """Children die with the bench (PR_SET_PDEATHSIG), so a killed bench leaves no hub or generator behind."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)


def _raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit (children inherit it): thousands of sockets need thousands of fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cpu(procs: list[psutil.Process]) -> float:
    user, system = _cpu_split(procs)
    return user + system


def _cpu_split(procs: list[psutil.Process]) -> tuple[float, float]:
    """User and system CPU seconds of ``procs`` and their children (Postgres works in its backends)."""
    user = system = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            for one in (proc, *proc.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    times = one.cpu_times()
                    user += times.user
                    system += times.system
    return user, system


# --------------------------------------------------------------------------- processes


class Server:
    """The server under test (the hub or the baseline): one process, its log, its RSS and CPU."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.log_path = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_child_preexec
        )
        self.ps = psutil.Process(self.proc.pid)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu(self) -> float:
        return _cpu([self.ps])

    def cpu_split(self) -> tuple[float, float]:
        return _cpu_split([self.ps])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def ready(self, probe: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if await asyncio.to_thread(probe):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return probe


def _tcp_ok(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    return probe


class Workers:
    """The load generator processes and their line protocol (see clients/loadgen.py)."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.ps: list[psutil.Process] = []
        self.busy = False  # a request is out: the workers read no stdin until they answer

    async def start(self, configs: list[dict[str, Any]], directory: Path, timeout: float) -> list[dict[str, Any]]:
        for config in configs:
            path = directory / f"worker-{config['index']}.json"
            path.write_bytes(orjson.dumps(config))
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "clients.loadgen",
                str(path),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                limit=1 << 26,
                preexec_fn=_child_preexec,
            )
            self.procs.append(proc)
            self.ps.append(psutil.Process(proc.pid))
        return await self._collect(timeout)

    async def _read(self, proc: asyncio.subprocess.Process) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            code = await proc.wait()
            raise RuntimeError(f"load generator {proc.pid} exited with {code} (its stderr is above)")
        answer: dict[str, Any] = orjson.loads(line)
        return answer

    async def _collect(self, timeout: float) -> list[dict[str, Any]]:
        """One answer from every worker; every read is finished or cancelled on the way out, whatever happens."""
        self.busy = True
        reads = [asyncio.ensure_future(self._read(p)) for p in self.procs]
        try:
            _, pending = await asyncio.wait(reads, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION)
            if pending and not any(r.done() and r.exception() for r in reads):
                raise TimeoutError(f"load generator gave no answer in {timeout:.0f}s")
            answers = [r.result() for r in reads]
        finally:
            for read in reads:
                read.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
        self.busy = False
        return answers

    async def ask(self, messages: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        for proc, message in zip(self.procs, messages, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(orjson.dumps(message) + b"\n")
            await proc.stdin.drain()
        return await self._collect(timeout)

    def cpu(self) -> float:
        return _cpu(self.ps)

    async def stop(self) -> None:
        """Quit between requests; SIGTERM (close the sockets now) when interrupted in the middle of one."""
        for proc in self.procs:
            if proc.returncode is not None:
                continue
            if self.busy:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
            elif proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.write(b'{"cmd":"quit"}\n')
                    await proc.stdin.drain()
                    proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except (TimeoutError, asyncio.CancelledError):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self.procs.clear()
        self.ps.clear()


# --------------------------------------------------------------------------- the environment


@dataclass
class Env:
    """Real servers, seeded restaurants, the secret, and where the server under test listens."""

    args: argparse.Namespace
    directory: Path
    redis_url: str
    database_url: str
    secret: str
    prefix: str
    extras: list[psutil.Process] = field(default_factory=list)  # embedded Redis and Postgres, for their CPU

    def rid(self, n: int) -> str:
        return f"{self.prefix}{n}"

    def token(self, rid: str, role: str, device: str, stations: tuple[str, ...] = ()) -> str:
        from hub.transports.tokens import mint

        return mint(self.secret, rid, role, device=device, stations=stations, ttl=86_400)

    async def seed(self, count: int) -> None:
        from redis.asyncio import Redis

        from hub.live.store import Store
        from hub.run.demo import demo_kitchen, seed_restaurant

        # The generator's screens do not acknowledge tickets: give them longer than a run, so that
        # unacknowledged-ticket alerts do not join the load being measured.
        kitchen = demo_kitchen().model_copy(update={"ack_timeout_s": 86_400})
        redis = Redis.from_url(self.redis_url)
        try:
            store = Store(redis)
            for start in range(0, count, 50):
                await asyncio.gather(
                    *(
                        seed_restaurant(store, self.rid(n), f"Bench {n}", kitchen=kitchen, manager_pin=None)
                        for n in range(start, min(count, start + 50))
                    )
                )
        finally:
            await redis.aclose()

    async def start_hub(self) -> Server:
        port = self.args.port or _free_port()
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": self.database_url,
            "FIREFLOW_SECRET": self.secret,
            "FIREFLOW_LOG_LEVEL": os.environ.get("FIREFLOW_LOG_LEVEL", "WARNING"),
        }
        argv = [
            sys.executable,
            "-m",
            "hub.run.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(self.directory / "hub"),
        ]
        server = Server("hub", argv, env, self.directory / "hub.log", port)
        try:
            await server.ready(_http_ok(f"http://127.0.0.1:{port}/readyz"))
        except BaseException:
            server.stop()
            raise
        return server

    async def start_baseline(self, frame_size: int) -> Server:
        port = _free_port()
        argv = [sys.executable, "-m", "clients.baseline", "--port", str(port), "--frame-size", str(frame_size)]
        server = Server("baseline", argv, dict(os.environ), self.directory / "baseline.log", port)
        try:
            await server.ready(_tcp_ok(port))
        except BaseException:
            server.stop()
            raise
        return server


@contextlib.contextmanager
def _environment(args: argparse.Namespace) -> Iterator[Env]:
    directory = Path(tempfile.mkdtemp(prefix="fireflow-bench-"))
    redis_url, database_url = os.environ.get("REDIS_URL") or "", os.environ.get("DATABASE_URL") or ""
    servers = None
    try:
        extras: list[psutil.Process] = []
        if not (redis_url and database_url):
            from hub.run.embedded import EmbeddedServers

            _say("starting embedded Redis/Postgres")
            servers = EmbeddedServers(directory / "servers", redis=not redis_url, postgres=not database_url)
            servers.start()
            if servers.redis is not None:
                redis_url = servers.redis.url
                if servers.redis.pid:
                    extras.append(psutil.Process(servers.redis.pid))
            if servers.postgres is not None:
                database_url = servers.postgres.url
                if servers.postgres.pid:
                    extras.append(psutil.Process(servers.postgres.pid))
        secret = os.environ.get("FIREFLOW_SECRET") or secrets.token_urlsafe(24)
        prefix = f"bench{secrets.token_hex(3)}r"
        yield Env(args, directory, redis_url, database_url, secret, prefix, extras)
    finally:
        if servers is not None:
            with contextlib.suppress(Exception):
                servers.stop()
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- scenarios


@dataclass
class Load:
    """What the generator does for one scenario: its sockets, waiters, and the orders it fires."""

    screens: list[tuple[str, list[str], str]]  # token, channels, group (restaurant)
    screen_worker: list[int]
    waiters: list[tuple[str, int, str, int]]  # group, slot, token, worker
    slots: int  # fire-time slots in the shared map
    items: list[str] = field(default_factory=list)


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
                    "host": "127.0.0.1",
                    "port": server.port,
                    "client": args.client,
                    "times": str(times),
                    "slots": max(1, load.slots),
                    "concurrency": args.connect_concurrency,
                    "screens": [s for s, w in zip(load.screens, load.screen_worker, strict=True) if w == index],
                    "waiters": [(g, slot, tok) for g, slot, tok, w in load.waiters if w == index],
                }
            )
        _say(
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
        _say(f"{server.name}: {connected} sockets connected in {time.monotonic() - started:.1f}s, {failed} failed")
        if failed:
            first = next(r["first_failure"] for r in reports if r["failed"])
            _say(f"{server.name}: first connection failure: {first}")
        return cls(env, server, load, workers, failed)

    async def prepare(self, jobs: list[tuple[str, int]]) -> list[list[str]]:
        from clients.loadgen import prepare_orders

        started = time.monotonic()
        ids = await prepare_orders(
            "127.0.0.1", self.server.port, jobs, self.load.items, kind=self.env.args.client, frame_rate=WAITER_RATE
        )
        total = sum(len(i) for i in ids)
        _say(f"{self.server.name}: prepared {total} orders in {time.monotonic() - started:.1f}s")
        return ids

    async def step(self, number: int, rate: float, fires: list[list[Any]], drain: float) -> StepResult:
        """Fire ``fires`` ([slot, group, order id, worker, waiter]) at ``rate``/s; gather every worker's view."""
        if not self.server.alive():
            raise RuntimeError(f"{self.server.name} died:\n{self.server.log_tail()}")
        extras = self.env.extras if self.server.name == "hub" else []
        (user0, sys0), extra0, gen0 = self.server.cpu_split(), _cpu(extras), self.workers.cpu()
        wall0 = time.monotonic()
        plan = {"cmd": "step", "step": number, "t0": wall0 + 0.5, "rate": rate, "drain": drain}
        plan["base"] = fires[0][0] if fires else 0
        plan["fires"] = fires
        seconds = len(fires) / rate
        reports = await self.workers.ask([plan] * len(self.workers.procs), timeout=seconds + drain + 120)
        wall = time.monotonic() - wall0
        user1, sys1 = self.server.cpu_split()
        cpu, system = user1 + sys1 - user0 - sys0, sys1 - sys0
        extra, gen = _cpu(extras) - extra0, self.workers.cpu() - gen0
        from clients.loadgen import Histogram

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
        )

    async def open_sockets(self) -> int:
        reports = await self.workers.ask([{"cmd": "status"}] * len(self.workers.procs), timeout=60)
        codes = sorted({c for r in reports for c in r["close_codes"]})
        if codes:
            _say(f"{self.server.name}: closed sockets with codes {codes}")
        return sum(int(r["open"]) for r in reports)

    async def close(self) -> None:
        await self.workers.stop()


def _notes(step: StepResult) -> str:
    notes = []
    if step.duplicates:
        notes.append(f"duplicates={step.duplicates}")
    if step.errors:
        notes.append(f"fire_errors={step.errors} ({step.first_error})")
    if step.closed:
        notes.append(f"sockets_closed={step.closed} codes={step.close_codes}")
    if step.late_ms > 50:
        notes.append(f"generator_late={step.late_ms:.0f}ms")
    return (" " + " ".join(notes)) if notes else ""


def _ms(value: float) -> str:
    return f"{value:.1f}ms" if value < 100 else f"{value:.0f}ms"


# kitchen ------------------------------------------------------------------------------


def _kitchen_load(env: Env, args: argparse.Namespace) -> Load:
    lanes = [*(f"kitchen:{s}" for s in STATIONS), "expo"]
    screens: list[tuple[str, list[str], str]] = []
    owner: list[int] = []
    waiters = []
    procs = max(1, args.procs)
    per, extra = divmod(args.sockets, args.restaurants)
    for n in range(args.restaurants):
        rid = env.rid(n)
        for j in range(per + (1 if n < extra else 0)):
            lane = lanes[j % len(lanes)]
            if lane == "expo":
                token = env.token(rid, "EXPO", f"expo-{j}", ("*",))
            else:
                token = env.token(rid, "KITCHEN", f"kds-{j}", (lane.partition(":")[2],))
            screens.append((token, [lane], rid))
            owner.append(n % procs)  # a restaurant's screens and its waiter share a process
        waiters.append((rid, 0, env.token(rid, "WAITER", "bench-waiter"), n % procs))
    fires = round(args.rate * args.duration)
    return Load(screens, owner, waiters, slots=fires, items=KITCHEN_ITEMS)


async def _kitchen(env: Env, server: Server, args: argparse.Namespace) -> StepResult:
    load = _kitchen_load(env, args)
    run = await Run.attach(env, server, load)
    try:
        total = round(args.rate * args.duration)
        restaurants = args.restaurants
        counts = [len(range(n, total, restaurants)) for n in range(restaurants)]
        jobs = [(env.token(env.rid(n), "WAITER", f"bench-prep-{n}"), counts[n]) for n in range(restaurants)]
        _say(f"{server.name}: preparing {total} orders ({len(KITCHEN_ITEMS)} items each)")
        ids = await run.prepare([j for j in jobs if j[1]])
        by_restaurant = iter(ids)
        orders = [next(by_restaurant) if counts[n] else [] for n in range(restaurants)]
        procs = max(1, args.procs)
        fires = [[k, env.rid(k % restaurants), orders[k % restaurants][k // restaurants], (k % restaurants) % procs, 0]
                 for k in range(total)]  # fmt: skip
        _say(f"{server.name}: firing {total} orders at {args.rate:g}/s for {args.duration:g}s")
        result = await run.step(0, args.rate, fires, args.drain)
        rss = server.rss()
        failed = run.failed
    finally:
        await run.close()
    if failed:
        result.first_error = result.first_error or "some sockets did not connect"
    extra = f" redis+pg_cpu={result.extra_cpu:.0f}%" if server.name == "hub" and env.extras else ""
    _figure(
        f"kitchen[{server.name}]: p50={_ms(result.p50)} p99={_ms(result.p99)} max={_ms(result.max)} "
        f"deliveries/s={result.received / result.seconds:.0f} lost={result.lost} "
        f"{server.name}_rss={rss / MiB:.0f}MiB {server.name}_cpu={result.server_cpu:.0f}%(sys={result.server_sys:.0f}%)"
        f"{extra} cpu/delivery={result.cpu_per_delivery_us:.0f}us loadgen_cpu={result.gen_cpu:.0f}% fire->ack p50={_ms(result.ack_p50)} p99={_ms(result.ack_p99)} "
        f"max_at=+{result.max_at:.1f}s frame={result.frame}B{_notes(result)}{f' connect_failed={failed}' if failed else ''}"
    )
    return result


# broadcast ----------------------------------------------------------------------------


def _rates(text: str) -> list[float]:
    rates = [float(r) for r in text.split(",") if r.strip()]
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates are positive numbers, comma-separated")
    return rates


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
            _figure(
                f"broadcast[{server.name}] step: rate={rate:g}/s deliveries/s={step.received / step.seconds:.0f} "
                f"lost={step.lost} p50={_ms(step.p50)} p99={_ms(step.p99)} max={_ms(step.max)} "
                f"{server.name}_cpu={step.server_cpu:.0f}%(sys={step.server_sys:.0f}%) cpu/delivery={step.cpu_per_delivery_us:.1f}us "
                f"loadgen_cpu={step.gen_cpu:.0f}% fire->ack p99={_ms(step.ack_p99)}{_notes(step)}"
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
        _figure(f"broadcast[{name}]: held=none (no step had lost=0 with p99<{args.p99_limit:g}ms)")
    else:
        _figure(
            f"broadcast[{name}]: held={held.rate:g} events/s x {args.sockets} sockets = {result.deliveries:.0f} "
            f"deliveries/s with lost=0 p99={_ms(held.p99)} {name}_cpu={held.server_cpu:.0f}% "
            f"cpu/delivery={held.cpu_per_delivery_us:.1f}us {name}_rss={rss / MiB:.0f}MiB"
        )
    if best is not None and best is not held:
        _figure(
            f"broadcast[{name}]: lossless={best.rate:g} events/s = {result.lossless_deliveries:.0f} deliveries/s "
            f"(p99={_ms(best.p99)}, above the limit) {name}_cpu={best.server_cpu:.0f}% "
            f"cpu/delivery={best.cpu_per_delivery_us:.1f}us"
        )
    return result


# idle ---------------------------------------------------------------------------------


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
    _figure(
        f"idle[{server.name}]: sockets={sockets} rss_before={before / MiB:.0f}MiB rss_after={after / MiB:.0f}MiB "
        f"per_connection={result.per_socket / 1024:.1f}KiB idle_cpu={cpu:.0f}%"
    )
    return result


# --------------------------------------------------------------------------- entry


def _parser(scenario: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"fireflow bench {scenario}", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    defaults = {"kitchen": (2000, 200, 1), "broadcast": (5000, 1, 2), "idle": (10000, 100, 2), "settle": (16, 10, 1)}[
        scenario
    ]
    p.add_argument("--sockets", type=int, default=defaults[0], help="screens (sockets that receive)")
    p.add_argument("--procs", type=int, default=defaults[2], help="load generator processes")
    p.add_argument("--client", choices=["raw", "websockets"], default="raw", help="load generator's WebSocket client")
    p.add_argument("--port", type=int, default=0, help="hub port (default: a free one)")
    p.add_argument("--connect-concurrency", type=int, default=32, help="handshakes in flight per generator process")
    p.add_argument("--baseline", action="store_true", help="also run the load against clients/baseline.py")
    if scenario == "kitchen":
        p.add_argument("--restaurants", type=int, default=defaults[1])
        p.add_argument("--rate", type=float, default=200.0, help="fires per second, all restaurants together")
        p.add_argument("--duration", type=float, default=30.0, help="seconds of firing")
        p.add_argument("--drain", type=float, default=5.0, help="seconds to wait for late deliveries")
    elif scenario == "broadcast":
        p.add_argument("--rates", type=_rates, default=_rates(DEFAULT_RATES), help="events/s per step, ascending")
        p.add_argument("--step", type=float, default=5.0, help="seconds per step")
        p.add_argument("--drain", type=float, default=2.0, help="seconds to wait for late deliveries per step")
        p.add_argument("--p99-limit", type=float, default=100.0, help="ms; a step with p99 at or above is not held")
        p.add_argument("--stop-p99", type=float, default=1000.0, help="ms; stop stepping once p99 reaches this")
        p.add_argument("--waiters", type=int, default=4, help="waiter sockets sharing the fires")
    elif scenario == "settle":
        p.add_argument("--restaurants", type=int, default=defaults[1])
        p.add_argument("--orders", type=int, default=2000, help="orders to settle, spread over the restaurants")
    else:
        p.add_argument("--restaurants", type=int, default=defaults[1])
        p.add_argument("--settle", type=float, default=3.0, help="seconds to let memory settle before measuring")
    return p


async def _settle_bench(env: Env, server: Server, args: argparse.Namespace) -> None:
    """Settlements per second into Postgres: ``--sockets`` cashiers pay ready orders as fast as they are answered.

    Each payment is a split (cash with change, and UPI), recorded in Postgres (invoice, payments, a balanced
    SALE posting, an audit row) before the answer, then applied in Redis and followed by REVENUE_UPDATED.
    """
    from clients.python import HubClient
    from hub.books.db import create_engine

    url = f"ws://127.0.0.1:{server.port}/ws"
    per = max(1, args.orders // args.restaurants)
    _say(f"preparing {per * args.restaurants} ready orders (water and soda: ready as fired)")
    queues: list[asyncio.Queue[tuple[str, str]]] = [asyncio.Queue() for _ in range(args.restaurants)]

    async def prepare(n: int) -> None:
        rid = env.rid(n)
        waiter = await HubClient.connect(url, env.token(rid, "WAITER", f"bench-waiter-{n}"))
        try:
            for _ in range(per):
                opened = await waiter.command("order.open", {"type": "TAKEAWAY"})
                order_id = opened["result"]["order"]["id"]
                for item in ("water", "soda"):
                    await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": item})
                await waiter.command("order.fire", {"order_id": order_id})
                queues[n].put_nowait((rid, order_id))
        finally:
            await waiter.close()

    await asyncio.gather(*(prepare(n) for n in range(args.restaurants)))
    latencies: list[float] = []
    errors: list[str] = []

    async def cashier(c: int) -> None:
        # Every restaurant gets a cashier; with fewer cashiers than restaurants, each serves several in turn.
        for n in range(c % args.restaurants, args.restaurants, args.sockets):
            await serve(c, n)

    async def serve(c: int, n: int) -> None:
        rid = env.rid(n)
        client = await HubClient.connect(url, env.token(rid, "CASHIER", f"bench-till-{c}"))
        try:
            while not queues[n].empty():
                _, order_id = queues[n].get_nowait()
                due = (await client.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
                cash = due // 2
                tenders = [
                    {"method": "CASH", "amount": cash, "received": cash + 1000},
                    {"method": "UPI", "amount": due - cash, "reference": "bench"},
                ]
                started = time.perf_counter()
                try:
                    await client.command("order.pay", {"order_ids": [order_id], "tenders": tenders}, timeout=30)
                except Exception as exc:
                    errors.append(str(exc))
                    continue
                latencies.append(time.perf_counter() - started)
        finally:
            await client.close()

    _say(f"settling with {args.sockets} cashier connection(s)")
    cpu_before = server.cpu()
    started = time.perf_counter()
    await asyncio.gather(*(cashier(c) for c in range(args.sockets)))
    elapsed = time.perf_counter() - started
    hub_cpu = (server.cpu() - cpu_before) / elapsed * 100 if elapsed else 0.0
    engine = create_engine(env.database_url)
    try:
        async with engine.connect() as conn:
            from sqlalchemy import text

            stored = (
                await conn.execute(
                    text("SELECT count(*) FROM invoices WHERE restaurant_id LIKE :p"), {"p": env.prefix + "%"}
                )
            ).scalar_one()
            unbalanced = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM (SELECT t.id FROM ledger_transactions t JOIN ledger_entries e "
                        "ON e.transaction_id = t.id WHERE t.restaurant_id LIKE :p GROUP BY t.id "
                        "HAVING sum(e.debit) <> sum(e.credit)) x"
                    ),
                    {"p": env.prefix + "%"},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    _figure(
        f"settle: settlements/s={len(latencies) / elapsed:.0f} p50={pct(0.5):.1f}ms p99={pct(0.99):.1f}ms "
        f"settled={len(latencies)} invoices_in_postgres={stored} unbalanced={unbalanced} errors={len(errors)} "
        f"cashiers={args.sockets} restaurants={args.restaurants} hub_cpu={hub_cpu:.0f}%"
        + (f" first_error={errors[0][:120]!r}" if errors else "")
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


async def _bench(scenario: str, args: argparse.Namespace, env: Env) -> int:
    from hub.books.db import migrate

    restaurants = 1 if scenario == "broadcast" else args.restaurants
    if scenario == "settle":
        await migrate(env.database_url)
        await env.seed(restaurants)
        hub = await env.start_hub()
        try:
            await _settle_bench(env, hub, args)
        except Exception:
            _say(f"the run failed; the hub's log ends with:\n{hub.log_tail()}")
            raise
        finally:
            hub.stop()
        return 0
    if restaurants < 1 or args.sockets < 1:
        raise SystemExit("bench: --sockets and --restaurants must be at least 1")
    await migrate(env.database_url)
    await env.seed(restaurants)
    _say(f"starting the hub ({restaurants} restaurant(s) seeded)")
    runner: dict[str, Callable[[Env, Server, argparse.Namespace], Awaitable[Any]]] = {
        "kitchen": _kitchen,
        "broadcast": _broadcast,
        "idle": _idle,
    }
    hub = await env.start_hub()
    try:
        ours = await runner[scenario](env, hub, args)
    except Exception:
        _say(f"the run failed; the hub's log ends with:\n{hub.log_tail()}")
        raise
    finally:
        hub.stop()
    if not args.baseline:
        return 0
    frame = 600
    if isinstance(ours, StepResult) and ours.frame:
        frame = ours.frame
    elif isinstance(ours, Held) and ours.lossless is not None and ours.lossless.frame:
        frame = ours.lossless.frame
    _say(f"starting the baseline (frames padded to {frame} bytes)")
    baseline = await env.start_baseline(frame)
    try:
        theirs = await runner[scenario](env, baseline, args)
    finally:
        baseline.stop()
    if isinstance(ours, Held) and isinstance(theirs, Held):
        ours_cpu = ours.lossless.cpu_per_delivery_us if ours.lossless else 0.0
        theirs_cpu = theirs.lossless.cpu_per_delivery_us if theirs.lossless else 0.0
        _figure(
            f"broadcast: hub/baseline held deliveries/s={_ratio(ours.deliveries, theirs.deliveries)} "
            f"lossless deliveries/s={_ratio(ours.lossless_deliveries, theirs.lossless_deliveries)} "
            f"cpu/delivery={_ratio(ours_cpu, theirs_cpu)} (at each one's highest lossless step)"
        )
    elif isinstance(ours, IdleResult) and isinstance(theirs, IdleResult):
        _figure(f"idle: hub/baseline memory/connection={_ratio(ours.per_socket, theirs.per_socket)}")
    elif isinstance(ours, StepResult) and isinstance(theirs, StepResult):
        _figure(
            f"kitchen: hub/baseline p99={_ratio(ours.p99, theirs.p99)} cpu={_ratio(ours.server_cpu, theirs.server_cpu)}"
        )
    return 0


def run(scenario: str, argv: list[str]) -> int:
    """Entry point of ``fireflow bench``; returns the exit code."""
    args = _parser(scenario).parse_args(argv)
    root = logging.getLogger()
    level = root.level
    if "FIREFLOW_LOG_LEVEL" not in os.environ:  # the CLI's INFO default buries the figures under start-up chatter
        root.setLevel(logging.WARNING)
    limit = _raise_nofile(args.sockets * 2 + 1024)
    per_process = args.sockets / max(1, args.procs) + 512
    if limit < per_process or limit < args.sockets + 512:
        _say(f"warning: open-file limit {limit} is low for {args.sockets} sockets; raise it or use more --procs")

    async def main() -> int:
        task = asyncio.current_task()
        assert task is not None
        # SIGTERM (a supervisor, a timeout) unwinds like Ctrl-C: every process stopped, the temp dir removed.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with _environment(args) as env:
            return await _bench(scenario, args, env)

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("interrupted")
        return 130
    finally:
        root.setLevel(level)
