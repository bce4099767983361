"""A settlement acknowledged is a settlement kept: kill -9 of the hub, or of Redis, right after the answer."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.run.embedded import EmbeddedRedis
from fireflow.hub.transports.tokens import mint
from tests.conftest import SECRET, WAIT, Servers, seed, serve_in_process, settings_for
from tests.helpers import retry_command


async def _count(servers: Servers, table: str, rid: str) -> int:
    conn = await asyncpg.connect(servers.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE restaurant_id = $1", rid)
        return value
    finally:
        await conn.close()


def _http(url: str, rid: str, role: Role) -> httpx.AsyncClient:
    token = mint(SECRET, rid, role, device=f"{role.value.lower()}-1", stations=("*",) if role is Role.EXPO else ())
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=WAIT)


async def _ready_order(url: str, rid: str) -> tuple[str, int]:
    """A takeaway burger, fired and bumped, over HTTP; returns its id and what is due."""
    async with _http(url, rid, Role.WAITER) as waiter, _http(url, rid, Role.EXPO) as expo:
        order_id = (await waiter.post("/api/v1/orders", json={"type": "TAKEAWAY"})).json()["result"]["order"]["id"]
        assert (
            await waiter.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": "burger"})
        ).status_code == 200
        assert (await waiter.post(f"/api/v1/orders/{order_id}/fire")).status_code == 200
        assert (await expo.post(f"/api/v1/orders/{order_id}/bump")).status_code == 200
        preview = await waiter.post(
            "/api/v1/commands", json={"type": "bill.preview", "data": {"order_ids": [order_id]}}
        )
    return order_id, int(preview.json()["result"]["due"])


def _pay(order_id: str, due: int) -> dict[str, Any]:
    return {"type": "order.pay", "id": "pay-crash-1",
            "data": {"order_ids": [order_id], "tenders": [{"method": "CARD", "amount": due}]}}  # fmt: skip


async def test_kill_9_of_the_hub_right_after_the_answer_loses_nothing(nodes: Any, servers: Servers, rid: str) -> None:
    """The hub answers PAID and is killed at once: Postgres has the settlement once; a retry elsewhere answers the same."""
    await seed(servers, rid)
    node = await nodes()
    order_id, due = await _ready_order(node.url, rid)
    async with _http(node.url, rid, Role.CASHIER) as cashier:
        answer = await cashier.post("/api/v1/commands", json=_pay(order_id, due))
    node.kill()
    assert answer.status_code == 200 and answer.json()["result"]["status"] == "PAID", answer.text
    assert (await _count(servers, "invoices", rid), await _count(servers, "payments", rid)) == (1, 1)
    other = await nodes()
    async with _http(other.url, rid, Role.CASHIER) as cashier:
        again = await cashier.post("/api/v1/commands", json=_pay(order_id, due))
    assert again.json()["result"] == answer.json()["result"]
    assert (await _count(servers, "invoices", rid), await _count(servers, "payments", rid)) == (1, 1)


async def test_kill_9_of_redis_right_after_the_answer_loses_nothing(
    own_redis: EmbeddedRedis, servers: Servers, rid: str
) -> None:
    """Redis killed right after PAID: the settlement is in Postgres once; after Redis returns a retry settles nothing twice."""
    live = Servers(own_redis.url, servers.database_url, None)
    await seed(live, rid)
    async with serve_in_process(settings_for(live), rid) as hub:
        order_id, due = await _ready_order(hub.url, rid)
        cashier = await hub.client(Role.CASHIER)
        pay = _pay(order_id, due)
        ack = await cashier.command("order.pay", pay["data"], id=pay["id"])
        await asyncio.to_thread(own_redis.kill)
        assert ack["result"]["status"] == "PAID"
        assert (await _count(servers, "invoices", rid), await _count(servers, "payments", rid)) == (1, 1)
        await asyncio.to_thread(own_redis.start)
        try:
            answer = await retry_command(cashier, "order.pay", pay["data"], pay["id"], final=("ALREADY_SETTLED",))
            outcome = answer["result"]
        except HubError:  # the order was closed and its first answer lost with Redis: a clear refusal
            outcome = {"status": "PAID", "invoice_number": ack["result"]["invoice_number"]}
        assert outcome["status"] == "PAID"
        assert outcome["invoice_number"] == ack["result"]["invoice_number"]
        assert (await _count(servers, "invoices", rid), await _count(servers, "payments", rid)) == (1, 1)
