"""A node's share of one kind of background work (predictions, sweeps, due checks): leases on shards of restaurants.

Each shard is a lease held by one node: a key whose value is the node's name (so one read shows who holds
what), expiring unless renewed on every turn. Every node counts the live nodes (a sorted set of names,
each scored with when it stops counting unless it comes back) and takes or gives shards toward its fair
share (``hub/domain/shares.py``). A node that dies stops renewing: its shards come free within ``lease_s``,
and the others take them. A node shutting down lets go of everything at once.

The keys of one kind share a hash tag, so on Redis Cluster they live in one slot: the holders are one
MGET, and the leases a turn renews, takes or gives are one script (``lua/shares.lua``), a lock's
check-and-set for each key. redis-py's ``Lock`` does the same one key a call: a lone node's 64 renewals a
turn took 9 ms of CPU on the cluster client, and the first turn's 90 ms (each lock loading its script).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Collection
from importlib import resources

from redis.asyncio import Redis
from redis.exceptions import RedisError

from fireflow.hub.domain.shares import SHARDS, moves, shard_of
from fireflow.hub.live.keys import ShareKeys

__all__ = ["Shares"]


class Shares:
    def __init__(self, redis: Redis, kind: str, lease_s: float, shards: int = SHARDS) -> None:
        self.redis = redis
        self.lease_s = lease_s
        self.shards = shards
        self.node = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        keys = ShareKeys(kind)
        self._names = [keys.shard(s) for s in range(shards)]
        self._nodes_key = keys.nodes
        self._turn = redis.register_script(resources.files("fireflow.hub.live").joinpath("lua/shares.lua").read_text())
        self.held: frozenset[int] = frozenset()
        self.taken: frozenset[int] = frozenset()  # taken on the last turn: their work may be overdue
        self.held_at = float("-inf")  # when the last turn began (time.monotonic())

    def owns(self, restaurant_id: str) -> bool:
        return shard_of(restaurant_id, self.shards) in self.held

    async def hold(self, giving: Callable[[frozenset[int]], Awaitable[None]] | None = None) -> frozenset[int]:
        """Count this node in, renew what it holds, and move toward its fair share: the shards held now.

        ``giving`` is awaited with the shards about to be handed back, before they are (the predictor keeps
        what it learned of their restaurants for the next holder). A lease that could not be renewed is
        simply gone: the work is the next holder's.
        """
        before = self.held
        self.held_at = time.monotonic()
        nodes = await self._count_in()
        self.held = await self._leases(self.held, "renew")
        planned = moves(await self.redis.mget(self._names), self.node, self.held, nodes)
        if planned.give:
            given = frozenset(planned.give)
            if giving is not None:
                await giving(given)
            await self._leases(given, "give")
            self.held -= given
        if planned.take:
            self.held |= await self._leases(planned.take, "take")
        self.taken = self.held - before
        return self.held

    async def renew(self, giving: Callable[[frozenset[int]], Awaitable[None]] | None = None) -> bool:
        """``hold()`` when a third of the lease has passed since the last turn; whether it took one.

        Work that runs in rounds calls this as it goes, not only between rounds: a round can outlast the lease on
        a saturated node. The predictor renewed only between its rounds, and in ``bench cluster`` (three nodes, two
        cores) a round of 500 restaurants' looks took longer than the 15-s lease: the leases ran out mid-round,
        the other nodes' counts went with them, and one node at a time took all 64 shards, which made its rounds
        longer still; for up to 45 s at a time no node held any."""
        if time.monotonic() - self.held_at <= self.lease_s / 3:
            return False
        await self.hold(giving)
        return True

    async def release(self) -> None:
        """Hand everything back and stop counting: the other nodes take this node's shards on their next turn."""
        held, self.held = self.held, frozenset()
        try:
            await self._leases(held, "give")
            await self.redis.zrem(self._nodes_key, self.node)
        except (RedisError, OSError):
            pass  # the leases run out by themselves, and so does the count

    async def _count_in(self) -> int:
        """This node counted for another ``lease_s``; the nodes counted now (those that stopped drop out)."""
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._nodes_key, {self.node: now_ms + int(self.lease_s * 1000)})
            pipe.zremrangebyscore(self._nodes_key, "-inf", now_ms)
            pipe.zcard(self._nodes_key)
            pipe.pexpire(self._nodes_key, int(self.lease_s * 2000))  # no key left behind by a fleet that is gone
            *_, count, _ = await pipe.execute()
        return max(1, int(count))

    async def _leases(self, shards: Collection[int], op: str) -> frozenset[int]:
        """``op`` ("renew", "take", "give") on the leases of ``shards``, in one call: those that are (were) ours."""
        if not shards:
            return frozenset()
        order = sorted(shards)
        ours = await self._turn(keys=[self._names[s] for s in order], args=[self.node, int(self.lease_s * 1000), op])
        return frozenset(s for s, mine in zip(order, ours, strict=True) if mine)
