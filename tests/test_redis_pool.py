"""The node's Redis pool: dead connections are replaced on the spot, and a burst waits its turn instead of failing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.redis_client import FairPool, plain_url, redis_client
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


async def test_1000_concurrent_commands_on_a_pool_of_8_all_succeed(servers: Servers, redis: Redis, rid: str) -> None:
    """A thousand commands in flight on one node with 8 Redis connections all wait their turn and succeed."""
    rids = [f"{rid}-{n}" for n in range(100)]  # 10 orders each: no contention on one restaurant's counters
    for each in rids:
        await seed_restaurant(Store(redis), each, manager_pin=None)
    async with serve_in_process(settings_for(servers, redis_pool=8), rid) as hub:
        waiters = [await hub.client(Role.WAITER, rid=each) for each in rids]
        results = await _open_orders(waiters, 1000)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, f"{len(failed)} of 1000 failed, first: {failed[0]!r}"
        ids = {r["result"]["order"]["id"] for r in results if not isinstance(r, BaseException)}
        assert len(ids) == 1000


async def test_the_pool_serves_waiters_first_come_first_served(servers: Servers) -> None:
    """A released connection goes to the command that has waited longest, never to one that asks after it;
    a waiter that gives up (cancelled) leaks nothing, and one that waits past the timeout says why."""
    pool = FairPool.from_url(plain_url(servers.redis_url), max_connections=1, timeout=0.5)
    client = Redis.from_pool(pool)
    try:
        held = await pool.get_connection()
        order: list[str] = []

        async def ping(name: str) -> None:
            await client.ping()
            order.append(name)

        first = asyncio.create_task(ping("first"))
        gone = asyncio.create_task(ping("gone"))
        await asyncio.sleep(0)  # both wait now, in this order
        gone.cancel()
        late = asyncio.create_task(ping("late"))  # runs before "first" wakes: it must not jump the queue
        await pool.release(held)  # handed to "first" directly
        await asyncio.wait_for(asyncio.gather(first, late), WAIT)
        assert order == ["first", "late"] and gone.cancelled()
        assert len(pool._in_use_connections) == 0 and len(pool._available_connections) == 1
        held = await pool.get_connection()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.ping()
        await pool.release(held)
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_new_connection_does_not_read_package_metadata(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py names itself on every new connection (CLIENT SETINFO); left to itself it looked its version
    up in the installed packages' metadata each time, a site-packages scan that held the loop 10-35 ms."""
    import redis.utils

    def scan(name: str) -> str:
        raise AssertionError(f"package metadata read for {name!r} on a new connection")

    monkeypatch.setattr(redis.utils.metadata, "version", scan)
    client = redis_client(servers.redis_url, pool_size=4)
    try:
        assert all(await asyncio.gather(*(client.ping() for _ in range(8))))  # the multiplexed line's connection

        async def pooled() -> list[Any]:
            async with client.pipeline() as pipe:  # a transaction takes a pooled connection
                pipe.ping()
                return await pipe.execute()  # type: ignore[no-any-return]

        assert all(r == [True] for r in await asyncio.gather(*(pooled() for _ in range(8))))
        assert len(client.connection_pool._available_connections) > 1  # type: ignore[attr-defined]
    finally:
        await client.aclose()
