"""The committing node delivers its own events without reading them back, and still in stream order."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any

from redis.asyncio import Redis

from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.live.codec import JsonCodec
from fireflow.hub.live.connection import Connection
from fireflow.hub.live.fanout import POLL_SLICE, FanOut
from fireflow.hub.live.store import Store, StreamEntry, acting_as
from fireflow.schema import events as e
from tests.conftest import WAIT


def _rushed(order_id: str, station: str | None = None) -> Decision:
    data = e.OrderRushed(order_id=order_id, order_number=7, rush=True, station=station)
    channels = ("kitchen:grill", "expo") if station else ("kitchen:grill",)
    return Decision(result={"order_id": order_id}, events=(Event("ORDER_RUSHED", channels, data),))


class Recorded:
    """An ASGI send that records each frame's offset."""

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.more = asyncio.Event()

    async def __call__(self, message: dict[str, Any]) -> None:
        text = message["text"]
        self.offsets.append(int(text[text.index('"offset":') + 9 : text.index(",", text.index('"offset":'))]))
        self.more.set()

    async def until(self, count: int) -> None:
        while len(self.offsets) < count:
            self.more.clear()
            await asyncio.wait_for(self.more.wait(), WAIT)


async def test_the_entries_a_commit_hands_over_are_the_streams_byte_for_byte(redis: Redis, rid: str) -> None:
    """What the fan-out gets from the commit equals what XRANGE reads: offsets, type, channels, data
    (non-ASCII and JSON escapes included), time and device."""
    store = Store(redis)
    told: list[tuple[str, list[StreamEntry]]] = []
    store.on_visible = lambda r, entries: told.append((r, entries))
    decision = _rushed('o-"ü€"\\1', station="grill")
    decision = Decision(result={}, events=decision.events * 3)
    with acting_as("kds-Ω"):
        outcome = await store.commit(rid, "c1", "fp", decision, 1_733_000_000_123)
    assert outcome.stored is not None
    [(where, entries)] = told
    assert where == rid and [x.offset for x in entries] == [1, 2, 3]
    assert entries == await store.read_after(rid, 0, outcome.stored.offset)
    # A retry of the same id commits nothing new, and hands nothing over.
    await store.commit(rid, "c1", "fp", decision, 1_733_000_000_999)
    assert told[1:] == [(rid, [])]


async def test_own_commits_are_delivered_at_once_and_others_in_order(redis: Redis, rid: str) -> None:
    """An own commit that is next is on the socket on the loop's next turn (no XRANGE: nothing woke the
    feed, and a read takes more turns); one behind another node's commit waits for the feed to read
    both, in order, none twice."""
    mine, other = Store(redis), Store(redis)
    fanout = FanOut(redis, mine)
    mine.on_visible = fanout.committed
    send = Recorded()
    conn = Connection(send, JsonCodec(), limit=64, now=0)
    feed = await fanout.feed(rid)
    feed.add(conn, ["kitchen:grill"])
    try:
        await mine.commit(rid, "a", "fp", _rushed("o1"), 1)
        assert send.offsets == []  # the answer goes first
        await asyncio.sleep(0)
        assert send.offsets == [1]
        await other.commit(rid, "b", "fp", _rushed("o2"), 2)  # another node's: this one only hears of it
        await mine.commit(rid, "c", "fp", _rushed("o3"), 3)
        await asyncio.sleep(0)
        assert send.offsets == [1]  # 3 must wait for 2
        feed.wake(3)
        await send.until(3)
        await mine.commit(rid, "d", "fp", _rushed("o4"), 4)
        await asyncio.sleep(0)
        assert send.offsets == [1, 2, 3, 4]
        assert await feed.caught_up(4, WAIT)
    finally:
        await fanout.stop()
        await conn.shutdown()


async def test_own_commits_are_not_read_back_though_their_wake_up_comes_first(redis: Redis, rid: str) -> None:
    """With the node's wake-up subscription running, each commit's PUBLISH reaches the feed about when its
    answer does, often first: the feed holds that read until the commit ends and hands its entries over, so
    none of this node's entries is read back, and another node's still is, in order."""
    mine, other = Store(redis), Store(redis)
    fanout = FanOut(redis, mine)
    mine.on_commit, mine.on_visible = fanout.committing, fanout.committed
    send = Recorded()
    conn = Connection(send, JsonCodec(), limit=256, now=0)
    feed = await fanout.feed(rid)
    feed.add(conn, ["kitchen:grill"])
    woken = asyncio.Event()
    fanout.on_wake.append(lambda _rid: woken.set())
    listening = asyncio.create_task(fanout.listen())
    try:
        probes = 0
        while not woken.is_set():  # subscribed: a commit's wake-up is heard
            probes += 1
            await other.commit(rid, f"probe{probes}", "fp", _rushed("o0"), 0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), 0.05)
        assert await feed.caught_up(probes, WAIT)
        read_before = feed.read_back
        await asyncio.gather(*(mine.commit(rid, f"c{n}", "fp", _rushed(f"o{n}"), n) for n in range(1, 41)))
        await send.until(probes + 40)
        assert feed.read_back == read_before  # all 40 handed over by their commits, none read back
        await other.commit(rid, "theirs", "fp", _rushed("o41"), 41)
        await send.until(probes + 41)
        await mine.commit(rid, "mine", "fp", _rushed("o42"), 42)
        await send.until(probes + 42)
        assert feed.read_back == read_before + 1  # the other node's entry only
        feed.committing()  # a commit of this node that does not end (a stalled Redis connection) ...
        await other.commit(rid, "stuck", "fp", _rushed("o43"), 43)
        await send.until(probes + 43)  # ... holds another node's entry for HOLD_S at most
        assert feed.read_back == read_before + 2
        assert send.offsets == list(range(1, probes + 44))
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await fanout.stop()
        await conn.shutdown()


async def test_a_delivered_event_leaves_no_garbage_cycle(redis: Redis, rid: str) -> None:
    """Events are freed as soon as the last socket has them: a reference cycle per event (an EncodedEvent
    pointing at itself) left every event to the garbage collector, whose young-generation passes then
    stalled every socket for 70-80 ms under load."""
    store = Store(redis)
    fanout = FanOut(redis, store)
    store.on_visible = fanout.committed
    sees, blanked = Recorded(), Recorded()
    conns = [Connection(sees, JsonCodec(), limit=64, now=0), Connection(blanked, JsonCodec(), limit=64, now=0)]
    conns[0].sees_customers = True
    feed = await fanout.feed(rid)
    for conn in conns:
        feed.add(conn, ["kitchen:grill"])
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds stays in gc.garbage, to be looked at
    try:
        for n in range(1, 4):
            await store.commit(rid, f"c{n}", "fp", _rushed(f"o{n}"), n)
            await sees.until(n)
            await blanked.until(n)
        gc.collect()
        left = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        await fanout.stop()
        for conn in conns:
            await conn.shutdown()
    assert sees.offsets == blanked.offsets == [1, 2, 3]
    assert not left & {"EncodedEvent", "StreamEntry"}, left


async def test_the_tick_wakes_every_followed_restaurant_whose_wake_up_was_missed(redis: Redis, rid: str) -> None:
    """No wake-up subscription here, as when one is lost: each feed still learns of another node's commit within a
    tick, though the tick reads the heads a slice of restaurants at a time (``POLL_SLICE``)."""
    mine, other = Store(redis), Store(redis)
    tick = 0.4
    fanout = FanOut(redis, mine, tick=tick)
    rids = [f"{rid}-{n}" for n in range(POLL_SLICE * 2 + 7)]  # three slices
    feeds = [await fanout.feed(r) for r in rids]
    polling = asyncio.create_task(fanout.poll())
    try:
        await asyncio.sleep(tick)  # the first slices are read before the commits, the later ones may be after
        for n, r in enumerate(rids):
            await other.commit(r, f"c{n}", "fp", _rushed(f"o{n}"), n)
        loop = asyncio.get_running_loop()
        committed = loop.time()
        while any(feed.wanted < 1 for feed in feeds):
            assert loop.time() - committed < 2 * tick + WAIT / 10, [f.rid for f in feeds if f.wanted < 1][:5]
            await asyncio.sleep(0.02)
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await fanout.stop()
