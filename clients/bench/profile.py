"""``fireflow bench kitchen|settle --profile DIR``: where the hub's CPU went while it was measured.

The hub's processes sample their own CPU time into ``DIR`` (``FIREFLOW_CPU_PROFILE``, ``hub/run/cpu_profile.py``:
cumulative collapsed stacks, rewritten each second). The bench copies them just before its measured part (the
kitchen's firing, the settlements' rush) and just after it; the difference is that part's profile, written as
``DIR/<part>/<process>.folded`` and summed up here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from fireflow.clients.bench.report import figure
from fireflow.clients.bench.servers import Server
from fireflow.hub.run.cpu_profile import read_folded, write_folded

__all__ = ["add_option", "hub_env", "measured"]

FRESH_WITHIN_S = 10.0  # the processes write each second: a copy waits this long at most for their next write
SHOWN = 12  # functions listed for each process


def add_option(p: argparse.ArgumentParser, part: str) -> None:
    p.add_argument(
        "--profile",
        metavar="DIR",
        help=f"the hub's processes sample their CPU time into DIR: the {part}'s profile is written to DIR/{part} "
        "(collapsed stacks, for flame graph tools) and its busiest functions printed",
    )


def hub_env(args: argparse.Namespace) -> dict[str, str]:
    """What the hub is started with for ``--profile``: its processes' sampler on, writing into the folder."""
    return {"FIREFLOW_CPU_PROFILE": str(Path(args.profile).resolve())} if args.profile else {}


@contextlib.asynccontextmanager
async def measured(args: argparse.Namespace, server: Server, part: str) -> AsyncIterator[None]:
    """The hub's profile of what runs inside, written to ``DIR/<part>`` (nothing without ``--profile``, nor for a
    baseline server, which does not sample itself)."""
    if not args.profile or server.name != "hub":
        yield
        return
    folder = Path(args.profile)
    pids = [server.ps.pid, *(c.pid for c in server.ps.children(recursive=True))]  # the node and its background
    before = await _snapshot(folder, pids)
    yield
    _write_window(folder / part, before, await _snapshot(folder, pids))


async def _snapshot(folder: Path, pids: list[int]) -> dict[str, Counter[str]]:
    """The counts of each of these processes as written after now: each one's next write, a second away at most
    (or its first, for one still starting)."""
    asked = time.time()
    deadline = asked + FRESH_WITHIN_S
    while True:
        found = {pid: next(iter(folder.glob(f"*-{pid}.folded")), None) for pid in pids}
        fresh = {pid: path for pid, path in found.items() if path is not None and path.stat().st_mtime > asked}
        if len(fresh) == len(pids) or time.time() > deadline:
            return {path.stem: read_folded(path) for path in fresh.values()}
        await asyncio.sleep(0.1)


def _write_window(out: Path, before: dict[str, Counter[str]], after: dict[str, Counter[str]]) -> None:
    """Each process's samples between the two copies, into ``out``: written for flame graph tools, and the
    functions most of them fell in printed."""
    out.mkdir(exist_ok=True)
    for name, counts in sorted(after.items()):
        if name not in before:
            continue  # not written before the firing: nothing to tell its samples in the firing by
        window = counts - before[name]
        total = sum(window.values())
        write_folded(out / f"{name}.folded", window)
        own: Counter[str] = Counter()  # by the function a sample fell in (time in C counts on its Python caller)
        for stack, n in window.items():
            own[stack.rpartition(";")[2]] += n
        share = 100 / max(total, 1)
        listed = ", ".join(f"{frame.partition(' (')[0]} {n * share:.1f}%" for frame, n in own.most_common(SHOWN))
        figure(f"profile[{name.partition('-')[0]}]: samples={total} file={out / f'{name}.folded'} busiest: {listed}")
