"""CPU time of the processes the bench watches, their descendants included."""

from __future__ import annotations

import contextlib

import psutil

__all__ = ["cpu_seconds", "cpu_split"]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    user, system = cpu_split(procs)
    return user + system


def cpu_split(procs: list[psutil.Process]) -> tuple[float, float]:
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
