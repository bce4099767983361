"""Delivery against the real servers: a batch to a rider, delivered, failed and returned; riders kept apart."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import RunningHub
from tests.helpers import event_about as _event
from tests.helpers import ready_delivery


async def _order(hub: RunningHub, order_id: str) -> dict[str, Any]:
    async with hub.http(Role.DISPATCHER) as http:
        order: dict[str, Any] = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]
    return order


async def _refused(code: ErrorCode, client: HubClient, command_type: str, data: dict[str, Any]) -> HubError:
    with pytest.raises(HubError) as err:
        await client.command(command_type, data)
    assert err.value.code == code, err.value.frame
    return err.value


async def test_a_batch_of_three_is_picked_up_delivered_failed_and_returned(hub: RunningHub) -> None:
    """rider-1 gets three orders with address and phone; two delivered (one cash), one failed and returned; all told."""
    cod, prepaid, failing = [await ready_delivery(hub, n, prepaid=n == 2) for n in (1, 2, 3)]
    dispatcher, cashier = await hub.client(Role.DISPATCHER), await hub.client(Role.CASHIER)
    rider, other = await hub.client(Role.RIDER, device="rider-1"), await hub.client(Role.RIDER, device="rider-2")
    await dispatcher.subscribe("dispatch")
    await cashier.subscribe("cashier")
    await rider.subscribe("rider:rider-1")
    await other.subscribe("rider:rider-2")

    ack = await dispatcher.command("delivery.assign", {"order_ids": [cod, prepaid, failing], "rider": "rider-1"})
    batch = ack["result"]["batch"]
    for n, order_id in enumerate((cod, prepaid, failing), start=1):
        told = (await _event(rider, "DELIVERY_ASSIGNED", order_id))["data"]["order"]
        assert (told["phone"], told["address"]) == (f"555020{n}", f"{n} Rider Rd")
        assert (told["delivery"]["batch"], told["delivery"]["stop"], told["delivery"]["status"]) == (
            batch,
            n,
            "ASSIGNED",
        )
        assert (await _event(dispatcher, "DELIVERY_ASSIGNED", order_id))["data"]["order"]["delivery"][
            "rider"
        ] == "rider-1"
        await _event(cashier, "DELIVERY_ASSIGNED", order_id)
    due = ack["result"]["orders"][0]["delivery"]["cod"]
    assert due > 0 and ack["result"]["orders"][1]["delivery"]["cod"] == 0

    fresh = await hub.client(Role.RIDER, device="rider-1")
    mine = (await fresh.subscribe("rider:rider-1"))["snapshot"]["rider:rider-1"]["orders"]
    assert [(o["id"], o["address"]) for o in mine] == [
        (cod, "1 Rider Rd"),
        (prepaid, "2 Rider Rd"),
        (failing, "3 Rider Rd"),
    ]
    view = (await (await hub.client(Role.DISPATCHER)).subscribe("dispatch"))["snapshot"]["dispatch"]
    assert {cod, prepaid, failing} <= {o["id"] for o in view["orders"]}
    assert {"rider": "rider-1", "order_ids": [cod, prepaid, failing]} in view["riders"]

    for order_id in (cod, prepaid):
        await rider.command("delivery.pickup", {"order_id": order_id})
    async with hub.http(Role.RIDER, device="rider-1") as http:  # the REST route does the same
        r = await http.post(f"/api/v1/orders/{failing}/delivery/pickup", json={})
        assert r.status_code == 200, r.text
    for order_id in (cod, prepaid, failing):
        await _event(dispatcher, "DELIVERY_PICKED_UP", order_id)

    wrong = await _refused(ErrorCode.INVALID_STATE, rider, "delivery.deliver", {"order_id": cod, "collected": due - 1})
    assert wrong.frame["details"]["due"] == due
    delivered = await rider.command("delivery.deliver", {"order_id": cod, "collected": due})
    assert delivered["result"]["closed"] is True  # paid on delivery: COD, to the rider's cash
    assert delivered["result"]["payment"]["invoice_number"] and delivered["result"]["payment"]["total"] == due
    assert (await rider.command("delivery.deliver", {"order_id": prepaid}))["result"]["closed"] is True
    await rider.command("delivery.fail", {"order_id": failing, "reason": "nobody home"})
    await _refused(ErrorCode.FORBIDDEN, rider, "delivery.return", {"order_id": failing})  # the restaurant takes it back
    await cashier.command("delivery.return", {"order_id": failing})

    for client in (dispatcher, cashier, rider):
        await _event(client, "DELIVERY_DELIVERED", cod)
        await _event(client, "DELIVERY_DELIVERED", prepaid)
        await _event(client, "DELIVERY_FAILED", failing)
        returned = await _event(client, "DELIVERY_RETURNED", failing)
        assert returned["data"]["order"]["delivery"]["reason"] == "nobody home"
    assert (await _order(hub, cod))["delivery"]["collected"] == due
    assert (await _order(hub, cod))["status"] == "CLOSED"
    assert (await _order(hub, cod))["payment_status"] == "PAID"
    assert (await _order(hub, prepaid))["status"] == "CLOSED"
    assert (await _order(hub, failing))["delivery"]["status"] == "RETURNED"
    again = await _refused(ErrorCode.INVALID_STATE, rider, "delivery.deliver", {"order_id": cod, "collected": due})
    assert "DELIVERED" in again.frame["message"]
    mine = (await (await hub.client(Role.RIDER, device="rider-1")).subscribe("rider:rider-1"))["snapshot"]
    assert mine["rider:rider-1"]["orders"] == []

    # rider-2 saw none of it: the next event it gets is its own, and nothing of rider-1's came before it
    own = await ready_delivery(hub, 4)
    await dispatcher.command("delivery.assign", {"order_ids": [own], "rider": "rider-2"})
    await _event(other, "DELIVERY_ASSIGNED", own)
    seen = []
    while not other.events.empty():
        seen.append(other.events.get_nowait())
    assert all(own in str(ev) for ev in seen)


async def test_another_rider_can_neither_read_nor_act_on_the_first_riders_orders(hub: RunningHub) -> None:
    """rider-2: FORBIDDEN to read rider:rider-1, orders, order:<id>, cashier; FORBIDDEN to take or deliver them."""
    order_id = await ready_delivery(hub, 1)
    dispatcher = await hub.client(Role.DISPATCHER)
    await dispatcher.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"})
    other = await hub.client(Role.RIDER, device="rider-2")
    for channel in ("rider:rider-1", "orders", f"order:{order_id}", "cashier", "dispatch"):
        with pytest.raises(HubError) as err:
            await other.subscribe(channel)
        assert err.value.code == ErrorCode.FORBIDDEN, channel
    for command_type, data in (
        ("delivery.pickup", {"order_id": order_id}),
        ("delivery.deliver", {"order_id": order_id}),
        ("delivery.fail", {"order_id": order_id, "reason": "mine now"}),
        ("delivery.assign", {"order_ids": [order_id], "rider": "rider-2"}),
    ):
        err = await _refused(ErrorCode.FORBIDDEN, other, command_type, data)
        assert "Rider Rd" not in str(err.frame) and "5550201" not in str(err.frame)
    async with hub.http(Role.RIDER, device="rider-2") as http:
        for path in ("/api/v1/orders", f"/api/v1/orders/{order_id}"):
            assert (await http.get(path)).status_code == 403, path
    assert (await _order(hub, order_id))["delivery"]["status"] == "ASSIGNED"


async def test_reassigning_tells_the_old_rider_without_the_customer(hub: RunningHub) -> None:
    """ASSIGNED to rider-1, given to rider-2: rider-1 gets DELIVERY_UNASSIGNED (no address, no phone), rider-2 it all."""
    order_id = await ready_delivery(hub, 1)
    dispatcher = await hub.client(Role.DISPATCHER)
    first, second = await hub.client(Role.RIDER, device="rider-1"), await hub.client(Role.RIDER, device="rider-2")
    await first.subscribe("rider:rider-1")
    await second.subscribe("rider:rider-2")
    await dispatcher.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"})
    await _event(first, "DELIVERY_ASSIGNED", order_id)
    await dispatcher.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-2"})
    gone = await _event(first, "DELIVERY_UNASSIGNED", order_id)
    assert gone["channels"] == ["rider:rider-1"]
    assert "Rider Rd" not in str(gone) and "5550201" not in str(gone)
    got = (await _event(second, "DELIVERY_ASSIGNED", order_id))["data"]
    assert (got["order"]["address"], got["previous_rider"]) == ("1 Rider Rd", "rider-1")
    await _refused(ErrorCode.FORBIDDEN, first, "delivery.pickup", {"order_id": order_id})
    await second.command("delivery.pickup", {"order_id": order_id})


async def test_concurrent_copies_of_a_delivery_apply_once(hub: RunningHub) -> None:
    """The same delivery.deliver sent three times at once: one answer; three different ids: one DELIVERED, two refused."""
    first, second = await ready_delivery(hub, 1, prepaid=True), await ready_delivery(hub, 2, prepaid=True)
    dispatcher, rider = await hub.client(Role.DISPATCHER), await hub.client(Role.RIDER, device="rider-1")
    await dispatcher.command("delivery.assign", {"order_ids": [first, second], "rider": "rider-1"})
    for order_id in (first, second):
        await rider.command("delivery.pickup", {"order_id": order_id})
    version = (await _order(hub, first))["version"]

    phones = [await hub.client(Role.RIDER, device="rider-1") for _ in range(3)]  # one id per client's wait
    same = await asyncio.gather(
        *(phone.command("delivery.deliver", {"order_id": first}, id="deliver-once") for phone in phones)
    )
    assert len({(a["offset"], str(a["result"])) for a in same}) == 1
    closed = await _order(hub, first)
    assert (closed["status"], closed["version"]) == ("CLOSED", version + 1)

    answers = await asyncio.gather(
        *(rider.command("delivery.deliver", {"order_id": second}) for _ in range(3)), return_exceptions=True
    )
    done = [a for a in answers if isinstance(a, dict)]
    refused = [a for a in answers if isinstance(a, HubError)]
    assert len(done) == 1 and len(refused) == 2, answers
    assert all(r.code == ErrorCode.INVALID_STATE for r in refused)


async def test_suggested_batches_group_ready_orders_by_direction(hub: RunningHub) -> None:
    """Two ready orders north-east of the restaurant and one south-west: two trips, with the reasons; an order
    with no place is listed to assign by hand; once the batch is assigned it is no longer suggested."""
    manager, dispatcher = await hub.client(Role.MANAGER), await hub.client(Role.DISPATCHER)
    async with hub.http(Role.DISPATCHER, rid="r-nowhere") as http:  # a restaurant with no place set
        unset = await http.get("/api/v1/deliveries/suggestions")
        assert unset.status_code == 409 and "location" in unset.json()["message"], unset.text
    await manager.command("setup.profile", {"location": {"lat": 12.9716, "lon": 77.5946}})
    promised = int(time.time() * 1000) + 20 * 60_000  # all promised in 20 minutes: one trip for all would be late
    north_east = [
        await ready_delivery(
            hub, n, location={"lat": 12.9816 + n / 1000, "lon": 77.6046 + n / 1000}, promised_at=promised
        )
        for n in (1, 2)
    ]
    south_west = await ready_delivery(hub, 3, location={"lat": 12.9516, "lon": 77.5746}, promised_at=promised)
    nowhere = await ready_delivery(hub, 4)
    async with hub.http(Role.DISPATCHER) as http:
        answer = (await http.get("/api/v1/deliveries/suggestions")).json()
    assert answer["unplaced"] == [nowhere]
    trips = {frozenset(s["order_ids"]): s for s in answer["suggestions"]}
    assert set(trips) == {frozenset(north_east), frozenset([south_west])}, answer
    together = trips[frozenset(north_east)]
    assert "to the NE" in together["reason"] and "km" in together["reason"]
    assert together["etas"] == sorted(together["etas"]) and together["distance_m"] > 0
    async with hub.http(Role.WAITER) as http:
        assert (await http.get("/api/v1/deliveries/suggestions")).status_code == 403

    await dispatcher.command("delivery.assign", {"order_ids": together["order_ids"], "rider": "rider-1"})
    async with hub.http(Role.DISPATCHER) as http:
        after = (await http.get("/api/v1/deliveries/suggestions")).json()
    assert [s["order_ids"] for s in after["suggestions"]] == [[south_west]]


async def test_command_answers_blank_a_delivery_customer_for_readers_who_may_not_see_them(hub: RunningHub) -> None:
    """An answer carries the whole order, so it is blanked as events are: a waiter's add, the kitchen's start, an
    answer asked again by id (``outcome``, over both transports); a rider sees the details only on its own trips."""
    cashier = await hub.client(Role.CASHIER)
    where = {"phone": "5550301", "address": "3 Quiet Ln"}
    opened = await cashier.command("order.open", {"type": "DELIVERY", **where}, id="cash-open-1")
    order_id = opened["result"]["order"]["id"]
    assert opened["result"]["order"]["phone"] == "5550301"  # the money side sees it
    waiter, grill = await hub.client(Role.WAITER), await hub.client(Role.KITCHEN, stations=("grill",))
    added = await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger"})
    async with hub.http(Role.WAITER) as http:
        over_http = (await http.post(f"/api/v1/orders/{order_id}/items", json={"menu_item_id": "water"})).json()
        assert over_http["result"]["order"]["phone"] is None, over_http
    await waiter.command("order.fire", {"order_id": order_id})
    started = await grill.command("item.start", {"order_id": order_id, "line_id": "L1"})
    for answer in (added, started):
        assert "5550301" not in str(answer) and "3 Quiet Ln" not in str(answer), answer
    assert (added["result"]["order"]["id"], added["result"]["order"]["phone"]) == (order_id, None)
    await waiter.send({"op": "outcome", "id": "cash-open-1"})
    again = await waiter.reply()
    assert again["op"] == "ack" and again["result"]["order"]["address"] is None, again
    async with hub.http(Role.WAITER) as http:
        assert (await http.get("/api/v1/commands/cash-open-1")).json()["result"]["order"]["phone"] is None
    async with hub.http(Role.CASHIER) as http:
        assert (await http.get("/api/v1/commands/cash-open-1")).json()["result"]["order"]["phone"] == "5550301"

    dispatcher = await hub.client(Role.DISPATCHER)
    await grill.command("item.done", {"order_id": order_id, "line_id": "L1"})  # the order is READY
    await dispatcher.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"}, id="assign-1")
    async with hub.http(Role.RIDER, device="rider-2") as http:
        theirs = (await http.get("/api/v1/commands/assign-1")).json()
        assert theirs["result"]["orders"][0]["phone"] is None, theirs  # another rider's trip
    async with hub.http(Role.RIDER, device="rider-1") as http:
        mine = (await http.get("/api/v1/commands/assign-1")).json()
        assert mine["result"]["orders"][0]["phone"] == "5550301", mine
    rider = await hub.client(Role.RIDER, device="rider-1")
    picked = await rider.command("delivery.pickup", {"order_id": order_id})
    assert "3 Quiet Ln" in str(picked)


async def test_a_delivery_customers_phone_and_address_reach_only_riders_dispatch_and_the_money_side(
    hub: RunningHub,
) -> None:
    """Item 7: a waiter (and the kitchen) gets delivery orders with the phone, address and place blanked, in
    snapshots, live events, replays and HTTP reads; the dispatcher and the cashier get them whole."""
    waiter, dispatcher, cashier = [await hub.client(r) for r in (Role.WAITER, Role.DISPATCHER, Role.CASHIER)]
    snapshots = {
        "waiter": (await waiter.subscribe("orders"))["snapshot"]["orders"]["orders"],
        "cashier": (await cashier.subscribe("orders"))["snapshot"]["orders"]["orders"],
    }
    await dispatcher.subscribe("dispatch")
    assert snapshots == {"waiter": [], "cashier": []}
    place = {"lat": 12.98, "lon": 77.6}
    order_id = await ready_delivery(hub, 7, location=place)
    whole = {"phone": "5550207", "address": "7 Rider Rd", "location": place}
    for client, seen in ((dispatcher, whole), (cashier, whole), (waiter, dict.fromkeys(whole))):
        order = (await _event(client, "ORDER_OPENED", order_id))["data"]["order"]
        assert {k: order[k] for k in whole} == seen, (client, order)
    # a snapshot taken now, and HTTP reads
    later = await hub.client(Role.WAITER)
    (shown,) = (await later.subscribe("orders"))["snapshot"]["orders"]["orders"]
    assert (shown["id"], shown["phone"], shown["address"], shown["location"]) == (order_id, None, None, None)
    assert shown["customer_name"] == (await _order(hub, order_id))["customer_name"]  # the name is not withheld
    async with hub.http(Role.WAITER) as http:
        read = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]
        assert (read["phone"], read["address"]) == (None, None)
        listed = [o for o in (await http.get("/api/v1/orders")).json()["orders"] if o["id"] == order_id]
        assert listed and listed[0]["address"] is None
    async with hub.http(Role.CASHIER) as http:
        assert (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]["address"] == "7 Rider Rd"
    # a waiter resuming from an earlier offset gets the missed events blanked too
    resumed = await hub.client(Role.WAITER)
    replay = await resumed.subscribe("orders", since=1)
    assert "7 Rider Rd" not in str(replay) and "5550207" not in str(replay)
    assert order_id in str(replay)
