"""Due checks are typed in the domain and encoded only by the live store: same members in Redis as before."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fireflow.hub.domain.decision import Decision, Due, DueKind
from fireflow.hub.live.keys import Keys, due_member, parse_due_member
from fireflow.hub.live.store import Store
from fireflow.hub.workers.timers import DueChecks
from tests.conftest import WAIT, RunningHub


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
