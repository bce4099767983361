"""Riders' positions against the real servers: kept in Redis, pushed lossily to dispatchers, never events."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import orjson
from redis.asyncio import Redis

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from fireflow.hub.transports.tokens import mint
from fireflow.schema.commands import DeliveryCommand
from fireflow.schema.protocol import ErrorCode, Positions
from tests.conftest import SECRET, WAIT, RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import ready_delivery
from tests.test_ws import DeafPeer

HOME = (12.9716, 77.5946)


def fix(n: int, *, at: int | None = None, accuracy: float | None = 5.0) -> dict[str, Any]:
    """The ``n``-th fix of a rider riding north-east from HOME, about 150 m a step."""
    frame: dict[str, Any] = {"op": "position", "lat": HOME[0] + n * 0.001, "lon": HOME[1] + n * 0.001}
    frame["at"] = at if at is not None else int(time.time() * 1000) + n
    if accuracy is not None:
        frame["accuracy"] = accuracy
    return frame


async def settled(client: HubClient) -> None:
    """Every frame ``client`` sent before this has been handled by the hub (its socket's frames go in order)."""
    await client.send({"op": "ping", "t": 7})
    answer = await client.reply(WAIT)
    assert answer == {"op": "pong", "t": 7}, answer


async def positions_of(client: HubClient, rider: str) -> dict[str, Any]:
    """The first positions frame ``client`` gets with ``rider``'s fix in it; that fix."""

    async def wait() -> dict[str, Any]:
        while True:
            frame = await client.positions.get()
            Positions.model_validate(frame)  # the frame schema/protocol.py promises
            for found in frame["riders"]:
                if found["rider"] == rider:
                    return dict(found)

    return await asyncio.wait_for(wait(), WAIT)


async def kept(client: HubClient, rider: str, at: int) -> None:
    """Wait until ``client`` (on ``dispatch``) is told of ``rider``'s fix taken at ``at``: the hub has kept it."""
    while (await positions_of(client, rider))["at"] != at:
        pass


def counted(hub: RunningHub, outcome: str) -> float:
    value: float = hub.hub.metrics.positions.labels(outcome)._value.get()
    return value


async def test_a_riders_fix_reaches_its_restaurants_dispatchers_only(hub: RunningHub, servers: Servers) -> None:
    """A fix reaches dispatch sockets (JSON and msgpack, a manager's too) as a positions frame; not the kitchen,
    not the rider, not another restaurant's dispatcher."""
    dispatcher = await hub.client(Role.DISPATCHER)
    manager = await hub.client(Role.MANAGER, encoding="msgpack")
    kitchen = await hub.kitchen("grill")
    rider = await hub.client(Role.RIDER, device="rider-1")
    other_rid = hub.rid + "x"
    await seed(servers, other_rid)
    elsewhere = await hub.client(Role.DISPATCHER, rid=other_rid, device="dispatcher-9")
    their_rider = await hub.client(Role.RIDER, rid=other_rid, device="rider-9")
    for client, channel in ((dispatcher, "dispatch"), (manager, "dispatch"), (kitchen, "kitchen:grill")):
        await client.subscribe(channel)
    await rider.subscribe("rider:rider-1")
    await elsewhere.subscribe("dispatch")
    for client in (kitchen, rider, elsewhere):
        client.trace = []

    sent = fix(1)
    await rider.send(sent)
    got = await positions_of(dispatcher, "rider-1")
    assert got == {
        "rider": "rider-1",
        "lat": sent["lat"],
        "lon": sent["lon"],
        "accuracy": 5.0,
        "at": sent["at"],
        "speed": None,
    }
    assert await positions_of(manager, "rider-1") == got

    await their_rider.send(fix(2))
    theirs = await positions_of(elsewhere, "rider-9")
    assert theirs["rider"] == "rider-9"
    await settled(kitchen)
    await settled(rider)
    for client in (kitchen, rider, elsewhere):
        assert client.trace is not None
        assert not [f for f in client.trace if "rider-1" in str(f)], client.trace
    assert dispatcher.positions.empty() or "rider-9" not in str(dispatcher.positions.get_nowait())


async def test_a_fix_is_no_event_and_is_never_replayed(hub: RunningHub, redis: Redis) -> None:
    """Fixes leave the stream's length and offset as they were, and a resume from the old offset replays nothing."""
    dispatcher = await hub.client(Role.DISPATCHER)
    first = await dispatcher.subscribe("dispatch")
    offset, epoch = first["offset"], first["epoch"]
    length = await redis.xlen(Keys(hub.rid).stream)
    rider = await hub.client(Role.RIDER, device="rider-1")
    await rider.send(fix(1))
    await positions_of(dispatcher, "rider-1")
    assert await redis.xlen(Keys(hub.rid).stream) == length
    assert int(await redis.get(Keys(hub.rid).seq) or 0) == offset
    again = await hub.client(Role.DISPATCHER, device="dispatcher-2")
    resumed = await again.subscribe("dispatch", since=offset, epoch=epoch)
    assert (resumed["recovered"], resumed["replayed"], resumed["offset"]) == (True, [], offset)
    assert dispatcher.events.empty() and again.events.empty()
    assert (await rider.subscribe("rider:rider-1"))["offset"] == offset


async def test_the_throttle_drops_a_burst(hub: RunningHub, redis: Redis) -> None:
    """Ten fixes at once: the first is taken, nine are dropped and counted; the trail holds one fix."""
    rider, dispatcher = await hub.client(Role.RIDER, device="rider-1"), await hub.client(Role.DISPATCHER)
    await dispatcher.subscribe("dispatch")
    throttled = counted(hub, "throttled")
    now = int(time.time() * 1000)
    for n in range(10):
        await rider.send(fix(n, at=now + n))
    await settled(rider)
    assert counted(hub, "throttled") - throttled == 9
    assert rider.errors.empty()
    await kept(dispatcher, "rider-1", now)
    assert await redis.llen(Keys(hub.rid).rider_trail("rider-1")) == 1
    latest = orjson.loads(await redis.hget(Keys(hub.rid).rider_positions, "rider-1"))
    assert latest["at"] == now


async def test_a_device_that_is_no_rider_is_refused(hub: RunningHub) -> None:
    """A dispatcher's fix is FORBIDDEN with one line; a fix with a latitude of 200 is INVALID_FRAME; the socket lives."""
    dispatcher = await hub.client(Role.DISPATCHER)
    await dispatcher.send(fix(1))
    refused = await dispatcher.reply(WAIT)
    assert (refused["op"], refused["code"]) == ("error", ErrorCode.FORBIDDEN), refused
    assert "\n" not in refused["message"] and "rider" in refused["message"]
    rider = await hub.client(Role.RIDER, device="rider-1")
    await rider.send(fix(1) | {"lat": 200})
    invalid = await rider.reply(WAIT)
    assert (invalid["op"], invalid["code"]) == ("error", ErrorCode.INVALID_FRAME), invalid
    await rider.send({"op": "position", "lat": 1.0, "lon": 2.0})  # no "at"
    assert (await rider.reply(WAIT))["code"] == ErrorCode.INVALID_FRAME
    await settled(rider)
    await settled(dispatcher)


async def test_the_dispatch_snapshot_has_the_latest_fix_and_a_capped_trail(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Eight fixes with a trail of five: a dispatcher who connects sees the latest and the five newest, newest first."""
    await seed(servers, rid)
    settings = settings_for(servers, position_interval=1e-6, position_trail=5)
    async with serve_in_process(settings, rid) as hub:
        rider, watching = await hub.client(Role.RIDER, device="rider-1"), await hub.client(Role.DISPATCHER)
        await watching.subscribe("dispatch")
        start = int(time.time() * 1000)
        sent = [fix(n, at=start + 1000 * n) for n in range(8)]
        for frame in sent:
            await rider.send(frame)
            await kept(watching, "rider-1", frame["at"])  # each in a trail of its own
        view = (await (await hub.client(Role.DISPATCHER)).subscribe("dispatch"))["snapshot"]["dispatch"]
        (only,) = view["positions"]
        last = sent[-1]
        assert (only["rider"], only["lat"], only["lon"], only["at"]) == (
            "rider-1",
            last["lat"],
            last["lon"],
            last["at"],
        )
        assert 100 < only["speed"] < 200  # ~157 m in a second
        assert only["trail"] == [[f["lat"], f["lon"], f["at"]] for f in reversed(sent[-5:])]
        assert 0 < await redis.pttl(Keys(rid).rider_trail("rider-1")) <= settings.position_ttl * 1000
        assert 0 < await redis.pttl(Keys(rid).rider_positions) <= settings.position_ttl * 1000


async def test_a_dispatcher_that_stops_reading_misses_positions_and_stays_open(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """A dispatcher that stops reading: positions frames for it are dropped (counted) once a few wait, its queue
    stays at that bound, it is not closed; a reading dispatcher gets them all the while."""
    await seed(servers, rid)
    settings = settings_for(servers, queue_limit=64, position_queue=8, position_window=0.05, heartbeat=60.0)
    async with serve_in_process(settings, rid) as hub:
        reading = await hub.client(Role.DISPATCHER)
        await reading.subscribe("dispatch")
        peer = DeafPeer(hub.ws_url)
        await peer.open(hub.token(Role.DISPATCHER, device="dispatcher-deaf"), "dispatch")
        (conn,) = [c for c in hub.hub.connections if c.actor and c.actor.device_id == "dispatcher-deaf"]
        frames = hub.hub.metrics.position_frames
        longest = 0
        channel = Keys(rid).positions_channel
        at = int(time.time() * 1000)
        for burst in range(400):  # 3000 riders' fixes of ~90 bytes per burst: a ~270 KiB frame per window
            fixes = [
                {"rider": f"r{n}", "lat": 1.0, "lon": 2.0, "accuracy": None, "at": at + burst, "speed": None}
                for n in range(3000)
            ]
            await redis.publish(channel, orjson.dumps(fixes))  # as the hub publishes a batch of fixes it kept
            await positions_of(reading, "r2999")
            longest = max(longest, len(conn.outbox or ()))
            if frames.labels("dropped")._value.get() >= 5:
                break
        assert frames.labels("dropped")._value.get() >= 5
        assert longest <= 8 and len(conn.outbox or ()) <= 8
        assert conn.open and conn.close_code is None
        peer.close()


async def _event(client: HubClient, type_: str) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            event = await client.events.get()
            if event["type"] == type_:
                return event

    return await asyncio.wait_for(wait(), WAIT)


async def test_an_order_out_gets_an_eta_from_its_riders_fixes_and_one_late_alert(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """Out for delivery 3 km away, promised in 2 minutes: the ETA check (30 s after pickup, forced due here) stores
    an ETA from the rider's fixes and speed, raises DELIVERY_LATE once to dispatch and the manager, and stops
    once the order is delivered."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, position_interval=1e-6), rid) as hub:
        now = int(time.time() * 1000)
        where = {"location": {"lat": HOME[0] + 0.027, "lon": HOME[1]}, "promised_at": now + 120_000}
        order_id = await ready_delivery(hub, 1, prepaid=True, **where)
        dispatcher, manager = await hub.client(Role.DISPATCHER), await hub.client(Role.MANAGER)
        await dispatcher.subscribe("dispatch")
        await manager.subscribe("manager")
        rider = await hub.client(Role.RIDER, device="rider-1")
        await dispatcher.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"})
        picked = await rider.command("delivery.pickup", {"order_id": order_id})
        assert picked["result"]["order"]["delivery"]["eta"] is None
        member = f"eta|{order_id}"
        due = await redis.zscore(Keys(rid).due, member)
        assert due is not None and 29_000 <= due - now <= 30_000 + WAIT * 1000

        for n in range(4):  # 40 m every 10 s: 4 m/s
            await rider.send({"op": "position", "lat": HOME[0] + n * 0.00036, "lon": HOME[1], "at": now + n * 10_000})
            await kept(dispatcher, "rider-1", now + n * 10_000)
        await redis.zadd(Keys(rid).due, {member: 0})  # due now: the hub's timer runs it within a tick

        told = (await _event(dispatcher, "DELIVERY_ETA"))["data"]
        assert told["order_id"] == order_id and told["rider"] == "rider-1"
        assert abs(told["speed"] - 4.0) < 0.2 and 2_800 < told["distance_m"] < 3_000
        expected = 2_900 * 1.3 / 4.0 * 1000
        assert abs(told["eta"] - int(time.time() * 1000) - expected) < 0.1 * expected
        for client in (dispatcher, manager):
            late = (await _event(client, "DELIVERY_LATE"))["data"]
            assert late["alert"]["kind"] == "DELIVERY_LATE" and late["eta"] == told["eta"]
            assert re.fullmatch(
                r"order \d+: ETA \d\d:\d\d, promised \d\d:\d\d; rider rider-1 2\.\d km away at 14 km/h",
                late["alert"]["message"],
            ), late["alert"]["message"]
        async with hub.http(Role.DISPATCHER) as http:
            trip = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]["delivery"]
        assert trip["eta"] == told["eta"] and trip["late_at"] is not None
        assert (await redis.zscore(Keys(rid).due, member) or 0) > now  # checked again in 30 s

        length = await redis.xlen(Keys(rid).stream)
        again = await hub.hub.bus.execute_internal(
            rid, "eta-again", "delivery.check_eta", DeliveryCommand(order_id=order_id)
        )
        assert again.result["late"] is True  # no second alert, and no ETA event: it barely moved
        assert await redis.xlen(Keys(rid).stream) == length

        await rider.command("delivery.deliver", {"order_id": order_id})
        stopped = await hub.hub.bus.execute_internal(
            rid, "eta-last", "delivery.check_eta", DeliveryCommand(order_id=order_id)
        )
        assert stopped.result["checking"] is False
        assert await redis.zscore(Keys(rid).due, member) is None


async def test_a_fix_sent_to_one_node_reaches_a_dispatcher_on_another(
    nodes: Any, servers: Servers, rid: str, redis: Redis
) -> None:
    """Two hub processes on one Redis: a rider on node A, dispatchers on A and B: both get the fix."""
    await seed(servers, rid)
    a, b = await nodes(), await nodes()
    clients = []
    try:
        for node, role, device in ((a, Role.DISPATCHER, "dispatcher-a"), (b, Role.DISPATCHER, "dispatcher-b")):
            client = await HubClient.connect(node.ws_url, mint(SECRET, rid, role, device=device))
            clients.append(client)
            await client.subscribe("dispatch")
        rider = await HubClient.connect(a.ws_url, mint(SECRET, rid, Role.RIDER, device="rider-1"))
        clients.append(rider)
        sent = fix(1)
        await rider.send(sent)
        for dispatcher in clients[:2]:
            assert (await positions_of(dispatcher, "rider-1"))["at"] == sent["at"]
    finally:
        for client in clients:
            await client.close()
