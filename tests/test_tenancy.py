"""Tenants and roles: the restaurant comes from the token, and each role runs and reads only what DESIGN.md allows."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from fireflow.clients.python import HubClient, HubError
from fireflow.hub.commands.registry import PUBLIC
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import WAIT, RunningHub, Servers, seed
from tests.helpers import events_until


@dataclass
class Restaurants:
    """Restaurant A (``hub.rid``) with a fired dine-in order on T1 (L1 burger, L2 fries, L3 water) and
    restaurant B (``rid_b``) on the same hub node, with nothing yet."""

    hub: RunningHub
    redis: Redis
    rid_b: str
    order_a: str

    def stream(self, rid: str) -> str:
        return f"ff:{{{rid}}}:events"

    async def state(self) -> dict[str, Any]:
        """What a refused command could harm in either restaurant: A's order and tables, B's orders and tables, both streams."""
        async with self.hub.http(Role.MANAGER) as a, self.hub.http(Role.MANAGER, rid=self.rid_b) as b:
            return {
                "order_a": (await a.get(f"/api/v1/orders/{self.order_a}")).json()["order"],
                "orders_a": (await a.get("/api/v1/orders")).json(),
                "tables_a": (await a.get("/api/v1/tables")).json(),
                "orders_b": (await b.get("/api/v1/orders")).json(),
                "tables_b": (await b.get("/api/v1/tables")).json(),
                "stream_a": await self.redis.xlen(self.stream(self.hub.rid)),
                "stream_b": await self.redis.xlen(self.stream(self.rid_b)),
            }

    async def client_b(self, role: Role = Role.WAITER, **kw: Any) -> HubClient:
        return await self.hub.client(role, rid=self.rid_b, **kw)


@pytest.fixture
async def two(hub: RunningHub, redis: Redis, servers: Servers) -> Restaurants:
    rid_b = "rb" + hub.rid[1:]
    await seed(servers, rid_b)
    waiter = await hub.client(Role.WAITER)
    ack = await waiter.command("order.open", {"type": "DINE_IN", "table_id": "T1", "guests": 2})
    order_a = ack["result"]["order"]["id"]
    for item in ("burger", "fries", "water"):
        await waiter.command("order.add_item", {"order_id": order_a, "menu_item_id": item})
    await waiter.command("order.fire", {"order_id": order_a})
    return Restaurants(hub, redis, rid_b, order_a)


def warnings_from(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]


# --- tenants ------------------------------------------------------------------------------------


async def test_another_restaurants_order_cannot_be_read_over_http(
    two: Restaurants, caplog: pytest.LogCaptureFixture
) -> None:
    """B's token gets 403 WRONG_TENANT for A's order, never sees it in lists, and the attempt is logged with B's id."""
    caplog.set_level(logging.WARNING, logger="fireflow.hub.transports.http_api")
    async with two.hub.http(Role.MANAGER, rid=two.rid_b, device="mgr-b") as b:
        r = await b.get(f"/api/v1/orders/{two.order_a}")
        assert (r.status_code, r.json()["code"]) == (403, ErrorCode.WRONG_TENANT.value)
        assert two.order_a not in r.text
        assert (await b.get("/api/v1/orders")).json()["orders"] == []
        tables_b = (await b.get("/api/v1/tables")).json()["tables"]
        assert {t["status"] for t in tables_b} == {"FREE"}
    async with two.hub.http(Role.MANAGER) as a:
        assert (await a.get(f"/api/v1/orders/{two.order_a}")).status_code == 200
    (logged,) = warnings_from(caplog, "fireflow.hub.transports.http_api")
    assert "tenant" in logged and two.rid_b in logged and "mgr-b" in logged and two.order_a in logged


async def test_another_restaurants_order_cannot_be_changed(two: Restaurants, caplog: pytest.LogCaptureFixture) -> None:
    """Every command on A's order from B's devices, over WebSocket and HTTP, gets WRONG_TENANT, is logged, changes nothing."""
    caplog.set_level(logging.WARNING, logger="fireflow.hub.commands.bus")
    before = await two.state()
    a = {"order_id": two.order_a}
    attempts = [
        (Role.WAITER, (), "order.add_item", {**a, "menu_item_id": "burger"}),
        (Role.WAITER, (), "order.change_item", {**a, "line_id": "L1", "quantity": 5}),
        (Role.WAITER, (), "order.remove_item", {**a, "line_id": "L1"}),
        (Role.WAITER, (), "order.fire", a),
        (Role.CASHIER, (), "order.cancel", a),
        (Role.KITCHEN, ("grill",), "item.start", {**a, "line_id": "L1"}),
        (Role.KITCHEN, ("grill",), "item.done", {**a, "line_id": "L1"}),
        (Role.MANAGER, (), "item.serve", {**a, "line_id": "L3"}),
    ]
    for role, stations, command_type, data in attempts:
        client = await two.client_b(role, stations=stations, encoding="msgpack" if role is Role.KITCHEN else "json")
        with pytest.raises(HubError) as err:
            await client.command(command_type, data, timeout=WAIT)
        assert err.value.code == ErrorCode.WRONG_TENANT, (command_type, err.value.frame)
        assert two.order_a not in str(err.value.frame.get("details"))
    async with two.hub.http(Role.MANAGER, rid=two.rid_b) as b:
        for method, path, body in [
            ("POST", f"/api/v1/orders/{two.order_a}/items", {"menu_item_id": "burger"}),
            ("POST", f"/api/v1/orders/{two.order_a}/fire", {}),
            ("POST", f"/api/v1/orders/{two.order_a}/cancel", {}),
            ("POST", f"/api/v1/orders/{two.order_a}/items/L1/done", {}),
            ("PATCH", f"/api/v1/orders/{two.order_a}/items/L1", {"quantity": 2}),
        ]:
            r = await b.request(method, path, json=body)
            assert (r.status_code, r.json()["code"]) == (403, ErrorCode.WRONG_TENANT.value), path
    assert await two.state() == before
    logged = warnings_from(caplog, "fireflow.hub.commands.bus")
    assert len(logged) == len(attempts) + 5
    assert all("tenant" in m and two.rid_b in m for m in logged)
    assert {t for _, _, t, _ in attempts} <= {m.rpartition("command=")[2] for m in logged}


async def test_a_command_id_is_per_restaurant(two: Restaurants) -> None:
    """B reusing a command id A already used gets its own fresh result, never A's stored one."""
    waiter_a = await two.hub.client(Role.WAITER)
    waiter_b = await two.client_b(Role.WAITER)
    data = {"type": "TAKEAWAY"}
    ack_a = await waiter_a.command("order.open", data, id="shared-1")
    ack_b = await waiter_b.command("order.open", data, id="shared-1")
    id_a, id_b = ack_a["result"]["order"]["id"], ack_b["result"]["order"]["id"]
    assert id_a.startswith(two.hub.rid + ".") and id_b.startswith(two.rid_b + ".")
    async with two.hub.http(Role.MANAGER, rid=two.rid_b) as b:
        assert [o["id"] for o in (await b.get("/api/v1/orders")).json()["orders"]] == [id_b]


async def test_another_restaurants_order_channel_cannot_be_subscribed(
    two: Restaurants, caplog: pytest.LogCaptureFixture
) -> None:
    """Subscribing to order:<A's id> with B's token gets WRONG_TENANT (logged); the other channels of that frame are not joined."""
    caplog.set_level(logging.WARNING, logger="fireflow.hub.live.subscriptions")
    manager_b = await two.client_b(Role.MANAGER, device="mgr-b")
    for channels in ([f"order:{two.order_a}"], ["orders", f"order:{two.order_a}"]):
        with pytest.raises(HubError) as err:
            await manager_b.subscribe(*channels)
        assert err.value.code == ErrorCode.WRONG_TENANT
        assert err.value.frame["details"] == {"channel": f"order:{two.order_a}"}
    logged = warnings_from(caplog, "fireflow.hub.live.subscriptions")
    assert len(logged) == 2 and all(two.rid_b in m and "mgr-b" in m and two.order_a in m for m in logged)
    # "orders" was refused with the rest of the frame: B's next order opens on "tables" first, not "orders".
    await manager_b.subscribe("tables")
    waiter_b = await two.client_b(Role.WAITER)
    await waiter_b.command("order.open", {"type": "DINE_IN", "table_id": "T3", "guests": 2})
    assert (await manager_b.next_event(WAIT))["type"] == "TABLE_STATUS_CHANGED"


async def test_b_screens_never_receive_a_events(two: Restaurants) -> None:
    """With A and B firing on one node, B's grill, expo and orders screens only get B's events, live and on resume."""
    grill_a = await two.hub.kitchen("grill")
    await grill_a.subscribe("kitchen:grill")
    grill_b = await two.client_b(Role.KITCHEN, stations=("grill",), device="kds-b")
    expo_b = await two.client_b(Role.EXPO, stations=("*",))
    manager_b = await two.client_b(Role.MANAGER)
    await grill_b.subscribe("kitchen:grill")
    await expo_b.subscribe("expo")
    await manager_b.subscribe("orders", "tables")
    waiter_a, waiter_b = await two.hub.client(Role.WAITER), await two.client_b(Role.WAITER)
    orders = {}
    for name, waiter in (("a", waiter_a), ("b", waiter_b)):
        ack = await waiter.command("order.open", {"type": "DINE_IN", "table_id": "T5", "guests": 2})
        orders[name] = ack["result"]["order"]["id"]
        await waiter.command("order.add_item", {"order_id": orders[name], "menu_item_id": "burger"})
        await waiter.command("order.fire", {"order_id": orders[name]})
        if name == "a":  # A's ticket has reached A's grill before B fires
            (ticket,) = await events_until(grill_a, 1, WAIT, "NEW_KITCHEN_ORDER")
            assert ticket["data"]["ticket"]["order_id"] == orders["a"]
    assert (await grill_b.next_event(WAIT))["data"]["ticket"]["order_id"] == orders["b"]
    assert (await expo_b.next_event(WAIT))["data"]["ticket"]["order_id"] == orders["b"]
    first = await manager_b.next_event(WAIT)
    assert first["type"] == "ORDER_OPENED" and first["data"]["order"]["id"] == orders["b"]
    late_b = await two.client_b(Role.KITCHEN, stations=("grill",), device="kds-b2")
    answer = await late_b.subscribe("kitchen:grill", since=0)
    assert answer["recovered"] is True
    assert [e["data"]["ticket"]["order_id"] for e in answer["replayed"]] == [orders["b"]]
    fresh_b = await two.client_b(Role.KITCHEN, stations=("grill",), device="kds-b3")
    snapshot = (await fresh_b.subscribe("kitchen:grill"))["snapshot"]["kitchen:grill"]
    assert [t["order_id"] for t in snapshot["tickets"]] == [orders["b"]]


# --- roles --------------------------------------------------------------------------------------


async def test_a_waiter_cannot_mark_items_done(two: Restaurants) -> None:
    """item.done from a waiter gets FORBIDDEN over WebSocket and HTTP and changes nothing."""
    before = await two.state()
    waiter = await two.hub.client(Role.WAITER)
    with pytest.raises(HubError) as err:
        await waiter.command("item.done", {"order_id": two.order_a, "line_id": "L1"}, timeout=WAIT)
    assert err.value.code == ErrorCode.FORBIDDEN
    async with two.hub.http(Role.WAITER) as http:
        r = await http.post(f"/api/v1/orders/{two.order_a}/items/L1/done")
        assert (r.status_code, r.json()["code"]) == (403, ErrorCode.FORBIDDEN.value)
    assert await two.state() == before


async def test_a_kitchen_device_acts_only_on_its_stations_items(two: Restaurants) -> None:
    """A grill device gets FORBIDDEN starting or finishing the fry line, over both transports, but can finish the burger."""
    before = await two.state()
    grill = await two.hub.kitchen("grill")
    for command_type in ("item.start", "item.done"):
        with pytest.raises(HubError) as err:
            await grill.command(command_type, {"order_id": two.order_a, "line_id": "L2"}, timeout=WAIT)
        assert err.value.code == ErrorCode.FORBIDDEN, command_type
    async with two.hub.http(Role.KITCHEN, stations=("grill",)) as http:
        r = await http.post(f"/api/v1/orders/{two.order_a}/items/L2/done")
        assert (r.status_code, r.json()["code"]) == (403, ErrorCode.FORBIDDEN.value)
    assert await two.state() == before
    ack = await grill.command("item.done", {"order_id": two.order_a, "line_id": "L1"}, timeout=WAIT)
    lines = {i["id"]: i["status"] for i in ack["result"]["order"]["items"]}
    assert lines == {"L1": "DONE", "L2": "PENDING", "L3": "DONE"}


async def test_a_kitchen_device_reads_only_its_stations(two: Restaurants) -> None:
    """A grill device may subscribe kitchen:grill and board, and gets FORBIDDEN for kitchen:fry, orders and tables."""
    grill = await two.hub.kitchen("grill")
    for channel in ("kitchen:fry", "orders", "tables", "expo", "manager"):
        with pytest.raises(HubError) as err:
            await grill.subscribe(channel)
        assert err.value.code == ErrorCode.FORBIDDEN, channel
    answer = await grill.subscribe("kitchen:grill", "board")
    assert [t["order_id"] for t in answer["snapshot"]["kitchen:grill"]["tickets"]] == [two.order_a]


async def test_a_display_only_reads(two: Restaurants) -> None:
    """A display gets FORBIDDEN for every command over both transports, changes nothing, and can subscribe to board."""
    before = await two.state()
    display = await two.hub.client(Role.DISPLAY)
    for command_type in PUBLIC:
        with pytest.raises(HubError) as err:
            await display.command(command_type, {"order_id": two.order_a, "line_id": "L1"}, timeout=WAIT)
        assert err.value.code == ErrorCode.FORBIDDEN, command_type
    async with two.hub.http(Role.DISPLAY) as http:
        r = await http.post("/api/v1/orders", json={"type": "TAKEAWAY"})
        assert (r.status_code, r.json()["code"]) == (403, ErrorCode.FORBIDDEN.value)
        assert (await http.get("/api/v1/tables")).status_code == 200
    assert await two.state() == before
    answer = await display.subscribe("board")
    assert answer["snapshot"]["board"] == {"preparing": [], "ready": [], "estimates": {}}
    with pytest.raises(HubError) as err:
        await display.subscribe("orders")
    assert err.value.code == ErrorCode.FORBIDDEN


async def test_http_reads_follow_the_channel_rules(two: Restaurants) -> None:
    """GET routes allow what the role may subscribe to: a display or kitchen never reads orders (customer data) over HTTP."""
    async with two.hub.http(Role.WAITER) as waiter:
        r = await waiter.post("/api/v1/orders", json={"type": "DELIVERY", "phone": "5550199", "address": "1 Secret Rd"})
        delivery = r.json()["result"]["order"]["id"]
    reads = {"orders": "/api/v1/orders", "order": f"/api/v1/orders/{delivery}", "tables": "/api/v1/tables"}
    allowed = {
        Role.WAITER: {"orders", "order", "tables"},
        Role.CASHIER: {"orders", "order", "tables"},
        Role.MANAGER: {"orders", "order", "tables"},
        Role.DISPATCHER: {"orders", "order"},
        Role.EXPO: {"order", "tables"},
        Role.DISPLAY: {"tables"},
        Role.KITCHEN: set(),
        Role.RIDER: set(),
    }
    for role, may in allowed.items():
        async with two.hub.http(role, stations=("grill",) if role is Role.KITCHEN else ()) as http:
            for name, path in reads.items():
                r = await http.get(path)
                if name in may:
                    assert r.status_code == 200, (role, path, r.text)
                else:
                    assert (r.status_code, r.json()["code"]) == (403, ErrorCode.FORBIDDEN.value), (role, path)
                    assert "5550199" not in r.text and "Secret" not in r.text
            assert (await http.get("/api/v1/menu")).json()["menu"]["stations"] == ["grill", "fry", "cold", "bar"]


async def test_unknown_channels_get_unknown_channel(hub: RunningHub) -> None:
    """A channel kind that does not exist, or a parameter missing or extra, gets UNKNOWN_CHANNEL for every role."""
    for role in (Role.MANAGER, Role.WAITER, Role.DISPLAY):
        client = await hub.client(role)
        for channel in ("nonsense", "kitchen", "order", "orders:all", "board:tv1", "nonsense:x"):
            with pytest.raises(HubError) as err:
                await client.subscribe(channel)
            assert err.value.code == ErrorCode.UNKNOWN_CHANNEL, (role, channel)
            assert err.value.frame["details"] == {"channel": channel}


async def test_riders_and_waiters_read_only_their_own_channel(hub: RunningHub) -> None:
    """A rider may read rider:<own device> only, and a waiter waiter:<own device> only."""
    rider = await hub.client(Role.RIDER, device="rider-7")
    waiter = await hub.client(Role.WAITER, device="w-7")
    for client, own, other in ((rider, "rider:rider-7", "rider:rider-8"), (waiter, "waiter:w-7", "waiter:w-8")):
        with pytest.raises(HubError) as err:
            await client.subscribe(other)
        assert err.value.code == ErrorCode.FORBIDDEN
        assert (await client.subscribe(own))["channels"] == [own]


async def test_only_cashiers_and_managers_cancel(two: Restaurants) -> None:
    """A waiter's order.cancel gets FORBIDDEN and changes nothing; a cashier's cancels the order and frees its table."""
    before = await two.state()
    waiter = await two.hub.client(Role.WAITER)
    with pytest.raises(HubError) as err:
        await waiter.command("order.cancel", {"order_id": two.order_a, "reason": "test"}, timeout=WAIT)
    assert err.value.code == ErrorCode.FORBIDDEN
    async with two.hub.http(Role.WAITER) as http:
        r = await http.post(f"/api/v1/orders/{two.order_a}/cancel", json={"reason": "test"})
        assert (r.status_code, r.json()["code"]) == (403, ErrorCode.FORBIDDEN.value)
    assert await two.state() == before
    cashier = await two.hub.client(Role.CASHIER)
    ack = await cashier.command("order.cancel", {"order_id": two.order_a, "reason": "guest left"}, timeout=WAIT)
    assert ack["result"]["order"]["status"] == "CANCELLED"
    async with two.hub.http(Role.CASHIER) as http:
        tables = {t["id"]: t for t in (await http.get("/api/v1/tables")).json()["tables"]}
    assert tables["T1"]["status"] == "FREE" and tables["T1"]["order_id"] is None


async def test_cross_tenant_attempts_are_written_to_the_audit_log(two: Restaurants, servers: Servers) -> None:
    """A command and an HTTP read of A's order by B's devices each leave a TENANT_VIOLATION row: device, restaurant, what."""
    waiter_b = await two.client_b(Role.WAITER, device="waiter-b")
    with pytest.raises(HubError):
        await waiter_b.command("order.fire", {"order_id": two.order_a}, id="reach-1")
    async with two.hub.http(Role.MANAGER, rid=two.rid_b, device="mgr-b") as b:
        assert (await b.get(f"/api/v1/orders/{two.order_a}")).status_code == 403
    await asyncio.wait_for(two.hub.hub.audit.drained(), WAIT)
    conn = await asyncpg.connect(servers.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT actor, role, action, entity, entity_id, details FROM audit_log WHERE restaurant_id = $1 ORDER BY id",
            two.rid_b,
        )
    finally:
        await conn.close()
    assert [(r["actor"], r["role"], r["action"], r["entity"], r["entity_id"]) for r in rows] == [
        ("waiter-b", "WAITER", "TENANT_VIOLATION", "command", "order.fire"),
        ("mgr-b", "MANAGER", "TENANT_VIOLATION", "read", f"/api/v1/orders/{two.order_a}"),
    ]
    assert json.loads(rows[0]["details"]) == {"command_id": "reach-1", "order_id": two.order_a}
    assert json.loads(rows[1]["details"]) == {"order_id": two.order_a}
