"""Managers' approval PINs: argon2 hashes in Redis, wrong attempts counted per device.

A PIN approves what a cashier may not do alone (discounts over the limit,
voids, refunds). It is typed on the cashier's terminal, so the hub checks it
against every manager of the restaurant and answers which one approved.
Hashing runs in a thread: argon2 is deliberately slow (tens of ms).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.asyncio import Redis

from hub.domain.errors import DomainError
from hub.live.keys import Keys
from schema.protocol import ErrorCode

__all__ = ["Pins"]

logger = logging.getLogger(__name__)

MAX_FAILURES = 5  # wrong PINs per device within the window before it must wait
WINDOW_S = 300


class Pins:
    def __init__(
        self, redis: Redis, audit: Callable[[str, str, dict[str, Any]], Awaitable[None]] | None = None
    ) -> None:
        self.redis = redis
        self.audit = audit  # (restaurant, device, details): where wrong PINs are recorded
        self._hasher = PasswordHasher()

    async def set(self, rid: str, manager: str, pin: str) -> None:
        hashed = await asyncio.to_thread(self._hasher.hash, pin)
        await self.redis.hset(Keys(rid).pins, manager, hashed)

    def _matches(self, hashed: str, pin: str) -> bool:
        try:
            return bool(self._hasher.verify(hashed, pin))
        except (VerificationError, InvalidHashError):
            return False

    async def approver(self, rid: str, device: str, pin: str) -> str:
        """The manager whose PIN this is; WRONG_PIN (counted, logged) or RATE_LIMITED otherwise."""
        k = Keys(rid)
        failures = int(await self.redis.get(k.pin_failures(device)) or 0)
        if failures >= MAX_FAILURES:
            raise DomainError(
                ErrorCode.RATE_LIMITED, f"too many wrong PINs from this terminal; wait up to {WINDOW_S // 60} minutes"
            )
        stored: dict[bytes, bytes] = await self.redis.hgetall(k.pins)  # type: ignore[assignment]
        for manager, hashed in sorted(stored.items()):
            if await asyncio.to_thread(self._matches, hashed.decode(), pin):
                await self.redis.delete(k.pin_failures(device))
                return manager.decode()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(k.pin_failures(device))
            pipe.expire(k.pin_failures(device), WINDOW_S)
            await pipe.execute()
        logger.warning("wrong manager PIN from device %s of %s (%d in a row)", device, rid, failures + 1)
        if self.audit is not None:
            try:
                await self.audit(rid, device, {"in_a_row": failures + 1})
            except Exception:
                logger.exception("could not audit a wrong PIN from %s of %s", device, rid)
        raise DomainError(
            ErrorCode.WRONG_PIN, "that is not a manager's PIN", {"attempts_left": MAX_FAILURES - failures - 1}
        )
