"""How the bench speaks: progress to stderr, figure lines to stdout, numbers in one format."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from fireflow.clients.bench.medians import Figures, summary

__all__ = ["MiB", "figure", "medians", "ms", "rates", "ratio", "repeated", "say"]

R = TypeVar("R")

MiB = 1024 * 1024


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def figure(line: str) -> None:
    print(line, flush=True)


def ms(value: float) -> str:
    return f"{value:.1f}ms" if value < 100 else f"{value:.0f}ms"


def rates(text: str) -> list[float]:
    """``--rates``: the rates a stepped bench goes through, comma-separated, ascending."""
    steps = [float(r) for r in text.split(",") if r.strip()]
    if not steps or any(r <= 0 for r in steps) or steps != sorted(steps):
        raise argparse.ArgumentTypeError("rates are positive numbers, comma-separated, ascending")
    return steps


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


async def repeated(runs: int, once: Callable[[], Awaitable[R]]) -> list[R]:
    """``once()`` awaited ``runs`` times in turn (``--runs``), each announced when there are several."""
    results = []
    for run in range(1, runs + 1):
        if runs > 1:
            say(f"run {run} of {runs}")
        results.append(await once())
    return results


def medians(name: str, hub: Sequence[Figures], baseline: Sequence[Figures]) -> None:
    """After several runs, their medians' lines (``medians.summary``); nothing after one."""
    if len(hub) > 1:
        for line in summary(name, hub, baseline):
            figure(line)
