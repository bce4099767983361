"""Quick service against the real servers: a counter order paid first stays in the kitchen until picked up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import WAIT, RunningHub
from tests.helpers import fired_order, new_order


async def _event(client: HubClient, type_: str, order_id: str) -> dict[str, Any]:
    """The first event of ``type_`` about ``order_id`` (others are passed over)."""

    async def wait() -> dict[str, Any]:
        while True:
            event = await client.events.get()
            data = event["data"]
            if event["type"] == type_ and order_id in (data.get("order_id"), *data.get("order_ids", ())):
                return event

    return await asyncio.wait_for(wait(), WAIT)


async def _pay(cashier: HubClient, order_id: str) -> dict[str, Any]:
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    ack = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": "UPI", "amount": due}]})
    return dict(ack["result"])


async def _order(hub: RunningHub, order_id: str) -> dict[str, Any]:
    async with hub.http(Role.CASHIER) as http:
        order: dict[str, Any] = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]
    return order


async def test_a_takeaway_paid_first_is_cooked_bumped_shown_ready_and_picked_up(hub: RunningHub) -> None:
    """Paid while cooking: still on the grill and the board, bumped after payment, READY on the board, pickup closes it."""
    waiter, cashier = await hub.client(Role.WAITER), await hub.client(Role.CASHIER)
    order_id = await fired_order(waiter, "burger", "water")
    paid = await _pay(cashier, order_id)  # no force: counter orders are paid first
    assert (paid["status"], paid["invoice_number"], paid["pickup_estimate_ms"]) == (
        "PAID",
        1,
        None,
    )  # no prep stats yet
    order = await _order(hub, order_id)
    assert (order["status"], order["payment_status"], order["invoice_id"]) == ("ACTIVE", "PAID", paid["invoice_id"])

    grill = await hub.kitchen("grill")
    tickets = (await grill.subscribe("kitchen:grill"))["snapshot"]["kitchen:grill"]["tickets"]
    assert [t["order_id"] for t in tickets] == [order_id]
    board = await hub.client(Role.DISPLAY)
    snap = (await board.subscribe("board"))["snapshot"]["board"]
    token = order["token"]
    assert (snap["preparing"], snap["ready"]) == ([token], [])

    expo = await hub.client(Role.EXPO)
    await expo.command("order.bump", {"order_id": order_id})
    ready = await _event(board, "ORDER_READY", order_id)
    assert ready["data"]["token"] == token
    snap = (await (await hub.client(Role.DISPLAY)).subscribe("board"))["snapshot"]["board"]
    assert (snap["preparing"], snap["ready"]) == ([], [token])

    picked = await expo.command("order.pickup", {"order_id": order_id})
    gone = await _event(board, "ORDER_PICKED_UP", order_id)
    assert (gone["data"]["token"], gone["data"]["picked_up_at"]) == (token, picked["result"]["order"]["picked_up_at"])
    order = await _order(hub, order_id)
    assert (order["status"], order["picked_up_by"]) == ("CLOSED", "expo-1") and order["picked_up_at"] > 0
    snap = (await (await hub.client(Role.DISPLAY)).subscribe("board"))["snapshot"]["board"]
    assert (snap["preparing"], snap["ready"]) == ([], [])
    with pytest.raises(HubError) as err:  # handed over once
        await expo.command("order.pickup", {"order_id": order_id})
    assert err.value.code == ErrorCode.INVALID_STATE


async def test_pickup_is_refused_until_paid_and_until_ready(hub: RunningHub) -> None:
    """A READY unpaid takeaway: "pay first"; paid while cooking: an estimate, but not ready; a kitchen device may not."""
    waiter, cashier = await hub.client(Role.WAITER), await hub.client(Role.CASHIER)
    order_id = await fired_order(waiter, "burger")
    await (await hub.client(Role.EXPO)).command("order.bump", {"order_id": order_id})
    with pytest.raises(HubError) as err:
        await waiter.command("order.pickup", {"order_id": order_id})
    assert err.value.code == ErrorCode.INVALID_STATE and "pay first" in err.value.frame["message"]
    with pytest.raises(HubError) as err:
        await (await hub.kitchen("grill")).command("order.pickup", {"order_id": order_id})
    assert err.value.code == ErrorCode.FORBIDDEN
    cooking = await fired_order(waiter, "burger")
    estimate = (await _pay(cashier, cooking))["pickup_estimate_ms"]  # the first burger's prep time is recorded now
    fired_at = (await _order(hub, cooking))["fired_at"]
    assert estimate is not None and estimate >= fired_at
    with pytest.raises(HubError) as err:
        await cashier.command("order.pickup", {"order_id": cooking})
    assert err.value.code == ErrorCode.INVALID_STATE and "not ready" in err.value.frame["message"]
    with pytest.raises(HubError) as err:  # its bill is final once paid
        await waiter.command("order.add_item", {"order_id": cooking, "menu_item_id": "fries"})
    assert err.value.code == ErrorCode.INVALID_STATE
    assert (await _order(hub, order_id))["status"] == "READY"


async def test_a_settled_dine_in_order_still_closes_at_once(hub: RunningHub) -> None:
    """Dine-in, bumped and paid: CLOSED / PAID straight away, off the grill's screen; pickup does not apply."""
    waiter, cashier = await hub.client(Role.WAITER), await hub.client(Role.CASHIER)
    order_id = await fired_order(waiter, "burger", type="DINE_IN", table_id="T2", guests=2)
    await (await hub.client(Role.EXPO)).command("order.bump", {"order_id": order_id})
    paid = await _pay(cashier, order_id)
    assert paid["pickup_estimate_ms"] is None
    order = await _order(hub, order_id)
    assert (order["status"], order["payment_status"], order["picked_up_at"]) == ("CLOSED", "PAID", None)
    grill = await hub.kitchen("grill")
    assert (await grill.subscribe("kitchen:grill"))["snapshot"]["kitchen:grill"]["tickets"] == []


async def test_a_dine_in_order_settled_while_cooking_needs_force(hub: RunningHub) -> None:
    """Dine-in keeps the rule: unfinished items are ITEMS_NOT_READY without force."""
    waiter, cashier = await hub.client(Role.WAITER), await hub.client(Role.CASHIER)
    order_id = await fired_order(waiter, "burger", type="DINE_IN", table_id="T3", guests=2)
    with pytest.raises(HubError) as err:
        await _pay(cashier, order_id)
    assert err.value.code == ErrorCode.ITEMS_NOT_READY


async def test_skip_and_force_ready_record_who_did_it(hub: RunningHub) -> None:
    """item.skip and order.force_ready: lines SKIPPED with skipped_by, ITEM_STATUS_CHANGED naming the device, READY."""
    waiter = await hub.client(Role.WAITER)
    expo = await hub.client(Role.EXPO, device="expo-7")
    await expo.subscribe("expo")
    cashier = await hub.client(Role.CASHIER, device="till-3")
    order_id = await fired_order(waiter, "burger", "fries", "paneer-tikka")
    skipped = await cashier.command("item.skip", {"order_id": order_id, "line_id": "L2"})
    lines = {i["id"]: i for i in skipped["result"]["order"]["items"]}
    assert (lines["L2"]["status"], lines["L2"]["skipped_by"]) == ("SKIPPED", "till-3")
    changed = await _event(expo, "ITEM_STATUS_CHANGED", order_id)
    assert (changed["data"]["line_id"], changed["data"]["status"], changed["data"]["by"]) == ("L2", "SKIPPED", "till-3")
    with pytest.raises(HubError) as err:
        await waiter.command("order.force_ready", {"order_id": order_id})
    assert err.value.code == ErrorCode.FORBIDDEN
    forced = await expo.command("order.force_ready", {"order_id": order_id})
    order = forced["result"]["order"]
    assert order["status"] == "READY"
    assert {i["id"]: (i["status"], i["skipped_by"]) for i in order["items"]} == {
        "L1": ("SKIPPED", "expo-7"), "L2": ("SKIPPED", "till-3"), "L3": ("SKIPPED", "expo-7"),
    }  # fmt: skip
    ready = await _event(expo, "ORDER_READY", order_id)
    assert ready["data"]["order_id"] == order_id


async def test_a_delivery_is_paid_first_and_picked_up_without_a_board_token(hub: RunningHub) -> None:
    """DELIVERY waits for pickup too: paid while cooking it stays ACTIVE; force ready, then pickup closes it."""
    waiter, cashier = await hub.client(Role.WAITER), await hub.client(Role.CASHIER)
    order_id = await new_order(waiter, "burger", type="DELIVERY", phone="5550100", address="1 Main St")
    await waiter.command("order.fire", {"order_id": order_id})
    await _pay(cashier, order_id)
    assert (await _order(hub, order_id))["status"] == "ACTIVE"
    await cashier.command("order.force_ready", {"order_id": order_id})
    closed = await cashier.command("order.pickup", {"order_id": order_id})
    assert (closed["result"]["order"]["status"], closed["result"]["order"]["token"]) == ("CLOSED", None)
