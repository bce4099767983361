"""Invoice history over HTTP: filters, sorting and pages for the back office and integrations; one invoice whole."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from fireflow.hub.domain.actors import Role
from tests.conftest import WAIT, RunningHub

CUSTOMERS = ("Asha Rao", "Ravi", "asha k", None, "50% Off_Club")


async def _settle(till: httpx.AsyncClient, items: int, customer: str | None) -> dict[str, Any]:
    async def run(type_: str, data: dict[str, Any]) -> dict[str, Any]:
        answer = await till.post("/api/v1/commands", json={"type": type_, "data": data})
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()["result"]
        return result

    order_id = (await run("order.open", {"type": "TAKEAWAY"}))["order"]["id"]
    await run("order.add_item", {"order_id": order_id, "menu_item_id": "lassi", "quantity": items})
    due = (await run("bill.preview", {"order_ids": [order_id]}))["due"]
    pay: dict[str, Any] = {"order_ids": [order_id], "tenders": [{"method": "CASH", "amount": due}], "force": True}
    if customer is not None:
        pay["customer_name"] = customer
    return await run("order.pay", pay)


async def test_invoices_are_filtered_sorted_and_paged(hub: RunningHub) -> None:
    async with hub.http(Role.CASHIER, device="till-1") as till:
        paid = [await _settle(till, n + 1, name) for n, name in enumerate(CUSTOMERS)]
        numbers = [p["invoice_number"] for p in paid]
        page = (await till.get("/api/v1/invoices")).json()
        assert [i["number"] for i in page["invoices"]] == sorted(numbers, reverse=True)
        assert (page["total"], page["pages"], page["page"]) == (5, 1, 1)
        first = page["invoices"][-1]
        assert first["customer_name"] == "Asha Rao" and first["created_by"] == "till-1"
        assert first["order_ids"] == paid[0]["order_ids"] and first["total"] == paid[0]["total"]
        asha = (await till.get("/api/v1/invoices", params={"customer": "ASHA", "sort": "total"})).json()
        assert [i["customer_name"] for i in asha["invoices"]] == ["Asha Rao", "asha k"]  # cheapest first
        literal = (await till.get("/api/v1/invoices", params={"customer": "50%"})).json()
        assert [i["customer_name"] for i in literal["invoices"]] == ["50% Off_Club"]  # % is not a wildcard
        second = (await till.get("/api/v1/invoices", params={"per_page": 2, "page": 2, "sort": "number"})).json()
        assert [i["number"] for i in second["invoices"]] == sorted(numbers)[2:4] and second["pages"] == 3
        one = (await till.get("/api/v1/invoices", params={"number": numbers[1]})).json()
        assert [i["customer_name"] for i in one["invoices"]] == ["Ravi"]
        today = first["business_day"]
        none_later = (await till.get("/api/v1/invoices", params={"from": "2999-01-01"})).json()
        assert none_later["invoices"] == [] and none_later["total"] == 0
        assert (await till.get("/api/v1/invoices", params={"from": today, "to": today})).json()["total"] == 5
        for bad, word in (({"sort": "price"}, "sort"), ({"per_page": 500}, "per_page"), ({"from": "1/2/2026"}, "from")):
            refused = await till.get("/api/v1/invoices", params=bad)
            assert refused.status_code == 422 and refused.json()["code"] == "INVALID_COMMAND", bad
            assert refused.json()["message"].startswith(word)


async def test_one_invoice_whole_and_who_may_read_it(hub: RunningHub) -> None:
    async with hub.http(Role.CASHIER, device="till-1") as till:
        paid = await _settle(till, 3, "Asha Rao")
        found = (await till.get(f"/api/v1/invoices/{paid['invoice_id']}")).json()["invoice"]
        assert found["number"] == paid["invoice_number"] and found["order_ids"] == paid["order_ids"]
        assert [(line["menu_item_id"], line["quantity"]) for line in found["lines"]] == [("lassi", 3)]
        assert [(p["method"], p["amount"]) for p in found["payments"]] == [("CASH", paid["total"])]
        assert found["bill"]["total"] == paid["total"]
        assert (found["refunded"], found["refunds"]) == (0, [])
        for amount in (1000, 500):
            refund = {
                "invoice_id": paid["invoice_id"],
                "amount": amount,
                "method": "CASH",
                "reason": "sour",
                "pin": "1234",
            }
            answer = await till.post("/api/v1/commands", json={"type": "invoice.refund", "data": refund})
            assert answer.status_code == 200, answer.text
        again = (await till.get(f"/api/v1/invoices/{paid['invoice_id']}")).json()["invoice"]
        assert again["refunded"] == 1500
        assert [(r["amount"], r["by"], r["reason"]) for r in again["refunds"]] == [
            (1000, "till-1", "sour"),
            (500, "till-1", "sour"),
        ]
        missing = await till.get(f"/api/v1/invoices/{hub.rid}.inv999999")
        assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
        foreign = await till.get("/api/v1/invoices/elsewhere.inv1")
        assert foreign.status_code == 403 and foreign.json()["code"] == "WRONG_TENANT"
    async with hub.http(Role.WAITER) as waiter:
        forbidden = await waiter.get("/api/v1/invoices")
        assert forbidden.status_code == 403 and forbidden.json()["code"] == "FORBIDDEN"


async def test_an_orders_history_names_the_device_behind_each_event(hub: RunningHub) -> None:
    """Opened and fired by the waiter, made at the grill, paid at the till: each event says which device did it."""
    waiter = await hub.client(Role.WAITER, device="waiter-3")
    order_id = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]["id"]
    await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "burger", "quantity": 1})
    await waiter.command("order.fire", {"order_id": order_id})
    grill = await hub.kitchen("grill")
    await grill.command("order.bump", {"order_id": order_id})
    async with hub.http(Role.CASHIER, device="till-1") as till:
        due = await till.post("/api/v1/commands", json={"type": "bill.preview", "data": {"order_ids": [order_id]}})
        pay = {"order_ids": [order_id], "tenders": [{"method": "CASH", "amount": due.json()["result"]["due"]}]}
        assert (await till.post("/api/v1/commands", json={"type": "order.pay", "data": pay})).status_code == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:  # the durable writer stores events within moments; wait for the payment's
            found = (await till.get(f"/api/v1/orders/{order_id}/history")).json()["events"]
            if any(e["type"] == "ORDER_SETTLED" for e in found) or loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
        unknown = await till.get(f"/api/v1/orders/{hub.rid}.nosuch/history")
        assert unknown.status_code == 404
    by = [(e["type"], e["device"]) for e in found]
    assert by[0] == ("ORDER_OPENED", "waiter-3")
    assert ("ORDER_FIRED", "waiter-3") in by and ("NEW_KITCHEN_ORDER", "waiter-3") in by
    assert ("ORDER_READY", "kds-grill") in by
    assert ("PAYMENT_RECORDED", "till-1") in by and ("ORDER_SETTLED", "till-1") in by
    assert [e["offset"] for e in found] == sorted(e["offset"] for e in found)
