"""Kitchen operations against the real servers: no double tickets, alerts for unseen tickets, 86, stats, tables."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.decision import Decision, PrepSample
from fireflow.hub.live.keys import DAY_MS, PREP_WINDOW_DAYS, Keys
from fireflow.hub.live.store import Store
from fireflow.hub.run.demo import demo_kitchen, demo_menu, demo_tables
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import Restaurant
from tests.conftest import WAIT, RunningHub, Servers, serve_in_process, settings_for
from tests.helpers import events_until, new_order

RUNS = 40


async def _drain_until(client: HubClient, order_id: str, type_: str = "NEW_KITCHEN_ORDER") -> list[dict[str, Any]]:
    """Every event up to and including the first ``type_`` for ``order_id`` (the sentinel that ends a run)."""
    seen: list[dict[str, Any]] = []

    async def collect() -> None:
        while True:
            event = await client.events.get()
            seen.append(event)
            data = event["data"]
            inner = data.get("ticket") or data.get("alert") or data
            if event["type"] == type_ and inner.get("order_id") == order_id:
                return

    await asyncio.wait_for(collect(), WAIT)
    return seen


async def test_a_double_fire_from_two_terminals_makes_one_ticket_per_station(hub: RunningHub) -> None:
    """Two terminals fire the same order at the same moment, 40 times over WS and HTTP: one ticket per station each time."""
    grill, fry = await hub.kitchen("grill"), await hub.kitchen("fry")
    await grill.subscribe("kitchen:grill")
    await fry.subscribe("kitchen:fry")
    first, second = await hub.client(Role.WAITER, device="pos-1"), await hub.client(Role.CASHIER, device="pos-2")
    outcomes: Counter[str] = Counter()
    orders = []
    async with hub.http(Role.WAITER, device="pos-3") as http:
        for run in range(RUNS):
            order_id = await new_order(first, "burger", "fries", "burger")
            orders.append(order_id)

            async def over_http(order_id: str = order_id) -> str:
                r = await http.post(f"/api/v1/orders/{order_id}/fire")
                return "ok" if r.status_code == 200 else r.json()["code"]

            async def over_ws(client: HubClient, order_id: str = order_id) -> str:
                try:
                    await client.command("order.fire", {"order_id": order_id})
                except HubError as exc:
                    return exc.code
                return "ok"

            pair = (over_ws(first), over_ws(second)) if run % 2 else (over_ws(second), over_http())
            results = sorted(await asyncio.gather(*pair))
            assert results == [ErrorCode.NOTHING_TO_FIRE.value, "ok"], results
            outcomes.update(results)
    sentinel = await new_order(first, "burger", "fries")
    await first.command("order.fire", {"order_id": sentinel})
    for screen in (grill, fry):
        events = await _drain_until(screen, sentinel)
        tickets = Counter(e["data"]["ticket"]["order_id"] for e in events if e["type"] == "NEW_KITCHEN_ORDER")
        assert all(tickets[o] == 1 for o in orders), [o for o in orders if tickets[o] != 1]
    grill_lines = [e["data"]["ticket"]["lines"] for e in events if e["type"] == "NEW_KITCHEN_ORDER"]
    assert all(len(lines) in (1, 2) for lines in grill_lines)
    assert outcomes == {"ok": RUNS, ErrorCode.NOTHING_TO_FIRE.value: RUNS}


async def test_adding_after_fire_sends_a_delta_and_reducing_sends_a_void(hub: RunningHub) -> None:
    """Over the wire: +2 burgers after fire reach the grill as ADDED 2; lowering by 3 reaches it as VOID 3."""
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger")
    await waiter.command("order.fire", {"order_id": order_id})
    await waiter.command("order.change_item", {"order_id": order_id, "line_id": "L1", "quantity": 3})
    await waiter.command("order.fire", {"order_id": order_id})
    await waiter.command("order.change_item", {"order_id": order_id, "line_id": "L1", "quantity": 1})
    await waiter.command("order.remove_item", {"order_id": order_id, "line_id": "L1"})
    events = await events_until(grill, 4, WAIT)
    seen = [(e["type"], [(tl["change"], tl["quantity"], tl["line_quantity"]) for tl in e["data"]["ticket"]["lines"]])
            for e in events]  # fmt: skip
    assert seen == [
        ("NEW_KITCHEN_ORDER", [("NEW", 1, 1)]),
        ("NEW_KITCHEN_ORDER", [("ADDED", 2, 3)]),
        ("TICKET_VOID", [("VOID", 2, 1)]),
        ("TICKET_VOID", [("VOID", 1, 0)]),
    ]


async def _alerts(client: HubClient, count: int) -> list[dict[str, Any]]:
    return [e["data"]["alert"] for e in await events_until(client, count, WAIT, "KITCHEN_ALERT")]


async def test_firing_to_a_station_with_no_screen_alerts_expo_and_manager(hub: RunningHub) -> None:
    """Grill has a live screen, fry has none: one STATION_OFFLINE alert, for fry, to expo and managers."""
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    expo, manager = await hub.client(Role.EXPO), await hub.client(Role.MANAGER)
    await expo.subscribe("expo")
    await manager.subscribe("manager")
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger", "fries")
    await waiter.command("order.fire", {"order_id": order_id})
    for client in (expo, manager):
        (alert,) = await _alerts(client, 1)
        assert (alert["kind"], alert["station"], alert["order_id"]) == ("STATION_OFFLINE", "fry", order_id)
    # The screen leaving makes its station unwatched again, on every node (presence lives in Redis).
    await grill.close()
    live = hub.hub.store.live_stations
    for _ in range(100):
        if "grill" not in await live(hub.rid, 0):
            break
        await asyncio.sleep(0.02)
    assert "grill" not in await live(hub.rid, 0)


@contextlib.asynccontextmanager
async def quick_ack_hub(servers: Servers, redis: Redis, rid: str) -> AsyncIterator[RunningHub]:
    """A restaurant whose tickets must be acknowledged within a second, checked every 100 ms."""
    kitchen = demo_kitchen().model_copy(update={"ack_timeout_s": 1})
    await Store(redis).put_restaurant(Restaurant(id=rid, name="quick", kitchen=kitchen), demo_menu(), demo_tables())
    async with serve_in_process(settings_for(servers, due_tick=0.1), rid) as running:
        yield running


async def test_an_unacknowledged_ticket_alerts_and_an_acknowledged_one_does_not(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """A screen that shows ticket A (acks it) but never B: exactly one TICKET_UNACKED alert, for B, and no timers left."""
    async with quick_ack_hub(servers, redis, rid) as hub:
        grill, expo = await hub.kitchen("grill"), await hub.client(Role.EXPO)
        await grill.subscribe("kitchen:grill")
        await expo.subscribe("expo")
        waiter = await hub.client(Role.WAITER)
        shown = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": shown})
        ticket = (await grill.next_event(WAIT))["data"]["ticket"]
        ack = await grill.command("ticket.ack", {"order_id": shown, "ticket_ids": [ticket["id"]]})
        assert ack["result"]["acked"] == [ticket["id"]]
        missed = await new_order(waiter, "paneer-tikka")
        await waiter.command("order.fire", {"order_id": missed})
        (alert,) = await _alerts(expo, 1)
        assert (alert["kind"], alert["order_id"], alert["station"]) == ("TICKET_UNACKED", missed, "grill")
        assert await redis.zcard(Keys(rid).due) == 0
        # A second screen acking late changes nothing and raises no second alert.
        late = await hub.client(Role.KITCHEN, stations=("grill",), device="kds-grill-2")
        again = await late.command("ticket.ack", {"order_id": shown, "ticket_ids": [ticket["id"]]})
        assert again["result"]["acked"] == []


async def test_two_nodes_run_the_same_due_check_once(servers: Servers, redis: Redis, rid: str) -> None:
    """With two nodes polling the same timers, an unacknowledged ticket raises exactly one alert."""
    async with quick_ack_hub(servers, redis, rid) as hub:
        async with serve_in_process(settings_for(servers, due_tick=0.05), rid) as other:
            screen = await hub.kitchen("grill")
            await screen.subscribe("kitchen:grill")
            expo = await other.client(Role.EXPO)
            await expo.subscribe("expo")
            waiter = await hub.client(Role.WAITER)
            order_id = await new_order(waiter, "burger")
            await waiter.command("order.fire", {"order_id": order_id})
            await _alerts(expo, 1)
            sentinel = await new_order(waiter, "fries")  # no fry screen: an alert at once, after any duplicate
            await waiter.command("order.fire", {"order_id": sentinel})
            events = await _drain_until(expo, sentinel, "KITCHEN_ALERT")
            alerts = [e["data"]["alert"] for e in events if e["type"] == "KITCHEN_ALERT"]
            assert [a["kind"] for a in alerts] == ["STATION_OFFLINE"]  # the unacked one came before, once


async def test_86_and_counts_reach_every_terminal_live(hub: RunningHub) -> None:
    """The grill 86s wings and counts burgers; a waiter sees ITEM_86D and counts live and is refused clearly."""
    waiter, grill = await hub.client(Role.WAITER), await hub.kitchen("grill")
    snapshot = (await waiter.subscribe("menu"))["snapshot"]["menu"]["items"]
    assert {i["id"]: i["sellable"] for i in snapshot}["chicken-wings"] is True
    await grill.command("stock.out", {"menu_item_id": "chicken-wings"})
    await grill.command("stock.set", {"menu_item_id": "burger", "quantity": 2})
    order_id = await new_order(waiter)
    with pytest.raises(HubError) as err:
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "chicken-wings"})
    assert err.value.code == ErrorCode.ITEM_UNAVAILABLE
    await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger", "quantity": 2})
    with pytest.raises(HubError) as err:
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger"})
    assert err.value.code == ErrorCode.OUT_OF_STOCK and err.value.frame["details"]["available"] == 0
    events = await events_until(waiter, 5, WAIT)
    assert [e["type"] for e in events] == ["STOCK_CHANGED", "ITEM_86D", "STOCK_CHANGED", "STOCK_CHANGED", "ITEM_86D"]
    assert events[3]["data"]["stock"]["reserved"] == 2
    async with hub.http(Role.WAITER) as http:
        stock = {i["id"]: i for i in (await http.get("/api/v1/menu/stock")).json()["items"]}
    assert (stock["burger"]["remaining"], stock["burger"]["sellable"]) == (0, False)
    assert stock["chicken-wings"]["out"] is True


async def test_prep_times_and_all_day_counts_are_readable(hub: RunningHub) -> None:
    """After a fire the grill's all-day count shows 3 burgers; after done, prep stats have one sample per line."""
    waiter, grill = await hub.client(Role.WAITER), await hub.kitchen("grill")
    order_id = await new_order(waiter, "burger", "paneer-tikka")
    await waiter.command("order.change_item", {"order_id": order_id, "line_id": "L1", "quantity": 3})
    await waiter.command("order.fire", {"order_id": order_id})
    async with hub.http(Role.KITCHEN, stations=("grill",)) as http:
        counts = (await http.get("/api/v1/stations/grill/all-day")).json()["counts"]
        assert counts == {"Classic Burger": 3, "Paneer Tikka": 1}
        await grill.command("order.bump", {"order_id": order_id, "station": "grill"})
        assert (await http.get("/api/v1/stations/grill/all-day")).json()["counts"] == {}
        forbidden = await http.get("/api/v1/stations/fry/all-day")
        assert forbidden.status_code == 403
    async with hub.http(Role.EXPO) as http:
        prep = (await http.get("/api/v1/stats/prep")).json()["prep"]
    assert sorted((p["station"], p["menu_item_id"], p["count"]) for p in prep) == [
        ("grill", "burger", 1), ("grill", "paneer-tikka", 1),
    ]  # fmt: skip
    assert all(0 <= p["min_ms"] <= p["mean_ms"] <= p["max_ms"] < WAIT * 1000 for p in prep)


async def test_prep_statistics_are_of_the_last_week_and_each_day_expires(redis: Redis, rid: str) -> None:
    """Samples of eight days ago are out of the statistics; the last seven days' merge (count, mean, min, max);
    a day's hash expires a day after it leaves the window, so they never pile up."""
    store = Store(redis)
    today = 20_000 * DAY_MS  # a day number far from any other test's
    samples = {-8: [100], -6: [200, 400], -1: [600], 0: [300]}
    for back, times in samples.items():
        prep = tuple(PrepSample("grill", "burger", ms) for ms in times)
        await store.commit(rid, f"prep{back}", "", Decision(result={}, prep=prep), today + back * DAY_MS + 1000)
    [stat] = await store.prep_stats(rid, today + 5000)
    assert (stat.count, stat.mean_ms, stat.min_ms, stat.max_ms) == (4, 375, 200, 600)
    ttl_ms = await redis.pttl(Keys(rid).prep(today // DAY_MS))
    assert (PREP_WINDOW_DAYS) * DAY_MS < ttl_ms <= (PREP_WINDOW_DAYS + 1) * DAY_MS


async def test_kitchen_snapshot_shows_held_courses_rush_and_recent_bumps(hub: RunningHub) -> None:
    """A grill screen joining late sees its cards: rush first, held course lines as HELD, bumped lines to recall."""
    waiter = await hub.client(Role.WAITER)
    calm = await new_order(waiter, "burger")
    await waiter.command("order.fire", {"order_id": calm})
    rushed = await new_order(waiter, "paneer-tikka")
    await waiter.command("order.add_item", {"order_id": rushed, "menu_item_id": "burger", "course": 2})
    await waiter.command("order.hold", {"order_id": rushed, "course": 2})
    await waiter.command("order.fire", {"order_id": rushed, "rush": True})
    kitchen = await hub.kitchen("grill")
    await kitchen.command("item.done", {"order_id": calm, "line_id": "L1"})
    reply = await kitchen.subscribe("kitchen:grill")
    view = reply["snapshot"]["kitchen:grill"]
    assert view["station"]["warn_after_s"] == 480 and view["recall_window_s"] == 600
    cards = view["tickets"]
    assert [c["order_id"] for c in cards] == [rushed, calm]
    assert [(tl["name"], tl["change"]) for tl in cards[0]["lines"]] == [
        ("Paneer Tikka", "SAME"),
        ("Classic Burger", "HELD"),
    ]
    assert cards[1]["lines"][0]["status"] == "DONE" and cards[0]["acked"] is False
    assert cards[0]["unacked_ticket_ids"] == [f"{rushed}:t1"]  # what a screen starting from here must acknowledge
    await kitchen.command("item.recall", {"order_id": calm, "line_id": "L1"})
    updated = await events_until(kitchen, 1, WAIT, "TICKET_UPDATED")
    assert updated[0]["data"]["ticket"]["lines"][0]["status"] == "PREPARING"


async def test_move_and_merge_tables_over_the_wire(hub: RunningHub) -> None:
    """Move T3 to T4, merge T5 into T4: the tables channel follows, and the merged order holds every line once."""
    waiter = await hub.client(Role.WAITER)
    await waiter.subscribe("tables")
    a = await new_order(waiter, "burger", type="DINE_IN", table_id="T3", guests=2)
    b = await new_order(waiter, "fries", type="DINE_IN", table_id="T5", guests=2)
    await waiter.command("order.fire", {"order_id": b})
    await waiter.command("order.move", {"order_id": a, "table_id": "T4"})
    merged = await waiter.command("table.merge", {"from_table_id": "T5", "into_table_id": "T4"})
    order = merged["result"]["order"]
    assert [(i["menu_item_id"], i["sent"]) for i in order["items"]] == [("burger", 0), ("fries", 1)]
    assert order["extra_tables"] == ["T5"] and order["table_id"] == "T4"
    async with hub.http(Role.WAITER) as http:
        tables = {t["id"]: t for t in (await http.get("/api/v1/tables")).json()["tables"]}
        gone = (await http.get(f"/api/v1/orders/{b}")).json()["order"]
    assert (tables["T3"]["status"], tables["T4"]["order_id"], tables["T5"]["order_id"]) == ("FREE", a, a)
    assert gone["status"] == "MERGED" and gone["merged_into"] == a


async def test_a_manager_retunes_station_timers_live(hub: RunningHub) -> None:
    """kitchen.configure changes a station's colours: its screen hears it at once and the next snapshot has it."""
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    async with hub.http(Role.MANAGER) as http:
        r = await http.put(
            "/api/v1/kitchen/settings",
            json={"recall_window_s": 120, "stations": [{"id": "grill", "warn_after_s": 60, "late_after_s": 90}]},
        )
        assert r.status_code == 200, r.text
        bad = await http.put(
            "/api/v1/kitchen/settings", json={"stations": [{"id": "bar", "warn_after_s": 9, "late_after_s": 5}]}
        )
        assert bad.status_code == 409
    (event,) = await events_until(grill, 1, WAIT, "KITCHEN_SETTINGS_CHANGED")
    assert event["data"]["kitchen"]["recall_window_s"] == 120
    later = await hub.kitchen("grill")
    view = (await later.subscribe("kitchen:grill"))["snapshot"]["kitchen:grill"]
    assert (view["station"]["warn_after_s"], view["station"]["late_after_s"], view["recall_window_s"]) == (60, 90, 120)
    async with hub.http(Role.KITCHEN, stations=("grill",)) as http:
        assert (await http.put("/api/v1/kitchen/settings", json={"ack_timeout_s": 5})).status_code == 403


async def test_every_screen_of_every_station_acknowledges_a_fire_at_once(hub: RunningHub) -> None:
    """Two screens a station ack their station's ticket together, as the KDS page does on showing it: each ticket is
    acknowledged once (one answer names it, its twin's names nothing), expo hears one TICKET_ACKED a ticket, the
    stored order holds every acknowledgement, and the node holds no turn afterwards."""
    stations = {"burger": "grill", "fries": "fry", "caesar": "cold", "mojito": "bar"}
    screens = {
        s: [await hub.client(Role.KITCHEN, stations=(s,), device=f"kds-{s}-{n}") for n in (1, 2)]
        for s in stations.values()
    }
    for station, pair in screens.items():
        for screen in pair:
            await screen.subscribe(f"kitchen:{station}")
    expo = await hub.client(Role.EXPO)
    await expo.subscribe("expo")
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, *stations)
    await waiter.command("order.fire", {"order_id": order_id})
    tickets = {s: (await pair[0].next_event(WAIT))["data"]["ticket"]["id"] for s, pair in screens.items()}
    answers = await asyncio.gather(
        *(
            screen.command("ticket.ack", {"order_id": order_id, "ticket_ids": [tickets[station]]})
            for station, pair in screens.items()
            for screen in pair
        )
    )
    named = Counter(t for a in answers for t in a["result"]["acked"])
    assert named == Counter(tickets.values())  # each once, the twin's answer empty
    events = await _drain_until(expo, order_id, "TICKET_ACKED")
    while sum(e["type"] == "TICKET_ACKED" for e in events) < len(tickets):
        events.append(await expo.next_event(WAIT))
    acked = [e["data"]["ticket_id"] for e in events if e["type"] == "TICKET_ACKED"]
    assert sorted(acked) == sorted(tickets.values())
    order = await hub.hub.store.order(hub.rid, order_id)
    assert order is not None and all(t.acked_at is not None for t in order.tickets)
    assert len(hub.hub.bus.turns) == 0


async def test_an_acknowledgement_on_a_copy_another_node_moved_past_decides_again(
    servers: Servers, redis: Redis, rid: str
) -> None:
    """The node that fired keeps the order as it committed it; another node then acknowledges one ticket. This
    node's acknowledgement of the other ticket, decided on its copy, conflicts and is decided again on the order
    read from Redis: both acknowledgements are kept."""
    await Store(redis).put_restaurant(
        Restaurant(id=rid, name="two nodes", kitchen=demo_kitchen()), demo_menu(), demo_tables()
    )
    async with (
        serve_in_process(settings_for(servers), rid) as hub,
        serve_in_process(settings_for(servers), rid) as other,
    ):
        waiter = await hub.client(Role.WAITER)
        order_id = await new_order(waiter, "burger", "fries")
        fired = await waiter.command("order.fire", {"order_id": order_id})
        kept = hub.hub.store.committed_order(rid, order_id)
        assert kept is not None and kept.revision == fired["result"]["order"]["revision"]
        by_station = {t.station: t.id for t in kept.tickets}
        grill = await other.kitchen("grill")
        assert (await grill.command("ticket.ack", {"order_id": order_id, "ticket_ids": [by_station["grill"]]}))[
            "result"
        ]["acked"] == [by_station["grill"]]
        assert hub.hub.store.committed_order(rid, order_id) is kept  # this node has not seen that commit
        fry = await hub.kitchen("fry")
        answer = await fry.command("ticket.ack", {"order_id": order_id, "ticket_ids": [by_station["fry"]]})
        assert answer["result"]["acked"] == [by_station["fry"]]
        order = await hub.hub.store.order(rid, order_id)
        assert order is not None
        assert {t.station: t.acked_by for t in order.tickets} == {"grill": "kds-grill", "fry": "kds-fry"}
        assert order.revision == kept.revision + 2


async def test_copies_of_one_acknowledgement_from_two_screens_get_one_answer(hub: RunningHub) -> None:
    """A screen's resend racing its first copy, over the socket and over HTTP, five times: every copy of an id is
    answered the first copy's answer, and the ticket is acknowledged once."""
    grill = await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    expo = await hub.client(Role.EXPO)
    await expo.subscribe("expo")
    waiter = await hub.client(Role.WAITER)
    async with hub.http(Role.KITCHEN, stations=("grill",), device="kds-grill") as http:
        for run in range(5):
            order_id = await new_order(waiter, "burger")
            await waiter.command("order.fire", {"order_id": order_id})
            ticket = (await _drain_until(grill, order_id))[-1]["data"]["ticket"]["id"]
            data = {"order_id": order_id, "ticket_ids": [ticket]}
            command_id = f"ack-twice-{run}"
            over_ws, over_http = await asyncio.gather(
                grill.command("ticket.ack", data, id=command_id),
                http.post(
                    f"/api/v1/orders/{order_id}/ack",
                    json={"ticket_ids": [ticket]},
                    headers={"Idempotency-Key": command_id},
                ),
            )
            assert over_http.status_code == 200, over_http.text
            assert over_ws["result"] == over_http.json()["result"] == {"acked": [ticket]}
            events = await _drain_until(expo, order_id, "TICKET_ACKED")
            assert sum(e["type"] == "TICKET_ACKED" for e in events) == 1
