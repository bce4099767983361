"""Closed orders leave Redis for Postgres: still read the same way, still changed by a command, never lost."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.books.archive import OrderArchive
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from fireflow.hub.workers.archiver import Archiver
from fireflow.schema.records import Order
from tests.conftest import RunningHub
from tests.helpers import new_order


async def closed_order(hub: RunningHub) -> tuple[str, str]:
    """A takeaway fired, bumped ready, paid and picked up: closed. Its id and its invoice's."""
    waiter, cashier, expo = await hub.client(Role.WAITER), await hub.client(Role.CASHIER), await hub.client(Role.EXPO)
    order_id = await new_order(waiter, "burger")
    await waiter.command("order.fire", {"order_id": order_id})
    await expo.command("order.bump", {"order_id": order_id})
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    tenders = [{"method": "UPI", "amount": due}]
    paid = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tenders, "force": True})
    await cashier.command("order.pickup", {"order_id": order_id})
    return order_id, paid["result"]["invoice_id"]


async def read_over_http(hub: RunningHub, order_id: str) -> dict[str, Any]:
    async with hub.http(Role.MANAGER) as http:
        answer = await http.get(f"/api/v1/orders/{order_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["order"])


async def test_a_closed_order_leaves_redis_and_reads_the_same_from_postgres(
    hub: RunningHub, redis: Redis, engine: AsyncEngine
) -> None:
    order_id, _ = await closed_order(hub)
    before = await read_over_http(hub, order_id)
    assert before["status"] == "CLOSED"
    k = Keys(hub.rid)
    archiver = Archiver(redis, OrderArchive(engine), keep_s=3600)
    assert await archiver.run([hub.rid]) == 0  # closed a moment ago: it stays for now
    archiver.keep_s = 0.001
    renewals = []

    async def renew() -> None:  # the durable writer's leases, renewed as a long pass goes
        renewals.append(await redis.hget(k.closed_orders, order_id))

    assert await archiver.run([hub.rid], between=renew) == 1
    assert renewals == [None]  # after the restaurant's orders had left
    assert await redis.hget(k.closed_orders, order_id) is None
    assert await redis.hget(k.versions, f"order:{order_id}") is None
    assert await redis.zscore(k.closed_at, order_id) is None
    assert await read_over_http(hub, order_id) == before  # now from archived_orders
    assert await archiver.run([hub.rid]) == 0  # nothing left to move


async def test_a_command_on_an_archived_order_brings_it_back_once(
    hub: RunningHub, redis: Redis, engine: AsyncEngine
) -> None:
    """A void of an archived order's invoice applies to the order read from Postgres and writes it back to Redis;
    a second void of it is refused as already voided, not applied to a stale copy."""
    order_id, invoice_id = await closed_order(hub)
    before = Order.model_validate(await read_over_http(hub, order_id))
    assert await Archiver(redis, OrderArchive(engine), keep_s=0.001).run([hub.rid]) == 1
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.command("invoice.void", {"invoice_id": invoice_id, "reason": "wrong order", "pin": "1234"})
    back = await redis.hget(Keys(hub.rid).closed_orders, order_id)
    assert back is not None
    voided = Order.model_validate_json(back)
    assert (voided.status, voided.revision) == ("VOIDED", before.revision + 1)
    assert await redis.hget(Keys(hub.rid).versions, f"order:{order_id}") == str(voided.revision).encode()
    assert (await read_over_http(hub, order_id))["status"] == "VOIDED"
    # archived again, the newer copy replaces the older one in Postgres
    assert await Archiver(redis, OrderArchive(engine), keep_s=0.001).run([hub.rid]) == 1
    archived = await OrderArchive(engine).order(hub.rid, order_id)
    assert archived is not None and archived.revision == voided.revision


async def test_an_order_that_changes_while_it_is_archived_stays_in_redis(
    hub: RunningHub, redis: Redis, engine: AsyncEngine
) -> None:
    """The archiver copies, then evicts only what did not change since: a command landing in between wins."""
    order_id, invoice_id = await closed_order(hub)
    manager = await hub.client(Role.MANAGER, device="manager-1")

    class VoidWhileCopying(OrderArchive):
        async def put(self, rid: str, orders: Any) -> None:
            await super().put(rid, orders)
            await manager.command("invoice.void", {"invoice_id": invoice_id, "reason": "late", "pin": "1234"})

    assert await Archiver(redis, VoidWhileCopying(engine), keep_s=0.001).run([hub.rid]) == 0
    kept = await redis.hget(Keys(hub.rid).closed_orders, order_id)
    assert kept is not None and Order.model_validate_json(kept).status == "VOIDED"
    assert (await read_over_http(hub, order_id))["status"] == "VOIDED"
