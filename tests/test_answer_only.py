"""A decision that changes nothing and tells nothing is committed as its answer alone (``lua/answer.lua`` where no
replica is waited for): stored for every retry of its id like any answer, at the offset the restaurant's events had
reached, and a running copy's claim goes with it."""

from __future__ import annotations

from redis.asyncio import Redis

from fireflow.hub.domain.decision import Decision
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.store import CLAIMED, Claimed, Store, answers_only
from tests.domain_support import fire, with_items


async def test_an_answer_alone_is_kept_for_its_id_like_any_other(redis: Redis, rid: str) -> None:
    store = Store(redis)
    fired = fire(with_items("burger"))
    [order] = fired.orders
    await redis.hset(Keys(rid).versions, f"order:{order.id}", order.revision - 1)  # as if opened here
    first = await store.commit(rid, "c1", "fp1", fired, 1)
    assert first.stored is not None and first.stored.offset > 0
    preview = Decision(result={"due": 1250})
    assert answers_only(preview) and not answers_only(fired)
    assert not answers_only(Decision(result={}, noted=False, latest=("x", 1)))
    answered = await store.commit(rid, "c2", "fp2", preview, 2)
    assert answered.stored is not None and not answered.duplicate
    assert (answered.stored.offset, answered.stored.result) == (first.stored.offset, {"due": 1250})
    kept = await store.stored_result(rid, "c2")
    assert kept is not None and (kept.fingerprint, kept.offset, kept.result) == (
        "fp2",
        first.stored.offset,
        {"due": 1250},
    )
    assert 0 < await redis.ttl(Keys(rid).command("c2")) <= store.result_ttl
    # A retry of the id is answered what the first copy was, whatever it would decide now; nothing else moved.
    again = await store.commit(rid, "c2", "fp2", Decision(result={"due": 9999}), 3)
    assert again.duplicate and again.stored is not None and again.stored.result == {"due": 1250}
    assert int(await redis.get(Keys(rid).seq) or 0) == first.stored.offset


async def test_an_answer_alone_lets_go_of_its_running_copy_s_claim(redis: Redis, rid: str) -> None:
    store = Store(redis)
    assert (await store.claim(rid, "c1", "token-1", 10_000)).held
    held = Claimed(rid, "c1", "token-1")
    running = CLAIMED.set(held)
    try:
        outcome = await store.commit(rid, "c1", "fp", Decision(result={"acked": []}), 1)
    finally:
        CLAIMED.reset(running)
    assert outcome.stored is not None and outcome.stored.result == {"acked": []}
    assert held.released and not await redis.exists(Keys(rid).running("c1"))
