"""Predicted ready times on a real hub: told at fire, moved by the queue, bumps and recalls, scored when ready."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import pytest
from redis.asyncio import Redis

from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.shares import SHARDS, shard_of
from fireflow.hub.forecast.prep_times import MIN_SEEN, PrepTimes
from fireflow.hub.live.keys import Keys, ShareKeys
from fireflow.hub.run.demo import demo_kitchen
from fireflow.hub.workers.predictions import Predictor
from tests.conftest import WAIT, RunningHub, Servers, seed, serve_in_process, settings_for

GRILL_S = demo_kitchen().station("grill").warn_after_s * 0.6  # what a grill line takes before anything is learned
FRY_S = demo_kitchen().station("fry").warn_after_s * 0.6


async def _predicted(client: HubClient, order_id: str) -> dict[str, Any]:
    """The next ORDER_PREDICTED about ``order_id`` (other events passed over)."""
    return (await _all_predicted(client, [order_id]))[order_id]


async def _all_predicted(client: HubClient, order_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The next ORDER_PREDICTED about each of ``order_ids``, in whatever order they come."""
    found: dict[str, dict[str, Any]] = {}

    async def wait() -> None:
        while len(found) < len(order_ids):
            event = await client.events.get()
            if event["type"] == "ORDER_PREDICTED" and event["data"]["order_id"] in order_ids:
                found.setdefault(event["data"]["order_id"], dict(event["data"]))

    await asyncio.wait_for(wait(), 4 * WAIT)
    return found


async def _bottleneck(expo: HubClient) -> dict[str, Any]:
    """The next STATION_BOTTLENECK alert expo hears (other events passed over)."""

    async def heard() -> dict[str, Any]:
        while True:
            event = await expo.events.get()
            if event["type"] == "KITCHEN_ALERT" and event["data"]["alert"]["kind"] == "STATION_BOTTLENECK":
                return dict(event["data"]["alert"])

    return await asyncio.wait_for(heard(), 4 * WAIT)


async def _fired(waiter: HubClient, *items: str) -> tuple[str, int]:
    order = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]
    for item in items:
        await waiter.command("order.add_item", {"order_id": order["id"], "menu_item_id": item})
    fired = (await waiter.command("order.fire", {"order_id": order["id"]}))["result"]["order"]
    return order["id"], int(fired["fired_at"])


async def test_a_fired_order_is_told_its_ready_time_by_station_to_the_cashier_and_the_board(
    predicting: RunningHub,
) -> None:
    waiter = await predicting.client("WAITER")
    cashier = await predicting.client("CASHIER")
    board = await predicting.client("DISPLAY")
    await cashier.subscribe("cashier")
    await board.subscribe("board")
    order_id, fired_at = await _fired(waiter, "burger", "fries", "water")
    fired_version = (await predicting.hub.store.order(predicting.rid, order_id)).version  # type: ignore[union-attr]

    told = await _predicted(cashier, order_id)
    stations = told["stations"]
    assert set(stations) == {"grill", "fry"}  # water needs no preparation
    assert abs(stations["grill"] - fired_at - GRILL_S * 1000) < 3000
    assert abs(stations["fry"] - fired_at - FRY_S * 1000) < 3000
    assert told["ready_at"] == max(stations.values())
    on_board = await _predicted(board, order_id)
    assert on_board["token"] is not None and on_board["ready_at"] == told["ready_at"]
    # the order keeps it: a board (or a till) that connects later has it in its snapshot
    later = await predicting.client("DISPLAY", device="board-2")
    snapshot = (await later.subscribe("board"))["snapshot"]["board"]
    assert snapshot["estimates"] == {str(on_board["token"]): told["ready_at"]}
    kept = await predicting.hub.store.order(predicting.rid, order_id)
    assert kept is not None and kept.predicted_ready_at == told["ready_at"]
    # a prediction is no change the waiter sees: one holding the version of the fire is not refused
    assert kept.version == fired_version
    more = {"order_id": order_id, "menu_item_id": "soda", "version": fired_version}
    order = (await waiter.command("order.add_item", more))["result"]["order"]
    assert order["version"] == fired_version + 1


async def test_the_queue_ahead_pushes_a_prediction_back_and_a_bump_brings_it_forward(predicting: RunningHub) -> None:
    waiter = await predicting.client("WAITER")
    cashier = await predicting.client("CASHIER")
    await cashier.subscribe("cashier")
    grill = await predicting.client("KITCHEN", device="kds-grill", stations=("grill",))
    ahead = [await _fired(waiter, "burger") for _ in range(2)]  # the grill's two hands are taken
    await _all_predicted(cashier, [order_id for order_id, _ in ahead])
    third, fired_at = await _fired(waiter, "burger")
    waiting = await _predicted(cashier, third)
    assert waiting["ready_at"] - fired_at > 1.8 * GRILL_S * 1000  # it waits for a free hand

    first_id = ahead[0][0]
    await grill.command("order.bump", {"order_id": first_id, "station": "grill"})
    sooner = await _predicted(cashier, third)  # a hand came free: the third starts now
    assert sooner["ready_at"] < waiting["ready_at"] - 60_000
    assert abs(sooner["ready_at"] - sooner["at"] - GRILL_S * 1000) < 3000

    # the bumped order was ready: scored against its first prediction, next to the naive guess
    async with predicting.http("MANAGER") as http:
        for _ in range(int(40 * WAIT)):
            stations = (await http.get("/api/v1/stats/predictions")).json()["stations"]
            if stations:
                break
            await asyncio.sleep(0.05)
    (row,) = stations
    assert row["station"] == "grill" and row["scored"] == 1
    assert row["mae_s"] == pytest.approx(GRILL_S, abs=3) and row["bias_s"] == pytest.approx(-GRILL_S, abs=3)
    assert row["naive_mae_s"] is not None and row["p90_s"] == row["mae_s"]

    # a recall puts the order back in the kitchen: predicted again, from now
    await grill.command("order.recall", {"order_id": first_id, "station": "grill"})
    again = await _predicted(cashier, first_id)
    assert again["ready_at"] > again["at"]


@pytest.mark.parametrize("durable", ["process", "off"])
async def test_a_node_with_a_background_process_predicts_there_and_hands_the_shards_on_when_it_stops(
    servers: Servers, redis: Redis, rid: str, durable: str
) -> None:
    """The child predicts, not the node's loop: beside the durable writer (``FIREFLOW_DURABLE=process``), or alone
    (``fireflow predictor``) when the writer runs elsewhere (``off``). Its tells reach the node's sockets as
    another node's commits do, the order keeps them, and stopping the node hands the child's shards on at once."""
    await seed(servers, rid)
    shard = ShareKeys("predictor").shard(shard_of(rid))
    settings = settings_for(servers, predictions=True, predict_tick=0.05).with_(durable=durable)
    async with serve_in_process(settings, rid) as node:
        assert node.hub.predictor is None  # nothing of it in the sockets' loop
        waiter = await node.client("WAITER")
        cashier = await node.client("CASHIER")
        await cashier.subscribe("cashier")
        order_id, fired_at = await _fired(waiter, "burger")
        told = await _predicted(cashier, order_id)
        # predicted when the child looked (a child still starting looks seconds after the fire): its time from then
        assert told["at"] >= fired_at and abs(told["stations"]["grill"] - told["at"] - GRILL_S * 1000) < 3000
        child, holder = node.hub.background_child, await redis.get(shard)
        assert child is not None and holder is not None and f"-{child.pid}-" in holder.decode()
        kept = await node.hub.store.order(rid, order_id)
        assert kept is not None and kept.predicted_ready_at == told["ready_at"]
    assert await redis.get(shard) is None  # given back as the child stopped, not left to run out


async def test_predictions_are_for_managers_to_read(predicting: RunningHub) -> None:
    async with predicting.http("WAITER") as http:
        refused = await http.get("/api/v1/stats/predictions")
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    async with predicting.http("MANAGER") as http:
        assert (await http.get("/api/v1/stats/predictions")).json() == {"stations": []}


async def test_two_nodes_share_the_restaurants_and_one_takes_them_all_when_the_other_stops(hub: RunningHub) -> None:
    app = hub.hub
    first = Predictor(app.redis, app.store, app.bus, tick=0.05)
    second = Predictor(app.redis, app.store, app.bus, tick=0.05)
    try:
        assert await first._lead() and not await second._lead()  # the first, alone, took every shard
        assert await first._lead() and await second._lead()  # it saw two nodes and handed half over
        assert first.shares.held.isdisjoint(second.shares.held)
        assert first.shares.held | second.shares.held == frozenset(range(SHARDS))
        owner, other = (first, second) if first.shares.owns(hub.rid) else (second, first)
        await other.run_once()  # each looks at every restaurant of its own on its first tick
        await owner.run_once()
        assert hub.rid in owner.kitchens and hub.rid not in other.kitchens
        await owner.stop()
        assert await other._lead() and other.shares.held == frozenset(range(SHARDS))
        await other.run_once()  # a shard just taken: its restaurants looked at on the same tick
        assert hub.rid in other.kitchens
    finally:
        await first.stop()
        await second.stop()


async def test_a_round_of_looks_longer_than_a_third_of_the_lease_renews_the_leases_as_it_goes(hub: RunningHub) -> None:
    app = hub.hub
    predictor = Predictor(app.redis, app.store, app.bus, tick=0.05)
    predictor.shares.lease_s = 0.6  # a third: 0.2 s
    try:
        assert await predictor._lead()
        began = predictor.shares.held_at
        await asyncio.sleep(0.2)  # a round's looks that took a third of the lease so far: the time is the test
        await predictor.run_once()
        assert hub.rid in predictor.kitchens  # looked at, by the node holding it ...
        assert predictor.shares.held_at > began  # ... which renewed its leases within the round, before the look
        shard = ShareKeys("predictor").shard(shard_of(hub.rid))
        assert await app.redis.get(shard) == predictor.shares.node.encode()
    finally:
        await predictor.stop()


async def test_a_restaurant_handed_to_another_node_keeps_what_was_learned_of_it(
    hub: RunningHub, servers: Servers
) -> None:
    rid = next(r for r in (f"r{secrets.token_hex(4)}" for _ in range(1000)) if shard_of(r) >= SHARDS // 2)
    await seed(servers, rid)  # in the half of the shards a node gives back first
    app = hub.hub
    first = Predictor(app.redis, app.store, app.bus, secret="s3cret")
    second = Predictor(app.redis, app.store, app.bus, secret="s3cret")
    try:
        assert await first._lead()
        kitchen = await first._kitchen(rid)
        assert kitchen is not None
        for n in range(40):
            kitchen.prep.learn("grill", "burger", 1, 19, 400.0 + n % 3)
        assert not await second._lead()
        assert await first._lead()  # hands half over, this restaurant's shard among them: kept, then forgotten
        assert not first.shares.owns(rid) and rid not in first.kitchens
        assert await second._lead() and second.shares.owns(rid)
        taken_over = await second._kitchen(rid)
        assert taken_over is not None and taken_over.prep.learned == 40
    finally:
        await first.stop()
        await second.stop()


async def test_what_a_leader_learned_is_kept_for_the_next_signed_with_the_secret(hub: RunningHub) -> None:
    app = hub.hub
    first = Predictor(app.redis, app.store, app.bus, secret="s3cret")
    kitchen = await first._kitchen(hub.rid)
    assert kitchen is not None
    for n in range(40):
        kitchen.prep.learn("grill", "burger", 1, 19, 400.0 + n % 3)
    learned = kitchen.prep.expect("grill", "burger", 1, 19)
    assert await first._lead()
    await first.stop()  # keeps it before letting go
    second = Predictor(app.redis, app.store, app.bus, secret="s3cret")
    taken_over = await second._kitchen(hub.rid)
    assert taken_over is not None and taken_over.prep.expect("grill", "burger", 1, 19) == pytest.approx(learned)
    assert taken_over.prep.learned == 40
    stranger = Predictor(app.redis, app.store, app.bus, secret="another")  # not its signature: starts afresh
    fresh = await stranger._kitchen(hub.rid)
    assert fresh is not None and fresh.prep.learned == 0
    assert fresh.prep.expect("grill", "burger", 1, 19) == pytest.approx(GRILL_S)


def test_a_saved_model_altered_or_unsigned_is_never_unpickled() -> None:
    prep = PrepTimes()
    for _ in range(MIN_SEEN):
        prep.learn("fry", "fries", 1, 12, 120.0)
    saved = prep.dumps("k")
    assert PrepTimes.loads(saved, "k") is not None
    altered = saved[:-1] + bytes([saved[-1] ^ 1])
    assert PrepTimes.loads(altered, "k") is None
    assert PrepTimes.loads(b"not a model", "k") is None


def test_prep_times_learn_an_item_by_station_and_hour_and_fall_back_before() -> None:
    prep = PrepTimes({"grill": 200.0})
    assert prep.expect("grill", "burger", 1, 19) == 200.0  # nothing learned: the station's fallback
    assert prep.expect("grill", "burger", 2, 19) == 300.0  # a second portion adds half
    for _ in range(MIN_SEEN):
        prep.learn("grill", "burger", 1, 19, 400.0)
    assert prep.expect("grill", "steak", 1, 19) == pytest.approx(400.0)  # the station's mean, for an item unseen
    for n in range(400):
        prep.learn("grill", "burger", 1, 13, 300.0 + (n % 3) * 10)
        prep.learn("grill", "burger", 1, 20, 600.0 + (n % 3) * 10)
    lunch, dinner = prep.expect("grill", "burger", 1, 13), prep.expect("grill", "burger", 1, 20)
    assert 250 < lunch < 360 and 520 < dinner < 700  # the hour moves the grill's pace
    prep.learn("grill", "burger", 1, 13, 0.1)  # a start pressed just before done: no time at all, not learned
    assert prep.expect("grill", "burger", 1, 13) == lunch
    for lines in (1, 3, 2):
        prep.saw_in_hand("grill", lines)
    prep.saw_in_hand("fry", 0)
    assert prep.hands() == {"grill": 3}


async def test_a_grill_predicted_to_run_tickets_late_alerts_expo_once_with_the_reason(predicting: RunningHub) -> None:
    manager = await predicting.client("MANAGER")
    grill_late = {"id": "grill", "name": "Grill", "warn_after_s": 300, "late_after_s": 400}
    await manager.command("kitchen.configure", {"stations": [grill_late]})  # a line: 3 min, late after 6:40
    waiter = await predicting.client("WAITER")
    cashier = await predicting.client("CASHIER")
    await cashier.subscribe("cashier")
    expo = await predicting.client("EXPO")
    await expo.subscribe("expo")
    orders = [(await _fired(waiter, "burger"))[0] for _ in range(6)]  # two hands: the last two done at +9 min
    await _all_predicted(cashier, orders)

    alert = await _bottleneck(expo)
    assert alert["station"] == "grill" and alert["order_id"] in orders[4:]
    assert alert["message"].startswith("grill: 2 tickets will be late within 7 min")
    assert "lines waiting, 2 made at once" in alert["message"]
    # it stands: more orders behind it raise no second alert. Each later look starts after the one before has
    # flagged what it found; a rush committed after the last one's prediction reaches expo after any such alert.
    for _ in range(2):
        await _predicted(cashier, (await _fired(waiter, "burger"))[0])
    await waiter.command("order.rush", {"order_id": orders[0]})

    async def until_rushed() -> list[dict[str, Any]]:
        seen = []
        while True:
            event = await expo.events.get()
            if event["type"] == "ORDER_RUSHED":
                return seen
            if event["type"] == "KITCHEN_ALERT":
                seen.append(event["data"]["alert"])

    assert [a for a in await asyncio.wait_for(until_rushed(), 4 * WAIT) if a["kind"] == "STATION_BOTTLENECK"] == []


async def test_lines_in_hand_running_over_their_time_alert_before_any_ticket_is_late(hub: RunningHub) -> None:
    """A grill of twelve hands, each line expected at 4 min, late after 12; twelve lines in hand, twelve waiting.
    Looked at 1 min in, the grill keeps up. Looked at 6 min in, the lines in hand have all run over: at the
    learned times the waiting tickets would still make it (done by 10.4 min), at the pace they say (about twice)
    they will not, and expo hears so before any ticket is late, with the pace in the reason."""
    app = hub.hub
    manager = await hub.client("MANAGER")
    grill_slow = {"id": "grill", "name": "Grill", "warn_after_s": 400, "late_after_s": 720}
    await manager.command("kitchen.configure", {"stations": [grill_slow]})  # a line: 4 min before anything learned
    waiter = await hub.client("WAITER")
    grill = await hub.client("KITCHEN", device="kds-grill", stations=("grill",))
    expo = await hub.client("EXPO")
    await expo.subscribe("expo")
    fired = [await _fired(waiter, "burger") for _ in range(24)]
    for order_id, _ in fired[:12]:
        await grill.command("item.start", {"order_id": order_id, "line_id": "L1"})
    started = max(at for _, at in fired)
    predictor = Predictor(app.redis, app.store, app.bus)
    await predictor.look(hub.rid, started + 60_000)
    kitchen = predictor.kitchens[hub.rid]
    assert kitchen.prep.hands() == {"grill": 12} and kitchen.flagged == set()

    await predictor.look(hub.rid, started + 360_000)
    assert kitchen.flagged == {"grill"}

    alert = await _bottleneck(expo)
    assert alert["order_id"] in {order_id for order_id, _ in fired[12:]}  # one waiting, not one in hand
    assert re.search(r"lines taking [12]\.\dx their usual time lately", alert["message"]), alert["message"]


async def test_a_prediction_kept_on_an_order_is_not_read_again_but_a_waiters_change_is(hub: RunningHub) -> None:
    app = hub.hub
    waiter = await hub.client("WAITER")
    order_id, fired_at = await _fired(waiter, "burger")
    predictor = Predictor(app.redis, app.store, app.bus)
    assert await predictor.look(hub.rid, fired_at + 1) == 1  # told: the order now keeps its prediction
    kept = await app.store.order(hub.rid, order_id)
    assert kept is not None and kept.predicted_ready_at is not None
    changed = Keys(hub.rid).changed_orders
    assert await app.redis.smembers(changed) == {b""}  # following, and nothing changed since the look
    await waiter.command("order.rush", {"order_id": order_id})
    assert await app.redis.smembers(changed) == {b"", order_id.encode()}


async def test_a_look_a_commit_asked_for_goes_no_further_than_the_changed_orders_when_none_changed(
    hub: RunningHub,
) -> None:
    """The predictor's own tell wakes it as any commit does: with no open order changed since, that look stops
    there, while the sweep's look at the same moment still tells the prediction time has moved."""
    app = hub.hub
    waiter = await hub.client("WAITER")
    order_id, fired_at = await _fired(waiter, "burger")
    predictor = Predictor(app.redis, app.store, app.bus)
    assert await predictor.look(hub.rid, fired_at + 1, changed_only=True) == 1  # a first look reads every order
    later = fired_at + round(3 * GRILL_S * 1000)  # the burger is past its time: its prediction has moved
    assert await predictor.look(hub.rid, later, changed_only=True) == 0
    assert predictor.looks == {"whole": 1, "unchanged": 1}
    assert await predictor.look(hub.rid, later) == 1  # the sweep's
    await waiter.command("order.rush", {"order_id": order_id})
    await predictor.look(hub.rid, later + 1, changed_only=True)  # a waiter's change: looked at whole
    assert predictor.looks == {"whole": 3, "unchanged": 1}


async def test_the_wake_up_of_the_predictors_own_tell_costs_it_no_whole_look(hub: RunningHub) -> None:
    app = hub.hub
    waiter = await hub.client("WAITER")
    await _fired(waiter, "burger")
    predictor = Predictor(app.redis, app.store, app.bus, tick=0.05)
    woken = asyncio.Event()

    def wake(rid: str) -> None:
        predictor.woken(rid)
        woken.set()

    app.fanout.on_wake.append(wake)
    try:
        assert await predictor._lead()
        assert await predictor.run_once() == 1  # the first round looks at every restaurant: the order is told
        await asyncio.wait_for(woken.wait(), WAIT)  # the tell's own commit woke it
        assert await predictor.run_once() == 0
        assert predictor.looks == {"whole": 1, "unchanged": 1}
        woken.clear()
        await _fired(waiter, "fries")
        await asyncio.wait_for(woken.wait(), WAIT)
        assert await predictor.run_once() == 1  # a fire is a change: looked at whole, and told
        assert predictor.looks == {"whole": 2, "unchanged": 1}
    finally:
        app.fanout.on_wake.remove(wake)
        await predictor.stop()


async def test_three_burgers_are_predicted_later_than_one_at_the_same_grill(hub: RunningHub) -> None:
    """Both start at once (two hands free), and three portions take twice one's time: a look asks each quantity
    what it takes, not once for the item."""
    app = hub.hub
    waiter = await hub.client("WAITER")
    fired: dict[int, tuple[str, int]] = {}
    for quantity in (3, 1):
        order = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]
        item = {"order_id": order["id"], "menu_item_id": "burger", "quantity": quantity}
        await waiter.command("order.add_item", item)
        done = (await waiter.command("order.fire", {"order_id": order["id"]}))["result"]["order"]
        fired[quantity] = (order["id"], int(done["fired_at"]))
    now = max(at for _, at in fired.values()) + 1
    predictor = Predictor(app.redis, app.store, app.bus)
    assert await predictor.look(hub.rid, now) == 2
    told = predictor.kitchens[hub.rid].told
    three, one = told[fired[3][0]].ready_at, told[fired[1][0]].ready_at
    assert one == now + round(GRILL_S * 1000)
    assert three == now + round(2 * GRILL_S * 1000)


async def test_the_predictors_commands_leave_their_answers_for_minutes_not_a_day(predicting: RunningHub) -> None:
    waiter = await predicting.client("WAITER")
    cashier = await predicting.client("CASHIER")
    await cashier.subscribe("cashier")
    order_id, _ = await _fired(waiter, "burger")
    await _predicted(cashier, order_id)
    redis = predicting.hub.redis
    ttls = [await redis.ttl(key) async for key in redis.scan_iter(match=Keys(predicting.rid).command("predict-*"))]
    assert ttls and all(0 < ttl <= 300 for ttl in ttls)
    fired = [await redis.ttl(key) async for key in redis.scan_iter(match=Keys(predicting.rid).command("*"))]
    assert max(fired) > 3600  # a client's command keeps its answer the node's whole result TTL


@pytest.mark.parametrize(
    ("command", "data"),
    [
        ("order.predict", {"predictions": [{"order_id": "x.o1", "ready_at": 1, "stations": {}}]}),
        ("kitchen.bottleneck", {"station": "grill", "message": "late soon", "order_ids": ["x.o1"]}),
    ],
)
async def test_no_device_may_send_the_predictors_own_commands(
    predicting: RunningHub, command: str, data: dict[str, Any]
) -> None:
    manager = await predicting.client("MANAGER")
    with pytest.raises(HubError) as refused:
        await manager.command(command, data)
    assert refused.value.code == "UNKNOWN_COMMAND"
