"""One node at a time: a lease in Redis for the hub's own background work (predictions, sweeps).

redis-py's lock, taken when free and renewed on every tick by the node holding it. A node that dies
stops renewing, and another takes the work over within ``lease_s``; a node shutting down lets go at
once. Losing the lease is no error: the work is the next holder's.
"""

from __future__ import annotations

import secrets

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

__all__ = ["Lease"]


class Lease:
    def __init__(self, redis: Redis, name: str, lease_s: float) -> None:
        self._lock = redis.lock(name, timeout=lease_s, blocking=False, thread_local=False)
        self.held = False

    async def hold(self) -> bool:
        """Take the lease when free, renew it when ours; whether this node holds it now."""
        try:
            if self.held:
                await self._lock.reacquire()
            else:
                self.held = bool(await self._lock.acquire(token=secrets.token_hex(8)))
        except LockError:
            self.held = False
        return self.held

    async def release(self) -> None:
        if self.held:
            try:
                await self._lock.release()
            except (LockError, RedisError, OSError):
                pass  # it runs out by itself
            self.held = False
