"""Recommendations are logged with whether staff followed them: the settle-now guidance and a sweep's finding."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.recommendations import (
    ASK_TO_WAIT,
    SETTLE_NOW,
    SETTLE_WITH_DISCOUNT,
    settlement_choice,
    settlement_id,
    settlement_recommendation,
)
from fireflow.hub.domain.sweeps import SweepRules
from fireflow.hub.live.keys import Keys
from fireflow.hub.workers.sweeps import Sweeper
from fireflow.schema.billing import Discount, DiscountKind
from fireflow.schema.records import TableStatus
from tests.conftest import RunningHub
from tests.domain_support import fire, with_items
from tests.helpers import new_order


def test_guidance_recommends_a_courtesy_for_a_long_wait_and_waiting_for_a_short_one() -> None:
    long_wait = {"items": [{}, {}], "longest_wait_s": 420, "suggested_discount_bp": 500, "options": ["A", "B"]}
    advice = settlement_recommendation(["r.o2", "r.o1"], long_wait)
    assert (advice.recommended, advice.kind, advice.options) == (SETTLE_WITH_DISCOUNT, "SETTLEMENT", ("A", "B"))
    assert (
        advice.reason
        == "2 item(s) not ready, the longest about 7 min: a 5% courtesy discount keeps the guest's goodwill"
    )
    assert advice.id == settlement_id(["r.o1", "r.o2"])  # one per bill, whatever the order of its orders
    short = settlement_recommendation(["r.o1"], {"items": [{}], "longest_wait_s": 61, "suggested_discount_bp": 0})
    assert (short.recommended, short.reason) == (ASK_TO_WAIT, "1 item(s) not ready, the longest about 2 min")


def test_what_the_cashier_did_is_read_off_the_settlement() -> None:
    order = fire(with_items("burger")).orders[0]
    assert settlement_choice([order], forced=False) == ASK_TO_WAIT
    assert settlement_choice([order], forced=True) == SETTLE_NOW
    courtesy = Discount(id="d1", kind=DiscountKind.PERCENT, value=500, reason="courtesy: items not ready")
    assert settlement_choice([order.model_copy(update={"discounts": (courtesy,)})], forced=True) == (
        SETTLE_WITH_DISCOUNT
    )


async def _logged(hub: RunningHub, want: int) -> dict[str, Any]:
    """The manager's read once ``want`` recommendations are in it."""
    async with hub.http(Role.MANAGER) as http:
        for _ in range(200):
            body: dict[str, Any] = (await http.get("/api/v1/stats/recommendations")).json()
            if len(body["latest"]) >= want:
                return body
            await asyncio.sleep(0.02)
    raise AssertionError(body)


async def _refused(cashier: Any, order_id: str, tenders: list[dict[str, Any]]) -> None:
    with pytest.raises(HubError) as refused:
        await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tenders})
    assert refused.value.code == "ITEMS_NOT_READY"


async def test_guidance_is_logged_once_and_settling_now_or_after_waiting_is_told_apart(hub: RunningHub) -> None:
    waiter = await hub.client(Role.WAITER)
    cashier = await hub.client(Role.CASHIER)
    expo = await hub.client(Role.EXPO)
    rushed = await new_order(waiter, "burger", type="DINE_IN", table_id="T1", guests=2)
    waited = await new_order(waiter, "burger", type="DINE_IN", table_id="T2", guests=2)
    for order_id in (rushed, waited):
        await waiter.command("order.fire", {"order_id": order_id})
    bills = {}
    for order_id in (rushed, waited):
        bills[order_id] = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["bill"]["total"]
        card = [{"method": "CARD", "amount": bills[order_id]}]
        await _refused(cashier, order_id, card)
        await _refused(cashier, order_id, card)  # asked twice: advised once
    # one settles at once with force; the other waits for the kitchen, then pays without force
    forced = {"order_ids": [rushed], "tenders": [{"method": "CARD", "amount": bills[rushed]}], "force": True}
    await cashier.command("order.pay", forced)
    await expo.command("order.bump", {"order_id": waited})
    await cashier.command(
        "order.pay", {"order_ids": [waited], "tenders": [{"method": "CARD", "amount": bills[waited]}]}
    )

    body = await _logged(hub, 2)
    by_id = {r["id"]: r for r in body["latest"]}
    now = by_id[settlement_id([rushed])]
    assert (now["recommended"], now["chosen"], now["followed"]) == (ASK_TO_WAIT, SETTLE_NOW, False)
    assert now["decided_at"] >= now["given_at"] and "1 item(s) not ready" in now["reason"]
    wait = by_id[settlement_id([waited])]
    assert (wait["recommended"], wait["chosen"], wait["followed"]) == (ASK_TO_WAIT, ASK_TO_WAIT, True)
    assert body["kinds"] == [{"kind": "SETTLEMENT", "given": 2, "decided": 2, "followed": 1, "rate": 0.5}]
    async with hub.http(Role.WAITER) as http:
        refused = await http.get("/api/v1/stats/recommendations")
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    async with hub.http(Role.MANAGER) as http:
        bad = await http.get("/api/v1/stats/recommendations?days=0")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_FRAME"


async def test_a_sweeps_finding_is_advice_followed_when_staff_put_it_right(hub: RunningHub) -> None:
    node = hub.hub
    table = await node.store.table(hub.rid, "T3")
    assert table is not None
    dirty = table.model_copy(update={"status": TableStatus.DIRTY, "order_id": None})
    await node.redis.hset(Keys(hub.rid).tables, "T3", dirty.model_dump_json())
    sweeps = Sweeper(node.redis, node.store, node.bus, node.settler, recommendations=node.recommendations)
    start = int(time.time() * 1000)
    await sweeps.sweep(hub.rid, start)
    (found,) = await sweeps.sweep(hub.rid, start + SweepRules().dirty_after_s * 1000)
    (given,) = (await _logged(hub, 1))["latest"]
    assert (given["kind"], given["subject"], given["chosen"]) == ("SWEEP", "T3", None)
    assert given["recommended"].startswith("clean the table") and given["reason"] == found.message
    waiter = await hub.client(Role.WAITER)
    await waiter.command("table.clean", {"table_id": "T3"})
    assert await sweeps.sweep(hub.rid, start + SweepRules().dirty_after_s * 1000 + 60_000) == []
    (done,) = (await _logged(hub, 1))["latest"]
    assert (done["chosen"], done["followed"]) == ("DONE", True)
