"""Supervised tasks: a task that dies is logged and restarted; one that keeps dying is reported, and the node not ready."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

import httpx
import pytest
from redis.asyncio import Redis

from fireflow.hub.supervise import CANCEL_AGAIN_AFTER, Supervisor, stop_child
from tests.conftest import WAIT, RunningHub


async def until(predicate: Callable[[], bool], timeout: float = 2 * WAIT) -> None:
    async def wait() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


def deaths(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "fireflow.hub.supervise" and r.getMessage().startswith(f"task {name} died")
    ]


async def test_a_task_that_raises_is_logged_with_its_traceback_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    """The first run raises; the death is logged as an error with the traceback, and the second run keeps going."""
    running = asyncio.Event()
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ConnectionError("lost its server")
        running.set()
        await asyncio.Event().wait()

    supervisor = Supervisor(first=0.01)
    try:
        supervisor.spawn("flaky", flaky)
        await asyncio.wait_for(running.wait(), WAIT)
        (record,) = deaths(caplog, "flaky")
        assert record.levelno == logging.ERROR and "ConnectionError: lost its server" in record.getMessage()
        assert record.exc_info is not None
        assert supervisor.problems() == []  # one death and running again: fine
    finally:
        await supervisor.stop()
    assert runs == 2


async def test_a_task_that_returns_counts_as_dead() -> None:
    """A long-running task that simply returns is restarted and reported, never left silently finished."""
    supervisor = Supervisor(first=0.01, ceiling=0.01, flapping=2)

    async def quits() -> None:
        return

    try:
        job = supervisor.spawn("quits", quits)
        await until(lambda: job.runs >= 3)
        assert job.last_error == "returned"
        assert [line.split(":")[0] for line in supervisor.problems()] == ["quits"]
    finally:
        await supervisor.stop()


async def test_a_task_whose_cancellation_is_swallowed_is_cancelled_again_and_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A library inside the run eats the first cancellation (as redis-py's pipelines can): stop() still ends it."""
    supervisor = Supervisor()
    swallowed = asyncio.Event()
    inside = asyncio.Event()

    async def swallows_once() -> None:
        try:
            inside.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # and carries on, as if the round trip had been answered
        await asyncio.Event().wait()

    job = supervisor.spawn("swallows", swallows_once)
    await asyncio.wait_for(inside.wait(), WAIT)
    run = job.current
    started = asyncio.get_running_loop().time()
    with caplog.at_level(logging.WARNING, logger="fireflow.hub.supervise"):
        await supervisor.stop(timeout=WAIT)
    took = asyncio.get_running_loop().time() - started
    assert swallowed.is_set() and run is not None and run.cancelled()
    assert took < WAIT / 2, f"stop() took {took:.2f} s"
    assert "did not stop" not in caplog.text


async def test_a_hub_task_that_keeps_dying_makes_the_node_unready(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """A task of the node that raises every time is logged and restarted each time, and /readyz names it until stopped."""
    node = hub.hub
    runs = 0

    async def broken() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError(f"broken #{runs}")

    job = node.supervisor.spawn("broken", broken)
    await until(lambda: len(job.deaths) >= node.supervisor.flapping)
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        ready = await http.get("/readyz")
    body = ready.json()
    assert ready.status_code == 503 and body["tasks"] is False and body["redis"] is True
    assert any(line.startswith("broken: ") for line in body["why"]), body["why"]
    assert len(deaths(caplog, "broken")) >= node.supervisor.flapping
    assert node.metrics.registry.get_sample_value("fireflow_task_restarts_total", {"task": "broken"}) == len(job.deaths)


async def test_a_fanout_listener_that_keeps_dying_makes_the_node_unready(
    hub: RunningHub, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelling the wake-up listener is a death: it is logged and re-subscribes each time; after three, fanout is unready."""
    node = hub.hub
    job = node.supervisor.jobs["fanout-listen"]

    async def subscribed(count: int) -> None:  # the listener's pattern subscription, as Redis sees it
        while await redis.execute_command("PUBSUB", "NUMPAT") != others + count:
            await asyncio.sleep(0.01)

    others = 1  # the node's other pattern subscription: the riders' positions (hub/live/positions.py)

    for _ in range(node.supervisor.flapping):
        await asyncio.wait_for(subscribed(1), 2 * WAIT)
        assert job.current is not None
        job.current.cancel()
        await asyncio.wait_for(subscribed(0), 2 * WAIT)
    await asyncio.wait_for(subscribed(1), 2 * WAIT)  # restarted once more, and listening again
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        ready = await http.get("/readyz")
    body = ready.json()
    assert ready.status_code == 503 and body["fanout"] is False
    assert any(line.startswith("fanout-listen: keeps dying") for line in body["why"]), body["why"]
    assert all("died (was cancelled)" in r.getMessage() for r in deaths(caplog, "fanout-listen"))
    assert len(deaths(caplog, "fanout-listen")) == node.supervisor.flapping


SLOW_TO_EXIT = f"""
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (time.sleep({4 * CANCEL_AGAIN_AFTER}), sys.exit(3)))
print("ready", flush=True)
time.sleep(60)
"""


async def test_stopping_waits_for_a_child_process_that_takes_its_time_to_exit() -> None:
    """A supervised child that needs four of the supervisor's repeated cancellations to exit after SIGTERM (a
    background process's teardown) is waited for: it ends by itself, with its own exit code, and is reaped."""
    started: asyncio.Future[asyncio.subprocess.Process] = asyncio.get_running_loop().create_future()

    async def child() -> None:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SLOW_TO_EXIT, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        await proc.stdout.readline()
        started.set_result(proc)
        try:
            await proc.wait()
        except asyncio.CancelledError:
            await stop_child(proc)
            raise

    supervisor = Supervisor()
    supervisor.spawn("child", child)
    proc = await asyncio.wait_for(started, WAIT)
    await supervisor.stop()
    assert proc.returncode == 3  # its own exit, not SIGKILL's -9, and known: reaped before the node went on
