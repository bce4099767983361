"""Several hub processes on one Redis behave as one hub, and survive losing a node."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.store import Store
from fireflow.hub.run.demo import seed_restaurant
from fireflow.hub.transports.tokens import mint
from tests.conftest import SECRET, WAIT, Servers


async def _seeded(redis: Any, rid: str) -> None:
    await seed_restaurant(Store(redis), rid)


def _token(rid: str, role: Role, **kw: Any) -> str:
    return mint(SECRET, rid, role, device=kw.pop("device", role.value.lower()), **kw)


async def _fire_over_http(http: httpx.AsyncClient) -> str:
    order = await http.post("/api/v1/orders", json={"type": "TAKEAWAY"})
    order_id: str = order.json()["result"]["order"]["id"]
    assert (await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": "burger"})).status_code == 200
    assert (await http.post(f"/api/v1/orders/{order_id}/fire")).status_code == 200
    return order_id


async def test_a_fire_through_one_node_reaches_a_screen_on_another(
    nodes: Any, redis: Any, rid: str, servers: Servers
) -> None:
    """Two nodes on one Redis: a fire over HTTP on node A reaches a screen on node B, and both writers store it once."""
    await _seeded(redis, rid)
    a, b = await nodes(), await nodes()
    screen = await HubClient.connect(b.ws_url, _token(rid, Role.KITCHEN, stations=["grill"]))
    try:
        await screen.subscribe("kitchen:grill")
        headers = {"Authorization": f"Bearer {_token(rid, Role.WAITER)}"}
        async with httpx.AsyncClient(base_url=a.url, headers=headers) as http:
            order_id = await _fire_over_http(http)
        event = await screen.next_event(WAIT)
        assert event["type"] == "NEW_KITCHEN_ORDER" and event["data"]["ticket"]["order_id"] == order_id
    finally:
        await screen.close()
    # Each node runs its durable writer as a child process; together they store every event once.
    seq = int(await redis.get(Keys(rid).seq) or 0)
    dsn = servers.database_url.replace("postgresql+asyncpg://", "postgresql://")

    async def stored() -> list[int]:
        while True:
            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch('SELECT "offset" FROM events WHERE restaurant_id = $1 ORDER BY "offset"', rid)
            finally:
                await conn.close()
            if len(rows) >= seq:
                return [r["offset"] for r in rows]
            await asyncio.sleep(0.05)

    assert await asyncio.wait_for(stored(), 4 * WAIT) == list(range(1, seq + 1))


async def test_killed_node_clients_resume_on_the_other_with_nothing_lost_or_doubled(
    nodes: Any, redis: Any, rid: str
) -> None:
    """kill -9 of a node under traffic: its screens resume on the survivor and see every ticket exactly once."""
    await _seeded(redis, rid)
    doomed, survivor = await nodes(), await nodes()
    screens = [await HubClient.connect(doomed.ws_url, _token(rid, Role.KITCHEN, stations=["grill"])) for _ in range(5)]
    for screen in screens:
        await screen.subscribe("kitchen:grill")
    fired: list[str] = []
    killed = asyncio.Event()
    headers = {"Authorization": f"Bearer {_token(rid, Role.WAITER)}"}

    async def traffic() -> None:
        async with httpx.AsyncClient(base_url=survivor.url, headers=headers, timeout=WAIT) as http:
            for n in range(60):
                fired.append(await _fire_over_http(http))
                if n == 20:
                    doomed.kill()
                    killed.set()

    load = asyncio.create_task(traffic())
    received: dict[int, list[str]] = {i: [] for i in range(len(screens))}
    resumed: list[HubClient] = []
    for i, screen in enumerate(screens):
        await screen.wait_closed(4 * WAIT)
        while not screen.events.empty():
            received[i].append(screen.events.get_nowait()["data"]["ticket"]["order_id"])
        again = await HubClient.connect(survivor.ws_url, _token(rid, Role.KITCHEN, stations=["grill"]))
        answer = await again.subscribe("kitchen:grill", since=screen.offset, epoch=screen.epoch)
        assert answer["recovered"] is True
        resumed.append(again)
    await asyncio.wait_for(load, 6 * WAIT)
    assert killed.is_set()
    try:
        for i, client in enumerate(resumed):
            while len(received[i]) < len(fired):
                event = await client.next_event(WAIT)
                received[i].append(event["data"]["ticket"]["order_id"])
            assert received[i] == fired  # every ticket, in order, none twice
            assert client.events.empty()
    finally:
        for client in resumed:
            await client.close()
