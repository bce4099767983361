"""Setup commands on a running hub: each change is versioned, told live, checked against the whole setup."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from fireflow.hub.run.demo import demo_menu
from fireflow.hub.run.setup_files import export_setup
from fireflow.schema.protocol import ErrorCode
from tests.conftest import WAIT, RunningHub, Servers, serve_in_process, settings_for
from tests.helpers import events_until
from tests.test_settle import ready_dine_in
from tests.test_ws import until


def _burger(**changes: Any) -> dict[str, Any]:
    burger = demo_menu().item("burger")
    assert burger is not None
    return burger.model_dump(mode="json") | changes


async def test_a_price_change_reaches_an_open_menu_at_once_and_leaves_ordered_lines_alone(hub: RunningHub) -> None:
    """MENU_CHANGED carries the new item to a subscribed screen; the line ordered before keeps 34900."""
    waiter = await hub.client(Role.WAITER)
    snapshot = await waiter.subscribe("menu")
    version = snapshot["snapshot"]["menu"]["version"]
    assert {c["id"] for c in snapshot["snapshot"]["menu"]["categories"]} >= {"mains", "drinks"}
    opened = await waiter.command("order.open", {"type": "TAKEAWAY"})
    order_id = opened["result"]["order"]["id"]
    await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger", "quantity": 1})
    manager = await hub.client(Role.MANAGER, device="manager-1")
    ack = await manager.command("setup.menu_item.put", {"item": _burger(price=39900), "version": version})
    assert ack["result"]["menu_version"] == version + 1
    event = await waiter.next_event(WAIT)
    assert event["type"] == "MENU_CHANGED"
    assert [(i["id"], i["price"]) for i in event["data"]["items"]] == [("burger", 39900)]
    assert event["data"]["version"] == version + 1
    again = await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger", "quantity": 1})
    prices = [line["unit_price"] for line in again["result"]["order"]["items"]]
    assert prices == [34900, 39900]


async def test_a_stale_version_is_refused_and_concurrent_edits_of_different_items_both_land(hub: RunningHub) -> None:
    """Two managers with the same version: the second gets VERSION_CONFLICT; without one, both edits stay."""
    one = await hub.client(Role.MANAGER, device="manager-1")
    two = await hub.client(Role.MANAGER, device="manager-2")
    version = (await one.subscribe("menu"))["snapshot"]["menu"]["version"]
    await one.command("setup.menu_item.put", {"item": _burger(name="Burger One"), "version": version})
    with pytest.raises(HubError) as err:
        await two.command("setup.menu_item.put", {"item": _burger(name="Burger Two"), "version": version})
    assert err.value.code == ErrorCode.VERSION_CONFLICT
    assert err.value.frame["details"] == {"version": version + 1}
    fries = demo_menu().item("fries")
    assert fries is not None
    await asyncio.gather(
        one.command("setup.menu_item.put", {"item": _burger(name="Burger One", price=40000)}),
        two.command("setup.menu_item.put", {"item": fries.model_dump(mode="json") | {"price": 15900}}),
    )
    menu = await hub.hub.store.menu(hub.rid)
    assert menu is not None and (menu.item("burger").price, menu.item("fries").price) == (40000, 15900)  # type: ignore[union-attr]
    assert menu.item("burger").name == "Burger One"  # type: ignore[union-attr]


async def test_a_change_that_would_break_the_setup_is_refused_whole(hub: RunningHub) -> None:
    """Removing the grill while items cook there, or an item on a missing station: INVALID_SETUP, nothing changed."""
    manager = await hub.client(Role.MANAGER, device="manager-1")
    before = await hub.hub.store.menu(hub.rid)
    with pytest.raises(HubError) as err:
        await manager.command("setup.station.remove", {"station_id": "grill"})
    assert err.value.code == ErrorCode.INVALID_SETUP
    problems = err.value.frame["details"]["problems"]
    assert len(problems) == 4 and all("no station 'grill'" in p for p in problems)  # its four items
    with pytest.raises(HubError) as err:
        await manager.command("setup.menu_item.put", {"item": _burger(id="pizza", station="oven", tax_code="VAT")})
    assert err.value.code == ErrorCode.INVALID_SETUP
    assert "no station 'oven'" in err.value.frame["message"] and "(and 1 more)" in err.value.frame["message"]
    assert await hub.hub.store.menu(hub.rid) == before
    waiter = await hub.client(Role.WAITER)
    with pytest.raises(HubError) as err:
        await waiter.command("setup.menu_item.put", {"item": _burger(price=1)})
    assert err.value.code == ErrorCode.FORBIDDEN


async def test_a_new_station_reaches_the_kitchen_settings_and_the_menu(hub: RunningHub) -> None:
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("manager")
    station = {"id": "tandoor", "name": "Tandoor", "colour": "#c92a2a", "warn_after_s": 400, "late_after_s": 700}
    await manager.command("setup.station.put", {"station": station})
    events = [await manager.next_event(WAIT), await manager.next_event(WAIT)]
    assert [e["type"] for e in events] == ["MENU_CHANGED", "KITCHEN_SETTINGS_CHANGED"]
    assert events[0]["data"]["stations"][-1] == "tandoor"
    tandoor = next(s for s in events[1]["data"]["kitchen"]["stations"] if s["id"] == "tandoor")
    assert tandoor["colour"] == "#c92a2a"
    await manager.command("setup.menu_item.put", {"item": _burger(id="naan", name="Naan", station="tandoor")})
    kds = await hub.kitchen("tandoor")
    await kds.subscribe("kitchen:tandoor")
    waiter = await hub.client(Role.WAITER)
    order = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
    await waiter.command("order.add_item", {"order_id": order, "menu_item_id": "naan", "quantity": 2})
    await waiter.command("order.fire", {"order_id": order})
    assert (await kds.next_event(WAIT))["type"] == "NEW_KITCHEN_ORDER"


async def test_tables_and_areas_over_http_with_the_floor_told_live(hub: RunningHub) -> None:
    """PUT a table and an area, DELETE a free table: TABLES_CHANGED each time; a table in use stays."""
    watcher = await hub.client(Role.WAITER)
    snap = await watcher.subscribe("tables")
    assert [a["id"] for a in snap["snapshot"]["tables"]["areas"]] == ["main", "terrace"]
    async with hub.http(Role.MANAGER, device="manager-1") as http:
        made = await http.put("/api/v1/setup/areas", json={"area": {"id": "bar", "name": "Bar"}})
        assert made.status_code == 200, made.text
        event = await watcher.next_event(WAIT)
        assert event["type"] == "TABLES_CHANGED" and [a["id"] for a in event["data"]["areas"]][-1] == "bar"
        put = await http.put("/api/v1/setup/tables/B1", json={"name": "Bar 1", "seats": 2, "area": "bar", "x": 10})
        assert put.status_code == 200, put.text
        event = await watcher.next_event(WAIT)
        assert [(t["id"], t["area"], t["x"]) for t in event["data"]["tables"]] == [("B1", "bar", 10)]
        lost = await http.put("/api/v1/setup/tables/B2", json={"name": "Bar 2", "area": "cellar"})
        assert lost.status_code == 422 and lost.json()["code"] == "INVALID_SETUP"
        waiter = await hub.client(Role.WAITER)
        await waiter.command("order.open", {"type": "DINE_IN", "table_id": "T2", "guests": 2})
        assert (await watcher.next_event(WAIT))["type"] == "TABLE_STATUS_CHANGED"
        busy = await http.delete("/api/v1/setup/tables/T2")
        assert busy.status_code == 409 and busy.json()["code"] == "INVALID_STATE"
        gone = await http.delete("/api/v1/setup/tables/B1")
        assert gone.status_code == 200, gone.text
        event = await watcher.next_event(WAIT)
        assert event["data"]["removed"] == ["B1"]
        again = await http.put("/api/v1/setup/tables/B1", json={"name": "Bar 1 again", "area": "bar"})
        assert again.status_code == 200, again.text  # an id used again starts over
    tables = {t.id: t for t in await hub.hub.store.tables(hub.rid)}
    assert tables["B1"].name == "Bar 1 again" and tables["T2"].order_id is not None


async def test_profile_and_billing_changes_are_checked_and_told(hub: RunningHub) -> None:
    manager = await hub.client(Role.MANAGER, device="manager-1")
    snapshot = (await manager.subscribe("manager"))["snapshot"]["manager"]["restaurant"]
    grill = next(s for s in snapshot["kitchen"]["stations"] if s["id"] == "grill")
    assert grill["colour"] == "#d9480f" and [t["code"] for t in snapshot["billing"]["taxes"]] == ["GST5", "GST18"]
    with pytest.raises(HubError) as err:
        await manager.command("setup.profile", {"timezone": "Mars/Olympus"})
    assert err.value.code == ErrorCode.INVALID_SETUP
    await manager.command("setup.profile", {"name": "Renamed Kitchen", "timezone": "Asia/Kolkata"})
    event = await manager.next_event(WAIT)
    assert event["type"] == "PROFILE_CHANGED" and event["data"]["restaurant"]["name"] == "Renamed Kitchen"
    billing = event["data"]["restaurant"]["billing"]
    without_gst18 = billing | {"taxes": [t for t in billing["taxes"] if t["code"] != "GST18"]}
    with pytest.raises(HubError) as err:
        await manager.command("setup.billing", {"billing": without_gst18})
    assert err.value.code == ErrorCode.INVALID_SETUP
    assert all("no tax code 'GST18'" in p for p in err.value.frame["details"]["problems"])
    await manager.command("setup.billing", {"billing": billing | {"service_charge_bp": 500}})
    restaurant = await hub.hub.store.restaurant(hub.rid, fresh=True)
    assert restaurant is not None and restaurant.billing.service_charge_bp == 500


async def test_another_node_bills_with_the_new_rules_at_once(servers: Servers, hub: RunningHub) -> None:
    """Node B has the settings cached; a billing change on node A reaches B's next bill without waiting out its cache."""
    async with serve_in_process(settings_for(servers), hub.rid) as other:
        waiter = await other.client(Role.WAITER)
        opened = await waiter.command("order.open", {"type": "DINE_IN", "table_id": "T3", "guests": 2})
        order_id = opened["result"]["order"]["id"]
        await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger", "quantity": 1})
        before = (await waiter.command("bill.preview", {"order_ids": [order_id]}))["result"]["bill"]
        assert before["service_charge"] == 3490  # 10% of 34900, read (and cached) by node B
        assert hub.rid in other.hub.store._restaurants
        manager = await hub.client(Role.MANAGER, device="manager-1")
        billing = (await hub.hub.store.restaurant(hub.rid, fresh=True)).billing.model_dump(mode="json")  # type: ignore[union-attr]
        await manager.command("setup.billing", {"billing": billing | {"service_charge_bp": 500}})
        await until(lambda: hub.rid not in other.hub.store._restaurants, WAIT)
        after = (await waiter.command("bill.preview", {"order_ids": [order_id]}))["result"]["bill"]
        assert after["service_charge"] == 1745


async def test_settings_read_again_are_parsed_again_only_when_they_changed(hub: RunningHub) -> None:
    store = hub.hub.store
    first = await store.restaurant(hub.rid, fresh=True)
    assert first is not None and await store.restaurant(hub.rid, fresh=True) is first  # the same bytes: kept
    manager = await hub.client(Role.MANAGER, device="manager-1")
    billing = first.billing.model_dump(mode="json")
    await manager.command("setup.billing", {"billing": billing | {"service_charge_bp": 700}})
    changed = await store.restaurant(hub.rid, fresh=True)
    assert changed is not first and changed is not None and changed.billing.service_charge_bp == 700


async def test_a_command_on_an_order_reads_settings_due_again_with_the_order(hub: RunningHub) -> None:
    """A restaurant fires less often than the node's copy of its settings lasts (``RESTAURANT_TTL``): a fire read
    them in a round trip of its own, after the order's. Now the order's read brings them when they are due."""
    store = hub.hub.store
    waiter = await hub.client(Role.WAITER)
    order_id = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
    key = Keys(hub.rid).restaurant
    stored = orjson.loads(await store.redis.get(key))
    await store.redis.set(key, orjson.dumps(stored | {"name": "Read with the order"}))
    store.forget(hub.rid)  # the node's copy is due to be read again
    found = await store.order_inputs(hub.rid, order_id, int(time.time() * 1000), kitchen=True)
    assert found.order is not None and found.order.id == order_id
    await store.redis.set(key, orjson.dumps(stored | {"name": "Changed after"}))
    kept = await store.restaurant(hub.rid)  # the copy the order's read brought: no read of its own
    assert kept is not None and kept.name == "Read with the order"
    fresh = await store.restaurant(hub.rid, fresh=True)
    assert fresh is not None and fresh.name == "Changed after"


async def test_an_owner_may_do_what_a_manager_may(hub: RunningHub) -> None:
    """OWNER reads the manager channel, changes the menu and pairs a device; a waiter still may not."""
    owner = await hub.client(Role.OWNER, device="owner-1")
    snapshot = await owner.subscribe("manager", "menu")
    assert snapshot["snapshot"]["manager"]["restaurant"]["id"] == hub.rid
    ack = await owner.command("setup.menu_item.put", {"item": _burger(price=35900)})
    assert ack["result"]["menu_item_id"] == "burger"
    paired = await owner.command("device.pair", {"device_id": "kds-owner", "role": "KITCHEN", "stations": ["grill"]})
    assert paired["result"]["device_id"] == "kds-owner"


async def test_staff_added_with_a_pin_approve_at_once_and_removed_stop_approving(hub: RunningHub) -> None:
    """setup.staff.put's PIN approves a discount; STAFF_CHANGED tells the back office; removal stops the PIN."""
    manager = await hub.client(Role.MANAGER, device="manager-1")
    snapshot = (await manager.subscribe("manager"))["snapshot"]["manager"]
    version = snapshot["restaurant"]["version"]
    assert [(s["id"], s["role"]) for s in snapshot["staff"]] == [("manager-1", "MANAGER")]
    assert all("pin" not in s and "pin_hash" not in s for s in snapshot["staff"])
    put = {"staff_id": "anna", "name": "Anna", "role": "MANAGER", "pin": "8642", "version": version}
    ack = await manager.command("setup.staff.put", put)
    assert ack["result"] == {"restaurant_version": version + 1, "staff_id": "anna"}
    (told,) = await events_until(manager, 1, WAIT, "STAFF_CHANGED")
    assert told["data"] == {"version": version + 1, "staff": [{"id": "anna", "name": "Anna", "role": "MANAGER",
                                                               "pin": None, "pin_hash": None}], "removed": []}  # fmt: skip
    with pytest.raises(HubError) as stale:
        await manager.command("setup.staff.put", put | {"name": "Anna B"})
    assert stale.value.code == ErrorCode.VERSION_CONFLICT
    order_id = await ready_dine_in(hub, "T10", "burger", "mojito")
    till = await hub.client(Role.CASHIER, device="till-3")
    discount = {"order_id": order_id, "kind": "AMOUNT", "value": 10000, "reason": "cold food", "pin": "8642"}
    assert (await till.command("order.discount", discount))["result"]["approved_by"] == "anna"
    cashier_anna = {"staff_id": "anna", "name": "Anna", "role": "CASHIER"}
    with pytest.raises(HubError) as no_pin:  # only managers and owners approve with a PIN
        await manager.command("setup.staff.put", cashier_anna | {"pin": "8642"})
    assert no_pin.value.code == ErrorCode.INVALID_SETUP
    await manager.command("setup.staff.put", cashier_anna)  # made a cashier: her PIN goes with it
    other = await ready_dine_in(hub, "T11", "burger", "mojito")
    with pytest.raises(HubError) as refused:
        await till.command("order.discount", discount | {"order_id": other})
    assert refused.value.code == ErrorCode.WRONG_PIN
    async with hub.http(Role.MANAGER) as http:
        gone = await http.delete("/api/v1/setup/staff/anna")
        assert gone.status_code == 200, gone.text
        last = await http.delete("/api/v1/setup/staff/manager-1")
        assert (last.status_code, last.json()["code"]) == (422, "INVALID_SETUP"), last.text
    demoted, gone_event = await events_until(manager, 2, WAIT, "STAFF_CHANGED")
    assert demoted["data"]["staff"][0]["role"] == "CASHIER"
    assert gone_event["data"]["removed"] == ["anna"] and gone_event["data"]["version"] == version + 3
    staff = (await hub.client(Role.MANAGER)).subscribe("manager")
    assert [s["id"] for s in (await staff)["snapshot"]["manager"]["staff"]] == ["manager-1"]
    with pytest.raises(HubError) as cashier:
        await till.command("setup.staff.put", {"staff_id": "me", "name": "Me", "pin": "1111"})
    assert cashier.value.code == ErrorCode.FORBIDDEN


async def test_printers_and_desks_over_http_reach_the_station_and_the_setup_file(hub: RunningHub) -> None:
    """A printer and its backup, the grill printing on it, a desk: told live, exported, and not removable in use."""
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("manager")
    async with hub.http(Role.MANAGER) as http:
        for printer in ({"id": "pass", "host": "10.0.0.22", "columns": 32},
                        {"id": "kitchen", "name": "Kitchen", "host": "10.0.0.21", "backup": "pass"}):  # fmt: skip
            answer = await http.put("/api/v1/setup/printers", json={"printer": printer})
            assert answer.status_code == 200, answer.text
        grill = {"id": "grill", "name": "Grill", "colour": "#d9480f", "warn_after_s": 480, "late_after_s": 720,
                 "routing": "BOTH", "printer": "kitchen"}  # fmt: skip
        assert (await http.put("/api/v1/setup/stations", json={"station": grill})).status_code == 200
        desk = await http.put("/api/v1/setup/desks", json={"desk": {"id": "cashier-1", "printer": "pass"}})
        assert desk.status_code == 200, desk.text
        in_use = await http.delete("/api/v1/setup/printers/pass")
        assert (in_use.status_code, in_use.json()["code"]) == (422, "INVALID_SETUP")
        assert sorted(in_use.json()["details"]["problems"]) == [
            "desks[0].printer: no printer 'pass'",
            "printers[0].backup: no printer 'pass'",
        ]
    (told,) = await events_until(manager, 1, WAIT, "KITCHEN_SETTINGS_CHANGED")
    station = next(st for st in told["data"]["kitchen"]["stations"] if st["id"] == "grill")
    assert {k: station[k] for k in grill} == grill
    exported = await export_setup(hub.hub.store, hub.rid)
    assert exported is not None
    assert [(p.id, p.backup) for p in exported.printers] == [("pass", None), ("kitchen", "pass")]
    assert [(d.id, d.printer) for d in exported.desks] == [("cashier-1", "pass")]
    assert (exported.stations[0].routing.value, exported.stations[0].printer) == ("BOTH", "kitchen")


async def test_a_manager_without_a_pin_does_not_count_as_someone_who_approves(hub: RunningHub) -> None:
    """Ravi is a manager with no PIN yet: manager-1 (the one PIN) may not be made a cashier; once Ravi has one, may."""
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.command("setup.staff.put", {"staff_id": "ravi", "name": "Ravi", "role": "MANAGER"})
    demote = {"staff_id": "manager-1", "name": "Asha", "role": "CASHIER"}
    with pytest.raises(HubError) as refused:
        await manager.command("setup.staff.put", demote)
    assert refused.value.code == ErrorCode.INVALID_SETUP and "nobody who approves" in refused.value.frame["message"]
    await manager.command("setup.staff.remove", {"staff_id": "ravi"})  # he approved nothing: nothing lost
    await manager.command("setup.staff.put", {"staff_id": "ravi", "name": "Ravi", "role": "MANAGER", "pin": "2580"})
    await manager.command("setup.staff.put", demote)
    order_id = await ready_dine_in(hub, "T12", "burger", "mojito")
    till = await hub.client(Role.CASHIER, device="till-4")
    big = {"order_id": order_id, "kind": "AMOUNT", "value": 10000, "reason": "cold food"}
    assert (await till.command("order.discount", big | {"pin": "2580"}))["result"]["approved_by"] == "ravi"
