"""Which stations have a live screen, and which print agents are connected, across every node.

Each node counts its own kitchen devices' sockets subscribed to ``kitchen:<station>``
(an expo or a manager looking at a station is not that station's screen) and keeps
one member per (station, node) in the restaurant's ``screens`` sorted set,
scored by when it stops counting. The node refreshes its members well before
that, so a node that dies stops counting within ``ttl`` seconds, and a fire
reads one sorted set to learn which stations nobody is watching.

The same counting, in the ``print_agents`` set, tells which print agents (PRINTER devices
following ``printing``) have a socket; ``on_gone`` hears of a name whose last socket on this
node went (printer health: its printers become UNKNOWN unless it has a socket elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from fireflow.hub.live.keys import Keys
from fireflow.hub.supervise import reraise_if_cancelled

__all__ = ["Presence", "print_agents", "screens", "stations_of"]

logger = logging.getLogger(__name__)


def stations_of(channels: Iterable[str]) -> list[str]:
    return [c.partition(":")[2] for c in channels if c.startswith("kitchen:")]


def screens(rid: str) -> str:
    return Keys(rid).screens


def print_agents(rid: str) -> str:
    return Keys(rid).print_agents


class Presence:
    """Counts sockets per (restaurant, name) on this node: a station's screens (``key=screens``), or a print
    agent's sockets (``key=print_agents``)."""

    def __init__(
        self,
        redis: Redis,
        node_id: str,
        *,
        ttl: float = 15.0,
        key: Callable[[str], str] = screens,
        on_gone: Callable[[str, list[str]], Awaitable[None]] | None = None,
    ) -> None:
        self.redis = redis
        self.node_id = node_id
        self.ttl = ttl
        self.key = key
        self.on_gone = on_gone  # (restaurant, names whose last socket here went), once their members are gone
        self._counts: dict[tuple[str, str], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _member(self, station: str) -> str:
        return f"{station}|{self.node_id}"

    def _expiry(self) -> int:
        return int((time.time() + self.ttl) * 1000)

    async def add(self, rid: str, stations: Iterable[str]) -> None:
        """Count screens; a station's first one here is written at once, so a fire right after sees it."""
        first = []
        for station in stations:
            key = (rid, station)
            self._counts[key] = self._counts.get(key, 0) + 1
            if self._counts[key] == 1:
                first.append(station)
        if first:
            await self.redis.zadd(self.key(rid), dict.fromkeys(map(self._member, first), self._expiry()))

    def remove(self, rid: str, stations: Iterable[str]) -> None:
        gone = []
        for station in stations:
            key = (rid, station)
            left = self._counts.get(key, 0) - 1
            if left > 0:
                self._counts[key] = left
            elif key in self._counts:
                del self._counts[key]
                gone.append(station)
        if gone:
            task = asyncio.get_running_loop().create_task(self._forget(rid, gone))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forget(self, rid: str, names: list[str]) -> None:
        try:
            await self.redis.zrem(self.key(rid), *map(self._member, names))
            back = [n for n in names if (rid, n) in self._counts]  # a socket came again meanwhile: it counts
            if back:
                await self.redis.zadd(self.key(rid), dict.fromkeys(map(self._member, back), self._expiry()))
        except (RedisError, OSError) as exc:
            logger.warning("could not remove %s of %s: %s (they expire in %.0f s)", names, rid, exc, self.ttl)
        gone = [n for n in names if (rid, n) not in self._counts]
        if gone and self.on_gone is not None:
            await self.on_gone(rid, gone)

    async def refresh(self) -> None:
        by_rid: dict[str, dict[str, int]] = {}
        expiry = self._expiry()
        for rid, station in list(self._counts):
            by_rid.setdefault(rid, {})[self._member(station)] = expiry
        if not by_rid:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for rid, members in by_rid.items():
                pipe.zadd(self.key(rid), members)
                pipe.zremrangebyscore(self.key(rid), "-inf", int(time.time() * 1000))
            await pipe.execute()

    async def run(self) -> None:
        while True:
            reraise_if_cancelled()  # a library may have swallowed our cancellation in the last round
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.refresh()
            except (RedisError, OSError) as exc:
                reraise_if_cancelled()
                logger.warning("screen presence refresh failed: %s", exc)

    async def stop(self) -> None:
        """Forget this node's screens now instead of letting them expire."""
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        by_rid: dict[str, list[str]] = {}
        for rid, station in self._counts:
            by_rid.setdefault(rid, []).append(self._member(station))
        self._counts.clear()
        with contextlib.suppress(RedisError, OSError):
            for rid, members in by_rid.items():
                await self.redis.zrem(self.key(rid), *members)
