"""The archiver: orders closed for a while leave Redis once Postgres holds them.

Runs inside the durable writer (wherever it runs), every ``ARCHIVE_EVERY_S``: per restaurant, the
orders closed more than ``keep_s`` ago (``Keys.closed_at``) are copied to ``archived_orders``
(``fireflow.hub.books.archive``), then taken out of Redis by ``lua/evict.lua``, each only if it did
not change in between. So Redis memory follows the orders being worked on, not the history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from fireflow.hub.books.archive import OrderArchive
from fireflow.hub.live.keys import Keys
from fireflow.schema.records import Order

__all__ = ["ARCHIVE_EVERY_S", "Archiver"]

logger = logging.getLogger(__name__)

ARCHIVE_EVERY_S = 30.0  # or a quarter of the keep, if shorter
BATCH = 500  # orders per restaurant per pass


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class Archiver:
    def __init__(self, redis: Redis, archive: OrderArchive, *, keep_s: float) -> None:
        self.redis = redis
        self.archive = archive
        self.keep_s = keep_s
        self.every_s = min(ARCHIVE_EVERY_S, keep_s / 4)
        self.archived = 0
        self._evict = redis.register_script(resources.files("fireflow.hub.live").joinpath("lua/evict.lua").read_text())
        self._swept: set[str] = set()

    async def run(self, rids: list[str], between: Callable[[], Awaitable[object]] | None = None) -> int:
        """One pass over ``rids``; how many orders left Redis.

        ``between`` is awaited after each restaurant that had orders to move: the durable writer renews its leases
        there (``Shares.renew``), as a pass over hundreds of restaurants may outlast them on a saturated node.
        """
        now_ms = int(time.time() * 1000)
        await self._sweep([rid for rid in rids if rid not in self._swept], now_ms)
        cutoff = now_ms - int(self.keep_s * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.zrangebyscore(Keys(rid).closed_at, "-inf", cutoff, start=0, num=BATCH, withscores=True)
            due: list[Any] = await pipe.execute()
        gone = 0
        for rid, found in zip(rids, due, strict=True):
            if found:
                gone += await self._archive(Keys(rid), [(_text(member), int(score)) for member, score in found])
                if between is not None:
                    await between()
        self.archived += gone
        return gone

    async def _archive(self, k: Keys, found: list[tuple[str, int]]) -> int:
        raws = await self.redis.hmget(k.closed_orders, [order_id for order_id, _ in found])
        orders = [(Order.model_validate_json(raw), closed) for raw, (_, closed) in zip(raws, found, strict=True) if raw]
        await self.archive.put(k.restaurant_id, orders)  # first: Redis lets go only of what Postgres holds
        args = [part for order, _ in orders for part in (order.id, order.revision)]
        gone = int(await self._evict(keys=[k.versions, k.closed_orders, k.closed_at], args=args)) if args else 0
        strays = [order_id for raw, (order_id, _) in zip(raws, found, strict=True) if not raw]
        if strays:  # reopened or gone since: nothing to archive under these
            await self.redis.zrem(k.closed_at, *strays)
        return gone

    async def _sweep(self, rids: list[str], now_ms: int) -> None:
        """Closed orders kept before their closing times were (hubs before this one): they count from now."""
        for rid in rids:
            k = Keys(rid)
            ids = await self.redis.hkeys(k.closed_orders)
            if ids:
                await self.redis.zadd(k.closed_at, dict.fromkeys(map(_text, ids), now_ms), nx=True)
                logger.info(
                    "%s: %d closed orders from before closing times were kept, archived from now on", rid, len(ids)
                )
            self._swept.add(rid)
