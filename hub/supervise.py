"""The node's long-running tasks: each one runs, or says loudly that it stopped.

``Supervisor.spawn(name, factory)`` runs ``factory()`` as a task and, whenever
it ends (an exception, a cancellation it did not ask for, or a plain return:
a loop of the node has no business ending), logs it with its traceback and
starts it again after a backoff (``fireflow.hub.retry.Backoff``), which resets once a
run has lasted a whole ``window``. ``problems()`` names every task that is
down right now or died ``flapping`` times within ``window``: the node's
readiness fails on them, so a task that keeps dying is never silently dead.

Shutdown (``stop``) cancels the supervising loops; only then do their tasks
stop for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fireflow.hub.retry import Backoff

__all__ = ["CHILD_STOP_S", "Job", "Supervisor", "TaskEnded", "reraise_if_cancelled", "stop_child"]

logger = logging.getLogger(__name__)

Factory = Callable[[], Awaitable[None]]


def reraise_if_cancelled() -> None:
    """Call at the top of a long-running loop and in its ``except Exception``.

    Client libraries can swallow a task's cancellation or turn it into a ConnectionError;
    a retry loop that carried on regardless would never stop, and shutdown would hang.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class TaskEnded(Exception):
    """A supervised task ended on its own; the message says how (raised by a task to say it, too)."""


@dataclass
class Job:
    """One supervised task: what it is, whether it runs now, and how often it died lately."""

    name: str
    factory: Factory
    runs: int = 0
    up: bool = False
    last_error: str = ""
    deaths: deque[float] = field(default_factory=deque)
    current: asyncio.Task[None] | None = None  # this run's task (cancelling it from outside is a death)
    loop: asyncio.Task[None] | None = None


# A run that is still going this long after its cancellation has had it swallowed (redis-py can consume
# one inside a pipeline and return normally): it is cancelled again, so a node's shutdown never waits it out.
CANCEL_AGAIN_AFTER = 0.25
CHILD_STOP_S = 5.0  # a child process that has not exited this long after SIGTERM is killed


class Supervisor:
    def __init__(
        self,
        *,
        flapping: int = 3,
        window: float = 60.0,
        first: float = 0.5,
        ceiling: float = 30.0,
        on_death: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flapping = flapping
        self.window = window
        self.first = first
        self.ceiling = ceiling
        self.on_death = on_death  # e.g. a metric of restarts per task
        self.clock = clock
        self.jobs: dict[str, Job] = {}

    def spawn(self, name: str, factory: Factory) -> Job:
        """Run ``factory()`` under ``name`` until ``stop()``, restarting it whenever it ends."""
        if name in self.jobs:
            raise ValueError(f"a task named {name!r} is supervised already")
        job = self.jobs[name] = Job(name, factory)
        job.loop = asyncio.get_running_loop().create_task(self._keep(job), name=f"supervise:{name}")
        return job

    async def _keep(self, job: Job) -> None:
        backoff = Backoff(self.first, self.ceiling)
        while True:
            started = self.clock()
            job.runs += 1
            job.up = True
            run = asyncio.get_running_loop().create_task(_as_coroutine(job.factory), name=job.name)
            job.current = run
            try:
                await asyncio.wait({run})
            finally:
                if not run.done():  # we are being stopped: so is the run
                    while not run.done():  # again, if a library swallowed the last cancellation
                        run.cancel()
                        await asyncio.wait({run}, timeout=CANCEL_AGAIN_AFTER)
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await run
                job.up = False
            if self.clock() - started > self.window:
                backoff.reset()  # it ran well for a while: this death is not part of a series
            delay = backoff.next()
            self._died(job, run, delay)
            await asyncio.sleep(delay)

    def _died(self, job: Job, run: asyncio.Task[None], delay: float) -> None:
        now = self.clock()
        job.deaths.append(now)
        while job.deaths and now - job.deaths[0] > self.window:
            job.deaths.popleft()
        exc: BaseException | None
        if run.cancelled():
            exc, job.last_error = None, "was cancelled"
        else:
            exc = run.exception()
            job.last_error = f"{type(exc).__name__}: {exc}" if exc is not None else "returned"
        logger.error(
            "task %s died (%s); restarting it in %.1f s (%d deaths in the last %.0f s)",
            job.name, job.last_error, delay, len(job.deaths), self.window, exc_info=exc,
        )  # fmt: skip
        if self.on_death is not None:
            self.on_death(job.name)

    def problems(self, names: Callable[[str], bool] = lambda name: True) -> list[str]:
        """What is wrong with the tasks whose names pass ``names``: one line each, none when all is well."""
        now = self.clock()
        found = []
        for job in self.jobs.values():
            if not names(job.name):
                continue
            recent = sum(1 for t in job.deaths if now - t <= self.window)
            if not job.up:
                found.append(f"{job.name}: down ({job.last_error}), restarting")
            elif recent >= self.flapping:
                found.append(f"{job.name}: keeps dying ({recent} times in {self.window:.0f} s, last {job.last_error})")
        return found

    async def stop(self, timeout: float = 5.0) -> None:
        loops = [job.loop for job in self.jobs.values() if job.loop is not None]
        for task in loops:
            task.cancel()
        if loops:
            _, pending = await asyncio.wait(loops, timeout=timeout)
            for task in pending:
                logger.warning("task %s did not stop within %.0f s; abandoning it", task.get_name(), timeout)
        self.jobs.clear()


async def _as_coroutine(factory: Factory) -> None:
    await factory()


async def stop_child(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to a child, then wait for its exit (SIGKILL after ``CHILD_STOP_S``), through the cancellations a
    ``Supervisor`` repeats every ``CANCEL_AGAIN_AFTER``: a child the node stopped waiting for outlives the loop that
    would reap it. A background process's interpreter takes 0.2-0.4 s to exit once its work has stopped (its last
    collections, over every module's objects)."""
    proc.terminate()
    deadline: float | None = time.monotonic() + CHILD_STOP_S
    while proc.returncode is None:
        try:
            await asyncio.wait_for(proc.wait(), None if deadline is None else max(deadline - time.monotonic(), 0.0))
        except asyncio.CancelledError:
            continue  # still ours to reap
        except TimeoutError:
            proc.kill()
            deadline = None
