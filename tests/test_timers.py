"""Due checks are typed in the domain and encoded only by the live store: same members in Redis as before."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.decision import Decision, Due, DueKind
from fireflow.hub.domain.shares import SHARDS, shard_of
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
    try:
        for attempt in range(60):
            task = asyncio.create_task(checks.run())
            await asyncio.sleep(0.0005 * (attempt % 20))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=WAIT)
            assert done == {task} and task.cancelled(), f"attempt {attempt}: still running after {WAIT} s"
    finally:
        await checks.stop()  # its share of the restaurants, handed back to the node's own


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


async def _quick_restaurant(servers: Servers, redis: Redis, rid: str, ack_timeout_s: int = 1) -> None:
    """A restaurant whose tickets must be acknowledged within ``ack_timeout_s``."""
    quick = demo_kitchen().model_copy(update={"ack_timeout_s": ack_timeout_s})
    await seed(servers, rid)
    await Store(redis).put_restaurant(Restaurant(id=rid, name="quick", kitchen=quick), demo_menu(), demo_tables())


async def _fired_unacked(node: RunningHub, rid: str) -> tuple[HubClient, str]:
    """Fire a burger at ``rid`` with the grill's screen up and never acknowledging: expo, and the order."""
    grill, expo = await node.kitchen("grill", rid=rid), await node.client(Role.EXPO, rid=rid)
    await grill.subscribe("kitchen:grill")
    await expo.subscribe("expo")
    waiter = await node.client(Role.WAITER, rid=rid)
    order_id = await new_order(waiter, "burger")
    await waiter.command("order.fire", {"order_id": order_id})
    return expo, order_id


async def _alerted(expo: HubClient, order_id: str) -> None:
    (alert,) = [e["data"]["alert"] for e in await events_until(expo, 1, WAIT, "KITCHEN_ALERT")]
    assert (alert["kind"], alert["order_id"]) == ("TICKET_UNACKED", order_id)


def _in_halves(prefix: str, count: int) -> list[str]:
    """``count`` restaurant ids in each half of the shards: a node keeps the lower half when a second one comes."""
    ids = [f"{prefix}-{n}" for n in range(400)]
    return [r for r in ids if shard_of(r) < SHARDS // 2][:count] + [r for r in ids if shard_of(r) >= SHARDS // 2][
        :count
    ]


async def test_two_nodes_share_the_due_checks_and_one_takes_them_all_when_the_other_stops(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Each node reads only the restaurants of its shards, and a check at the other node's restaurant still runs
    (the other node ran it). When that node stops, the one left runs its restaurants' checks: one already set
    (read when the shard is taken, with no commit to wake it) and a new one."""
    rids = _in_halves(rid, 3)
    later = _in_halves(rid + "-later", 3)[3:]  # their tickets wait 3 s: time for the second node to stop first
    for each in rids:
        await _quick_restaurant(servers, redis, each)
    for each in later:
        await _quick_restaurant(servers, redis, each, ack_timeout_s=3)
    async with serve_in_process(settings_for(servers, due_tick=0.1), rids[0]) as first:
        one = first.hub.due_checks
        async with serve_in_process(settings_for(servers, due_tick=0.1), rids[0]) as second:
            two = second.hub.due_checks

            async def shared() -> None:
                while not (one.shares.held and two.shares.held) or one.shares.held & two.shares.held:
                    await asyncio.sleep(0.05)
                while one.shares.held | two.shares.held != frozenset(range(SHARDS)):
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(shared(), 4 * WAIT)
            one.reads.clear()
            two.reads.clear()
            one.missed()  # a sweep of each node's own restaurants on its next ticks
            two.missed()

            async def swept() -> None:
                while not set(rids) <= set(one.reads) | set(two.reads):
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(swept(), WAIT)
            assert set(one.reads).isdisjoint(two.reads)
            assert {r for r in rids if r in one.reads} == {r for r in rids if one.shares.owns(r)}
            theirs = [r for r in rids if two.shares.owns(r)]
            waits = [r for r in later if two.shares.owns(r)]
            assert theirs and waits, "the second node holds none of the restaurants in its half of the shards"
            await _alerted(*await _fired_unacked(first, theirs[0]))  # run by the second node, heard on the first
            one.sweep = 3600  # from here the first node reads what a wake-up or a shard it takes gives it, no more
            pending = await _fired_unacked(first, waits[0])
        # the second node stopped within the 3 s and handed its share over
        await _alerted(*pending)
        assert one.shares.held == frozenset(range(SHARDS))
        await _alerted(*await _fired_unacked(first, theirs[0]))
