"""The durable event log: every event lands in Postgres exactly once, across a Postgres outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from fireflow.hub.books.db import create_engine
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.shares import SHARDS
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.redis_client import redis_client
from fireflow.hub.live.store import Store
from fireflow.hub.workers.durable import DurableWriter, orders_in
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import fired_order, new_order


def _dsn(servers: Servers) -> str:
    return servers.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def _stored(servers: Servers, rid: str) -> list[int]:
    conn = await asyncpg.connect(_dsn(servers))
    try:
        rows = await conn.fetch('SELECT "offset" FROM events WHERE restaurant_id = $1 ORDER BY "offset"', rid)
    finally:
        await conn.close()
    return [r["offset"] for r in rows]


async def _until(condition: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), 6 * WAIT)


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
            "SELECT \"offset\", type, channels, jsonb_typeof(data) AS kind, data->'ticket'->>'station' AS station, "
            "data->'ticket'->>'order_id' AS order_id, order_ids, device, "
            "(extract(epoch FROM committed_at) * 1000)::bigint AS at_ms FROM events "
            "WHERE restaurant_id = $1 AND type = 'NEW_KITCHEN_ORDER' ORDER BY \"offset\" LIMIT 1",
            hub.rid,
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["kind"], row["station"], list(row["channels"])) == ("object", "fry", ["kitchen:fry"])
    (entry,) = await Store(redis).read_after(hub.rid, row["offset"] - 1, row["offset"])
    # the commit's own milliseconds, the order it is about (HTTP's history finds it by that), the device that fired
    assert (row["at_ms"], list(row["order_ids"]), row["device"]) == (
        int(entry.ts),
        [row["order_id"]],
        waiter.welcome["device"],
    )


async def test_each_entrys_order_ids_are_those_its_data_names(hub: RunningHub, servers: Servers, redis: Redis) -> None:
    """The order ids read off each event's record at commit are what the event's JSON names (an order, a ticket's,
    an alert's, a list of them), and the events table stores them: fired, started, ready, cancelled orders."""
    waiter = await hub.client(Role.WAITER)
    ready = await fired_order(waiter, "burger", "water")
    grill = await hub.kitchen("grill")
    await grill.command("item.start", {"order_id": ready, "line_id": "L1"})
    await grill.command("item.done", {"order_id": ready, "line_id": "L1"})
    cancelled = await new_order(waiter, "fries")
    manager = await hub.client(Role.MANAGER)
    await manager.command("order.cancel", {"order_id": cancelled, "reason": "guest left"})
    seq = int(await redis.get(Keys(hub.rid).seq) or 0)
    entries = await Store(redis).read_after(hub.rid, 0, seq)
    assert len(entries) == seq and {e.type for e in entries} >= {
        b"ORDER_FIRED",
        b"NEW_KITCHEN_ORDER",
        b"ORDER_READY",
        b"ORDER_CANCELLED",
    }
    named = {e.offset: orders_in(orjson.loads(e.data)) for e in entries}
    assert {e.offset: (e.order_ids or b"").decode().split() for e in entries} == named
    assert {ready, cancelled} <= {i for ids in named.values() for i in ids}
    await _until_stored(servers, hub.rid, seq)
    conn = await asyncpg.connect(_dsn(servers))
    try:
        rows = await conn.fetch('SELECT "offset", order_ids FROM events WHERE restaurant_id = $1', hub.rid)
    finally:
        await conn.close()
    assert {r["offset"]: list(r["order_ids"]) for r in rows} == named


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


async def test_a_node_whose_writer_runs_elsewhere_keeps_every_event_that_writer_has_not_stored(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """``FIREFLOW_DURABLE=off``: the log's writer is another node's or ``fireflow durable``. While it is away (a
    Postgres outage, a restart) the node's commits keep every event it has not stored, past the stream's history:
    they trimmed to the history alone before, so a writer back after more than that many events never saw the
    first ones."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers).with_(durable="off", history=5), rid) as node:
        waiter = await node.client(Role.WAITER)
        for _ in range(3):
            await fired_order(waiter, "burger")
        seq = int(await redis.get(Keys(rid).seq) or 0)
        assert seq > 5  # more events than the stream's history
        [(oldest, _)] = await redis.xrange(Keys(rid).stream, count=1)
        assert oldest == b"1-0"
        writer_redis = redis_client(servers.redis_url)
        engine = create_engine(servers.database_url)
        writer = DurableWriter(writer_redis, Store(writer_redis), engine, lease=2.0)
        writer.start()
        try:
            assert await _until_stored(servers, rid, seq) == list(range(1, seq + 1))

            async def marked() -> None:  # the writer's watermark, which commits trim below, reaches them
                while int(await redis.get(Keys(rid).persisted) or 0) < seq:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(marked(), 6 * WAIT)
            await fired_order(waiter, "fries")  # the stream keeps its history, or all not stored if that is more
            last = int(await redis.get(Keys(rid).seq) or 0)
            [(oldest, _)] = await redis.xrange(Keys(rid).stream, count=1)
            assert oldest == f"{min(seq, last - 5) + 1}-0".encode()
        finally:
            await writer.stop()
            await writer.close()
            await engine.dispose()
            await writer_redis.aclose()


async def test_the_writer_reads_only_the_streams_a_commit_woke_and_the_rest_on_its_sweep(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Reading every restaurant's stream each round (five times a second) cost the writer half a core at
    1,000 idle restaurants on a cluster. It reads the streams the commits' wake-ups name, and every stream
    on a sweep (a lost wake-up delays an event by the sweep's period at most)."""
    rids = [f"{rid}-{n}" for n in range(12)]
    for each in rids:
        await seed(servers, each)
    writer_redis = redis_client(servers.redis_url)
    engine = create_engine(servers.database_url)
    writer = DurableWriter(writer_redis, Store(writer_redis), engine, sweep=3600, lease=2.0)  # no sweep in the test
    async with serve_in_process(settings_for(servers).with_(durable="off"), rids[0]) as node:
        waiters = [await node.client(Role.WAITER, rid=each) for each in rids]
        writer.start()
        try:
            await _until(lambda: len(writer.shares.held) == SHARDS)  # alone: a shard taken later is read whole
            await new_order(waiters[0], "burger")
            # past the writer's first rounds, which read every stream, and past every event of that order
            await _until_stored(servers, rids[0], int(await redis.get(Keys(rids[0]).seq) or 0))
            before = dict(writer.reads)
            await new_order(waiters[1], "burger")
            await _until_stored(servers, rids[1], 1)
            read = {stream for stream, n in writer.reads.items() if n > before.get(stream, 0)}
            assert read == {Keys(rids[1]).stream}
            # An event whose wake-up never came (written here as commit.lua would, without its PUBLISH, and
            # without its order ids, as an older hub wrote) is stored by the next sweep.
            k = Keys(rids[2])
            offset = int(await redis.get(k.seq) or 0) + 1
            fields = {"t": "NOTE", "c": "kitchen:grill", "d": "{}", "ts": int(time.time() * 1000), "a": "test"}
            await redis.xadd(k.stream, fields, id=f"{offset}-0")  # type: ignore[arg-type]
            await redis.mset({k.seq: offset, k.acked: offset})
            await asyncio.sleep(0.5)
            assert await _stored(servers, rids[2]) == list(range(1, offset))  # no wake-up, no sweep yet
            writer.sweep = 0.3
            assert await _until_stored(servers, rids[2], offset) == list(range(1, offset + 1))
        finally:
            await writer.stop()
            await writer.close()
            await engine.dispose()
            await writer_redis.aclose()


async def test_a_resting_writer_leaves_its_wake_ups_unread_then_reads_every_stream_they_named(
    base_servers: Servers, rid: str
) -> None:
    """While ``fireflow durable`` lingers between rounds its wake-ups' socket is not read (each wake-up read as it
    came was a process wake-up per commit); the next round still reads every stream a commit named meanwhile.
    One Redis: a cluster's subscription is redis-py's own, read as it comes."""
    servers = base_servers
    rids = [f"{rid}-{n}" for n in range(4)]
    for each in rids:
        await seed(servers, each)
    writer_redis = redis_client(servers.redis_url)
    engine = create_engine(servers.database_url)
    writer = DurableWriter(writer_redis, Store(writer_redis), engine, sweep=3600, lease=2.0, linger=1.0)
    async with serve_in_process(settings_for(servers).with_(durable="off"), rids[0]) as node:
        waiters = [await node.client(Role.WAITER, rid=each) for each in rids]
        writer.start()
        try:
            await _until(lambda: len(writer.shares.held) == SHARDS and writer.quiet.held)
            await new_order(waiters[0], "burger")  # past the writer's first rounds, which read every stream
            await _until_stored(servers, rids[0], int(await writer_redis.get(Keys(rids[0]).seq) or 0))
            await _until(lambda: writer.quiet.held)
            before = dict(writer.reads)
            for waiter in waiters[1:]:
                await new_order(waiter, "burger")  # each commit PUBLISHes its wake-up before it answers
            await asyncio.sleep(0.05)  # what a reading socket takes to hand a wake-up on, many times over
            assert writer.quiet.held and writer._woken == set()  # published, not read: the writer rests
            for each in rids[1:]:
                await _until_stored(servers, each, 1)
            read = {stream for stream, n in writer.reads.items() if n > before.get(stream, 0)}
            assert read == {Keys(each).stream for each in rids[1:]}
        finally:
            await writer.stop()
            await writer.close()
            await engine.dispose()
            await writer_redis.aclose()


async def test_the_writers_share_the_restaurants_and_one_takes_over_when_the_other_stops(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Two writers (two nodes', or ``fireflow durable`` twice) read only the streams of their own restaurants,
    each event stored once between them; when one stops, the other stores its restaurants' events from then on."""
    await seed(servers, rid)  # a writer takes its share once there is a restaurant to write for
    engine = create_engine(servers.database_url)
    clients = [redis_client(servers.redis_url) for _ in range(2)]
    first, second = writers = [DurableWriter(c, Store(c), engine, lease=2.0) for c in clients]
    for writer in writers:
        writer.start()
    try:
        await _until(lambda: [len(w.shares.held) for w in writers] == [SHARDS // 2] * 2)
        candidates = [f"{rid}-{n}" for n in range(200)]
        ours = [next(r for r in candidates if w.shares.owns(r)) for w in writers]  # a restaurant of each
        for each in ours:
            await seed(servers, each)
        async with serve_in_process(settings_for(servers).with_(durable="off"), ours[0]) as node:
            waiters = [await node.client(Role.WAITER, rid=each) for each in ours]
            before = [dict(w.reads) for w in writers]
            for waiter in waiters:
                await fired_order(waiter, "burger")
            for each in ours:
                await _until_stored(servers, each, int(await redis.get(Keys(each).seq) or 0))
            for writer, was, mine in zip(writers, before, ours, strict=True):
                read = {stream for stream, n in writer.reads.items() if n > was.get(stream, 0)}
                assert Keys(mine).stream in read
                assert all(writer.shares.owns(stream[stream.index("{") + 1 : stream.index("}")]) for stream in read)

            await first.stop()
            await first.close()  # hands its shards over
            await fired_order(waiters[0], "fries")
            seq = int(await redis.get(Keys(ours[0]).seq) or 0)
            assert await _until_stored(servers, ours[0], seq) == list(range(1, seq + 1))
            assert second.shares.owns(ours[0]) and len(second.shares.held) == SHARDS
    finally:
        for writer in writers:
            await writer.stop()
            await writer.close()
        await engine.dispose()
        for client in clients:
            await client.aclose()


async def test_a_watermark_stops_below_the_oldest_entry_not_yet_stored(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Everything at or below a restaurant's watermark is in Postgres: below the oldest entry a writer has read
    and not acknowledged, or the last entry given out once none is pending; several restaurants in one call."""
    writer_redis = redis_client(servers.redis_url)
    engine = create_engine(servers.database_url)
    writer = DurableWriter(writer_redis, Store(writer_redis), engine)
    try:
        busy, idle = Keys(f"{rid}-busy"), Keys(f"{rid}-idle")
        for keys in (busy, idle):
            await redis.xgroup_create(keys.stream, writer.group, id="0", mkstream=True)
            for n in (1, 2, 3):
                await redis.xadd(keys.stream, {"t": "X"}, id=f"{n}-0")
            await redis.xreadgroup(writer.group, "someone", {keys.stream: ">"}, count=10)
        await redis.xack(busy.stream, writer.group, "1-0", "3-0")  # 2 is still being stored
        await redis.xack(idle.stream, writer.group, "1-0", "2-0", "3-0")
        await writer._publish_watermarks([(k.stream, k) for k in (busy, idle)])
        assert [await redis.get(k.persisted) for k in (busy, idle)] == [b"1", b"3"]
    finally:
        await writer.close()
        await writer_redis.aclose()
        await engine.dispose()
