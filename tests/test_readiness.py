"""/readyz: a node is not ready while no durable writer keeps up, and says why."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from fireflow.hub.books.db import create_engine
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.redis_client import redis_client
from fireflow.hub.live.store import Store
from fireflow.hub.workers.durable import DurableWriter
from tests.conftest import SCALE, WAIT, RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import new_order

MAX_LAG = 0.5 * SCALE  # seconds: short, so a writer that stopped shows within the test


async def ready_becomes(node: RunningHub, ready: bool, timeout: float = 6 * WAIT) -> dict[str, Any]:
    """Ask /readyz until it answers ``ready`` (200) or not (503); returns that answer's body."""
    async with httpx.AsyncClient(base_url=node.url, timeout=WAIT) as http:

        async def ask() -> dict[str, Any]:
            while True:
                answer = await http.get("/readyz")
                if (answer.status_code == 200) is ready:
                    body: dict[str, Any] = answer.json()
                    return body
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(ask(), timeout)


async def until(predicate: Callable[[], bool], timeout: float = 6 * WAIT) -> None:
    async def wait() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


async def test_no_durable_writer_keeping_up_makes_the_node_unready(servers: Servers, redis: Redis, rid: str) -> None:
    """A node whose events no writer stores turns unready naming the durable lag, and ready once a writer catches up."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers).with_(durable="off", durable_max_lag=MAX_LAG), rid) as node:
        waiter = await node.client(Role.WAITER)
        await new_order(waiter, "burger")
        body = await ready_becomes(node, False)
        assert body["durable"] is False and body["redis"] is True and body["postgres"] is True
        assert any(line.startswith("durable: the oldest event not in Postgres has waited") for line in body["why"])
        # `fireflow durable`, run elsewhere: it stores the backlog, and the node is ready again.
        writer_redis = redis_client(servers.redis_url)
        engine = create_engine(servers.database_url)
        writer = DurableWriter(writer_redis, Store(writer_redis), engine, lease=2.0)
        writer.start()
        try:
            body = await ready_becomes(node, True)
            assert body["why"] == [] and body["durable"] is True
        finally:
            await writer.stop()
            await writer.close()
            await engine.dispose()
            await writer_redis.aclose()


@pytest.mark.slow
async def test_a_stopped_durable_child_makes_the_node_unready_and_a_killed_one_is_restarted(
    servers: Servers, redis: Redis, rid: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGSTOP on the writer's child process: unready naming the lag; SIGCONT: ready; SIGKILL: logged and restarted."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers).with_(durable="process", durable_max_lag=MAX_LAG), rid) as node:
        hub = node.hub
        waiter = await node.client(Role.WAITER)
        await new_order(waiter, "burger")
        await ready_becomes(node, True)  # the child started and stored it
        child = hub.background_child
        assert child is not None
        os.kill(child.pid, signal.SIGSTOP)
        try:
            await new_order(waiter, "fries")
            body = await ready_becomes(node, False)
            assert body["durable"] is False and any(line.startswith("durable: ") for line in body["why"])
        finally:
            os.kill(child.pid, signal.SIGCONT)
        await ready_becomes(node, True)
        with caplog.at_level(logging.ERROR, logger="fireflow.hub.supervise"):
            os.kill(child.pid, signal.SIGKILL)
            await until(lambda: hub.background_child is not None and hub.background_child.pid != child.pid)
        (death,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("task durable-writer died")]
        assert f"fireflow durable process {child.pid} exited with -9" in death
        await new_order(waiter, "water")
        await ready_becomes(node, True)  # the new child writes what came since
