"""What a commit carries besides state and events: a guard on its last event, and the running copy's claim."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.store import CLAIMED, Claimed, Store, StreamEntry
from fireflow.schema import events as e


def _revenue(revenue: int, rank: int) -> Decision:
    data = e.RevenueUpdated(
        day="2026-12-03",
        currency="INR",
        revenue=revenue,
        invoices=1,
        average_bill=revenue,
        by_method={},
        discounts=0,
        tax=0,
        service_charge=0,
    )
    return Decision(
        result={"told": revenue}, events=(Event("REVENUE_UPDATED", ("cashier",), data),), latest=("told:t", rank)
    )


def _revenue_of(entry: StreamEntry) -> int:
    return int(orjson.loads(entry.data)["revenue"])


async def test_a_reading_overtaken_by_a_later_one_is_not_told(redis: Redis, rid: str) -> None:
    """Two tills' figures commit in the other order than they were read: the older is stored as the command's
    answer but not told, to nobody (not to this node's own screens either); a newer one is told again."""
    store = Store(redis)
    told: list[StreamEntry] = []
    store.on_visible = lambda _rid, entries: told.extend(entries)
    for command_id, revenue, rank in (("b", 200, 2), ("a", 100, 1), ("c", 300, 3), ("c2", 300, 3)):
        outcome = await store.commit(rid, command_id, "", _revenue(revenue, rank), 1)
        assert outcome.stored is not None and outcome.stored.result == {"told": revenue}
    entries = await store.read_after(rid, 0, 100)
    assert [_revenue_of(x) for x in entries] == [200, 300]
    assert [x.offset for x in entries] == [1, 2]
    assert [_revenue_of(x) for x in told] == [200, 300]


async def test_the_answering_commit_lets_go_of_the_running_copys_claim(redis: Redis, rid: str) -> None:
    """The commit stored under the claimed id releases the claim (no round trip of its own); one under another
    id (a payment's lock) does not, and nor does a commit holding another copy's token."""
    store = Store(redis)
    running = Keys(rid).running("pay-1")
    claim = await store.claim(rid, "pay-1", "mine", 30_000)
    assert claim.held
    held = Claimed(rid, "pay-1", "mine")
    token = CLAIMED.set(held)
    try:
        await store.commit(rid, "pay-1:lock:x", "", Decision(result={}), 1)
        assert await redis.get(running) == b"mine" and not held.released
        await store.commit(rid, "pay-1", "", Decision(result={"paid": True}), 1)
        assert await redis.get(running) is None and held.released
    finally:
        CLAIMED.reset(token)
    assert (await store.claim(rid, "pay-2", "theirs", 30_000)).held
    other = CLAIMED.set(Claimed(rid, "pay-2", "mine"))  # a copy whose claim ran out and was taken by a twin
    try:
        await store.commit(rid, "pay-2", "", Decision(result={}), 1)
    finally:
        CLAIMED.reset(other)
    assert await redis.get(Keys(rid).running("pay-2")) == b"theirs"
