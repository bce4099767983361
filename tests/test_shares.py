"""The background work's shares on a real Redis (and Redis Cluster): split among the live nodes, handed back
when a node stops or the others grow, and taken over when a node dies."""

from __future__ import annotations

import asyncio
import secrets

from redis.asyncio import Redis
from redis.crc import key_slot

from fireflow.hub.domain.shares import fair_share
from fireflow.hub.live.keys import ShareKeys
from fireflow.hub.workers.shares import Shares
from tests.conftest import SCALE

SHARDS = 12


def _kind() -> str:
    return "test-" + secrets.token_hex(4)  # a kind of work of this test's own


async def _rounds(nodes: list[Shares], count: int = 3) -> None:
    for _ in range(count):
        for node in nodes:
            await node.hold()


def _covered_once(nodes: list[Shares]) -> bool:
    held = sorted(s for node in nodes for s in node.held)
    return held == list(range(SHARDS))


async def test_three_nodes_share_the_shards_each_held_once_and_no_node_over_its_share(redis: Redis) -> None:
    kind = _kind()
    nodes = [Shares(redis, kind, 15.0, SHARDS) for _ in range(3)]
    try:
        assert await nodes[0].hold() == frozenset(range(SHARDS))  # alone: everything
        await _rounds(nodes)
        assert _covered_once(nodes)
        assert [len(node.held) for node in nodes] == [fair_share(SHARDS, 3)] * 3
        holders = await redis.mget([ShareKeys(kind).shard(s) for s in range(SHARDS)])
        for node in nodes:  # who holds a shard is in Redis, under the node's name
            assert {s for s, h in enumerate(holders) if h == node.node.encode()} == node.held
        restaurants = [f"r{n}" for n in range(200)]
        assert all(sum(node.owns(rid) for node in nodes) == 1 for rid in restaurants)
    finally:
        for node in nodes:
            await node.release()


async def test_a_node_that_stops_hands_its_shards_to_the_others_on_their_next_turn(redis: Redis) -> None:
    kind = _kind()
    nodes = [Shares(redis, kind, 15.0, SHARDS) for _ in range(3)]
    try:
        await _rounds(nodes)
        gone = nodes.pop()
        assert gone.held
        await gone.release()
        assert gone.held == frozenset()
        await _rounds(nodes, 1)
        assert _covered_once(nodes)
        assert [len(node.held) for node in nodes] == [SHARDS // 2] * 2
    finally:
        for node in nodes:
            await node.release()


async def test_a_shard_handed_back_is_given_to_the_callback_while_still_held(redis: Redis) -> None:
    """The predictor keeps what it learned of a shard's restaurants before letting it go: still its own then."""
    kind = _kind()
    first, second = Shares(redis, kind, 15.0, SHARDS), Shares(redis, kind, 15.0, SHARDS)
    handed: list[frozenset[int]] = []

    async def giving(shards: frozenset[int]) -> None:
        holders = await redis.mget([ShareKeys(kind).shard(s) for s in sorted(shards)])
        assert all(h == first.node.encode() for h in holders)
        handed.append(shards)

    try:
        await first.hold(giving)
        await second.hold(giving)  # counted: the first's share halves on its next turn
        assert handed == [] and second.held == frozenset()
        await first.hold(giving)
        assert handed == [frozenset(range(SHARDS // 2, SHARDS))]
        assert await second.hold() == handed[0]
    finally:
        await first.release()
        await second.release()


async def test_a_dead_nodes_shards_are_taken_over_when_its_leases_run_out(redis: Redis) -> None:
    kind = _kind()
    lease_s = 0.5
    dead, alive = Shares(redis, kind, lease_s, SHARDS), Shares(redis, kind, lease_s, SHARDS)
    try:
        await _rounds([dead, alive])
        assert dead.held and alive.held and len(alive.held) == SHARDS // 2
        # ``dead`` renews nothing from here on; ``alive`` keeps its turns, as a node's ticks would
        async with asyncio.timeout(20 * lease_s * SCALE):
            while await alive.hold() != frozenset(range(SHARDS)):
                await asyncio.sleep(lease_s / 5)
        assert await redis.zrange(ShareKeys(kind).nodes, 0, -1) == [alive.node.encode()]
    finally:
        await alive.release()


async def test_a_node_holding_everything_keeps_it_renewed_tick_after_tick(redis: Redis) -> None:
    kind = _kind()
    node = Shares(redis, kind, 15.0, SHARDS)
    try:
        for _ in range(3):
            assert await node.hold() == frozenset(range(SHARDS))
        ttl = await redis.pttl(ShareKeys(kind).shard(0))
        assert 14_000 < ttl <= 15_000
    finally:
        await node.release()
    assert await redis.mget([ShareKeys(kind).shard(s) for s in range(SHARDS)]) == [None] * SHARDS


async def test_renew_takes_a_turn_only_once_a_third_of_the_lease_has_passed(redis: Redis) -> None:
    kind = _kind()
    lease_s = 1.5
    node = Shares(redis, kind, lease_s, SHARDS)
    try:
        await node.hold()
        await redis.pexpire(ShareKeys(kind).shard(0), 1000)  # a mark: what is left of its lease, shortened
        assert not await node.renew()  # within a third of the lease: no turn, no Redis write
        assert await redis.pttl(ShareKeys(kind).shard(0)) <= 1000
        await asyncio.sleep(lease_s / 3)  # the time that passing is what is tested
        assert await node.renew()
        assert await redis.pttl(ShareKeys(kind).shard(0)) > 1000  # renewed for a whole lease again
        assert node.held == frozenset(range(SHARDS))
    finally:
        await node.release()


def test_a_kinds_keys_are_one_cluster_slot_so_its_holders_are_one_read() -> None:
    keys = ShareKeys("predictor")
    assert {key_slot(k.encode()) for k in [keys.nodes, *(keys.shard(s) for s in range(64))]} == {
        key_slot(b"ff:predictor")
    }
