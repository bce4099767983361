"""Where a hub process spends its CPU: a sampler on CPU time (``FIREFLOW_CPU_PROFILE``, ``bench kitchen|settle --profile``).

A wall-clock sampler (py-spy) counts a thread that is runnable but waiting for a core as running. On a loaded
two-core machine, most of what it put on the writes to Redis and to the sockets was that wait, after the write
had woken its reader. ``setitimer(ITIMER_PROF)`` fires on the process's own CPU time, user and system alike, so
the samples fall where the CPU goes. cProfile (yappi likewise) reads a clock on every call instead: on the CPU
clock it put the hub's RESP packing at 39 µs a command, which takes 2.7 µs timed alone.

The handler counts the main thread's Python stack, where the hub's event loop runs. Time in C (a system call,
pydantic-core) counts on the Python function that called it, or the one that runs next. The counts are
cumulative, written each second as collapsed stacks (``a;b;c N``, as flame graph tools read them); a window is
the difference of two copies (``fireflow.clients.bench.profile``). It asks for a sample per millisecond of CPU;
the kernel delivers them as often as it counts CPU time (every 4 ms on a kernel ticking at 250 Hz, as here).
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

__all__ = ["INTERVAL_S", "CpuProfile", "profile_process", "read_folded", "write_folded"]

INTERVAL_S = 0.001  # a sample per millisecond of the process's CPU time, or the kernel's tick if that is longer
WRITE_EVERY_S = 1.0


class CpuProfile:
    def __init__(self, path: Path, interval: float = INTERVAL_S) -> None:
        self.path = path
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self._names: dict[CodeType, str] = {}
        self._stopped = threading.Event()
        self._writer = threading.Thread(target=self._keep_writing, name="cpu-profile", daemon=True)
        self._before: Any = signal.SIG_DFL

    def start(self) -> None:
        """Sample from now on, and keep the file written; only from the main thread (signals run there)."""
        self._before = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        self._writer.start()

    def stop(self) -> None:
        """No more samples; the file written with every one taken."""
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._before)
        self._stopped.set()
        self._writer.join()
        self.write()

    def _sample(self, signum: int, frame: FrameType | None) -> None:
        names = self._names
        parts: list[str] = []
        while frame is not None:
            code = frame.f_code
            name = names.get(code)
            if name is None:  # per function, not per line: a stack per call path, as a flame graph draws it
                where = "/".join(Path(code.co_filename).parts[-2:])
                name = names[code] = f"{code.co_qualname} ({where}:{code.co_firstlineno})".replace(";", ",")
            parts.append(name)
            frame = frame.f_back
        parts.reverse()
        self.counts[";".join(parts)] += 1

    def write(self) -> None:
        """The counts so far, replacing the file at once: a reader never sees half of it."""
        write_folded(self.path, dict(self.counts))  # copied in one step: the handler may count meanwhile

    def _keep_writing(self) -> None:
        while not self._stopped.wait(WRITE_EVERY_S):
            self.write()


def write_folded(path: Path, counts: Mapping[str, int]) -> None:
    """``counts`` as collapsed stacks (``a;b;c N`` a line), replacing ``path`` at once."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(f"{stack} {n}\n" for stack, n in sorted(counts.items())))
    os.replace(partial, path)


def read_folded(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            counts[stack] += int(n)
    return counts


def profile_process(folder: str, role: str) -> CpuProfile | None:
    """The sampler of this process (``role``: "node", "background") when ``folder`` is set: ``<role>-<pid>.folded``
    there."""
    if not folder:
        return None
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    profile = CpuProfile(directory / f"{role}-{os.getpid()}.folded")
    profile.start()
    return profile
