"""Managers' approval PINs: argon2 hashes in Redis, wrong attempts limited per device and per restaurant.

A PIN approves what a cashier may not do alone (discounts over the limit,
voids, refunds). It is typed on the cashier's terminal, so the hub checks it
against every manager of the restaurant and answers which one approved.
Hashing runs in a thread: argon2 is deliberately slow (tens of ms). ``cost="test"``
(``FIREFLOW_PIN_HASH=test``) makes new hashes with argon2's cheapest parameters, for test suites;
a hash carries its parameters, so verifying follows whichever made it.

The limits are taken atomically *before* the hash (``hub/live/lua/pins.lua``):
each check first takes a slot, and a check in flight counts as a try, so
guesses sent at the same moment cannot all pass. At most ``DEVICE_LIMIT``
wrong PINs per device and ``RESTAURANT_LIMIT`` per restaurant (across its
devices, so a guesser cannot just switch terminals) are judged per window of
``WINDOW_S``, which starts at the window's first wrong PIN; past either the
answer is RATE_LIMITED, with no hash. A right PIN gives its slot back, so it
costs nothing, and it wipes nothing: wrong PINs stay counted until their
window ends (a reset would free slots for guesses in flight beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Literal

import orjson
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from redis.asyncio import Redis

from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.setup import APPROVERS
from fireflow.hub.live.keys import Keys
from fireflow.schema.protocol import ErrorCode

__all__ = ["DEVICE_LIMIT", "RESTAURANT_LIMIT", "WINDOW_S", "Pins"]

logger = logging.getLogger(__name__)

DEVICE_LIMIT = 5  # wrong PINs per device per window
RESTAURANT_LIMIT = 20  # wrong PINs per restaurant per window, whatever the devices: four tills' worth
WINDOW_S = 300
CHECK_HOLD_MS = 30_000  # a check whose node died gives its slot back after this


class Pins:
    def __init__(
        self,
        redis: Redis,
        audit: Callable[[str, str, dict[str, Any]], Awaitable[None]] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        cost: Literal["production", "test"] = "production",
    ) -> None:
        self.redis = redis
        self.audit = audit  # (restaurant, device, details): where wrong PINs are recorded
        self.clock = clock
        self._hasher = PasswordHasher() if cost == "production" else PasswordHasher.from_parameters(profiles.CHEAPEST)
        self._script = redis.register_script(resources.files("fireflow.hub.live").joinpath("lua/pins.lua").read_text())

    async def hash(self, pin: str) -> str:
        """The stored form of ``pin`` (argon2, off the event loop): what a setup import writes."""
        return await asyncio.to_thread(self._hasher.hash, pin)

    async def set(self, rid: str, manager: str, pin: str) -> None:
        await self.redis.hset(Keys(rid).pins, manager, await self.hash(pin))

    def _matches(self, hashed: str, pin: str) -> bool:
        try:
            return bool(self._hasher.verify(hashed, pin))
        except (VerificationError, InvalidHashError):
            return False

    async def _slot(self, op: str, rid: str, device: str, token: str) -> list[Any]:
        k = Keys(rid)
        keys = [k.pin_failures(device), k.pin_checks(device), k.restaurant_pin_failures, k.restaurant_pin_checks]
        args: list[str | int] = [
            op, token, int(self.clock() * 1000), DEVICE_LIMIT, RESTAURANT_LIMIT, WINDOW_S * 1000, CHECK_HOLD_MS
        ]  # fmt: skip
        reply: list[Any] = await self._script(keys=keys, args=args)
        return reply

    async def _approvers(self, rid: str) -> list[tuple[bytes, bytes]]:
        """The PIN hashes of the staff who approve now (MANAGER, OWNER): a PIN left by anyone else never counts."""
        k = Keys(rid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(k.pins)
            pipe.hgetall(k.staff)
            stored, people = await pipe.execute()
        approve = {who for who, person in people.items() if orjson.loads(person).get("role") in APPROVERS}
        return sorted((who, hashed) for who, hashed in stored.items() if who in approve)

    async def approver(self, rid: str, device: str, pin: str) -> str:
        """The manager whose PIN this is; WRONG_PIN (counted, logged) or RATE_LIMITED otherwise."""
        token = secrets.token_hex(8)
        taken = await self._slot("take", rid, device, token)
        if taken[0] != b"ok":
            scope = taken[0].decode()
            wait_s = -(-int(taken[1]) // 1000)
            where = "this terminal" if scope == "device" else "this restaurant's terminals"
            raise DomainError(
                ErrorCode.RATE_LIMITED,
                f"too many wrong PINs from {where}; wait up to {max(-(-wait_s // 60), 1)} minutes",
                {"scope": scope, "retry_after_s": wait_s},
            )
        try:
            for manager, hashed in await self._approvers(rid):
                if await asyncio.to_thread(self._matches, hashed.decode(), pin):
                    await self._slot("right", rid, device, token)
                    return manager.decode()
        except BaseException:
            # Not judged (cancelled, Redis lost): give the slot back now rather than when it runs out.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._slot("right", rid, device, token))
            raise
        failures, everywhere = (int(n) for n in await self._slot("wrong", rid, device, token))
        logger.warning(
            "wrong manager PIN from device %s of %s (%d from it, %d in the restaurant, this window)",
            device, rid, failures, everywhere,
        )  # fmt: skip
        if self.audit is not None:
            try:
                await self.audit(rid, device, {"device_failures": failures, "restaurant_failures": everywhere})
            except Exception:
                logger.exception("could not audit a wrong PIN from %s of %s", device, rid)
        raise DomainError(
            ErrorCode.WRONG_PIN,
            "that is not a manager's PIN",
            {"attempts_left": max(min(DEVICE_LIMIT - failures, RESTAURANT_LIMIT - everywhere), 0)},
        )
