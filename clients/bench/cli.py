"""``fireflow bench SCENARIO [options]``: parse the options, run the scenario on the hub, then on the baseline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import signal
from typing import Any

from fireflow.clients.bench import batches, cluster
from fireflow.clients.bench.broadcast import BROADCAST
from fireflow.clients.bench.environment import Env, environment
from fireflow.clients.bench.idle import IDLE
from fireflow.clients.bench.kitchen import KITCHEN
from fireflow.clients.bench.report import medians, repeated, say
from fireflow.clients.bench.riders import RIDERS
from fireflow.clients.bench.scenario import Scenario
from fireflow.clients.bench.servers import start_baseline, start_hub
from fireflow.clients.bench.service import SERVICE
from fireflow.clients.bench.settle import SETTLE
from fireflow.clients.bench.soak import SOAK

__all__ = ["SCENARIOS", "SERVERLESS", "run"]

SCENARIOS: dict[str, Scenario[Any]] = {"kitchen": KITCHEN, "broadcast": BROADCAST, "idle": IDLE, "settle": SETTLE}
SCENARIOS["riders"] = RIDERS
SCENARIOS["soak"] = SOAK
SCENARIOS["service"] = SERVICE
SERVERLESS = {"batches": batches.main}  # scenarios that start no servers: they parse their own options
SERVERLESS["cluster"] = cluster.main  # its own setup: a Redis Cluster and several hub nodes
_BASELINE_FRAME = 600  # bytes, when the hub's run tells no frame size


def _parser(name: str, scenario: Scenario[Any]) -> argparse.ArgumentParser:
    from fireflow.clients import bench

    p = argparse.ArgumentParser(prog=f"fireflow bench {name}", description=(bench.__doc__ or "").splitlines()[0])
    p.add_argument("--sockets", type=int, default=scenario.sockets, help="screens (sockets that receive)")
    p.add_argument("--procs", type=int, default=scenario.procs, help="load generator processes")
    p.add_argument("--client", choices=["raw", "websockets"], default="raw", help="load generator's WebSocket client")
    p.add_argument("--port", type=int, default=0, help="hub port (default: a free one)")
    p.add_argument("--connect-concurrency", type=int, default=32, help="handshakes in flight per generator process")
    p.add_argument("--baseline", action="store_true", help="also run the load against clients/baseline.py")
    if scenario.figures is not None:
        p.add_argument(
            "--runs",
            type=int,
            default=1,
            help="run it this many times, each on fresh servers (with --baseline: hub then baseline each time), "
            "then print each headline figure's median and, with --baseline, the median of the runs' ratios",
        )
    if scenario.restaurants is None:
        p.set_defaults(restaurants=1)
    else:
        p.add_argument("--restaurants", type=int, default=scenario.restaurants)
    scenario.options(p)
    return p


def _raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit (children inherit it): thousands of sockets need thousands of fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _bench(scenario: Scenario[Any], args: argparse.Namespace, env: Env) -> tuple[Any, Any]:
    """One run: the hub's result and, with ``--baseline`` (where the scenario has one), the baseline's, else None."""
    from fireflow.hub.books.db import migrate

    await migrate(env.database_url)
    await env.seed(args.restaurants, scenario.tables)
    say(f"starting the hub ({args.restaurants} restaurant(s) seeded)")
    hub = await start_hub(env, scenario.hub_env(args) if scenario.hub_env is not None else None)
    try:
        ours = await scenario.measure(env, hub, args)
    except Exception:
        say(f"the run failed; the hub's log ends with:\n{hub.log_tail()}")
        raise
    finally:
        hub.stop()
    if not args.baseline or scenario.compare is None:
        return ours, None
    frame = scenario.frame(ours) or _BASELINE_FRAME
    say(f"starting the baseline (frames padded to {frame} bytes)")
    baseline = await start_baseline(env, frame)
    try:
        theirs = await scenario.measure(env, baseline, args)
    finally:
        baseline.stop()
    scenario.compare(ours, theirs)
    return ours, theirs


def run(name: str, argv: list[str]) -> int:
    """Entry point of ``fireflow bench``; returns the exit code."""
    if name in SERVERLESS:
        return SERVERLESS[name](argv)
    scenario = SCENARIOS[name]
    args = _parser(name, scenario).parse_args(argv)
    runs = getattr(args, "runs", 1)
    if args.restaurants < 1 or args.sockets < 1 or runs < 1:
        raise SystemExit("bench: --sockets, --restaurants and --runs must be at least 1")
    root = logging.getLogger()
    level = root.level
    if "FIREFLOW_LOG_LEVEL" not in os.environ:  # the CLI's INFO default buries the figures under start-up chatter
        root.setLevel(logging.WARNING)
    limit = _raise_nofile(args.sockets * 2 + 1024)
    per_process = args.sockets / max(1, args.procs) + 512
    if limit < per_process or limit < args.sockets + 512:
        say(f"warning: open-file limit {limit} is low for {args.sockets} sockets; raise it or use more --procs")

    async def main() -> int:
        task = asyncio.current_task()
        assert task is not None
        # SIGTERM (a supervisor, a timeout) unwinds like Ctrl-C: every process stopped, the temp dir removed.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)

        async def once() -> tuple[Any, Any]:
            with environment(args) as env:
                return await _bench(scenario, args, env)

        results = await repeated(runs, once)
        if scenario.figures is not None:
            figures = scenario.figures
            medians(name, [figures(h) for h, _ in results], [figures(b) for _, b in results if b is not None])
        return 0

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted")
        return 130
    finally:
        root.setLevel(level)
