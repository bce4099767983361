"""Devices: who is paired, pairing codes, revocation, and when each device was last seen.

A manager adds a device (role, stations, name) and gets a short pairing code,
valid ``PAIR_TTL_S``; the device's page trades the code, once, for its own
token. Each device has a token generation: revoking it moves the generation on,
so every token it had is refused from then on (checked on every WebSocket
authentication and HTTP request), and a message on the control channel makes
every node close the device's open sockets at once (``fireflow.hub.live.control``).

Pairing codes are global keys (a device does not know its restaurant yet):
six digits, single use, and guesses are limited per client address and overall.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping

import orjson
from redis.asyncio import Redis

from fireflow.hub.domain.actors import Actor
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.live.control import REVOKED_CHANNEL
from fireflow.hub.live.keys import Keys
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.setup import Device

__all__ = ["PAIR_TTL_S", "Devices", "Pairing"]

logger = logging.getLogger(__name__)

PAIR_TTL_S = 600
PAIR_PREFIX = "ff:pair:"
PAIR_GUESSES = "ff:pairguess:"  # + client address: guesses in the current minute
PAIR_GUESSES_ALL = "ff:pairguess"  # every client's guesses in the current minute
GUESSES_PER_ADDRESS = 10
GUESSES_OVERALL = 120


class Pairing:
    """What a pairing code stands for until it is used."""

    __slots__ = ("device", "restaurant_id")

    def __init__(self, restaurant_id: str, device: Device) -> None:
        self.restaurant_id = restaurant_id
        self.device = device


class Devices:
    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock

    # -- records -------------------------------------------------------------

    async def get(self, rid: str, device_id: str) -> Device | None:
        raw = await self.redis.hget(Keys(rid).devices, device_id)
        return Device.model_validate_json(raw) if raw else None

    async def all(self, rid: str) -> list[Device]:
        values = await self.redis.hvals(Keys(rid).devices)
        return sorted((Device.model_validate_json(v) for v in values), key=lambda d: d.id)

    async def put(self, rid: str, device: Device) -> None:
        await self.redis.hset(Keys(rid).devices, device.id, device.model_dump_json())

    async def check(self, actor: Actor, generation: int) -> None:
        """Refuse a token of a revoked device, or of a generation before the device's current one."""
        device = await self.get(actor.restaurant_id, actor.device_id)
        if device is None:
            return  # minted by `fireflow token` or the demo, never paired nor revoked
        if device.revoked_at is not None:
            raise DomainError(ErrorCode.TOKEN_REVOKED, f"device {device.id} was revoked; pair it again")
        if generation < device.generation:
            raise DomainError(ErrorCode.TOKEN_REVOKED, f"this token of {device.id} was replaced; pair it again")

    # -- pairing -------------------------------------------------------------

    async def offer(self, rid: str, device: Device, ttl: int = PAIR_TTL_S) -> tuple[str, int]:
        """A fresh code for ``device`` (its record written now) and when the code runs out (ms)."""
        await self.put(rid, device)
        payload = orjson.dumps({"rid": rid, "device": device.model_dump(mode="json")})
        for _ in range(20):
            code = f"{secrets.randbelow(1_000_000):06d}"
            if await self.redis.set(PAIR_PREFIX + code, payload, nx=True, ex=ttl):
                return code, int((self.clock() + ttl) * 1000)
        raise DomainError(ErrorCode.BUSY, "no free pairing code; try again")

    async def redeem(self, code: str, address: str) -> Pairing:
        """The device a code stands for; the code is used up. Wrong guesses are limited per address and overall."""
        window = int(self.clock() // 60)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(f"{PAIR_GUESSES}{address}:{window}")
            pipe.expire(f"{PAIR_GUESSES}{address}:{window}", 120)
            pipe.incr(f"{PAIR_GUESSES_ALL}:{window}")
            pipe.expire(f"{PAIR_GUESSES_ALL}:{window}", 120)
            mine, _, everyone, _ = await pipe.execute()
        if int(mine) > GUESSES_PER_ADDRESS or int(everyone) > GUESSES_OVERALL:
            wait = 60 - int(self.clock()) % 60
            raise DomainError(
                ErrorCode.RATE_LIMITED,
                "too many pairing attempts; wait a minute",
                {"retry_after_s": wait},
                retryable=True,
            )
        raw = await self.redis.getdel(PAIR_PREFIX + code.strip().replace("-", "").replace(" ", ""))
        if not raw:
            raise DomainError(ErrorCode.NOT_FOUND, "no such pairing code (wrong, used or more than 10 minutes old)")
        data = orjson.loads(raw)
        rid, device = str(data["rid"]), Device.model_validate(data["device"])
        current = await self.get(rid, device.id)
        if current is not None and current.generation != device.generation:  # paired again or revoked since
            raise DomainError(ErrorCode.NOT_FOUND, "that pairing code was replaced by a newer one or revoked")
        return Pairing(rid, device)

    # -- revocation ----------------------------------------------------------

    async def revoke(self, rid: str, device: Device) -> None:
        """Store the revoked record and tell every node to close the device's sockets now."""
        await self.put(rid, device)
        await self.redis.publish(REVOKED_CHANNEL, f"{rid} {device.id}")  # every node: hub.live.control

    # -- last seen -----------------------------------------------------------

    async def seen(self, by_restaurant: Mapping[str, Iterable[str]], *, live: bool) -> None:
        """These devices have a socket open now (``live``: on connect and every heartbeat), or just closed one.

        One round trip for every restaurant: the heartbeat notes a slice of all sockets at a time.
        """
        ms = int(self.clock() * 1000) * (1 if live else -1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for rid, device_ids in by_restaurant.items():
                ids = list(device_ids)
                if ids:
                    pipe.hset(Keys(rid).device_seen, mapping={device: ms for device in ids})
            await pipe.execute()

    async def last_seen(self, rid: str) -> dict[str, int]:
        stored: dict[bytes, bytes] = await self.redis.hgetall(Keys(rid).device_seen)  # type: ignore[assignment]
        return {k.decode(): int(v) for k, v in stored.items()}
