"""The hub on a Redis Cluster: a master's failover under traffic, a replica that cannot confirm, bad URLs.

Each test here has a cluster of its own (3 masters, a replica each, Debian's redis-server 7), which it
may break: PROTOCOL.md ("Redis Cluster and failover") states what these tests hold the hub to.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import cast
from urllib.parse import urlsplit

import psutil
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.decision import Decision
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.redis_client import cluster_seeds, get_many, redis_client
from fireflow.hub.live.store import Store
from fireflow.hub.run.cli import Stop, check_reachable
from fireflow.hub.run.config import Settings
from fireflow.hub.run.embedded import EmbeddedRedisCluster
from tests.conftest import WAIT, Servers, embedded_cluster, free_port, seed, serve_in_process, settings_for
from tests.helpers import new_order, retry_command


@pytest.fixture
def own_cluster() -> Iterator[EmbeddedRedisCluster]:
    """A Redis Cluster of this test's own, which it may break."""
    with embedded_cluster("fireflow-own-cluster-") as cluster:
        yield cluster


def cluster_url(cluster: EmbeddedRedisCluster) -> str:
    return cluster.url.replace("redis://", "redis+cluster://", 1)


async def fire_until_acknowledged(waiter: HubClient, n: int, tag: str) -> str:
    """Open, add and fire one takeaway, each step retried with its own id until answered: a till's loop."""
    opened = await retry_command(waiter, "order.open", {"type": "TAKEAWAY", "notes": ""}, f"{tag}-open-{n}")
    order_id: str = opened["result"]["order"]["id"]
    add = {"order_id": order_id, "menu_item_id": "burger", "notes": ""}
    await retry_command(waiter, "order.add_item", add, f"{tag}-add-{n}")
    await retry_command(waiter, "order.fire", {"order_id": order_id}, f"{tag}-fire-{n}")
    return order_id


async def test_a_master_failover_under_traffic_keeps_every_acknowledged_command_once(
    own_cluster: EmbeddedRedisCluster, servers: Servers, rid: str
) -> None:
    """Three tills fire orders while the restaurant's master is killed and its replica takes over.

    Every acknowledged command is still there and applied once (its retry answers the first result),
    the grill screen sees every fired order once and in offset order, and Postgres holds the stream
    with no gap and no double.
    """
    live = Servers(cluster_url(own_cluster), servers.database_url, None)
    await seed(live, rid)
    async with serve_in_process(settings_for(live), rid) as hub:
        grill = await hub.kitchen("grill")
        await grill.subscribe("kitchen:grill")
        tills = [await hub.client(Role.WAITER, device=f"till-{i}") for i in range(3)]
        fired: list[str] = []
        first: dict[int, str] = {}
        failed_over = asyncio.Event()

        async def till(i: int) -> None:
            n = 0
            # before, during and after the failover: until it is over and a few more orders went through
            while not failed_over.is_set() or n < 8:
                fired.append(await fire_until_acknowledged(tills[i], n, f"till{i}"))
                first.setdefault(i, fired[-1])
                n += 1

        traffic = [asyncio.create_task(till(i)) for i in range(3)]
        while len(fired) < 6:
            await asyncio.sleep(0.01)
        master = own_cluster.master_of(Keys(rid).stream)
        await asyncio.to_thread(own_cluster.kill, master)
        promoted = await asyncio.to_thread(own_cluster.wait_failover, master, Keys(rid).stream)
        failed_over.set()
        await asyncio.wait_for(asyncio.gather(*traffic), 12 * WAIT)
        assert promoted != master

        seen: list[tuple[int, str]] = []
        while len(seen) < len(fired):
            event = await grill.next_event(4 * WAIT)
            seen.append((event["offset"], event["data"]["ticket"]["order_id"]))
        assert sorted(order for _, order in seen) == sorted(fired)  # each once
        assert [offset for offset, _ in seen] == sorted({offset for offset, _ in seen})  # in order, no repeat

        # The first command of each till again, with its id: answered from the first result, not applied twice.
        for i in range(3):
            again = await tills[i].command("order.open", {"type": "TAKEAWAY", "notes": ""}, id=f"till{i}-open-0")
            assert again["result"]["order"]["id"] == first[i]
        redis = redis_client(cluster_url(own_cluster))  # its first node may be the one killed
        try:
            open_orders = await redis.hlen(Keys(rid).open_orders)
            head = int(await redis.get(Keys(rid).acked) or 0)
        finally:
            await redis.aclose()
        assert open_orders == len(fired)
        with pytest.raises(asyncio.TimeoutError):
            await grill.next_event(0.5)  # no ticket nobody fired
        offsets = await asyncio.wait_for(stored_offsets(servers.database_url, rid, head), 6 * WAIT)
        assert offsets == list(range(1, head + 1))  # the durable writer stored the stream once, with no gap


async def stored_offsets(database_url: str, rid: str, until: int) -> list[int]:
    """The restaurant's offsets in Postgres once the durable writer has stored ``until`` of them."""
    engine = create_async_engine(database_url)
    query = text('SELECT "offset" FROM events WHERE restaurant_id = :rid ORDER BY "offset"')
    try:
        while True:
            async with engine.connect() as conn:
                offsets = list((await conn.execute(query, {"rid": rid})).scalars())
            if len(offsets) >= until:
                return offsets
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def test_a_command_no_replica_confirms_is_unavailable_unseen_and_its_retry_applies_it_once(
    own_cluster: EmbeddedRedisCluster, servers: Servers, rid: str
) -> None:
    """With the shard's replica down, a fire is answered UNAVAILABLE and no screen sees it; with the
    replica back, its retry (same id) is acknowledged once and the grill gets the ticket once."""
    live = Servers(cluster_url(own_cluster), servers.database_url, None)
    await seed(live, rid)
    async with serve_in_process(settings_for(live, redis_replica_wait=0.2), rid) as hub:
        grill = await hub.kitchen("grill")
        await grill.subscribe("kitchen:grill")
        waiter = await hub.client(Role.WAITER)
        order_id = await new_order(waiter, "burger")
        replica = own_cluster.replica_of(own_cluster.master_of(Keys(rid).stream))
        await asyncio.to_thread(own_cluster.kill, replica)
        with pytest.raises(HubError) as err:
            await waiter.command("order.fire", {"order_id": order_id}, id="fire-1")
        assert err.value.code == "UNAVAILABLE" and err.value.retryable
        assert "replica" in str(err.value.frame)
        with pytest.raises(asyncio.TimeoutError):
            await grill.next_event(0.5)  # committed on the master, but nobody may see it yet
        await asyncio.to_thread(own_cluster.restart, replica)
        first = await retry_command(waiter, "order.fire", {"order_id": order_id}, "fire-1")
        again = await waiter.command("order.fire", {"order_id": order_id}, id="fire-1")
        assert again["result"] == first["result"]
        assert (await grill.next_event(WAIT))["data"]["ticket"]["order_id"] == order_id
        with pytest.raises(asyncio.TimeoutError):
            await grill.next_event(0.5)  # once


def _lone_url(servers: Servers) -> str:
    """The suite's one Redis, named as if it were a cluster (by its TCP port: the embedded one's URL is its
    unix socket)."""
    embedded = servers.embedded.redis if servers.embedded is not None else None
    url = embedded.tcp_url if embedded is not None else servers.redis_url
    if not url.startswith("redis://"):
        pytest.skip(f"REDIS_URL {url.split(':', 1)[0]}:// cannot be named as a cluster's URL")
    return url.replace("redis://", "redis+cluster://", 1)


async def test_a_url_of_the_wrong_kind_is_refused_in_one_line(
    own_cluster: EmbeddedRedisCluster, servers: Servers
) -> None:
    """REDIS_URL=redis:// at a cluster node (or redis+cluster:// at a lone Redis) stops with what to write."""
    with pytest.raises(Stop) as err:
        await asyncio.to_thread(check_reachable, Settings(redis_url=own_cluster.url), postgres=False)
    assert "redis+cluster://" in str(err.value) and "\n" not in str(err.value)
    await asyncio.to_thread(check_reachable, Settings(redis_url=cluster_url(own_cluster)), postgres=False)  # passes
    with pytest.raises(Stop) as err:
        await asyncio.to_thread(check_reachable, Settings(redis_url=_lone_url(servers)), postgres=False)
    assert "redis://" in str(err.value) and "not in cluster mode" in str(err.value)


async def test_a_node_starts_through_any_seed_of_its_url_and_hands_its_child_every_node(
    redis_cluster: EmbeddedRedisCluster, servers: Servers, rid: str
) -> None:
    """REDIS_URL may name several nodes, and one that is down (a failed-over master not back yet) is passed over, by
    the start check and by the client. A node hands its background process every node it knows, so that process
    starts again (after a crash) whichever of them is down; before, it knew only REDIS_URL's one node and could not
    start while that node was down."""
    dead = free_port()
    url = f"redis+cluster://127.0.0.1:{dead},127.0.0.1:{redis_cluster.ports[0]}/0"
    await asyncio.to_thread(check_reachable, Settings(redis_url=url), postgres=False)  # passes
    with pytest.raises(Stop) as err:
        nowhere = Settings(redis_url=f"redis+cluster://127.0.0.1:{dead},127.0.0.1:{free_port()}/0")
        await asyncio.to_thread(check_reachable, nowhere, postgres=False)
    assert f"any of 127.0.0.1:{dead}/0, 127.0.0.1:" in str(err.value) and "\n" not in str(err.value)
    live = Servers(url, servers.database_url, None)
    await seed(live, rid)
    async with serve_in_process(settings_for(live).with_(durable="process"), rid) as node:
        waiter = await node.client(Role.WAITER)
        await new_order(waiter, "burger")
        deadline = time.monotonic() + 4 * WAIT
        while node.hub.background_child is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        child = node.hub.background_child
        assert child is not None
        handed = psutil.Process(child.pid).environ()["REDIS_URL"]
    handed_ports = {int(urlsplit(seed).port or 0) for seed in cluster_seeds(handed)}
    # the masters now and the URL's own nodes (redis-py may know the replicas too), and nothing else
    assert {*redis_cluster.master_ports(), dead, redis_cluster.ports[0]} <= handed_ports
    assert handed_ports <= {*redis_cluster.ports, dead}


async def test_300_concurrent_commands_on_a_cluster_pool_of_8_all_succeed(
    redis_cluster: EmbeddedRedisCluster, servers: Servers, rid: str
) -> None:
    """A burst beyond the connections each cluster node may open waits its turn instead of being refused."""
    live = Servers(cluster_url(redis_cluster), servers.database_url, None)
    rids = [f"{rid}-{n}" for n in range(30)]  # over the three shards
    for each in rids:
        await seed(live, each)
    async with serve_in_process(settings_for(live, redis_pool=8), rid) as hub:
        waiters = [await hub.client(Role.WAITER, rid=each) for each in rids]
        sends = [waiters[n % 30].command("order.open", {"type": "TAKEAWAY"}, timeout=4 * WAIT) for n in range(300)]
        results = await asyncio.gather(*sends, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, f"{len(failed)} of 300 failed, first: {failed[0]!r}"
    assert len({r["result"]["order"]["id"] for r in results if isinstance(r, dict)}) == 300


async def test_commands_while_a_node_drops_its_idle_connections_all_succeed(
    redis_cluster: EmbeddedRedisCluster,
) -> None:
    """After a connection error redis-py closes a node's idle connections while other commands are about
    to write on them: each such write is retried as a connection error, none fails (redis-py #4287)."""
    client = redis_client(cluster_url(redis_cluster), pool_size=16)
    try:
        await client.set("{race}k", b"v")
        node = client.get_node_from_key("{race}k")  # type: ignore[attr-defined]

        async def drop_idle(times: int) -> None:
            for _ in range(times):
                await node.disconnect_free_connections()
                await asyncio.sleep(0)

        results = await asyncio.gather(
            *(client.get("{race}k") for _ in range(2000)), drop_idle(400), return_exceptions=True
        )
    finally:
        await client.aclose()
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, f"{len(failed)} failed, first: {failed[0]!r}"
    assert results[:-1] == [b"v"] * 2000


async def test_a_commit_cancelled_before_redis_answers_ends_at_once(
    redis_cluster: EmbeddedRedisCluster, rid: str
) -> None:
    """A commit whose caller goes away (a closed socket, a node stopping) before Redis has answered ends
    cancelled at once: the cancellation is not taken for a lost connection and retried for seconds."""
    client = redis_client(cluster_url(redis_cluster))
    master = Redis(port=redis_cluster.master_of(Keys(rid).stream))
    try:
        store = Store(client)
        await store.commit(rid, "warm-up", "", Decision(result={}), int(time.time() * 1000))  # topology, script
        await master.client_pause(3000, all=False)  # scripts wait; reads go on
        commit = asyncio.create_task(store.commit(rid, "c-1", "", Decision(result={}), int(time.time() * 1000)))
        while int((await master.info("clients"))["blocked_clients"]) < 1:
            await asyncio.sleep(0.01)  # until the script waits on the master
        commit.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await commit
        assert time.monotonic() - started < 0.5
    finally:
        await master.client_unpause()
        await master.aclose()
        await client.aclose()


async def test_a_snapshot_and_a_replay_on_a_cluster_are_one_command_each_and_start_no_thread(
    redis_cluster: EmbeddedRedisCluster, rid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every subscribe reads a snapshot or a replay. Read in a cluster transaction, redis-py 8.1 ran each
    queued command on a new thread with an event loop of its own (12 per snapshot): connecting 4,000
    screens took 56 s instead of 16. Both are one script now; a commit in between is seen whole or not."""
    client = redis_client(cluster_url(redis_cluster))
    master = Redis(port=redis_cluster.master_of(Keys(rid).stream))
    try:
        store = Store(client)
        await store.commit(rid, "c-1", "", Decision(result={}), int(time.time() * 1000))
        await store.snapshot_state(rid, frozenset({"tables", "menu"}), 0)  # warm-up: topology, script
        calls0 = int((await master.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0))
        threads: list[threading.Thread] = []
        real_start = threading.Thread.start

        def start(thread: threading.Thread) -> None:
            threads.append(thread)
            real_start(thread)

        monkeypatch.setattr(threading.Thread, "start", start)
        offset, _, state = await store.snapshot_state(rid, frozenset({"tables", "menu", "stock"}), 0)
        history = await store.history_since(rid, 0, 10)
        calls = int((await master.info("commandstats"))["cmdstat_evalsha"]["calls"]) - calls0
        assert threads == [], [(t.name, getattr(t, "_target", None)) for t in threads]
        assert calls == 2
        assert offset == history.offset
        assert history.entries is not None and [e.offset for e in history.entries] == list(range(1, offset + 1))
        assert state.orders == [] and state.menu is None
    finally:
        await master.aclose()
        await client.aclose()


async def test_get_many_reads_each_slot_with_one_mget_on_its_master(
    redis_cluster: EmbeddedRedisCluster, rid: str
) -> None:
    """The fan-out's tick reads each followed restaurant's head, a slot each: the MGETs are written to each master
    at once and read back in order, every value where redis-py's own reads put it (missing keys, a key twice)."""
    client = redis_client(cluster_url(redis_cluster))
    masters = [Redis(port=port) for port in redis_cluster.master_ports()]
    rids = [f"{rid}-{n}" for n in range(30)]  # over the three shards
    try:
        for n, r in enumerate(rids[::2]):
            await client.set(Keys(r).seq, n)
        keys = [key for r in rids for key in (Keys(r).seq, Keys(r).acked)] + [Keys(rids[0]).seq]
        await get_many(client, keys)  # the topology learned

        async def mgets() -> int:
            stats = [await m.info("commandstats") for m in masters]
            return sum(int(s.get("cmdstat_mget", {}).get("calls", 0)) for s in stats)

        before = await mgets()
        found = await get_many(client, keys)
        assert await mgets() - before == len(rids)  # one a restaurant (its slot), none repeated
        assert found == [await client.get(key) for key in keys]
        assert found[0] == b"0" and found[1] is None and found[-1] == b"0"
        # A topology that moved under the client (a failover, slots handed on): the master it writes to answers
        # MOVED, and the read is made again redis-py's way, which follows it.
        manager = cast(RedisCluster, client).nodes_manager
        slot = cast(RedisCluster, client).keyslot(keys[0])
        wrong = next(
            n
            for n in manager.nodes_cache.values()
            if n.server_type == "primary" and n is not manager.slots_cache[slot][0]
        )
        manager.slots_cache[slot] = [wrong]
        assert await get_many(client, keys) == found
    finally:
        for m in masters:
            await m.aclose()
        await client.aclose()


async def test_a_pipeline_of_stream_reads_asks_the_server_for_no_keys(
    redis_cluster: EmbeddedRedisCluster, rid: str
) -> None:
    """redis-py asked each master COMMAND GETKEYS for every XREADGROUP (its keys move), one round trip
    each and one after another: the durable writer's read of 1,000 restaurants' streams took its whole
    time. The client finds a stream read's slot itself, and each read still reaches its stream's master."""
    client = redis_client(cluster_url(redis_cluster))
    masters = [Redis(port=port) for port in redis_cluster.master_ports()]
    streams = [Keys(f"{rid}-{n}").stream for n in range(30)]  # over the three shards
    try:
        for n, stream in enumerate(streams):
            await client.xadd(stream, {"n": n})
            await client.xgroup_create(stream, "g", "0")

        async def getkeys() -> int:
            stats = [await m.info("commandstats") for m in masters]
            return sum(int(s.get("cmdstat_command|getkeys", {}).get("calls", 0)) for s in stats)

        before = await getkeys()
        async with client.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xreadgroup("g", "c", {stream: ">"}, count=10)
            replies = await pipe.execute()
        assert await getkeys() == before
        assert [[(s.decode(), [f for _, f in m]) for s, m in r] for r in replies] == [
            [(stream, [{b"n": str(n).encode()}])] for n, stream in enumerate(streams)
        ]
    finally:
        for m in masters:
            await m.aclose()
        await client.aclose()
