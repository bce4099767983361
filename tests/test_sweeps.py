"""The self-healing sweeps on a real hub: each planted fault is found, repaired through an ordinary command or
reported to the manager, once; repairs race safely; the hub's own sweeper runs them unattended."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.shares import SHARDS, shard_of
from fireflow.hub.domain.sweeps import SweepRules
from fireflow.hub.live.keys import Keys
from fireflow.hub.workers.sweeps import SWEEPER, Sweeper
from fireflow.schema.records import Order, OrderStatus, Table, TableStatus
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import fired_order, new_order

RULES = SweepRules()
MIN = 60_000


def sweeper(hub: RunningHub) -> Sweeper:
    """A sweeper over the node's own Redis, store, bus and books (the one the node runs is off in tests)."""
    node = hub.hub
    return Sweeper(node.redis, node.store, node.bus, node.settler, node.audit, recommendations=node.recommendations)


def now_ms() -> int:
    return int(time.time() * 1000)


async def found_events(manager: HubClient, count: int) -> list[dict[str, Any]]:
    """The next ``count`` SWEEP_FOUND findings the manager hears."""
    got: list[dict[str, Any]] = []

    async def collect() -> None:
        while len(got) < count:
            event = await manager.events.get()
            if event["type"] == "SWEEP_FOUND":
                got.append(event["data"]["finding"])

    await asyncio.wait_for(collect(), WAIT)
    return got


async def plant_table(hub: RunningHub, table_id: str, **fields: Any) -> Table:
    """Write a table as a fault left it (a lost write, a crash between two commits)."""
    table = await hub.hub.store.table(hub.rid, table_id)
    assert table is not None
    planted = table.model_copy(update=fields)
    await hub.hub.redis.hset(Keys(hub.rid).tables, table_id, planted.model_dump_json())
    return planted


async def test_a_table_seated_for_an_order_that_is_gone_is_released_once_even_by_two_sweepers_at_once(
    hub: RunningHub,
) -> None:
    manager = await hub.client(Role.MANAGER)
    await manager.subscribe("manager", "tables")
    planted = await plant_table(hub, "T2", status=TableStatus.OCCUPIED, order_id=f"{hub.rid}.o999")
    one, two = sweeper(hub), sweeper(hub)
    start = now_ms()
    assert await one.sweep(hub.rid, start) == []  # first seen: a seat in flight gets its grace
    assert await one.sweep(hub.rid, start + RULES.table_grace_s * 1000 - 1) == []
    later = start + RULES.table_grace_s * 1000
    first, second = await asyncio.gather(one.sweep(hub.rid, later), two.sweep(hub.rid, later))
    assert [f.kind for f in first] == [f.kind for f in second] == ["TABLE_WITHOUT_ORDER"]
    table = await hub.hub.store.table(hub.rid, "T2")
    assert table is not None and (table.status, table.order_id) == (TableStatus.DIRTY, None)
    assert table.version == planted.version + 1  # released once, though both sweeps repaired
    (said,) = await found_events(manager, 1)
    assert said["repaired"] is True and said["subject"] == "T2" and "released to DIRTY" in said["message"]
    assert await one.sweep(hub.rid, later + MIN) == []  # put right: nothing more to say
    with pytest.raises(asyncio.TimeoutError):  # and it was said once
        await found_events(manager, 1)


async def test_a_dirty_table_is_reported_after_twenty_minutes_and_left_for_a_person(hub: RunningHub) -> None:
    manager = await hub.client(Role.MANAGER)
    await manager.subscribe("manager")
    await plant_table(hub, "T3", status=TableStatus.DIRTY, order_id=None)
    sweeps = sweeper(hub)
    start = now_ms()
    await sweeps.sweep(hub.rid, start)
    (found,) = await sweeps.sweep(hub.rid, start + RULES.dirty_after_s * 1000)
    assert (found.kind, found.repaired) == ("TABLE_DIRTY", False)
    assert "has been dirty for 20 min: clean it" in found.message
    table = await hub.hub.store.table(hub.rid, "T3")
    assert table is not None and table.status is TableStatus.DIRTY  # not the hub's to clean
    (said,) = await found_events(manager, 1)
    assert said["id"] == found.id and said["action"].startswith("clean the table")
    assert await sweeps.sweep(hub.rid, start + RULES.dirty_after_s * 1000 + MIN) == []  # told once while it stands
    async with hub.http(Role.MANAGER) as http:  # a manager's page opened later reads it
        standing = (await http.get("/api/v1/sweeps/findings")).json()["findings"]
    assert standing == [said]
    waiter = await hub.client(Role.WAITER)
    await waiter.command("table.clean", {"table_id": "T3"})
    await sweeps.sweep(hub.rid, start + RULES.dirty_after_s * 1000 + 2 * MIN)
    async with hub.http(Role.MANAGER) as http:  # put right: no longer standing
        assert (await http.get("/api/v1/sweeps/findings")).json()["findings"] == []
    async with hub.http(Role.WAITER) as http:
        refused = await http.get("/api/v1/sweeps/findings")
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"


async def test_an_empty_order_is_cancelled_by_the_sweeper_and_an_unfired_one_is_reported(hub: RunningHub) -> None:
    waiter = await hub.client(Role.WAITER)
    empty = await new_order(waiter)
    unfired = await new_order(waiter, "burger")
    fired = await fired_order(waiter, "burger")
    before = await hub.hub.store.order(hub.rid, unfired)
    assert before is not None
    found = await sweeper(hub).sweep(hub.rid, now_ms() + RULES.unfired_after_s * 1000)
    by_kind = {f.kind: f for f in found}
    # they count from their opening; the grill with no screen counts from this first sight, and waits
    assert set(by_kind) == {"ORDER_EMPTY", "ORDER_UNFIRED"}
    assert by_kind["ORDER_EMPTY"].repaired and by_kind["ORDER_EMPTY"].subject == empty
    assert not by_kind["ORDER_UNFIRED"].repaired and by_kind["ORDER_UNFIRED"].subject == unfired
    cancelled = await hub.hub.store.order(hub.rid, empty)
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED
    untouched = await hub.hub.store.order(hub.rid, unfired)
    assert untouched == before  # a person decides: fire it, or cancel it
    assert (await hub.hub.store.order(hub.rid, fired)).status is OrderStatus.ACTIVE  # type: ignore[union-attr]
    # the cancel is an ordinary command of the device "sweeper": the order's history says who
    async with hub.http(Role.MANAGER) as http:
        for _ in range(int(40 * WAIT)):
            history = (await http.get(f"/api/v1/orders/{empty}/history")).json()["events"]
            if any(e["type"] == "ORDER_CANCELLED" for e in history):
                break
            await asyncio.sleep(0.05)
    (cancel,) = [e for e in history if e["type"] == "ORDER_CANCELLED"]
    assert cancel["device"] == SWEEPER


async def test_a_paid_order_the_live_state_lost_is_closed_from_the_books(hub: RunningHub) -> None:
    waiter = await hub.client(Role.WAITER)
    cashier = await hub.client(Role.CASHIER)
    order_id = await fired_order(waiter, "water")  # nothing to cook: ready at once
    before = await hub.hub.store.order(hub.rid, order_id)
    assert before is not None
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["bill"]["total"]
    await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": "CARD", "amount": due}]})
    # plant: Redis lost the settlement's commit (the books, written first, kept it)
    keys = Keys(hub.rid)
    await hub.hub.redis.hset(keys.open_orders, order_id, before.model_dump_json())
    await hub.hub.redis.hdel(keys.closed_orders, order_id)
    await hub.hub.redis.hset(keys.versions, f"order:{order_id}", before.revision)
    lost = await hub.hub.store.order(hub.rid, order_id)
    assert lost is not None and lost.status is not OrderStatus.CLOSED
    sweeps = sweeper(hub)
    start = now_ms()
    await sweeps.sweep(hub.rid, start)
    (found,) = await sweeps.sweep(hub.rid, start + RULES.settled_grace_s * 1000)
    assert (found.kind, found.repaired, found.subject) == ("SETTLED_NOT_CLOSED", True, order_id)
    paid = await hub.hub.store.order(hub.rid, order_id)
    assert paid is not None and paid.invoice_id == found.message.split("invoice ")[1].partition(")")[0]
    assert paid.payment_status.value == "PAID"  # a takeaway paid stays READY until it is picked up
    assert await sweeps.sweep(hub.rid, start + 10 * MIN) == []  # and is no fault then


async def test_tickets_at_a_station_with_no_screen_are_reported_and_not_once_a_screen_is_live(
    hub: RunningHub,
) -> None:
    waiter = await hub.client(Role.WAITER)
    order_id = await fired_order(waiter, "burger", "fries")
    order = await hub.hub.store.order(hub.rid, order_id)
    assert isinstance(order, Order)
    fry = await hub.kitchen("fry")
    await fry.subscribe("kitchen:fry")  # fry is watched; grill is not
    sweeps = sweeper(hub)
    start = now_ms()
    await sweeps.sweep(hub.rid, start)
    (found,) = await sweeps.sweep(hub.rid, start + RULES.unseen_after_s * 1000)
    assert (found.kind, found.subject, found.repaired) == ("TICKET_UNSEEN", "grill", False)
    assert f"(orders #{order.number})" in found.message and "no live screen or printer" in found.message
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    assert await sweeps.sweep(hub.rid, now_ms()) == []  # watched now: the fault is gone (presence is of now)


async def test_release_is_a_managers_command_refused_with_a_reason_on_a_table_with_an_open_order(
    hub: RunningHub,
) -> None:
    waiter = await hub.client(Role.WAITER)
    manager = await hub.client(Role.MANAGER)
    await new_order(waiter, "burger", type="DINE_IN", table_id="T4", guests=2)
    with pytest.raises(HubError) as seated:
        await manager.command("table.release", {"table_id": "T4"})
    assert seated.value.code == "INVALID_STATE" and "open order" in seated.value.frame["message"]
    with pytest.raises(HubError) as forbidden:
        await waiter.command("table.release", {"table_id": "T4"})
    assert forbidden.value.code == "FORBIDDEN"
    with pytest.raises(HubError) as internal:
        await manager.command("sweep.report", {"findings": []})
    assert internal.value.code == "UNKNOWN_COMMAND"
    table = await hub.hub.store.table(hub.rid, "T4")
    assert table is not None and table.status is TableStatus.OCCUPIED  # nothing refused changed anything


async def test_the_nodes_own_sweeper_repairs_unattended(servers: Servers, redis: Any, rid: str) -> None:
    """With sweeps on, a planted fault is repaired by the node itself within a few of its sweeps."""
    await seed(servers, rid)
    settings = settings_for(servers, sweeps=True, sweep_every=0.05)
    async with serve_in_process(settings, rid) as hub:
        waiter = await hub.client(Role.WAITER)
        order_id = await new_order(waiter)
        forgotten = await new_order(waiter, "burger")
        for planted, hours in ((order_id, RULES.empty_after_s), (forgotten, RULES.unfired_after_s)):
            order = await hub.hub.store.order(rid, planted)
            assert order is not None
            old = order.model_copy(update={"created_at": order.created_at - hours * 1000})
            await redis.hset(Keys(rid).open_orders, planted, old.model_dump_json())  # opened hours ago
        for _ in range(int(100 * WAIT)):
            now = await hub.hub.store.order(rid, order_id)
            if now is not None and now.status is OrderStatus.CANCELLED:
                break
            await asyncio.sleep(0.05)
        assert now is not None and now.status is OrderStatus.CANCELLED
        # the unfired one is the manager's to decide: logged as advice, not yet followed
        async with hub.http(Role.MANAGER) as http:
            for _ in range(int(100 * WAIT)):
                latest = (await http.get("/api/v1/stats/recommendations")).json()["latest"]
                if latest:
                    break
                await asyncio.sleep(0.05)
        (advice,) = latest
        assert (advice["kind"], advice["subject"], advice["chosen"]) == ("SWEEP", forgotten, None)
        assert advice["recommended"] == "fire or cancel the order"


async def test_release_sent_twice_at_once_from_two_devices_releases_once(hub: RunningHub) -> None:
    """Concurrent copies of one id answer alike; a second id at the same moment is refused, the table moved once."""
    planted = await plant_table(hub, "T5", status=TableStatus.OCCUPIED, order_id=f"{hub.rid}.o998")
    one = await hub.client(Role.MANAGER, device="manager-1")
    two = await hub.client(Role.MANAGER, device="manager-2")
    data = {"table_id": "T5", "version": planted.version}
    same = await asyncio.gather(
        one.command("table.release", data, id="release-t5"),
        two.command("table.release", data, id="release-t5"),
    )
    assert same[0]["result"] == same[1]["result"]
    with pytest.raises(HubError) as again:
        await two.command("table.release", data, id="release-t5-other")
    assert again.value.code in ("VERSION_CONFLICT", "INVALID_STATE")
    table = await hub.hub.store.table(hub.rid, "T5")
    assert table is not None and table.status is TableStatus.DIRTY and table.version == planted.version + 1


async def test_two_nodes_sweep_each_restaurant_once_between_them_and_one_sweeps_all_when_the_other_stops(
    hub: RunningHub, servers: Servers
) -> None:
    ids = [f"r{secrets.token_hex(4)}" for _ in range(200)]
    for low in (True, False):  # one in each half of the shards: a node hands the upper half over first
        await seed(servers, next(r for r in ids if (shard_of(r) < SHARDS // 2) == low))
    first, second = sweeper(hub), sweeper(hub)
    try:
        every = set(await hub.hub.store.restaurant_ids())
        assert hub.rid in every and set(await first.restaurants()) == every  # alone: all of them
        assert await second.restaurants() == []  # counted in; nothing free yet
        mine = set(await first.restaurants())  # handed half of the shards over
        theirs = set(await second.restaurants())
        assert mine and theirs and mine.isdisjoint(theirs) and mine | theirs == every
        await first.stop()
        assert set(await second.restaurants()) == every
    finally:
        await first.stop()
        await second.stop()
