"""The contract between ``fireflow bench`` and its scenarios: one ``Scenario`` per name."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from fireflow.clients.bench.environment import Env
from fireflow.clients.bench.medians import Figures
from fireflow.clients.bench.servers import Server

__all__ = ["Scenario"]

R = TypeVar("R")


def _no_frame(result: object) -> int:
    return 0


@dataclass(frozen=True)
class Scenario(Generic[R]):
    """What ``fireflow bench NAME`` runs: its defaults and options, the measurement, its hub/baseline line."""

    sockets: int  # the default of --sockets
    procs: int  # the default of --procs
    restaurants: int | None  # the default of --restaurants; None: one restaurant and no such option
    options: Callable[[argparse.ArgumentParser], None]
    measure: Callable[[Env, Server, argparse.Namespace], Awaitable[R]]  # prints its figure lines
    compare: Callable[[R, R], None] | None = None  # prints the hub/baseline ratios; None: no baseline run
    frame: Callable[[R], int] = _no_frame  # the hub's frame size, which the baseline pads to (0: 600 bytes)
    hub_env: Callable[[argparse.Namespace], dict[str, str]] | None = None  # extra environment for the hub process
    tables: int = 12  # tables of each seeded restaurant
    # a run's headline figures by name, the unit in the name: what ``--runs N`` gives the median of
    figures: Callable[[R], Figures] | None = None
