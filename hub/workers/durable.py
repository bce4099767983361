"""The durable writer: every stream entry into Postgres's events table, in batches, exactly once.

Every node runs one, as a consumer in the ``durable`` group of each
restaurant's stream. The writers share the restaurants (``hub/workers/shares.py``): each reads the
streams of its shards, and takes a dead writer's over once their leases run out (``lease``). An entry is
acknowledged only after its row is
committed, and rows are inserted with ON CONFLICT DO NOTHING, so a crash
between insert and ack, or Postgres down for a while, loses and doubles
nothing: unacknowledged entries are read again (ours) or claimed (a dead
node's) and retried. After each batch the writer publishes the restaurant's
persisted watermark, below which the commit script may trim history.

How far behind the writers are, wherever they run (a child process, another
node), is read from Redis alone (``backlog``): what the ``durable`` group has
not yet been handed or not yet acknowledged, and when the oldest such event
was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.archive import OrderArchive
from fireflow.hub.books.calls import Calls
from fireflow.hub.books.partitions import ensure_months
from fireflow.hub.live.control import follow_wake_ups
from fireflow.hub.live.keys import DURABLE_GROUP, Keys
from fireflow.hub.live.multiplexed import Quiet
from fireflow.hub.live.redis_client import get_many, is_cluster, slot_groups
from fireflow.hub.live.store import NESTED_ORDER_IDS, ORDER_ID_FIELDS, Store, StreamEntry, visible_head
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.hub.workers.archiver import Archiver
from fireflow.hub.workers.shares import Shares

__all__ = ["Backlog", "DurableWriter", "backlog"]

logger = logging.getLogger(__name__)

CLAIM_IDLE_MS = 30_000
REFRESH_S = 2.0
# Every stream is read at least this often, whatever the wake-ups said: a lost one delays events by this
# much, never loses them. Between sweeps only the streams a commit woke are read.
SWEEP_S = 5.0
LEASE_S = 10.0  # a dead writer's restaurants wait this long for another (their events stay in Redis meanwhile)
MONTHS_EVERY_S = 6 * 3600.0  # how often the writer makes the events table's coming months (hub/books/partitions.py)
WATERMARK_S = 1.0


class DurableWriter:
    def __init__(
        self,
        redis: Redis,
        store: Store,
        engine: AsyncEngine,
        *,
        batch: int = 500,
        linger: float = 0.2,
        closed_keep: float | None = 3600.0,
        sweep: float = SWEEP_S,
        lease: float = LEASE_S,
    ) -> None:
        self.redis = redis
        # Orders closed this long leave Redis for the archive (None: they stay, as for a writer of a test).
        self.archiver = Archiver(redis, OrderArchive(engine), keep_s=closed_keep) if closed_keep is not None else None
        self.store = store
        self.engine = engine
        self.calls = Calls(engine.url, size=2)  # the batches' INSERT (its own connections, off the engine)
        self.batch = batch
        self.group = DURABLE_GROUP
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.healthy = True
        self.written = 0
        self._groups: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._backlog = True  # start by re-reading anything left pending under our name
        self._holding = False  # entries read but not yet visible (``Keys.acked``) wait pending under our name
        self._touched: set[Keys] = set()
        self.linger = linger
        self.sweep = sweep
        self._woken: set[str] = set()  # streams a commit published since the last read
        # Told of the same wake-ups (``listen``): the predictor, in the same background process.
        self.on_wake: list[Callable[[str], None]] = []
        self.on_missed: list[Callable[[], None]] = []
        self.quiet = Quiet()  # the wake-ups' socket, left unread while the writer lingers (``listen``)
        self._swept = -1e9  # when every stream was last read
        self.reads: dict[str, int] = {}  # reads per stream: what the wake-ups spare is seen here
        self.shares = Shares(redis, "durable", lease)
        self._owned: tuple[list[str], frozenset[int], list[str]] = ([], frozenset(), [])
        self._marks = redis.register_script(resources.files("fireflow.hub.live").joinpath("lua/marks.lua").read_text())

    def start(self) -> None:
        """Run on tasks of its own (``fireflow durable``); a node supervises ``run()`` and ``listen()`` instead."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.run(), name="durable-writer"),
            loop.create_task(self.listen(), name="durable-wake-ups"),
        ]

    async def stop(self, timeout: float = 5.0) -> None:
        if self._tasks:
            for task in self._tasks:
                task.cancel()
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            if pending:
                logger.warning("durable writer did not stop within %.0f s; abandoning it", timeout)

    async def close(self) -> None:
        """Close what the writer opened itself (once it no longer runs), and let its shards go: the other writers
        take them on their next turn, not when the leases run out."""
        await self.calls.close()
        with contextlib.suppress(RedisError, OSError):
            await self.shares.release()

    def _own(self, streams: list[str]) -> list[str]:
        """The streams of this writer's restaurants (worked out again only when the streams or the shards change)."""
        known, held, owned = self._owned
        if known is not streams or held != self.shares.held:
            owned = [stream for stream in streams if self.shares.owns(_rid_of(stream))]
            self._owned = (streams, self.shares.held, owned)
        return owned

    async def _ensure_groups(self, rids: list[str]) -> list[str]:
        streams = []
        for rid in rids:
            stream = Keys(rid).stream
            if stream not in self._groups:
                try:
                    await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._groups.add(stream)
            streams.append(stream)
        return streams

    def woken(self, rid: str) -> None:
        """A commit of ``rid`` (the fan-out's wake-up): its stream has something new to read."""
        self._woken.add(Keys(rid).stream)

    def missed(self) -> None:
        """Wake-ups may have been lost (the subscription was away): read every stream next round."""
        self._swept = -1e9

    async def listen(self) -> None:
        """The commits' wake-ups, for a writer on its own (``fireflow durable``); inline in a node the node's
        fan-out tells it (``woken``, ``missed``). Without either it still reads every stream on each sweep."""

        async def caught_up() -> None:
            self.missed()
            for missed in self.on_missed:
                missed()

        def woken(rid: str) -> None:
            self.woken(rid)
            for told in self.on_wake:
                told(rid)

        await follow_wake_ups(self.redis, "durable wake-up", woken, caught_up, self.quiet)

    def _to_read(self, streams: list[str], owned: list[str], now: float) -> list[str]:
        """Every stream of its own on a sweep; else those a commit woke. A round re-reading what is pending
        under its name (``0``) reads every stream (a shard handed on may have left some) and leaves the wake-ups
        for the next round, which reads what is new."""
        if self._backlog or self._holding:
            return streams
        woken, self._woken = self._woken, set()
        if now - self._swept > self.sweep:
            self._swept = now
            return owned
        return [stream for stream in owned if stream in woken]

    async def run(self) -> None:
        """Copy forever: a Redis or Postgres error pauses the writer (with backoff), never ends it."""
        delay = 0.2
        loop = asyncio.get_running_loop()
        last_claim = last_refresh = last_marks = last_months = last_archive = -1e9
        streams: list[str] = []
        while True:
            reraise_if_cancelled()  # a library may have swallowed our cancellation in the last round
            try:
                now = loop.time()
                if now - last_months > MONTHS_EVERY_S:
                    made = await ensure_months(self.engine)
                    last_months = now
                    if made:
                        logger.info("events partitions made: %s", ", ".join(made))
                if now - last_refresh > REFRESH_S:  # new restaurants join within this time
                    last_refresh = now
                    before = len(streams)
                    streams = await self._ensure_groups(await self.store.restaurant_ids())
                    if len(streams) != before:
                        self._swept = -1e9  # a new restaurant's first events may have woken no one yet
                if not streams:
                    await asyncio.sleep(REFRESH_S)
                    continue
                await self._renew()
                owned = self._own(streams)
                if self.archiver is not None and now - last_archive > self.archiver.every_s:
                    last_archive = now
                    await self.archiver.run([_rid_of(stream) for stream in owned], between=self._renew)
                if now - last_claim > CLAIM_IDLE_MS / 3000:
                    last_claim = now
                    if owned and await self._claim(owned):
                        self._backlog = True
                start = "0" if self._backlog or self._holding else ">"
                reading = self._to_read(streams, owned, now)
                reply = await self._read(reading, start) if reading else []
                # a stream with a whole batch read may have more: read it again next round, woken or not
                self._woken.update(stream.decode() for stream, messages in reply if len(messages) >= self.batch)
                got = await self._write(reply)
                if self._backlog and not got:
                    self._backlog = False
                if self._touched and (not got or now - last_marks > WATERMARK_S):  # at most 1/s while busy
                    last_marks = now
                    await self._publish_watermarks([(k.stream, k) for k in self._touched])
                    self._touched.clear()
                if got < self.batch and not self._backlog:
                    # Let a batch build up: many small transactions cost the node far more CPU
                    # (and its sockets latency) than events reach Postgres a moment later. The wake-ups
                    # wait in the kernel meanwhile: read as they came, they were a quarter of the writer's
                    # CPU in ``bench kitchen`` (a process wake-up for every commit).
                    self.quiet.hold()
                    try:
                        await asyncio.sleep(self.linger)
                    finally:
                        self.quiet.release()
                    # The rest's wake-ups are read before the next round: uvloop reads them on the loop's
                    # next turn, asyncio's selector loop one turn later.
                    for _ in range(2):
                        await asyncio.sleep(0)
                self.healthy = True
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reraise_if_cancelled()
                if self.healthy:
                    logger.warning("durable writer paused: %s", exc)
                if "NOGROUP" in str(exc):  # Redis lost its data: create the groups again
                    self._groups.clear()
                    last_refresh = -1e9
                self.healthy = False
                self._backlog = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _renew(self) -> None:
        """The writer's leases renewed when a third of one has passed (``Shares.renew``), between steps of a round."""
        if await self.shares.renew() and self.shares.taken:
            self._swept = -1e9  # a dead writer's restaurants: their new events are read at once

    async def _read(self, streams: list[str], start: str) -> list[Any]:
        """One XREADGROUP over every stream on one Redis; on a cluster one per slot, pipelined per node."""
        for stream in streams:
            self.reads[stream] = self.reads.get(stream, 0) + 1
        groups = slot_groups(self.redis, streams)
        if len(groups) == 1:
            reply: Any = await self.redis.execute_command(*self._read_args(groups[0], start))  # type: ignore[no-untyped-call]
            return list(reply or [])
        async with self.redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.execute_command(*self._read_args(group, start))
            replies: list[Any] = await pipe.execute()
        return [stream for reply in replies for stream in reply or []]

    def _read_args(self, streams: list[str], start: str) -> tuple[Any, ...]:
        """XREADGROUP without BLOCK, as redis-py's ``xreadgroup`` sends it, but not through it: that wrapper also
        times every read's streaming lag for its observability hooks, which the hub does not use."""
        return ("XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", self.batch, "STREAMS", *streams) + (
            start,
        ) * len(streams)

    async def _claim(self, streams: list[str]) -> bool:
        """Take over entries a dead node read but never stored."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xautoclaim(stream, self.group, self.consumer, CLAIM_IDLE_MS, "0-0", count=self.batch)
            results: list[Any] = await pipe.execute()
        return any(result[1] for result in results)

    async def _write(self, reply: list[Any]) -> int:
        """Store one read's entries from every stream in one transaction, then acknowledge them."""
        batches: list[tuple[str, Keys, list[Any]]] = []
        for stream_raw, messages in reply:
            if messages:
                stream = stream_raw.decode()
                batches.append((stream, Keys(_rid_of(stream)), messages))
        if not batches:
            self._holding = False
            return 0
        read = sum(len(messages) for _, _, messages in batches)
        found = await get_many(self.redis, [key for _, k, _ in batches for key in (k.epoch, k.seq, k.acked)])
        epochs = found[::3]
        # Only what readers may see: on a cluster, an entry no replica holds yet could be taken back by a
        # failover and its offset used again; it stays pending here and is read again next round.
        batches = [
            (stream, keys, [m for m in messages if _seq(m[0]) <= visible_head(seq, acked)])
            for (stream, keys, messages), seq, acked in zip(batches, found[1::3], found[2::3], strict=True)
        ]
        rows = [
            _row(keys.restaurant_id, _text(epoch), StreamEntry.from_redis(entry_id, fields))
            for (_, keys, messages), epoch in zip(batches, epochs, strict=True)
            for entry_id, fields in messages
            if fields  # an entry trimmed while pending comes back empty
        ]
        if rows:
            await self.calls.execute(INSERT, orjson.dumps(rows).decode())
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, _, messages in batches:
                if messages:
                    pipe.xack(stream, self.group, *(entry_id for entry_id, _ in messages))
            await pipe.execute()
        self.written += len(rows)
        self._touched.update(keys for _, keys, _ in batches)
        written = sum(len(messages) for _, _, messages in batches)
        self._holding = written < read
        return written

    async def _publish_watermarks(self, streams: list[tuple[str, Keys]]) -> None:
        """Everything below the oldest unacknowledged entry (or the last delivered) is in Postgres.

        On one Redis one call of ``lua/marks.lua`` for every stream: as two pipelines (each stream's pending
        summary and groups, then the marks) it was a sixth of the writer's CPU in ``bench kitchen``, most of it
        parsing replies. A script's keys share one slot on a cluster: there the pipelines stay."""
        if not is_cluster(self.redis):
            await self._marks(
                keys=[key for stream, keys in streams for key in (stream, keys.persisted)], args=[self.group]
            )
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, _ in streams:
                pipe.xpending(stream, self.group)
                pipe.xinfo_groups(stream)
            replies: list[Any] = await pipe.execute()
        names = (self.group, self.group.encode())
        async with self.redis.pipeline(transaction=False) as pipe:
            for (_, keys), pending, groups in zip(streams, replies[::2], replies[1::2], strict=True):
                if pending["pending"]:
                    mark = _seq(pending["min"]) - 1
                else:
                    mark = next((_seq(g["last-delivered-id"]) for g in groups if g["name"] in names), 0)
                pipe.set(keys.persisted, mark)
            await pipe.execute()


@dataclass(frozen=True, slots=True)
class Backlog:
    """What the durable writers have not stored in Postgres yet, over the restaurants asked about."""

    unwritten: int
    oldest_ms: int | None  # commit time of the oldest unwritten event; None when there is none

    def age(self, now_ms: int) -> float:
        """Seconds the oldest unwritten event has waited (0 when there is none)."""
        return 0.0 if self.oldest_ms is None else max(now_ms - self.oldest_ms, 0) / 1000


async def backlog(redis: Redis, rids: list[str]) -> Backlog:
    """Events of ``rids`` the durable group has not acknowledged: pending ones plus those never handed out.

    Two pipelined round trips: each stream's head, group and pending summary, then the oldest
    unwritten entry of each stream that has one (its ``ts`` is when it was committed).
    """
    if not rids:
        return Backlog(0, None)
    names = (DURABLE_GROUP, DURABLE_GROUP.encode())
    async with redis.pipeline(transaction=False) as pipe:
        for rid in rids:
            keys = Keys(rid)
            pipe.get(keys.seq)
            pipe.xinfo_groups(keys.stream)
            pipe.xpending(keys.stream, DURABLE_GROUP)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    unwritten = 0
    starts: list[tuple[str, str]] = []
    for n, rid in enumerate(rids):
        head_raw, groups, pending = replies[3 * n : 3 * n + 3]
        if isinstance(head_raw, Exception):
            raise head_raw
        head = int(head_raw or 0)
        delivered = 0
        if not isinstance(groups, Exception):  # no stream yet, or no group yet: nothing handed out
            delivered = next((_seq(g["last-delivered-id"]) for g in groups if g["name"] in names), 0)
        held = 0 if isinstance(pending, Exception) else int(pending["pending"])
        behind = held + max(head - delivered, 0)
        if behind:
            unwritten += behind
            start = _text(pending["min"]) if held else (f"({delivered}-0" if delivered else "-")
            starts.append((Keys(rid).stream, start))
    oldest: int | None = None
    if starts:
        async with redis.pipeline(transaction=False) as pipe:
            for stream, start in starts:
                pipe.xrange(stream, min=start, count=1)
            firsts: list[Any] = await pipe.execute(raise_on_error=False)
        for first in firsts:
            if isinstance(first, Exception) or not first or not first[0][1]:
                continue
            ts = int(first[0][1][b"ts"])
            oldest = ts if oldest is None else min(oldest, ts)
    return Backlog(unwritten, oldest)


# Raw JSON goes straight into jsonb: the stream already holds it encoded, so it is never re-encoded.
# One statement per batch (a Bind and Execute per row through SQLAlchemy's executemany was over a third of the
# writer's CPU), its rows one JSON document with each event's data in it as committed (not parsed again): as
# nine arrays, the batch's columns, asyncpg checked every element against an abstract class to encode it (a
# fifth of the writer's CPU in ``bench kitchen``). Channels and order ids are joined by spaces (neither holds
# one); the commit time is the entry's milliseconds, exactly (no float on the way).
INSERT = (
    'INSERT INTO events (restaurant_id, epoch, "offset", type, channels, data, committed_at, device, order_ids) '
    "SELECT r, e, o, t, string_to_array(c, ' '), d, TIMESTAMPTZ 'epoch' + at * INTERVAL '1 millisecond', dev, "
    "string_to_array(ids, ' ') "
    "FROM jsonb_to_recordset($1::jsonb) AS x(r text, e text, o bigint, t text, c text, d jsonb, at bigint, dev text, "
    "ids text) "
    'ON CONFLICT (restaurant_id, epoch, "offset", committed_at) DO NOTHING'
)


def _rid_of(stream: str) -> str:
    """The restaurant whose stream this is (its key's hash tag)."""
    return stream[stream.index("{") + 1 : stream.index("}")]


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else raw


def _seq(entry_id: bytes | str) -> int:
    return int(_text(entry_id).partition("-")[0])


def orders_in(data: Any) -> list[str]:
    """The ids of the orders an event's data is about: an order, a ticket's, a payment's or a bill's. For an
    entry an older hub wrote; the hub now reads them off the record at commit (``store.order_ids_of``)."""
    found: list[str] = []
    if not isinstance(data, dict):
        return found
    for key in ORDER_ID_FIELDS:
        if isinstance(data.get(key), str):
            found.append(data[key])
    ids = data.get("order_ids")
    if isinstance(ids, list):
        found += [i for i in ids if isinstance(i, str)]
    for nested, key in NESTED_ORDER_IDS:
        inner = data.get(nested)
        if isinstance(inner, dict) and isinstance(inner.get(key), str):
            found.append(inner[key])
    return sorted(set(found))


def _row(rid: str, epoch: str, entry: StreamEntry) -> dict[str, Any]:
    """An entry as one of INSERT's records."""
    return {
        "r": rid,
        "e": epoch,
        "o": entry.offset,
        "t": entry.type.decode(),
        "c": entry.channels.decode(),
        "d": orjson.Fragment(entry.data),
        "at": int(entry.ts),
        "dev": entry.actor.decode()[:64],
        # read off the record at commit (``order_ids_of``); an entry an older hub wrote has them only in its data
        "ids": entry.order_ids.decode()
        if entry.order_ids is not None
        else " ".join(orders_in(orjson.loads(entry.data))),
    }
