"""Fan-out: each node reads each new stream entry once and hands the same bytes to every local subscriber.

A commit PUBLISHes the restaurant's newest offset; the node's one pattern
subscription wakes that restaurant's Feed, which reads the new entries with
XRANGE, encodes each once per encoding, and appends it to the queue of every
local connection subscribed to any of its channels. The node that committed
has the entries in hand: when they are the next ones its feed expects, it
delivers them on the loop's next turn, after the command's answer
(``Feed.committed``), without the XRANGE. The commit's own wake-up, which
often arrives before its answer, would read them back all the same: a feed
woken while a commit of this node is in flight holds its read until that
commit ends, then reads only what the commit did not bring (another node's
entries). A tick re-checks the offsets every second, so a lost wake-up costs
at most a second, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis

from fireflow.hub.live.codec import EncodedEvent
from fireflow.hub.live.connection import Connection
from fireflow.hub.live.control import follow
from fireflow.hub.live.keys import WAKE_PATTERN, WAKE_PREFIX
from fireflow.hub.live.store import Store, StreamEntry
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.schema.protocol import CloseCode

__all__ = ["POLL_SLICE", "FanOut", "Feed"]

logger = logging.getLogger(__name__)

POLL_SLICE = 50  # restaurants whose heads the tick reads at a time (on a cluster: one command each)
HOLD_S = 0.05  # a read woken while this node commits to the restaurant waits at most this long for the commits


class Feed:
    """One restaurant's stream as this node reads it."""

    def __init__(self, fanout: FanOut, rid: str) -> None:
        self.fanout = fanout
        self.rid = rid
        self.last = 0
        self.wanted = 0
        self.subscribers: dict[str, set[Connection]] = {}
        self.ready = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Event()
        self._reading = False  # an XRANGE is in flight: what it returns comes first
        self.own = 0  # this node's commits of the restaurant in flight: their entries come with their answers
        self._own_entries: dict[int, list[StreamEntry]] = {}  # handed over out of order, by first offset
        self._hold: asyncio.TimerHandle | None = None  # a read waits for them: its end
        self._hold_over = False
        self.read_back = 0  # entries read from the stream, not handed over by this node's commits
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"feed:{rid}")

    def wake(self, offset: int) -> None:
        if offset > self.wanted:
            self.wanted = offset
            if not (self.ready.is_set() and self._holds()):  # held: not even the task is woken
                self._wakeup.set()

    async def caught_up(self, offset: int, timeout: float) -> bool:
        """Wait until every entry up to ``offset`` has been dispatched; False on timeout."""
        self.wake(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.last < offset:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return True

    def add(self, conn: Connection, channels: Iterable[str]) -> None:
        for channel in channels:
            self.subscribers.setdefault(channel, set()).add(conn)

    def remove(self, conn: Connection, channels: Iterable[str]) -> None:
        for channel in channels:
            subs = self.subscribers.get(channel)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subscribers[channel]

    async def _run(self) -> None:
        """Read forever: a Redis error pauses this feed (with backoff), never ends it."""
        delay = 0.1
        while True:
            reraise_if_cancelled()
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reraise_if_cancelled()
                logger.warning("feed %s paused: %s", self.rid, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                self._wakeup.set()  # catch up on whatever was committed meanwhile

    async def _follow(self) -> None:
        store = self.fanout.store
        if not self.ready.is_set():
            self.last, _ = await store.position(self.rid)
            self.wanted = max(self.wanted, self.last)
            self.ready.set()
        while True:
            reraise_if_cancelled()
            await self._wakeup.wait()
            self._wakeup.clear()
            while self.wanted > self.last and not self._holds():
                self._reading = True
                try:
                    entries = await store.read_after(self.rid, self.last, self.wanted)
                finally:
                    self._reading = False
                if not entries:
                    break
                if entries[0].offset != self.last + 1:
                    self._lost_history()
                self.read_back += len(entries)
                self._dispatched(entries)
                self._dispatch_own()
            if self.wanted <= self.last:
                self._unhold()

    def _holds(self) -> bool:
        """Whether a read waits: while commits of this node are in flight (their entries come with their
        answers), for at most ``HOLD_S`` (under commits without end, another node's entries are read all the
        same). A wake-up that waits does not even wake the feed's task: ``committed`` or the hold's end does."""
        if self.own > 0 and not self._hold_over:
            if self._hold is None:
                self._hold = asyncio.get_running_loop().call_later(HOLD_S, self._held_long)
            return True
        self._unhold()
        return False

    def _held_long(self) -> None:
        self._hold, self._hold_over = None, True
        self._wakeup.set()

    def _unhold(self) -> None:
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        self._hold_over = False

    def committing(self) -> None:
        self.own += 1

    def committed(self, entries: list[StreamEntry]) -> None:
        """A commit of this node ended, with these entries (none if it made none): delivered at once when they
        are the next ones, instead of read back from Redis; kept while this node's commits in flight may bring
        those before them (several connections to a cluster answer out of order); read otherwise."""
        self.own = max(0, self.own - 1)  # a feed made while the commit ran never counted it
        if entries:
            if not self.ready.is_set():
                self.wake(entries[-1].offset)  # its first read brings them
            elif entries[-1].offset > self.last:
                if entries[0].offset <= self.last:  # partly read already
                    entries = [entry for entry in entries if entry.offset > self.last]
                self.wanted = max(self.wanted, entries[-1].offset)
                self._own_entries[entries[0].offset] = entries
                if not self._reading:  # else after the read in flight, if it did not bring them
                    self._dispatch_own()
        if self.wanted <= self.last:
            self._unhold()  # nothing left to read
        elif not self._holds():
            self._wakeup.set()  # what no commit of this node brought: read it (at once, or when the hold ends)

    def _dispatch_own(self) -> None:
        """The entries this node's commits handed over that are next, in order; those a read overtook dropped."""
        kept = self._own_entries
        while (entries := kept.pop(self.last + 1, None)) is not None:
            self._dispatched(entries)
        for offset in [offset for offset in kept if offset <= self.last]:
            del kept[offset]

    def _dispatched(self, entries: list[StreamEntry]) -> None:
        for entry in entries:
            self.dispatch(EncodedEvent(entry))
        self.last = entries[-1].offset
        self._progress.set()
        self._progress = asyncio.Event()

    def dispatch(self, event: EncodedEvent) -> None:
        subscribers = self.subscribers
        channels = event.entry.channel_list()
        if len(channels) == 1:
            targets: Iterable[Connection] = subscribers.get(channels[0], ())
        else:
            found: set[Connection] = set()
            for channel in channels:
                subs = subscribers.get(channel)
                if subs:
                    found |= subs
            targets = found
        for conn in targets:
            conn.deliver(event)

    def _lost_history(self) -> None:
        """This node fell behind past the kept history: its sockets must resume (and get snapshots)."""
        logger.warning("feed %s fell behind the stream history; closing its sockets", self.rid)
        for conn in {c for subs in self.subscribers.values() for c in subs}:
            conn.close(CloseCode.SLOW_CONSUMER, "node fell behind; resume")


class FanOut:
    def __init__(self, redis: Redis, store: Store, *, tick: float = 1.0) -> None:
        self.redis = redis
        self.store = store
        self.tick = tick
        self.feeds: dict[str, Feed] = {}
        # Told every restaurant's wake-up, and when some may have been missed (the due checks, an inline
        # durable writer: one subscription per node for all of them); they must not raise.
        self.on_wake: list[Callable[[str], None]] = []
        self.on_missed: list[Callable[[], None]] = []

    async def stop(self) -> None:
        """Stop the feeds; ``listen`` and ``poll`` run under the node's supervisor, which stops them."""
        tasks = [f.task for f in self.feeds.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.feeds.clear()

    async def feed(self, rid: str) -> Feed:
        feed = self.feeds.get(rid)
        if feed is None:
            feed = self.feeds[rid] = Feed(self, rid)
        if not feed.ready.is_set():
            try:
                await asyncio.wait_for(feed.ready.wait(), 5)
            except TimeoutError:
                raise ConnectionError(f"cannot read the stream of {rid}") from None
        return feed

    def committing(self, rid: str) -> None:
        """A commit of ``rid`` by this node starts (``Store.on_commit``)."""
        feed = self.feeds.get(rid)
        if feed is not None:
            feed.committing()

    def committed(self, rid: str, entries: list[StreamEntry]) -> None:
        """This node's commit ended, making ``entries`` visible (``Store.on_visible``): delivered on the loop's
        next turn, so the device whose command it was gets its answer before a broadcast to thousands."""
        feed = self.feeds.get(rid)
        if feed is not None:
            asyncio.get_running_loop().call_soon(feed.committed, entries)

    def subscribers(self, rid: str) -> int:
        """How many of this node's sockets are subscribed to channels of ``rid``."""
        feed = self.feeds.get(rid)
        return len(set().union(*feed.subscribers.values())) if feed is not None else 0

    def release(self, rid: str, conn: Connection, channels: Iterable[str]) -> None:
        feed = self.feeds.get(rid)
        if feed is None:
            return
        feed.remove(conn, channels)
        if not feed.subscribers:
            feed.task.cancel()
            del self.feeds[rid]

    async def listen(self) -> None:
        """Wake-ups from every commit on every node; subscribes again forever (``control.follow``)."""

        async def catch_up() -> None:
            for missed in self.on_missed:
                missed()
            await self._wake_to_heads()  # anything missed while we were away

        def on_message(message: dict[str, Any]) -> None:
            if message["type"] != "pmessage":
                return
            rid = message["channel"].decode()[len(WAKE_PREFIX) :]
            woken = self.feeds.get(rid)
            if woken is not None:
                woken.wake(int(message["data"]))
            for told in self.on_wake:
                told(rid)

        await follow(self.redis, "wake-up", lambda pubsub: pubsub.psubscribe(WAKE_PATTERN), on_message, catch_up)

    async def poll(self) -> None:
        """Every followed restaurant's head read once a tick, ``POLL_SLICE`` restaurants at a time spread over it.

        On a Redis Cluster each restaurant is a slot of its own, so a read is one command per restaurant: all
        1,000 of ``bench cluster``'s at once cost 21 ms of the node's CPU, and every command of the node waited
        behind them, once a second."""
        while True:
            feeds = list(self.feeds.values())
            parts = max(1, -(-len(feeds) // POLL_SLICE))
            for part in range(parts):
                reraise_if_cancelled()
                await asyncio.sleep(self.tick / parts)
                try:
                    await self._wake_to_heads(feeds[part::parts])
                except Exception as exc:
                    reraise_if_cancelled()
                    logger.warning("offset poll failed: %s", exc)

    async def _wake_to_heads(self, feeds: list[Feed] | None = None) -> None:
        """Wake each of ``feeds`` (every feed by default) up to its restaurant's visible head, as read now."""
        feeds = list(self.feeds.values()) if feeds is None else feeds
        if feeds:
            for feed, head in zip(feeds, await self.store.heads([f.rid for f in feeds]), strict=True):
                feed.wake(head)
