"""``fireflow bench cluster``: the kitchen load on several hub nodes sharing a Redis Cluster with replicas.

Its own setup, unlike the one-hub scenarios: a Redis Cluster of Debian's ``redis-server``
(``--masters`` masters, ``--replicas`` replicas each, ``EmbeddedRedisCluster``) and an embedded
Postgres (unless DATABASE_URL is set) in a temporary directory, ``--restaurants`` seeded on the
cluster, and ``--nodes`` hub processes on ``REDIS_URL=redis+cluster://``. The durable writer runs
in node 0 only (``FIREFLOW_DURABLE=process``; ``off`` on the others) unless ``--durable all``.

The load is the kitchen scenario's (two screens per station plus expo, one item per station, so
each fire reaches every screen of its restaurant), spread so that every restaurant has screens on
every node (when it has at least ``--nodes`` screens) and its waiter on one of them: each fire
crosses nodes. Generator process ``i`` connects to node ``i % nodes``, so ``--procs`` is at least
``--nodes``. The figure line gives fire->screen latency, deliveries/s, lost (expected - received),
each node's CPU, the hub CPU per delivered ticket, the largest hub RSS, the masters' used memory
and the CPU of every Redis node together; then a line per hub node and one per Redis master.

``--rates 50,100,150,200`` steps the rate up on the same sockets instead, ``--duration`` seconds a
step, and ends with the highest step held: nothing lost, refused or closed, p99 under
``--p99-limit``. At one fixed rate a machine that cannot keep up measures its own backlog (seconds
of p99, deliveries late past the drain); the step held says what the nodes carry on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import redis

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.kitchen import KITCHEN_ITEMS, kitchen_screens, planned_fires
from fireflow.clients.bench.load import Load, Run, StepResult
from fireflow.clients.bench.report import MiB, figure, medians, ms, rates, repeated, say
from fireflow.clients.bench.servers import Server, _http_ok
from fireflow.clients.bench.usage import cpu_seconds
from fireflow.hub.run.embedded import EmbeddedRedisCluster, EmbeddedServers
from fireflow.hub.run.embedded.process import HOST, free_port

__all__ = ["main"]

REDIS_SERVER = Path("/usr/bin/redis-server")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fireflow bench cluster", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--nodes", type=int, default=3, help="hub processes")
    p.add_argument("--masters", type=int, default=3, help="Redis Cluster masters (at least 3)")
    p.add_argument("--replicas", type=int, default=1, help="replicas per master")
    p.add_argument("--durable", choices=["one", "all"], default="one", help="durable writer in node 0 or every node")
    p.add_argument("--sockets", type=int, default=20_000, help="screens (sockets that receive), over all nodes")
    p.add_argument("--restaurants", type=int, default=1000)
    p.add_argument("--procs", type=int, default=4, help="load generator processes (at least --nodes)")
    p.add_argument("--client", choices=["raw", "websockets"], default="raw", help="load generator's WebSocket client")
    p.add_argument("--connect-concurrency", type=int, default=32, help="handshakes in flight per generator process")
    p.add_argument("--rate", type=float, default=200.0, help="fires per second, all restaurants together")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of firing")
    p.add_argument("--drain", type=float, default=5.0, help="seconds to wait for late deliveries")
    p.add_argument(
        "--rates",
        type=rates,
        default=None,
        help="fires per second, comma-separated, ascending: step through them (--duration seconds each, on the same "
        "sockets) and report the highest held, with nothing lost and p99 under --p99-limit; instead of --rate",
    )
    p.add_argument(
        "--p99-limit", type=float, default=100.0, help="ms; with --rates, a step with p99 at or above is not held"
    )
    p.add_argument(
        "--stop-p99", type=float, default=2000.0, help="ms; with --rates, stop stepping once p99 reaches this"
    )
    p.add_argument(
        "--runs", type=int, default=1, help="run it this many times, each on a fresh cluster, then print the medians"
    )
    return p


@contextlib.contextmanager
def _environment(args: argparse.Namespace) -> Iterator[tuple[Env, EmbeddedRedisCluster]]:
    """The Redis Cluster and (unless DATABASE_URL is set) Postgres in a temporary directory."""
    directory = Path(tempfile.mkdtemp(prefix="fireflow-bench-cluster-"))
    database_url = os.environ.get("DATABASE_URL") or ""
    servers = None
    cluster = EmbeddedRedisCluster(directory / "cluster", masters=args.masters, replicas=args.replicas)
    try:
        extras: list[psutil.Process] = []
        if not database_url:
            say("starting embedded Postgres")
            servers = EmbeddedServers(directory / "servers", redis=False, postgres=True)
            servers.start()
            assert servers.postgres is not None
            database_url = servers.postgres.url
            if servers.postgres.pid:
                extras.append(psutil.Process(servers.postgres.pid))
        say(f"starting a Redis Cluster: {args.masters} masters, {args.replicas} replica(s) each")
        cluster.start()
        url = cluster.hub_url
        secret = os.environ.get("FIREFLOW_SECRET") or secrets.token_urlsafe(24)
        prefix = f"bench{secrets.token_hex(3)}r"
        yield Env(args, directory, url, database_url, secret, prefix, extras), cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop()
        if servers is not None:
            with contextlib.suppress(Exception):
                servers.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def _start_nodes(env: Env, count: int, durable: str) -> list[Server]:
    """``count`` hub processes on the cluster, each with its own port and data directory."""
    nodes: list[Server] = []
    try:
        for i in range(count):
            port = free_port()
            child_env = {
                **os.environ,
                "REDIS_URL": env.redis_url,
                "DATABASE_URL": env.database_url,
                "FIREFLOW_SECRET": env.secret,
                "FIREFLOW_LOG_LEVEL": os.environ.get("FIREFLOW_LOG_LEVEL", "WARNING"),
                "FIREFLOW_DURABLE": "process" if durable == "all" or i == 0 else "off",
            }
            argv = [sys.executable, "-m", "fireflow.hub.run.cli", "serve", "--port", str(port)]
            argv += ["--data-dir", str(env.directory / f"hub{i}")]
            nodes.append(Server(f"hub{i}", argv, child_env, env.directory / f"hub{i}.log", port))
        await asyncio.gather(*(node.ready(_http_ok(f"http://{HOST}:{node.port}/readyz")) for node in nodes))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def _cluster_load(
    env: Env, args: argparse.Namespace, ports: list[int], fires: int
) -> tuple[Load, list[int], list[int]]:
    """The kitchen's screens, each restaurant's spread over every node; with each waiter's process and node's count."""
    nodes = len(ports)
    by_node = [
        [w for w in range(args.procs) if w % nodes == k] for k in range(nodes)
    ]  # process w talks to node w % nodes

    def process(node: int, n: int) -> int:
        mine = by_node[node]
        return mine[(n // nodes) % len(mine)]

    screens: list[tuple[str, list[str], str]] = []
    owner: list[int] = []
    per_node = [0] * nodes
    for n, j, screen in kitchen_screens(env, args.sockets, args.restaurants):
        node = (n + j) % nodes  # a restaurant's screens on every node in turn
        screens.append(screen)
        owner.append(process(node, n))
        per_node[node] += 1
    waiter_process = [process(n % nodes, n) for n in range(args.restaurants)]
    waiters = [
        (env.rid(n), 0, env.token(env.rid(n), "WAITER", "bench-waiter"), w) for n, w in enumerate(waiter_process)
    ]
    return Load(screens, owner, waiters, slots=fires, items=KITCHEN_ITEMS, ports=ports), waiter_process, per_node


def _used_memory(port: int) -> int:
    client = redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


KINDS = ("predictor", "sweeper", "due")  # the background work the nodes share (hub/workers/shares.py)


async def _shares(env: Env, nodes: list[Server]) -> list[str]:
    """Per node, how many shards of each kind of background work it holds (``hub/workers/shares.py``): the nodes
    are named with their process id, or their background process's (its predictor)."""
    from fireflow.hub.domain.shares import SHARDS
    from fireflow.hub.live.keys import ShareKeys
    from fireflow.hub.live.redis_client import redis_client

    client = redis_client(env.redis_url)
    counts: list[dict[str, int]] = [{} for _ in nodes]
    pids = [{node.ps.pid, *(child.pid for child in node.ps.children())} for node in nodes]
    try:
        for kind in KINDS:
            holders = await client.mget([ShareKeys(kind).shard(s) for s in range(SHARDS)])
            for holder in holders:
                name = holder.decode() if isinstance(holder, bytes) else holder  # node name: host-pid-token
                pid = int(name.rsplit("-", 2)[1]) if name else None
                for count, own in zip(counts, pids, strict=True):
                    if pid in own:
                        count[kind] = count.get(kind, 0) + 1
    finally:
        await client.aclose()
    return [",".join(f"{kind}:{count.get(kind, 0)}" for kind in KINDS) for count in counts]


def _check_alive(nodes: list[Server]) -> None:
    for node in nodes:
        if not node.alive():
            raise RuntimeError(f"{node.name} died:\n{node.log_tail()}")


@dataclass
class _Step:
    """One rate's firing on every node: what the generators saw, and what each process spent meanwhile."""

    result: StepResult
    cpu_s: list[float]  # per node: its processes' CPU seconds
    sys_s: list[float]  # ... of them in the kernel
    child_s: list[float]  # ... of them in its child (its durable writer and predictor, or its predictor alone)
    wall: float
    redis_cpu: dict[int, float]  # per Redis port, % of a core

    def percent(self, seconds: float) -> float:
        """CPU ``seconds`` over the step, in % of one core."""
        return seconds / self.wall * 100

    @property
    def hub_cpu(self) -> str:
        """Each node's CPU over the step: ``48%+38%+39%``."""
        return "+".join(f"{self.percent(c):.0f}%" for c in self.cpu_s)

    @property
    def per_delivery_us(self) -> float:
        return sum(self.cpu_s) / self.result.received * 1e6 if self.result.received else 0.0

    def held(self, args: argparse.Namespace) -> bool:
        """Nothing lost, refused or closed, and the p99 under ``--p99-limit``: a load this cluster carries."""
        return self.lossless and self.result.p99 < args.p99_limit

    @property
    def lossless(self) -> bool:
        result = self.result
        return result.lost == 0 and not result.errors and not result.closed and not result.first_error


async def _step(
    run: Run,
    nodes: list[Server],
    redis_ps: dict[int, psutil.Process],
    number: int,
    rate: float,
    fires: list[list[Any]],
    drain: float,
) -> _Step:
    hub0, own0 = [node.cpu_split() for node in nodes], [node.own_cpu() for node in nodes]
    redis0 = {port: cpu_seconds([ps]) for port, ps in redis_ps.items()}
    wall0 = time.monotonic()
    result = await run.step(number, rate, fires, drain)
    wall = time.monotonic() - wall0
    hub1, own1 = [node.cpu_split() for node in nodes], [node.own_cpu() for node in nodes]
    redis_cpu = {port: (cpu_seconds([ps]) - redis0[port]) / wall * 100 for port, ps in redis_ps.items()}
    _check_alive(nodes)
    cpu_s = [u1 + s1 - u0 - s0 for (u0, s0), (u1, s1) in zip(hub0, hub1, strict=True)]
    sys_s = [s1 - s0 for (_, s0), (_, s1) in zip(hub0, hub1, strict=True)]
    child_s = [c - (b - a) for c, a, b in zip(cpu_s, own0, own1, strict=True)]
    return _Step(result, cpu_s, sys_s, child_s, wall, redis_cpu)


async def _measure(
    env: Env, cluster: EmbeddedRedisCluster, nodes: list[Server], args: argparse.Namespace
) -> dict[str, float]:
    ports = [node.port for node in nodes]
    rates: list[float] = args.rates or [args.rate]
    counts = [max(1, round(rate * args.duration)) for rate in rates]
    load, waiter_process, per_node = _cluster_load(env, args, ports, sum(counts))
    redis_ps = {port: psutil.Process(pid) for port, pid in cluster.pids.items()}
    run = await Run.attach(env, nodes[0], load)
    steps: list[_Step] = []
    try:
        who = f"cluster ({len(nodes)} nodes)"
        fires = await planned_fires(env, run, sum(counts), args.restaurants, who, waiter_process.__getitem__)
        _check_alive(nodes)
        base = 0
        for number, (rate, count) in enumerate(zip(rates, counts, strict=True)):
            say(f"cluster: firing {count} orders at {rate:g}/s for {args.duration:g}s")
            step = await _step(run, nodes, redis_ps, number, rate, fires[base : base + count], args.drain)
            base += count
            steps.append(step)
            if args.rates:
                _step_line(args, step)
            # Past the limit the steps go on while nothing is lost, to find what the cluster carries at all; a
            # step that loses ends them, its late deliveries would count in the next.
            if not step.lossless or step.result.p99 >= args.stop_p99:
                break
        rss = [node.rss() for node in nodes]
        masters = await asyncio.to_thread(cluster.master_ports)
        used = {port: await asyncio.to_thread(_used_memory, port) for port in masters}
        failed = run.failed
        shares = await _shares(env, nodes)
    finally:
        await run.close()
    figures = _figures(args, steps[-1], nodes, per_node, rss, used, failed, shares)
    return _held(args, steps, figures) if args.rates else figures


def _step_line(args: argparse.Namespace, step: _Step) -> None:
    result = step.result
    figure(
        f"cluster step: rate={result.rate:g}/s deliveries/s={result.received / result.seconds:.0f} lost={result.lost} "
        f"p50={ms(result.p50)} p99={ms(result.p99)} max={ms(result.max)} hub_cpu={step.hub_cpu} "
        f"cpu/delivery={step.per_delivery_us:.0f}us redis_cpu={sum(step.redis_cpu.values()):.0f}% "
        f"fire->ack p99={ms(result.ack_p99)}{result.notes()}{'' if step.held(args) else '  <- not held'}"
    )


def _held(args: argparse.Namespace, steps: list[_Step], figures: dict[str, float]) -> dict[str, float]:
    """The highest step held (``_Step.held``): its line, and the headline figures for ``--runs``."""
    held = next((step for step in reversed(steps) if step.held(args)), None)
    if held is None:
        figure(f"cluster[held]: none (no step had lost=0 with p99<{args.p99_limit:g}ms)")
        return {"held_fires/s": 0.0, "redis_used_MiB": figures["redis_used_MiB"]}
    result = held.result
    figure(
        f"cluster[held]: rate={result.rate:g} fires/s = {result.received / result.seconds:.0f} deliveries/s with lost=0 "
        f"p99={ms(result.p99)} cpu/delivery={held.per_delivery_us:.0f}us sockets={args.sockets} "
        f"restaurants={args.restaurants} nodes={len(held.cpu_s)}"
    )
    return {
        "held_fires/s": result.rate,
        "cpu/delivery_us": held.per_delivery_us,
        "p99_ms": result.p99,
        "redis_used_MiB": figures["redis_used_MiB"],
    }


def _figures(
    args: argparse.Namespace,
    step: _Step,
    nodes: list[Server],
    per_node: list[int],
    rss: list[int],
    used: dict[int, int],
    failed: int,
    shares: list[str],
) -> dict[str, float]:
    """Print the run's lines (of its last step, when it steps); its headline figures, for ``--runs``."""
    result, redis_cpu = step.result, step.redis_cpu
    if failed:
        result.first_error = result.first_error or "some sockets did not connect"
    per_delivery = step.per_delivery_us
    figure(
        f"cluster[{len(nodes)} nodes, {len(used)} masters]: p50={ms(result.p50)} p99={ms(result.p99)} max={ms(result.max)} "
        f"deliveries/s={result.received / result.seconds:.0f} lost={result.lost} hub_cpu={step.hub_cpu} "
        f"cpu/delivery={per_delivery:.0f}us hub_rss={max(rss) / MiB:.0f}MiB(max) "
        f"redis_used={sum(used.values()) / MiB:.1f}MiB(sum of masters) redis_cpu={sum(redis_cpu.values()):.0f}% "
        f"fire->ack p50={ms(result.ack_p50)} p99={ms(result.ack_p99)} sockets={args.sockets} restaurants={args.restaurants} "
        f"loadgen_cpu={result.gen_cpu:.0f}% max_at=+{result.max_at:.1f}s frame={result.frame}B"
        f"{result.notes()}{f' connect_failed={failed}' if failed else ''}"
    )
    for i, node in enumerate(nodes):
        durable = "process" if args.durable == "all" or i == 0 else "off"
        figure(
            f"cluster[{node.name} :{node.port}]: sockets={per_node[i]} cpu={step.percent(step.cpu_s[i]):.0f}%"
            f"(sys={step.percent(step.sys_s[i]):.0f}%) rss={rss[i] / MiB:.0f}MiB durable={durable}"
            f" background_cpu={step.percent(step.child_s[i]):.0f}% shards={shares[i]}"  # its writer, or its predictor alone
        )
    replicas = sorted(set(redis_cpu) - set(used))
    for port in sorted(used):
        figure(f"cluster[redis :{port} master]: used={used[port] / MiB:.1f}MiB cpu={redis_cpu.get(port, 0.0):.0f}%")
    if replicas:
        figure(f"cluster[redis replicas]: cpu={'+'.join(f'{redis_cpu[p]:.0f}%' for p in replicas)}")
    if result.lost:
        for node in nodes:
            say(f"{result.lost} deliveries lost; {node.name}'s log ends with:\n{node.log_tail()}")
    return {
        "cpu/delivery_us": per_delivery,
        "p99_ms": result.p99,
        "lost": result.lost,
        "redis_used_MiB": sum(used.values()) / MiB,
    }


async def _bench(args: argparse.Namespace) -> dict[str, float]:
    from fireflow.hub.books.db import migrate

    with _environment(args) as (env, cluster):
        await migrate(env.database_url)
        say(f"seeding {args.restaurants} restaurant(s) on the cluster")
        await env.seed(args.restaurants)
        say(f"starting {args.nodes} hub nodes on {env.redis_url}")
        nodes = await _start_nodes(env, args.nodes, args.durable)
        try:
            return await _measure(env, cluster, nodes, args)
        except Exception:
            for node in nodes:
                say(f"the run failed; {node.name}'s log ends with:\n{node.log_tail()}")
            raise
        finally:
            for node in nodes:
                node.stop()


def main(argv: list[str]) -> int:
    """Run the scenario; returns the exit code."""
    from fireflow.clients.bench.cli import _raise_nofile

    args = _parser().parse_args(argv)
    if min(args.nodes, args.sockets, args.restaurants, args.procs, args.runs) < 1:
        raise SystemExit("bench cluster: --nodes, --sockets, --restaurants, --procs and --runs must be at least 1")
    if args.masters < 3 or args.replicas < 0:
        raise SystemExit("bench cluster: a Redis Cluster needs --masters 3 or more and --replicas 0 or more")
    if not os.access(REDIS_SERVER, os.X_OK):
        raise SystemExit(f"bench cluster: needs {REDIS_SERVER} (apt-get install redis-server)")
    if args.procs < args.nodes:
        say(f"--procs {args.procs} < --nodes {args.nodes}: using {args.nodes} generator processes, one per node")
        args.procs = args.nodes
    if args.sockets < args.restaurants * args.nodes:
        say("warning: fewer screens per restaurant than nodes: some restaurants' fires stay on one node")
    root = logging.getLogger()
    level = root.level
    if "FIREFLOW_LOG_LEVEL" not in os.environ:
        root.setLevel(logging.WARNING)
    limit = _raise_nofile(args.sockets * 2 + 1024)
    if limit < args.sockets / args.nodes + 512:
        say(f"warning: open-file limit {limit} is low for {args.sockets} sockets over {args.nodes} nodes")

    async def run() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        medians("cluster", await repeated(args.runs, lambda: _bench(args)), [])
        return 0

    try:
        return asyncio.run(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted")
        return 130
    finally:
        root.setLevel(level)
