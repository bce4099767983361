"""A long-running process and Python's collector: what start-up made is kept out of its passes."""

from __future__ import annotations

import gc

__all__ = ["freeze_the_start"]


def freeze_the_start() -> None:
    """Everything alive now (modules, settings, clients) lives as long as the process: ``gc.freeze()`` keeps
    it out of every later collection, and the young generation is collected less often.

    Full collections are what stall sockets: a full pass over the hub's modules alone (240,000 objects) took
    115 ms on our two-core machine, and a process's loop stands still for it (every screen's event waits; a
    socket on a short heartbeat is closed as silent). Collect first, so that the garbage of starting up is
    freed, not kept for good.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
