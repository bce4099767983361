"""The Redis side works on Redis 6.2 (the embedded one) and on Redis 7 (the system's, when installed)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from fireflow.hub.run.embedded import EmbeddedRedis
from tests.conftest import WAIT, Servers, seed, serve_in_process, settings_for
from tests.helpers import events_until, fired_order, new_order


def _system_redis() -> tuple[Path | None, str]:
    """Debian's redis-server 7 (or 8) if there is one, and what was found, for the skip's reason."""
    seen = []
    for found in dict.fromkeys(filter(None, (shutil.which("redis-server"), "/usr/bin/redis-server"))):
        if not Path(found).exists():
            continue
        answer = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=60)
        version = (answer.stdout + answer.stderr).strip()
        if " v=7." in version or " v=8." in version:
            return Path(found), version
        seen.append(f"{found}: {version or f'exit {answer.returncode}'}")
    return None, "; ".join(seen) or "none on PATH"


SYSTEM_REDIS, SYSTEM_REDIS_FOUND = _system_redis()
VERSIONS = [
    pytest.param(None, id="redis-6.2-embedded"),
    pytest.param(
        SYSTEM_REDIS,
        id="redis-7-system",
        marks=pytest.mark.skipif(
            SYSTEM_REDIS is None, reason=f"no Redis 7 redis-server ({SYSTEM_REDIS_FOUND}; apt-get install redis-server)"
        ),
    ),
]


@pytest.fixture(params=VERSIONS)
async def other_redis(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    data = Path(tempfile.mkdtemp(prefix="fireflow-redis-"))
    server = EmbeddedRedis(data, executable=request.param)
    url = await asyncio.to_thread(server.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(data, ignore_errors=True)


async def test_commit_fanout_resume_trim_and_durable_writer(other_redis: str, servers: Servers, rid: str) -> None:
    """Commit script, stream reads, consumer group (XAUTOCLAIM, XPENDING) and MINID trimming all work on this Redis."""
    live = Servers(other_redis, servers.database_url, None)
    redis = Redis.from_url(other_redis)
    await seed(live, rid)
    try:
        async with serve_in_process(settings_for(live, history=10), rid) as hub:
            info = await redis.info("server")
            assert str(info["redis_version"]).split(".")[0] in ("6", "7", "8")
            grill = await hub.kitchen("grill")
            await grill.subscribe("kitchen:grill")
            cashier = await hub.client(Role.CASHIER)
            await cashier.subscribe("orders")
            gone_at, epoch = cashier.offset, cashier.epoch
            await cashier.close()
            waiter = await hub.client(Role.WAITER)
            order_id = await fired_order(waiter, "burger", "fries")
            (ticket,) = await events_until(grill, 1, WAIT)
            assert ticket["data"]["ticket"]["order_id"] == order_id
            back = await hub.client(Role.CASHIER)
            answer = await back.subscribe("orders", since=gone_at, epoch=epoch)
            assert answer["recovered"] is True
            assert [e["type"] for e in answer["replayed"]] == [
                "ORDER_OPENED",
                "ORDER_UPDATED",
                "ORDER_UPDATED",
                "ORDER_FIRED",
            ]
            again = await waiter.command("order.fire", {"order_id": await new_order(waiter, "water")}, id="same")
            assert again == await waiter.command("order.fire", {"order_id": again["result"]["order"]["id"]}, id="same")
            keys = Keys(rid)
            for _ in range(15):
                await new_order(waiter)
            seq = int(await redis.get(keys.seq) or 0)

            async def persisted() -> None:
                while int(await redis.get(keys.persisted) or 0) < seq:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(persisted(), 2 * WAIT)
            await new_order(waiter)
            assert await redis.xlen(keys.stream) <= 11
    finally:
        await redis.aclose()
