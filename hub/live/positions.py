"""Riders' positions: kept in Redis, pushed to dispatchers on a lossy channel, never in the durable stream.

A fix from a rider's phone (``position`` frame) is taken unless it comes sooner than ``interval``
seconds after the last one this node took from that rider (dropped and counted: a misbehaving phone
costs no more than a good one). The socket never waits on Redis for it: the fixes a node takes within
``WRITE_EVERY_S`` are kept in one round trip, one script call per restaurant (``lua/positions.lua``,
keys under the restaurant's hash tag): the latest fix per rider (hash ``Keys.rider_positions``), each
rider's trail (a list capped at ``trail`` fixes, ``Keys.rider_trail``), both expiring ``ttl`` seconds
after the last write, and one PUBLISH of the restaurant's batch (a JSON array of those fixes) on its
positions channel. Nothing is appended to the stream, so nothing is replayed, stored in Postgres or
counted as an offset.

Every node pattern-subscribes once to every restaurant's positions channel. Fixes for a restaurant
with ``dispatch`` subscribers here go out at most once per ``window`` seconds: a fix after a quiet
window goes at once, later ones wait for the window's end, the newest fix per rider winning. Each
batch becomes one ``positions`` frame, encoded once per wire encoding, offered to each of those
sockets. Lossy: a socket with ``max_queued`` frames or more waiting to go out misses it
(counted); the frame never waits in a queue it would lengthen past that, and is never a reason to
close a socket: the next batch, or a snapshot, brings the news.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.eta import Fix, Track, segment_speed
from fireflow.hub.live.codec import CODECS, Message
from fireflow.hub.live.connection import Connection
from fireflow.hub.live.control import follow
from fireflow.hub.live.fanout import FanOut
from fireflow.hub.live.keys import POSITIONS_PATTERN, POSITIONS_PREFIX, Keys
from fireflow.hub.live.redis_client import is_cluster
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.schema.protocol import ErrorCode, Position

if TYPE_CHECKING:
    from fireflow.hub.metrics import Metrics

__all__ = ["DISPATCH", "Positions", "offer", "read_track", "read_tracks"]

logger = logging.getLogger(__name__)

DISPATCH = "dispatch"  # the channel whose sockets get the positions frames
SPEED_GAP_S = 120.0  # a previous fix older than this measures no speed
FORGET_AFTER_S = 300.0  # a rider this node heard nothing from for this long is forgotten here
WRITE_EVERY_S = 0.02  # fixes taken meanwhile are kept in one round trip
MAX_UNWRITTEN = 50_000  # fixes waiting for Redis past which new ones are dropped (Redis is down or slow)


@dataclass(slots=True)
class _Last:
    """The last fix this node took from one rider: when (monotonic) and what."""

    taken: float
    fix: Fix


def offer(conn: Connection, message: Message, max_queued: int) -> bool:
    """Send a lossy frame unless the socket's outgoing queue already holds ``max_queued``; True when sent.

    ``max_queued`` is below the socket's queue limit, so this never overflows the queue (4008): a
    positions frame alone never closes a socket.
    """
    outbox = conn.outbox
    if outbox is not None and len(outbox) >= min(max_queued, conn.limit - 1):
        return False
    conn.push(message)
    return True


def _track(rider: str, latest: bytes, trail: Iterable[bytes]) -> Track:
    fix = orjson.loads(latest)
    points = tuple(Fix(p[0], p[1], p[2], p[3]) for p in map(orjson.loads, trail))
    return Track(rider, Fix(fix["lat"], fix["lon"], fix["at"], fix.get("accuracy")), points, fix.get("speed"))


async def read_track(redis: Redis, rid: str, rider: str) -> Track | None:
    """The rider's latest fix and trail (one round trip); None when it sent none within the expiry."""
    k = Keys(rid)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hget(k.rider_positions, rider)
        pipe.lrange(k.rider_trail(rider), 0, -1)
        latest, trail = await pipe.execute()
    if latest is None or not trail:
        return None
    return _track(rider, latest, trail)


async def read_tracks(redis: Redis, rid: str) -> list[Track]:
    """Every rider's latest fix and trail, by rider id; riders whose trail expired are left out."""
    k = Keys(rid)
    found = await redis.hgetall(k.rider_positions)
    latest = {_text(rider): raw for rider, raw in found.items()}
    if not latest:
        return []
    riders = sorted(latest)
    async with redis.pipeline(transaction=False) as pipe:
        for rider in riders:
            pipe.lrange(k.rider_trail(rider), 0, -1)
        trails = await pipe.execute()
    return [_track(r, _bytes(latest[r]), t) for r, t in zip(riders, trails, strict=True) if t]


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _bytes(raw: bytes | str) -> bytes:
    return raw.encode() if isinstance(raw, str) else raw


class Positions:
    def __init__(
        self,
        redis: Redis,
        fanout: FanOut,
        metrics: Metrics | None = None,
        *,
        interval: float = 1.0,
        window: float = 0.25,
        trail: int = 20,
        ttl: float = 4 * 3600.0,
        max_queued: int = 16,
    ) -> None:
        self.redis = redis
        self.fanout = fanout
        self.metrics = metrics
        self.interval = interval
        self.window = window
        self.trail = trail
        self.ttl_ms = int(ttl * 1000)
        self.max_queued = max_queued
        self._last: dict[tuple[str, str], _Last] = {}
        self._forgot = time.monotonic()
        self._pending: dict[str, dict[str, dict[str, Any]]] = {}
        self._flushed: dict[str, float] = {}  # restaurant -> when its last positions frame went (loop time)
        self._unwritten: dict[str, list[tuple[str, bytes, bytes]]] = {}  # rid -> (rider, latest, trail point)
        self._buffered = 0
        self._wake = asyncio.Event()
        self._counters: dict[str, Any] = {}  # outcome -> its child of metrics.positions (labels() costs per call)
        source = resources.files("fireflow.hub.live").joinpath("lua/positions.lua").read_text()
        self._keep = redis.register_script(source)

    # --- ingest: riders' sockets, written in batches -------------------------------------------------

    def take(self, actor: Actor, frame: Position) -> bool:
        """Take one fix from ``actor``'s socket for the next write; False when dropped (too soon, older than
        the last taken, or the writer is that far behind). Raises DomainError FORBIDDEN for a device that is
        not a rider. Nothing waits on Redis here: ``write`` keeps the batch a moment later."""
        if actor.role is not Role.RIDER:
            raise DomainError(ErrorCode.FORBIDDEN, f"{actor.role} devices send no positions; only riders do")
        rid, rider = actor.restaurant_id, actor.device_id
        now = time.monotonic()
        fix = Fix(frame.lat, frame.lon, frame.at, frame.accuracy)
        last = self._last.get((rid, rider))
        if last is not None and now - last.taken < self.interval:
            return self._count("throttled")
        if last is not None and fix.at <= last.fix.at:
            return self._count("stale")
        if self._buffered >= MAX_UNWRITTEN:
            return self._count("failed")
        speed = None
        if last is not None and (fix.at - last.fix.at) / 1000 <= SPEED_GAP_S:
            measured = segment_speed(last.fix, fix)
            speed = round(measured, 2) if measured is not None else None
        self._last[(rid, rider)] = _Last(now, fix)
        if now - self._forgot > FORGET_AFTER_S:
            self._forget(now)
        shown = {"rider": rider, "lat": fix.lat, "lon": fix.lon, "accuracy": fix.accuracy, "at": fix.at}
        point = orjson.dumps([fix.lat, fix.lon, fix.at, fix.accuracy])
        self._unwritten.setdefault(rid, []).append((rider, orjson.dumps(shown | {"speed": speed}), point))
        self._buffered += 1
        self._wake.set()
        return self._count("accepted")

    async def write(self) -> None:
        """Keep the fixes taken, every ``WRITE_EVERY_S`` while there are some: one round trip for all of them
        (per restaurant, ``lua/positions.lua``: latest, trails, expiries and the PUBLISH). Runs for good."""
        while True:
            reraise_if_cancelled()  # a library may have swallowed our cancellation in the last round
            await self._wake.wait()
            await asyncio.sleep(WRITE_EVERY_S)  # let the other riders' fixes of this moment join
            self._wake.clear()
            batch, self._unwritten, self._buffered = self._unwritten, {}, 0
            try:
                await self._write(batch)
            except (RedisError, OSError) as exc:
                reraise_if_cancelled()
                lost = sum(len(fixes) for fixes in batch.values())
                logger.warning("%d riders' fixes not kept: %s", lost, exc)
                if self.metrics is not None:
                    self.metrics.positions.labels("failed").inc(lost)

    async def _write(self, batch: dict[str, list[tuple[str, bytes, bytes]]]) -> None:
        calls: list[tuple[list[str], list[Any]]] = []
        for rid, fixes in batch.items():
            k = Keys(rid)
            published = b"[" + b",".join(latest for _, latest, _ in fixes) + b"]"
            args: list[Any] = [self.ttl_ms, self.trail, k.positions_channel, published]
            for rider, latest, point in fixes:
                args += (rider, latest, point)
            calls.append(([k.rider_positions, *(k.rider_trail(rider) for rider, _, _ in fixes)], args))
        if is_cluster(self.redis):  # a cluster pipeline takes no scripts: one call per restaurant, at once
            await asyncio.gather(*(self._keep(keys=keys, args=args) for keys, args in calls))
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await self._keep(keys=keys, args=args, client=pipe)
            await pipe.execute()

    def _count(self, outcome: str) -> bool:
        if self.metrics is not None:
            counter = self._counters.get(outcome)
            if counter is None:
                counter = self._counters[outcome] = self.metrics.positions.labels(outcome)
            counter.inc()
        return outcome == "accepted"

    def _forget(self, now: float) -> None:
        """Drop what this node remembers of riders gone quiet (their phones moved to another node, or stopped)."""
        self._forgot = now
        for key in [key for key, last in self._last.items() if now - last.taken > FORGET_AFTER_S]:
            del self._last[key]

    # --- push: every node's dispatchers ------------------------------------------------------------

    async def listen(self) -> None:
        """Every restaurant's fixes, from the one pattern subscription of this node (``control.follow``)."""

        async def caught_up() -> None:  # nothing to catch up on: a lost fix is superseded by the next
            return

        await follow(
            self.redis, "positions", lambda pubsub: pubsub.psubscribe(POSITIONS_PATTERN), self.on_message, caught_up
        )

    def on_message(self, message: dict[str, Any]) -> None:
        if message["type"] != "pmessage":
            return
        rid = message["channel"].decode()[len(POSITIONS_PREFIX) :]
        if not self._listeners(rid):
            return  # no dispatcher here: not even decoded
        try:
            fixes = orjson.loads(message["data"])  # a batch: one restaurant's fixes kept together
            riders = [(str(fix["rider"]), fix) for fix in fixes]
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:  # not ours: never a reason to stop listening
            logger.warning("unreadable fixes on %s: %s", message["channel"], exc)
            return
        pending = self._pending.get(rid)
        if pending is None:
            pending = self._pending[rid] = {}
            loop = asyncio.get_running_loop()
            # The first fix after a quiet window goes at once (with whatever arrived with it); later ones
            # wait for the window's end: at most one frame per window, and no wait when riders are few.
            wait = self._flushed.get(rid, -math.inf) + self.window - loop.time()
            if wait > 0:
                loop.call_later(wait, self._flush, rid)
            else:
                loop.call_soon(self._flush, rid)
        pending.update(riders)

    def _listeners(self, rid: str) -> set[Connection]:
        feed = self.fanout.feeds.get(rid)
        return feed.subscribers.get(DISPATCH, set()) if feed is not None else set()

    def _flush(self, rid: str) -> None:
        """One positions frame with the newest fix per rider, encoded once per encoding, offered to each socket."""
        fixes = self._pending.pop(rid, None)
        if not fixes:
            return
        self._flushed[rid] = asyncio.get_running_loop().time()
        try:
            self.broadcast(self._listeners(rid), list(fixes.values()))
        except Exception:  # a timer callback: say so, and the next batch tries again
            logger.exception("positions of %s not sent", rid)

    def broadcast(self, conns: Iterable[Connection], riders: list[dict[str, Any]]) -> tuple[int, int]:
        """Offer one positions frame to ``conns`` (those subscribed to ``dispatch`` by now); (sent, dropped)."""
        frame = {"op": "positions", "riders": riders}
        encoded: dict[bool, Message] = {}
        sent = dropped = 0
        for conn in conns:
            if not conn.open or conn.pending is not None or DISPATCH not in conn.channels:
                continue  # closing, or its subscribe not answered yet: its snapshot will have these
            binary = conn.codec.binary
            message = encoded.get(binary)
            if message is None:
                message = encoded[binary] = _codec(binary).encode(frame)
            if offer(conn, message, self.max_queued):
                sent += 1
            else:
                dropped += 1
        if self.metrics is not None:
            self.metrics.position_frames.labels("sent").inc(sent)
            self.metrics.position_frames.labels("dropped").inc(dropped)
        return sent, dropped


def _codec(binary: bool) -> Any:
    return next(codec for codec in CODECS.values() if codec.binary is binary)
