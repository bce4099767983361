"""The durable event log: every event lands in Postgres exactly once, across a Postgres outage."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from redis.asyncio import Redis

from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from tests.conftest import WAIT, RunningHub, Servers
from tests.helpers import fired_order


def _dsn(servers: Servers) -> str:
    return servers.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def _stored(servers: Servers, rid: str) -> list[int]:
    conn = await asyncpg.connect(_dsn(servers))
    try:
        rows = await conn.fetch('SELECT "offset" FROM events WHERE restaurant_id = $1 ORDER BY "offset"', rid)
    finally:
        await conn.close()
    return [r["offset"] for r in rows]


async def _until_stored(servers: Servers, rid: str, count: int) -> list[int]:
    async def wait() -> list[int]:
        while True:
            offsets = await _stored(servers, rid)
            if len(offsets) >= count:
                return offsets
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), 6 * WAIT)


async def test_every_event_is_stored_once(hub: RunningHub, servers: Servers, redis: Redis) -> None:
    """Events committed in Redis appear in the events table with their offsets, once each."""
    waiter = await hub.client(Role.WAITER)
    for _ in range(5):
        await fired_order(waiter, "burger", "fries")
    seq = int(await redis.get(Keys(hub.rid).seq) or 0)
    offsets = await _until_stored(servers, hub.rid, seq)
    assert offsets == list(range(1, seq + 1))
    conn = await asyncpg.connect(_dsn(servers))
    try:
        row = await conn.fetchrow(
            "SELECT type, channels, jsonb_typeof(data) AS kind, data->'ticket'->>'station' AS station FROM events "
            "WHERE restaurant_id = $1 AND type = 'NEW_KITCHEN_ORDER' ORDER BY \"offset\" LIMIT 1",
            hub.rid,
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["kind"], row["station"], list(row["channels"])) == ("object", "fry", ["kitchen:fry"])


async def test_postgres_restart_during_traffic_loses_and_doubles_nothing(
    hub: RunningHub, servers: Servers, redis: Redis
) -> None:
    """Postgres stopped mid-traffic: the kitchen keeps working, and afterwards every event is stored exactly once."""
    if servers.embedded is None or servers.embedded.postgres is None:
        pytest.skip("DATABASE_URL points at an external Postgres this test cannot restart")
    postgres = servers.embedded.postgres
    waiter = await hub.client(Role.WAITER)
    for _ in range(10):
        await fired_order(waiter, "burger")
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    postgres.stop()
    try:
        for _ in range(20):  # the kitchen flow does not notice
            order_id = await fired_order(waiter, "burger", "water")
            ticket = await grill.next_event(WAIT)
            assert ticket["data"]["ticket"]["order_id"] == order_id
        async with hub.http() as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["postgres"] is False
    finally:
        postgres.start()
    for _ in range(10):
        await fired_order(waiter, "fries")
    seq = int(await redis.get(Keys(hub.rid).seq) or 0)
    offsets = await _until_stored(servers, hub.rid, seq)
    assert offsets == list(range(1, seq + 1))
