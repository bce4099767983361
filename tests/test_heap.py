"""The start-up freeze (hub/run/heap.py) that keeps a long-running process's loop out of long collections."""

from __future__ import annotations

import gc
import weakref

from fireflow.hub.run.heap import freeze_the_start


class _Cycle:
    me: _Cycle


def test_freezing_the_start_frees_its_garbage_and_keeps_the_rest_out_of_later_passes() -> None:
    """A cycle dropped while starting is collected, not kept for good; what lives on is frozen; the young
    generation is collected less often."""
    dropped = _Cycle()
    dropped.me = dropped
    gone = weakref.ref(dropped)
    kept = [_Cycle() for _ in range(100)]
    del dropped
    before, pace = gc.get_freeze_count(), gc.get_threshold()
    try:
        freeze_the_start()
        assert gone() is None
        assert gc.get_freeze_count() >= before + len(kept)
        assert gc.get_threshold() == (50_000, 50, 100)
    finally:
        gc.set_threshold(*pace)  # the suite's own process keeps the default pace (tests/conftest.py)
