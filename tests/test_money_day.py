"""A day of money against the real servers: refunds, voids, the drawer, the close, and everything agreeing."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import asyncpg
import pytest

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.run.demo import demo_menu
from fireflow.schema.protocol import ErrorCode
from tests.conftest import RunningHub, Servers
from tests.helpers import new_order


async def _fetch(servers: Servers, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(servers.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _settle(cashier: HubClient, waiter: HubClient, rng: random.Random) -> dict[str, Any]:
    """A takeaway order of random items, fired, forced through, paid over one or two tenders (cash with change)."""
    items = [i.id for i in demo_menu().items if not any(g.required for g in i.modifiers)]  # no choice to make
    order_id = await new_order(waiter, *rng.sample(items, rng.randint(1, 4)))
    await waiter.command("order.fire", {"order_id": order_id})
    if rng.random() < 0.4:
        kind, value = ("PERCENT", rng.randint(1, 10) * 100) if rng.random() < 0.5 else ("AMOUNT", rng.randint(1, 500))
        await cashier.command("order.discount", {"order_id": order_id, "kind": kind, "value": value, "pin": "1234"})
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    if rng.random() < 0.5:
        cash = rng.randint(1, due)
        tenders = [{"method": "CASH", "amount": cash, "received": cash + rng.randint(0, 5000)}]
        if due > cash:
            tenders.append({"method": rng.choice(["UPI", "CARD", "WALLET"]), "amount": due - cash})
    else:
        tenders = [{"method": rng.choice(["UPI", "CARD"]), "amount": due}]
    ack = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tenders, "force": True})
    return dict(ack["result"])


async def test_a_random_day_balances_and_the_z_report_payments_and_ledger_agree(
    hub: RunningHub, servers: Servers
) -> None:
    """60 random bills with discounts and splits, refunds (PIN) and voids, float and payouts, then the close."""
    rng = random.Random(20261123)
    cashier, waiter = await hub.client(Role.CASHIER), await hub.client(Role.WAITER)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await cashier.command("drawer.float", {"amount": 500000})
    settled = [await _settle(cashier, waiter, rng) for _ in range(60)]
    refunded, voided = Counter[str](), []
    for result in rng.sample(settled, 20):
        invoice = result["invoice_id"]
        if rng.random() < 0.5:
            voided.append(invoice)
            await cashier.command("invoice.void", {"invoice_id": invoice, "reason": "wrong table", "pin": "1234"})
        else:
            amount = rng.randint(1, result["total"])
            data = {"invoice_id": invoice, "amount": amount, "method": rng.choice(["CASH", "UPI"]), "reason": "cold"}
            with pytest.raises(HubError) as err:
                await cashier.command("invoice.refund", data)
            assert err.value.code == ErrorCode.PIN_REQUIRED
            await cashier.command("invoice.refund", data | {"pin": "1234"})
            refunded[invoice] += amount
    with pytest.raises(HubError) as err:  # a voided invoice cannot be refunded
        await cashier.command("invoice.refund", {"invoice_id": voided[0], "amount": 1, "method": "CASH",
                                                 "reason": "x", "pin": "1234"})  # fmt: skip
    assert err.value.code == ErrorCode.INVALID_STATE
    await cashier.command("drawer.payout", {"amount": 12000, "category": "supplies", "note": "ice"})
    close = (await manager.command("day.close", {"counted_cash": 1_000_000}))["result"]["report"]
    rid = hub.rid
    # Every ledger transaction balances (the database refuses any that does not, and we recheck).
    unbalanced = await _fetch(servers, "SELECT t.id FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id "
                              "WHERE t.restaurant_id = $1 GROUP BY t.id HAVING sum(e.debit) <> sum(e.credit)", rid)  # fmt: skip
    assert unbalanced == []
    balances = {r["account"]: r["balance"] for r in await _fetch(
        servers, "SELECT e.account, sum(e.debit) - sum(e.credit) AS balance FROM ledger_entries e "
        "JOIN ledger_transactions t ON t.id = e.transaction_id WHERE t.restaurant_id = $1 GROUP BY e.account", rid)}  # fmt: skip
    takings = {r["method"]: r["amount"] for r in await _fetch(
        servers, "SELECT method, sum(amount) AS amount FROM payments WHERE restaurant_id = $1 GROUP BY method", rid)}  # fmt: skip
    # The Z-report, the payments and the ledger agree to the minor unit.
    assert close["takings_by_method"] == {"COD": 0, **takings}  # no delivery today: nothing collected by riders
    assert close["invoices"] == 60 and close["voids"] == len(voided) and close["refunds"] == len(refunded)
    assert close["refunded"] == sum(refunded.values())
    assert close["voided"] == sum(r["total"] for r in settled if r["invoice_id"] in voided)
    for method, account in {
        "CASH": "asset:cash_drawer",
        "UPI": "asset:upi",
        "CARD": "asset:card",
        "WALLET": "asset:wallet",
    }.items():
        expected = close["net_by_method"].get(method, 0) + (
            close["opening_float"] - close["payouts"] if method == "CASH" else 0
        )
        assert balances.get(account, 0) == expected, method
    assert close["expected_cash"] == balances["asset:cash_drawer"]
    assert close["cash_difference"] == 1_000_000 - close["expected_cash"]
    assert sum(balances.values()) == 0
    async with hub.http(Role.MANAGER, device="manager-1") as http:
        z = (await http.get("/api/v1/reports/z")).json()
        page = await http.get("/api/v1/reports/z.html")
    assert z == close  # the stored close's count comes back with the report
    assert page.status_code == 200 and "Z-report" in page.text and "Expected cash" in page.text
    numbers = await _fetch(servers, "SELECT number FROM invoices WHERE restaurant_id = $1 ORDER BY number", rid)
    assert [r["number"] for r in numbers] == list(range(1, 61))  # gap-free
    voided_orders = await _fetch(
        servers, "SELECT count(*) AS n FROM invoices WHERE restaurant_id = $1 AND status = 'VOIDED'", rid
    )
    assert voided_orders[0]["n"] == len(voided)


async def test_a_refund_whose_answer_was_lost_is_finished_by_its_retry(
    hub: RunningHub, redis: Any, servers: Servers
) -> None:
    """A full refund recorded in Postgres but not applied live (crash): its retry finishes it, nothing posted twice."""
    from fireflow.hub.live.keys import Keys

    rng = random.Random(7)
    cashier, waiter = await hub.client(Role.CASHIER), await hub.client(Role.WAITER)
    settled = await _settle(cashier, waiter, rng)
    data = {
        "invoice_id": settled["invoice_id"],
        "amount": settled["total"],
        "method": "CASH",
        "reason": "cold",
        "pin": "1234",
    }
    first = await cashier.command("invoice.refund", data, id="refund-1")
    await redis.delete(Keys(hub.rid).command("refund-1"))  # as if Redis never heard of it
    again = await cashier.command("invoice.refund", data, id="refund-1")
    assert again["result"] == first["result"] and first["result"]["fully"] is True
    rows = await _fetch(
        servers, "SELECT count(*) AS n FROM ledger_transactions WHERE restaurant_id = $1 AND kind = 'REFUND'", hub.rid
    )
    assert rows[0]["n"] == 1
    async with hub.http(Role.CASHIER) as http:
        figures = (await http.get("/api/v1/reports/day")).json()
    assert (figures["revenue"], figures["invoices"]) == (0, 1)  # refunded in full: nothing taken, one invoice issued


async def test_a_closed_days_report_never_changes_money_after_the_close_goes_to_the_next_day(
    hub: RunningHub, servers: Servers
) -> None:
    """Five payments racing the close each land wholly before it or after it; the closed day's Z stays as closed."""
    rng = random.Random(9)
    cashier = await hub.client(Role.CASHIER, device="till-1")
    waiter = await hub.client(Role.WAITER)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    before = [await _settle(cashier, waiter, rng) for _ in range(3)]
    orders = [await new_order(waiter, "water", "soda") for _ in range(5)]
    for order_id in orders:
        await waiter.command("order.fire", {"order_id": order_id})
    tills = [await hub.client(Role.CASHIER, device=f"till-{n + 2}") for n in range(5)]

    async def pay(till: HubClient, order_id: str) -> dict[str, Any]:
        due = (await till.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        tenders = [{"method": "CARD", "amount": due}]
        return (await till.command("order.pay", {"order_ids": [order_id], "tenders": tenders}))["result"]

    racing = [pay(till, order_id) for till, order_id in zip(tills, orders, strict=True)]
    closed, *paid = await asyncio.gather(manager.command("day.close", {"counted_cash": 0}), *racing)
    report = closed["result"]["report"]
    day = report["day"]
    rows = await _fetch(servers, "SELECT id, business_day FROM invoices WHERE restaurant_id = $1", hub.rid)
    days = {r["id"]: r["business_day"].isoformat() for r in rows}
    in_day = [p for p in paid if days[p["invoice_id"]] == day]
    later = [p for p in paid if days[p["invoice_id"]] != day]
    assert all(days[p["invoice_id"]] > day for p in later)
    assert report["invoices"] == len(before) + len(in_day)  # the close counted exactly what landed in its day
    assert report["takings_by_method"].get("CARD", 0) == sum(p["total"] for p in in_day)
    after = await _settle(cashier, waiter, rng)  # surely after the close
    assert days.get(after["invoice_id"]) is None
    (next_day,) = await _fetch(servers, "SELECT business_day FROM invoices WHERE id = $1", after["invoice_id"])
    assert next_day["business_day"].isoformat() > day
    async with hub.http(Role.MANAGER, device="manager-1") as http:
        z = (await http.get("/api/v1/reports/z", params={"day": day})).json()
    assert z == report  # the closed day's report, read again after later money: unchanged
    with pytest.raises(HubError) as again:
        await manager.command("day.close", {"counted_cash": 0, "day": day})
    assert again.value.code == ErrorCode.INVALID_STATE and again.value.frame["details"]["last_closed"] == day
    with pytest.raises(HubError) as future:  # a day not begun: closing it would strand every day before it
        await manager.command("day.close", {"counted_cash": 0, "day": "2999-01-01"})
    assert future.value.code == ErrorCode.INVALID_STATE and future.value.frame["details"]["day"] == "2999-01-01"
    with pytest.raises(HubError) as no_day:
        await manager.command("day.close", {"counted_cash": 0, "day": "2026-13-45"})
    assert no_day.value.code == ErrorCode.INVALID_COMMAND
