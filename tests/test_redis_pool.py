"""The node's Redis pool: dead connections are replaced on the spot, and a burst waits its turn instead of failing."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.store import Store
from fireflow.hub.run.demo import seed_restaurant
from fireflow.hub.run.embedded import EmbeddedRedis
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for


async def _open_orders(waiters: list[HubClient], count: int) -> list[BaseException | dict[str, Any]]:
    """``count`` order.open commands spread over ``waiters``, all in flight at once."""
    sends = [
        waiters[n % len(waiters)].command("order.open", {"type": "TAKEAWAY"}, timeout=4 * WAIT) for n in range(count)
    ]
    return await asyncio.gather(*sends, return_exceptions=True)


async def _waiters(hub: RunningHub, count: int) -> list[HubClient]:
    return [await hub.client(Role.WAITER, device=f"waiter-{n}") for n in range(count)]


async def test_every_command_after_a_redis_restart_succeeds_on_its_first_try(
    own_redis: EmbeddedRedis, servers: Servers, rid: str
) -> None:
    """After Redis is killed and restarted, commands landing on the pool's dead connections still succeed first time."""
    live = Servers(own_redis.url, servers.database_url, None)
    await seed(live, rid)
    async with serve_in_process(settings_for(live, redis_pool=16), rid) as hub:
        waiters = await _waiters(hub, 4)
        warm = await _open_orders(waiters, 64)  # fills the pool with connections to the Redis about to die
        assert not [r for r in warm if isinstance(r, BaseException)]
        await asyncio.to_thread(own_redis.kill)
        await asyncio.to_thread(own_redis.start)
        results = await _open_orders(waiters, 64)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, f"{len(failed)} of 64 failed, first: {failed[0]!r}"


async def test_300_concurrent_commands_on_a_pool_of_8_all_succeed(servers: Servers, redis: Redis, rid: str) -> None:
    """Three hundred commands in flight on one node with 8 Redis connections all wait their turn and succeed."""
    rids = [f"{rid}-{n}" for n in range(30)]  # 10 orders each: no contention on one restaurant's counters
    for each in rids:
        await seed_restaurant(Store(redis), each, manager_pin=None)
    async with serve_in_process(settings_for(servers, redis_pool=8), rid) as hub:
        waiters = [await hub.client(Role.WAITER, rid=each) for each in rids]
        results = await _open_orders(waiters, 300)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, f"{len(failed)} of 300 failed, first: {failed[0]!r}"
        ids = {r["result"]["order"]["id"] for r in results if not isinstance(r, BaseException)}
        assert len(ids) == 300
