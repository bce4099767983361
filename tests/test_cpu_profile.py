"""The CPU-time sampler (``hub/run/cpu_profile.py``): its samples fall where the CPU went, and not where a process
waited."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fireflow.hub.run.cpu_profile import CpuProfile, read_folded


def _burn(seconds: float) -> int:
    """CPU for ``seconds`` of this process's CPU time."""
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n


def test_the_samples_fall_on_the_function_that_spent_the_cpu_not_on_one_that_slept(tmp_path: Path) -> None:
    profile = CpuProfile(tmp_path / "test.folded")
    profile.start()
    try:
        _burn(0.4)
        time.sleep(0.4)  # waiting costs no CPU: no sample (a wall-clock sampler puts half of them here)
    finally:
        profile.stop()
    stacks = read_folded(tmp_path / "test.folded")
    total = sum(stacks.values())
    burnt = sum(n for stack, n in stacks.items() if "_burn (" in stack.rsplit(";", 1)[-1])
    assert total >= 40  # as often as the kernel counts CPU time: 100 (at 250 Hz) to 400 samples
    assert burnt >= 0.9 * total
    # collapsed stacks, outermost first, a frame per function: what flame graph tools read
    assert all(s.split(";")[-1].startswith("_burn (tests/test_cpu_profile.py:") for s in stacks if "_burn (" in s)
    assert "cpu-profile" not in {t.name for t in threading.enumerate()}  # stopped: its writer is gone
