"""Background work that waits while the machine's CPUs are fought over (the outbox's drain).

Niceness alone does not keep the drain out of a rush's way: an invoice's PDF is about 9 ms of pure Python, the
drain renders them back to back while a backlog lasts, and at nice 10 on two cores it still took 0.9 ms of CPU
a settlement (a fifth of all it cost there) and the node settled 437-444/s against 531-538/s with the outbox
off (`fireflow bench settle`, 2026-12-05). So the drain looks before each batch at the kernel's CPU pressure
(``/proc/pressure/cpu``, "some": the share of wall time in which at least one runnable task waited for a CPU)
and, while it is above ``at``, waits — but never more than ``most_s`` between two batches, so a backlog always
moves. Pressure, not load: the drain alone on idle cores waits for nobody and runs flat out, and it counts any
task in the way (Postgres, Redis, the node), not only this process's.

A kernel without pressure stall information (before 4.20, or ``psi=0``) gives nothing to read: the drain
then never waits, as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["LOOK_S", "PRESSURE", "Yielding", "cpu_stalled_us", "must_wait"]

PRESSURE = Path("/proc/pressure/cpu")
LOOK_S = 1.0  # under pressure the drain looks again this soon
SHORTEST_S = 0.05  # a window shorter than this says nothing yet: the batch goes


def cpu_stalled_us(path: Path = PRESSURE) -> int | None:
    """Microseconds some task has waited for a CPU since boot (the "some" line's total); None: not readable."""
    try:
        some = path.read_text().splitlines()[0]
        return int(some.rpartition("total=")[2])
    except (OSError, ValueError, IndexError):
        return None


def must_wait(share: float | None, at: float | None, waited_s: float, most_s: float) -> bool:
    """Whether a batch waits: the pressure ``share`` (None: unknown) is above ``at`` (None or 1: never wait; a
    share read over a window the clocks disagree on may come out a hair over 1) and the drain has not yet waited
    ``most_s`` since its last batch."""
    if at is None or at >= 1 or share is None:
        return False
    return share > at and waited_s < most_s


class Yielding:
    """The gate a background loop passes before each batch of work (see the module's docstring)."""

    def __init__(
        self,
        at: float | None,
        most_s: float,
        stalled: Callable[[], int | None] = cpu_stalled_us,
        clock: Callable[[], float] = time.monotonic,
        look_s: float = LOOK_S,
    ) -> None:
        self.at = at
        self.most_s = most_s
        self.stalled = stalled
        self.clock = clock
        self.look_s = look_s
        self.waits = 0  # looks that found the CPUs fought over (how often the drain stood aside)
        self._mark = (clock(), stalled())
        self._passed = clock()

    def share(self) -> float | None:
        """The pressure since the last look (None: unknown, or too short a window to tell), and a new look."""
        now = self.clock()
        then, before = self._mark
        if now - then < SHORTEST_S:
            return None  # the window grows on until the next look
        stalled = self.stalled()
        self._mark = (now, stalled)
        if stalled is None or before is None:
            return None
        return max(0.0, (stalled - before) / 1e6 / (now - then))

    async def turn(self) -> None:
        """Returns when the next batch may go: at once when nothing waits for a CPU, else when the pressure has
        fallen to ``at`` or ``most_s`` after the last batch went."""
        while must_wait(self.share(), self.at, self.clock() - self._passed, self.most_s):
            self.waits += 1
            await asyncio.sleep(min(self.look_s, max(0.0, self.most_s - (self.clock() - self._passed))))
        self._passed = self.clock()
