"""Due checks are typed in the domain and encoded only by the live store: same members in Redis as before."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.decision import Decision, Due, DueKind
from fireflow.hub.live.keys import Keys, due_member, parse_due_member
from fireflow.hub.live.store import Store
from fireflow.hub.run.demo import demo_kitchen, demo_menu, demo_tables
from fireflow.hub.workers.timers import DueChecks
from fireflow.schema.records import Restaurant
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import events_until, new_order


@given(st.sampled_from(DueKind), st.text(min_size=1, max_size=80))
def test_a_due_member_decodes_to_what_was_encoded(kind: DueKind, subject: str) -> None:
    """Any kind and subject (bars included) come back from their sorted-set member unchanged."""
    assert parse_due_member(due_member(kind, subject)) == (kind, subject)


def test_members_written_before_keep_their_meaning() -> None:
    """The wire format stays: members already in Redis decode to the same checks; unknown ones to None."""
    assert parse_due_member("ack|demo.o1:t2") == (DueKind.ACK, "demo.o1:t2")
    assert parse_due_member("settle|pay-1") == (DueKind.SETTLE, "pay-1")
    assert parse_due_member("bill|demo.o1") == (DueKind.BILL, "demo.o1")
    assert [parse_due_member(m) for m in ("nudge|x", "ack", "", "|x")] == [None] * 4


async def test_the_store_writes_and_reads_typed_checks(redis: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A committed Due is read back typed with its time; a member no hub knows is logged and dropped."""
    store, rid = Store(redis), "due-r1"
    decision = Decision(result={}, due=(Due(DueKind.ACK, "due-r1.o1:t1", 1000), Due(DueKind.BILL, "due-r1.o1", 2000)))
    await store.commit(rid, "c1", "", decision, 1)
    await redis.zadd(Keys(rid).due, {"nudge|x": 500})
    assert await redis.zrange(Keys(rid).due, 0, -1) == [b"nudge|x", b"ack|due-r1.o1:t1", b"bill|due-r1.o1"]
    with caplog.at_level(logging.ERROR, logger="fireflow.hub.live.store"):
        due = await store.due([rid, "due-r2"], 1500)
    assert due == {rid: [Due(DueKind.ACK, "due-r1.o1:t1", 1000)]}
    assert "nudge|x" in caplog.text and await redis.zscore(Keys(rid).due, "nudge|x") is None
    # before any is due: none found, the first one's time, and no time for a restaurant with none
    assert await store.due_and_next([rid, "due-r2"], 0) == ({}, {rid: 1000})
    assert await store.due_and_next([rid], 5000, limit=1) == (
        {rid: [Due(DueKind.ACK, "due-r1.o1:t1", 1000)]},
        {rid: 1000},
    )
    await store.drop_due(rid, Due(DueKind.BILL, "due-r1.o1", None))
    await store.commit(rid, "c2", "", Decision(result={}, due=(Due(DueKind.ACK, "due-r1.o1:t1", None),)), 2)
    assert await redis.zcard(Keys(rid).due) == 0


async def test_the_due_checks_stop_when_told_whatever_they_were_doing(hub: RunningHub) -> None:
    """Cancelled at any moment, also inside a Redis round trip whose client swallows the cancellation, they stop.

    redis-py can consume a task's cancellation inside a pipeline and return normally (seen on one Redis
    and on the cluster); a loop that did not look again kept sleeping and checking after its node had
    closed Redis (the node's shutdown waited its 5 s, and the connections it reopened were never closed)."""
    checks = DueChecks(hub.hub.store, hub.hub.bus, tick=0.005)
    for attempt in range(60):
        task = asyncio.create_task(checks.run())
        await asyncio.sleep(0.0005 * (attempt % 20))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=WAIT)
        assert done == {task} and task.cancelled(), f"attempt {attempt}: still running after {WAIT} s"


async def test_the_due_checks_read_only_the_restaurants_a_commit_woke_or_with_a_check_due(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Every node read every restaurant's due checks twice a second: a fifth of an idle node's CPU at 1,000
    restaurants. Between sweeps a node reads a restaurant when a commit woke it or its first check fell
    due, and a check still runs on time: an unacknowledged ticket is flagged with no commit to wake it."""
    rids = [f"{rid}-{n}" for n in range(8)]
    for each in rids:
        await seed(servers, each)
    quick = demo_kitchen().model_copy(update={"ack_timeout_s": 1})  # rids[3]'s tickets: acknowledged within 1 s
    await Store(redis).put_restaurant(Restaurant(id=rids[3], name="quick", kitchen=quick), demo_menu(), demo_tables())
    async with serve_in_process(settings_for(servers, due_tick=0.1), rids[0]) as node:
        checks = node.hub.due_checks
        checks.sweep = 3600  # after the first one, no sweep during the test

        async def until_read(rid: str, times: int) -> None:
            while checks.reads.get(rid, 0) < times:
                await asyncio.sleep(0.01)

        for each in rids:
            await asyncio.wait_for(until_read(each, 1), WAIT)
        waiter = await node.client(Role.WAITER, rid=rids[3])
        before = dict(checks.reads)
        await new_order(waiter, "burger")
        await asyncio.wait_for(until_read(rids[3], before[rids[3]] + 1), WAIT)
        assert {r for r, n in checks.reads.items() if n > before.get(r, 0)} == {rids[3]}
        # The fire's commit woke the restaurant and the read found its ticket's check; a second later
        # the check falls due with no commit to wake anyone, and runs.
        grill, expo = await node.kitchen("grill", rid=rids[3]), await node.client(Role.EXPO, rid=rids[3])
        await grill.subscribe("kitchen:grill")
        await expo.subscribe("expo")
        order_id = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": order_id})
        (alert,) = [e["data"]["alert"] for e in await events_until(expo, 1, WAIT, "KITCHEN_ALERT")]
        assert (alert["kind"], alert["order_id"], alert["station"]) == ("TICKET_UNACKED", order_id, "grill")
