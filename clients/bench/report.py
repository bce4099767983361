"""How the bench speaks: progress to stderr, figure lines to stdout, numbers in one format."""

from __future__ import annotations

import sys

__all__ = ["MiB", "figure", "ms", "ratio", "say"]

MiB = 1024 * 1024


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def figure(line: str) -> None:
    print(line, flush=True)


def ms(value: float) -> str:
    return f"{value:.1f}ms" if value < 100 else f"{value:.0f}ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"
