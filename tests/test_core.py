"""The hub core against real Redis and Postgres: kitchen path, idempotency, resume, slow consumers."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from websockets.client import ClientProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import events_until, fired_order, new_order


async def test_fire_over_http_reaches_each_station_screen_with_its_items(hub: RunningHub) -> None:
    """A fire made over HTTP reaches the grill and bar screens with only their lines, and expo with all."""
    grill, bar, expo = await hub.kitchen("grill"), await hub.kitchen("bar"), await hub.client(Role.EXPO)
    await grill.subscribe("kitchen:grill")
    await bar.subscribe("kitchen:bar")
    await expo.subscribe("expo")
    async with hub.http() as http:
        order = (await http.post("/api/v1/orders", json={"type": "DINE_IN", "table_id": "T2", "guests": 2})).json()
        order_id = order["result"]["order"]["id"]
        for item in ("burger", "mojito", "fries", "water"):
            r = await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": item})
            assert r.status_code == 200, r.text
        sent = time.perf_counter()
        assert (await http.post(f"/api/v1/orders/{order_id}/fire")).status_code == 200
    grill_event = await grill.next_event(WAIT)
    latency = time.perf_counter() - sent
    assert grill_event["type"] == "NEW_KITCHEN_ORDER"
    assert [i["menu_item_id"] for i in grill_event["data"]["ticket"]["lines"]] == ["burger"]
    assert latency < WAIT
    bar_event = await bar.next_event(WAIT)
    assert [i["menu_item_id"] for i in bar_event["data"]["ticket"]["lines"]] == ["mojito"]
    expo_events = await events_until(expo, 1, WAIT, "NEW_KITCHEN_ORDER")
    assert len(expo_events[0]["data"]["ticket"]["lines"]) == 4


async def test_order_ready_reaches_waiter_cashier_and_expo(hub: RunningHub) -> None:
    """Bumping the last item makes the order READY and ORDER_READY reaches waiter, cashier and expo channels."""
    waiter = await hub.client(Role.WAITER, device="w7")
    cashier = await hub.client(Role.CASHIER)
    expo = await hub.client(Role.EXPO)
    await waiter.subscribe("waiter:w7")
    await cashier.subscribe("cashier")
    await expo.subscribe("expo")
    order_id = await fired_order(waiter, "burger", "water")
    grill = await hub.kitchen("grill")
    await grill.command("item.start", {"order_id": order_id, "line_id": "L1"})
    ack = await grill.command("item.done", {"order_id": order_id, "line_id": "L1"})
    assert ack["result"]["order"]["status"] == "READY"
    for client in (waiter, cashier, expo):
        (ready,) = await events_until(client, 1, WAIT, "ORDER_READY")
        assert ready["data"]["order_id"] == order_id
    async with hub.http() as http:
        assert (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]["status"] == "READY"


async def test_msgpack_screens_get_the_same_events(hub: RunningHub) -> None:
    """A msgpack socket and a JSON socket receive the same event frame."""
    as_json = await hub.kitchen("grill")
    as_msgpack = await hub.kitchen("grill", encoding="msgpack")
    for client in (as_json, as_msgpack):
        await client.subscribe("kitchen:grill")
    waiter = await hub.client(Role.WAITER)
    await fired_order(waiter, "burger")
    assert await as_json.next_event(WAIT) == await as_msgpack.next_event(WAIT)


async def test_one_command_id_twenty_times_concurrently_has_one_effect(hub: RunningHub, redis: Redis) -> None:
    """The same command id sent 20 times at once: one line added, one set of events, 20 identical results."""
    opener = await hub.client(Role.WAITER)
    order_id = await new_order(opener)
    clients = [await hub.client(Role.WAITER) for _ in range(10)]
    stream = Keys(hub.rid).stream
    before = await redis.xlen(stream)
    data = {"order_id": order_id, "menu_item_id": "burger", "quantity": 2}
    async with hub.http() as http:
        ws_sends = [c.command("order.add_item", data, id="dup-1") for c in clients]
        http_sends = [
            http.post(f"/api/v1/orders/{order_id}/items", json=data, headers={"Idempotency-Key": "dup-1"})
            for _ in range(10)
        ]
        ws_acks, http_replies = await asyncio.gather(asyncio.gather(*ws_sends), asyncio.gather(*http_sends))
    results = [(a["offset"], a["result"]) for a in ws_acks]
    results += [(r.json()["offset"], r.json()["result"]) for r in http_replies]
    assert len(results) == 20
    assert all(r == results[0] for r in results)
    assert await redis.xlen(stream) == before + 1
    async with hub.http() as http:
        order = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]
    assert [(i["menu_item_id"], i["quantity"]) for i in order["items"]] == [("burger", 2)]


async def test_double_fire_with_one_id_sends_one_ticket(hub: RunningHub) -> None:
    """A fire retried with its id returns the first result and the screen sees one ticket."""
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    waiter, other = await hub.client(Role.WAITER), await hub.client(Role.CASHIER)
    order_id = await new_order(waiter, "burger")
    first, second = await asyncio.gather(
        waiter.command("order.fire", {"order_id": order_id}, id="fire-1"),
        other.command("order.fire", {"order_id": order_id}, id="fire-1"),
    )
    assert first == second
    marker = await fired_order(waiter, "burger")
    tickets = await events_until(grill, 2, WAIT)
    assert [t["data"]["ticket"]["order_id"] for t in tickets] == [order_id, marker]


async def test_resume_gets_exactly_the_missed_events_in_order(hub: RunningHub) -> None:
    """A screen away while 100 events happen gets exactly those 100 on resume, in order, once each."""
    screen = await hub.client(Role.CASHIER)
    await screen.subscribe("orders")
    last, epoch = screen.offset, screen.epoch
    await screen.close()
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter)
    for n in range(99):  # 1 ORDER_OPENED + 99 ORDER_UPDATED on "orders"
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries", "quantity": 1 + n % 5})
    back = await hub.client(Role.CASHIER)
    answer = await back.subscribe("orders", since=last, epoch=epoch)
    assert answer["recovered"] is True
    replayed = answer["replayed"]
    assert len(replayed) == 100
    offsets = [e["offset"] for e in replayed]
    assert offsets == sorted(set(offsets)) and offsets[0] > last
    assert [e["type"] for e in replayed] == ["ORDER_OPENED"] + ["ORDER_UPDATED"] * 99
    marker = await fired_order(waiter, "water")
    live = await back.next_event(WAIT)
    while live["offset"] <= offsets[-1]:  # replayed events are also queued by the client; skip them
        live = await back.next_event(WAIT)
    assert live["data"]["order"]["id"] == marker


async def test_resubscribing_a_held_channel_with_since_replays_its_events_again(hub: RunningHub) -> None:
    """A socket that sends `since` for a channel it already holds is resyncing it: the reply replays that channel's
    events after `since` (those it got live too), not an empty list flagged recovered."""
    screen = await hub.client(Role.CASHIER)
    await screen.subscribe("orders")
    since, epoch = screen.offset, screen.epoch
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter)
    for _ in range(4):
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})
    live = [e["offset"] for e in await events_until(screen, 5, WAIT)]
    answer = await screen.subscribe("orders", since=since, epoch=epoch)
    assert answer["recovered"] is True
    assert [e["offset"] for e in answer["replayed"]] == live
    assert [e["type"] for e in answer["replayed"]] == ["ORDER_OPENED"] + ["ORDER_UPDATED"] * 4


async def test_adding_channels_keeps_one_ordered_stream_per_socket(hub: RunningHub, redis: Redis) -> None:
    """Subscribing to more channels under traffic: every event once, in offset order, none behind the reply's offset after it."""
    cashier = await hub.client(Role.CASHIER)
    await cashier.subscribe("orders")
    cashier.trace = []
    start = cashier.offset
    waiter = await hub.client(Role.WAITER)
    opened = asyncio.Event()

    async def traffic() -> None:
        for n in range(40):
            await new_order(waiter, "burger")
            if n == 10:
                opened.set()

    load = asyncio.create_task(traffic())
    await opened.wait()
    reply = await cashier.subscribe("cashier", "tables", since=cashier.offset)
    await load
    seq = int(await redis.get(Keys(hub.rid).seq) or 0)
    stream = await redis.xrange(Keys(hub.rid).stream, "-", "+")
    expected = [int(i.partition(b"-")[0]) for i, f in stream if b"orders" in f[b"c"].split()]

    async def all_arrived() -> None:
        while cashier.offset < expected[-1]:
            await cashier.events.get()

    await asyncio.wait_for(all_arrived(), WAIT)
    assert seq >= expected[-1]
    frames = cashier.trace
    at = next(i for i, f in enumerate(frames) if f["op"] == "subscribed")
    live = [f["offset"] for f in frames if f["op"] == "event"]
    assert all(f["offset"] <= reply["offset"] for f in frames[:at] if f["op"] == "event")
    assert all(f["offset"] > reply["offset"] for f in frames[at + 1 :] if f["op"] == "event")
    assert live == sorted(set(live))
    assert [o for o in live if o in set(expected)] == [o for o in expected if o > start]


async def test_offset_older_than_history_gets_a_snapshot_flagged_not_recovered(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """With history 20, a client 100 events behind gets a snapshot and recovered=false; a wrong epoch too."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, history=20, rate=10_000.0, burst=10_000.0), rid) as hub:
        waiter = await hub.client(Role.WAITER)
        order_id = await new_order(waiter)
        for _ in range(100):
            await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})
        keys = Keys(rid)
        seq = int(await redis.get(keys.seq) or 0)

        async def persisted() -> None:  # trimming waits for the durable writer
            while int(await redis.get(keys.persisted) or 0) < seq:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(persisted(), WAIT)
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})
        assert await redis.xlen(keys.stream) <= 21
        screen = await hub.client(Role.CASHIER)
        answer = await screen.subscribe("orders", since=1)
        assert answer["recovered"] is False
        assert "replayed" not in answer
        (order,) = answer["snapshot"]["orders"]["orders"]
        assert order["id"] == order_id and len(order["items"]) == 101
        other = await hub.client(Role.CASHIER)
        reset = await other.subscribe("orders", since=seq, epoch="not-this-stream")
        assert reset["recovered"] is False and reset["snapshot"]["orders"]["orders"][0]["id"] == order_id


class StalledReader:
    """A WebSocket client that can stop reading its socket entirely (websockets' own clients keep reading)."""

    def __init__(self, url: str) -> None:
        self.protocol = ClientProtocol(parse_uri(url), subprotocols=[Subprotocol("fireflow.v1.json")])
        host, port = url.split("/")[2].split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        self.sock.setblocking(False)
        self.frames: list[Any] = []

    async def _flush(self) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, b"".join(self.protocol.data_to_send()))

    async def _read_until(self, done: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        while not done():
            data = await loop.sock_recv(self.sock, 65536)
            if not data:
                self.protocol.receive_eof()
                return
            self.protocol.receive_data(data)
            self.frames.extend(self.protocol.events_received())

    async def open(self) -> None:
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        await self._read_until(lambda: bool(self.frames))
        self.frames.clear()

    async def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a frame and read exactly until the answer arrives."""
        self.protocol.send_text(orjson.dumps(frame))
        await self._flush()
        await self._read_until(lambda: bool(self.frames))
        answer: dict[str, Any] = orjson.loads(self.frames.pop(0).data)
        return answer

    async def drain_to_close(self) -> int | None:
        await self._read_until(lambda: self.protocol.close_rcvd is not None)
        self.sock.close()
        return self.protocol.close_rcvd.code if self.protocol.close_rcvd else None


async def test_slow_consumer_is_dropped_while_others_keep_up(servers: Servers, redis: Redis, rid: str) -> None:
    """A socket that stops reading is closed with 4008; a healthy socket on the same channel gets every event promptly."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, queue_limit=32, rate=10_000.0, burst=10_000.0), rid) as hub:
        slow = StalledReader(hub.ws_url)
        await slow.open()
        assert (await slow.send({"op": "auth", "token": hub.token(Role.CASHIER, device="slow")}))["op"] == "welcome"
        assert (await slow.send({"op": "subscribe", "channels": ["expo", "orders"]}))["op"] == "subscribed"
        (slow_conn,) = [c for c in hub.hub.connections if c.actor and c.actor.device_id == "slow"]
        fast = await hub.client(Role.EXPO)
        await fast.subscribe("expo")
        waiter = await hub.client(Role.WAITER)
        latencies: list[float] = []
        note = "x" * 500
        for _ in range(100):  # `slow` reads nothing from here on; each order is ~300 KiB of events for it
            order_id = await new_order(waiter, *["burger"] * 20, notes=note)
            started = time.perf_counter()
            await waiter.command("order.fire", {"order_id": order_id})
            (event,) = await events_until(fast, 1, WAIT, "NEW_KITCHEN_ORDER")
            latencies.append(time.perf_counter() - started)
            assert event["data"]["ticket"]["order_id"] == order_id
            if slow_conn.close_code is not None:
                break
        assert slow_conn.close_code == 4008
        assert not slow_conn.outbox  # its queued frames were freed at once
        assert max(latencies) < WAIT
        assert await asyncio.wait_for(slow.drain_to_close(), WAIT) == 4008

        async def gone() -> None:  # its session ends once the close is through
            while slow_conn in hub.hub.connections:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(gone(), WAIT)
        closed = hub.hub.metrics.registry.get_sample_value("fireflow_sockets_closed_total", {"code": "4008"})
        assert closed == 1  # counted as a slow-consumer drop in /metrics
