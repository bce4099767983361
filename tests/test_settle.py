"""Paying and settling against the real servers: durable first, one settlement per order, safe retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import orjson
import pytest

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import WAIT, RunningHub, Servers
from tests.helpers import events_until, fired_order, new_order


def _dsn(servers: Servers) -> str:
    return servers.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def _rows(servers: Servers, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(servers))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _until(client: HubClient, type_: str) -> list[dict[str, Any]]:
    """Every event up to and including the first of ``type_``."""
    seen: list[dict[str, Any]] = []

    async def collect() -> None:
        while not seen or seen[-1]["type"] != type_:
            seen.append(await client.events.get())

    await asyncio.wait_for(collect(), WAIT)
    return seen


async def ready_dine_in(hub: RunningHub, table: str, *items: str) -> str:
    """A dine-in order at ``table`` whose items are fired and all bumped: ready to pay."""
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, *items, type="DINE_IN", table_id=table, guests=2)
    await waiter.command("order.fire", {"order_id": order_id})
    expo = await hub.client(Role.EXPO)
    if any(i not in ("water", "soda", "brownie") for i in items):
        await expo.command("order.bump", {"order_id": order_id})
    return order_id


async def test_a_split_bill_over_cash_and_upi_settles_the_order_and_dirties_the_table(
    hub: RunningHub, servers: Servers
) -> None:
    """Cash with change plus UPI: invoice 1, order CLOSED / PAID, table DIRTY, books balanced, revenue pushed live."""
    cashier = await hub.client(Role.CASHIER)
    await cashier.subscribe("cashier", "tables")
    order_id = await ready_dine_in(hub, "T3", "burger", "mojito")
    preview = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]
    bill = preview["bill"]
    # burger 34900 GST5 + mojito 17900 GST18, 10% service on dine-in (not taxed)
    assert (bill["gross"], bill["tax"], bill["service_charge"]) == (52800, 1745 + 3222, 5280)
    total = bill["total"]
    assert total == 52800 + 1745 + 3222 + 5280
    tenders = [{"method": "CASH", "amount": 30000, "received": 50000}, {"method": "UPI", "amount": total - 30000}]
    ack = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tenders})
    result = ack["result"]
    assert (result["status"], result["invoice_number"], result["remaining"], result["change"]) == ("PAID", 1, 0, 20000)
    events = await _until(cashier, "REVENUE_UPDATED")
    money = [ev for ev in events if ev["type"] != "TABLE_STATUS_CHANGED" or ev["data"]["table"]["status"] == "DIRTY"]
    money = [ev for ev in money if ev["type"] != "ORDER_READY"]
    kinds = [ev["type"] for ev in money]
    assert kinds == ["PAYMENT_RECORDED", "ORDER_SETTLED", "TABLE_STATUS_CHANGED", "REVENUE_UPDATED"], kinds
    assert money[2]["data"]["table"]["id"] == "T3"
    revenue = money[3]["data"]
    assert (revenue["revenue"], revenue["invoices"], revenue["by_method"]) == (
        total, 1, {"CASH": 30000, "UPI": total - 30000},
    )  # fmt: skip
    invoice = (await _rows(servers, "SELECT * FROM invoices WHERE restaurant_id = $1", hub.rid))[0]
    assert (invoice["number"], invoice["total"], invoice["status"]) == (1, total, "ISSUED")
    sums = await _rows(
        servers,
        "SELECT sum(e.debit) AS d, sum(e.credit) AS c FROM ledger_entries e JOIN ledger_transactions t "
        "ON t.id = e.transaction_id WHERE t.restaurant_id = $1",
        hub.rid,
    )
    assert sums[0]["d"] == sums[0]["c"] == total + bill["discount"]
    again = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tenders}, id=ack["id"])
    assert again["result"] == result  # a retry with the same id is the same answer, nothing twice
    assert len(await _rows(servers, "SELECT 1 FROM payments WHERE restaurant_id = $1", hub.rid)) == 2


async def test_revenue_told_during_concurrent_payments_ends_with_every_one(hub: RunningHub) -> None:
    """Eight takeaways paid at once from eight tills: the figures told only grow (one node tells them in the
    ledger's order, skipping readings overtaken), and the last told counts all eight and their sum."""
    waiter = await hub.client(Role.WAITER)
    order_ids = [await fired_order(waiter, "water", "soda") for _ in range(8)]  # ready as fired
    tills = [await hub.client(Role.CASHIER, device=f"till-{n}") for n in range(8)]
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.subscribe("manager")
    dues = [(await tills[0].command("bill.preview", {"order_ids": [o]}))["result"]["due"] for o in order_ids]
    payments = [
        till.command("order.pay", {"order_ids": [o], "tenders": [{"method": "CARD", "amount": due}]})
        for till, o, due in zip(tills, order_ids, dues, strict=True)
    ]
    answers = await asyncio.gather(*payments)
    assert sorted(a["result"]["invoice_number"] for a in answers) == list(range(1, 9))
    told: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while not told or told[-1]["invoices"] < 8:
            event = await manager.events.get()
            if event["type"] == "REVENUE_UPDATED":
                told.append(event["data"])
    assert 1 <= len(told) <= 8
    assert [t["invoices"] for t in told] == sorted(t["invoices"] for t in told)
    assert (told[-1]["revenue"], told[-1]["by_method"]) == (sum(dues), {"CARD": sum(dues)})


async def test_items_not_ready_get_guidance_and_force_settles_anyway(hub: RunningHub, servers: Servers) -> None:
    """Dine-in items unfinished: ITEMS_NOT_READY with guidance (never a dead end); force settles and audits who forced."""
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger", "water", type="DINE_IN", table_id="T5", guests=2)
    await waiter.command("order.fire", {"order_id": order_id})
    cashier = await hub.client(Role.CASHIER, device="till-7")
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    tender = [{"method": "CARD", "amount": due, "reference": "auth-123"}]
    with pytest.raises(HubError) as err:
        await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tender})
    assert err.value.code == ErrorCode.ITEMS_NOT_READY
    guidance = err.value.frame["details"]["guidance"]
    assert [i["name"] for i in guidance["items"]] == ["Classic Burger"] and "SETTLE_NOW" in guidance["options"]
    with pytest.raises(HubError) as err:
        await waiter.command("order.pay", {"order_ids": [order_id], "tenders": tender, "force": True})
    assert err.value.code == ErrorCode.FORBIDDEN
    ack = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tender, "force": True})
    assert (ack["result"]["status"], ack["result"]["pickup_estimate_ms"]) == ("PAID", None)
    audit = await _rows(servers, "SELECT actor, details FROM audit_log WHERE restaurant_id = $1 AND action = 'SETTLED'",
                        hub.rid)  # fmt: skip
    assert [(row["actor"], orjson.loads(row["details"])["forced_by"]) for row in audit] == [("till-7", "till-7")]


async def test_a_part_payment_then_the_rest(hub: RunningHub, servers: Servers) -> None:
    """Paying part leaves PARTIALLY_PAID and locks nothing; the rest settles; the ledger has a DEPOSIT and a SALE."""
    order_id = await ready_dine_in(hub, "T4", "paneer-tikka")
    cashier = await hub.client(Role.CASHIER)
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    part = await cashier.command(
        "order.pay", {"order_ids": [order_id], "tenders": [{"method": "UPI", "amount": 10000}]}
    )
    assert (part["result"]["status"], part["result"]["remaining"]) == ("PARTIALLY_PAID", due - 10000)
    waiter = await hub.client(Role.WAITER)
    with pytest.raises(HubError) as err:  # a part-paid bill may not shrink below what was taken
        await waiter.command("order.remove_item", {"order_id": order_id, "line_id": "L1"})
    assert err.value.code == ErrorCode.INVALID_STATE and err.value.frame["details"]["paid"] == 10000
    with pytest.raises(HubError) as err:
        await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": "CASH", "amount": due}]})
    assert err.value.code == ErrorCode.AMOUNT_MISMATCH or err.value.code == ErrorCode.INVALID_COMMAND
    rest = await cashier.command(
        "order.pay", {"order_ids": [order_id], "tenders": [{"method": "CASH", "amount": due - 10000, "received": due}]}
    )
    assert (rest["result"]["status"], rest["result"]["paid"], rest["result"]["change"]) == ("PAID", due, 10000)
    kinds = await _rows(
        servers, "SELECT kind FROM ledger_transactions WHERE restaurant_id = $1 ORDER BY created_at", hub.rid
    )
    assert [k["kind"] for k in kinds] == ["DEPOSIT", "SALE"]


async def test_fifty_concurrent_settle_attempts_make_exactly_one_settlement(hub: RunningHub, servers: Servers) -> None:
    """50 connections settle one order at once: one invoice, one payment; the others get a clear refusal."""
    order_id = await ready_dine_in(hub, "T5", "burger")
    cashiers = [await hub.client(Role.CASHIER, device=f"till-{n}") for n in range(50)]
    due = (await cashiers[0].command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]

    async def attempt(client: HubClient) -> str:
        try:
            ack = await client.command(
                "order.pay", {"order_ids": [order_id], "tenders": [{"method": "CARD", "amount": due}]}
            )
        except HubError as exc:
            return exc.code
        return str(ack["result"]["status"])

    outcomes = Counter(await asyncio.gather(*(attempt(c) for c in cashiers)))
    assert outcomes["PAID"] == 1, outcomes
    assert set(outcomes) - {"PAID"} <= {ErrorCode.ALREADY_SETTLED.value, ErrorCode.ORDER_LOCKED.value}, outcomes
    assert len(await _rows(servers, "SELECT 1 FROM invoices WHERE restaurant_id = $1", hub.rid)) == 1
    assert len(await _rows(servers, "SELECT 1 FROM payments WHERE restaurant_id = $1", hub.rid)) == 1


async def test_postgres_down_settling_is_retryable_and_the_kitchen_carries_on(
    hub: RunningHub, servers: Servers
) -> None:
    """Postgres stopped: pay answers UNAVAILABLE (retryable), fires still reach the grill; afterwards the retry settles once."""
    if servers.embedded is None or servers.embedded.postgres is None:
        pytest.skip("DATABASE_URL points at an external Postgres this test cannot restart")
    order_id = await ready_dine_in(hub, "T6", "burger")
    cashier, waiter, grill = await hub.client(Role.CASHIER), await hub.client(Role.WAITER), await hub.kitchen("grill")
    await grill.subscribe("kitchen:grill")
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    data = {"order_ids": [order_id], "tenders": [{"method": "CASH", "amount": due}]}
    postgres = servers.embedded.postgres
    postgres.stop()
    try:
        with pytest.raises(HubError) as err:
            await cashier.command("order.pay", data, id="pay-during-outage")
        assert err.value.code == ErrorCode.UNAVAILABLE and err.value.frame["retryable"] is True
        other = await new_order(waiter, "burger")
        await waiter.command("order.fire", {"order_id": other})
        assert (await grill.next_event(WAIT))["data"]["ticket"]["order_id"] == other
    finally:
        postgres.start()
    ack = await cashier.command("order.pay", data, id="pay-during-outage")
    assert ack["result"]["status"] == "PAID"
    assert len(await _rows(servers, "SELECT 1 FROM invoices WHERE restaurant_id = $1", hub.rid)) == 1


async def test_a_payment_lock_left_behind_is_finished_from_the_books_or_released(
    hub: RunningHub, servers: Servers, redis: Any
) -> None:
    """A node died mid-payment: the lock's due check applies it if Postgres has it, else frees the order."""
    from fireflow.hub.domain.actors import Actor
    from fireflow.hub.domain.settlement import lock, plan_payment
    from fireflow.hub.live.keys import Keys
    from fireflow.schema.commands import PayOrder

    node = hub.hub
    cashier = Actor(hub.rid, Role.CASHIER, "till-9")
    restaurant = await node.store.restaurant(hub.rid)
    for key, record in (("lost-before-books", False), ("lost-after-books", True)):
        order_id = await ready_dine_in(hub, "T7" if record else "T8", "burger")
        order = await node.store.order(hub.rid, order_id)
        due = (await (await hub.client(Role.CASHIER)).command("bill.preview", {"order_ids": [order_id]}))["result"][
            "due"
        ]
        cmd = PayOrder.model_validate({"order_ids": [order_id], "tenders": [{"method": "CARD", "amount": due}]})
        plan = plan_payment([order], restaurant.billing, restaurant.currency, cmd, cashier, 1, key=key, prep_mean_ms={})
        await node.store.commit(hub.rid, f"{key}:lock", "", lock(plan, cashier, 1, 0), 1)  # due at once
        if record:
            await node.settler.books.record(node.settler._settlement(plan, restaurant, cashier, 1))
        waiter = await hub.client(Role.WAITER)
        with pytest.raises(HubError) as err:
            await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})
        assert err.value.code == ErrorCode.ORDER_LOCKED and err.value.frame["retryable"] is True
        for _ in range(int(200 * WAIT)):
            order = await node.store.order(hub.rid, order_id)
            if order.settling is None:
                break
            await asyncio.sleep(0.05)
        assert order.settling is None
        if record:
            assert (order.status, order.payment_status, order.invoice_number) == ("CLOSED", "PAID", 1)
        else:
            assert order.payment_status == "UNPAID"
            await waiter.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})
    left = [m for m in await redis.zrange(Keys(hub.rid).due, 0, -1) if m.startswith(b"settle|")]
    assert left == []


async def test_a_big_discount_needs_a_managers_pin_and_wrong_pins_are_limited(
    hub: RunningHub, servers: Servers
) -> None:
    """5% passes; 20% is PIN_REQUIRED, a wrong PIN is WRONG_PIN (5 then RATE_LIMITED), manager-1's PIN approves it."""
    order_id = await ready_dine_in(hub, "T9", "burger", "mojito")
    cashier = await hub.client(Role.CASHIER, device="till-1")
    small = await cashier.command(
        "order.discount", {"order_id": order_id, "kind": "PERCENT", "value": 500, "reason": "regular"}
    )
    assert small["result"]["bill"]["discount"] == 2640 and small["result"]["approved_by"] is None
    big = {"order_id": order_id, "kind": "AMOUNT", "value": 10000, "reason": "cold food"}
    with pytest.raises(HubError) as err:
        await cashier.command("order.discount", big)
    assert err.value.code == ErrorCode.PIN_REQUIRED and err.value.frame["details"]["limit_bp"] == 1000
    ok = await cashier.command("order.discount", big | {"pin": "1234"})
    assert ok["result"]["approved_by"] == "manager-1" and ok["result"]["bill"]["discount"] == 12640
    other = await hub.client(Role.CASHIER, device="till-2")
    codes = []
    for _ in range(6):
        with pytest.raises(HubError) as err:
            await other.command("order.discount", big | {"pin": "9999"})
        codes.append(err.value.code)
    assert codes == [ErrorCode.WRONG_PIN] * 5 + [ErrorCode.RATE_LIMITED]
    audited = await _rows(
        servers, "SELECT actor FROM audit_log WHERE restaurant_id = $1 AND action = 'WRONG_PIN'", hub.rid
    )
    assert [r["actor"] for r in audited] == ["till-2"] * 5
    async with hub.http(Role.CASHIER) as http:
        figures = (await http.get("/api/v1/reports/day")).json()
    assert figures["invoices"] == 0 and figures["revenue"] == 0


async def test_requesting_the_bill_locks_the_order_for_other_terminals_until_it_expires(hub: RunningHub) -> None:
    """bill.request: the table shows BILL_REQUESTED, other terminals get BILL_LOCKED, the lock runs out by itself."""
    from fireflow.hub.domain.settlement import request_bill

    order_id = await ready_dine_in(hub, "T10", "burger")
    till = await hub.client(Role.CASHIER, device="till-1")
    watcher = await hub.client(Role.WAITER, device="w2")
    await watcher.subscribe("tables")
    await till.command("bill.request", {"order_id": order_id})
    (event,) = [e for e in await events_until(watcher, 1, WAIT, "TABLE_STATUS_CHANGED")]
    assert (event["data"]["table"]["id"], event["data"]["table"]["status"]) == ("T10", "BILL_REQUESTED")
    with pytest.raises(HubError) as err:
        await watcher.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})
    assert err.value.code == ErrorCode.BILL_LOCKED
    await till.command("order.add_item", {"order_id": order_id, "menu_item_id": "water"})  # the holder may
    # The lock runs out by itself: relock with a lock already due, and wait for the table to come back.
    node = hub.hub
    order = await node.store.order(hub.rid, order_id)
    tables = await node.store.tables(hub.rid)
    from fireflow.hub.domain.actors import Actor

    quick = request_bill(order, tables, Actor(hub.rid, Role.CASHIER, "till-1"), 1, 0)
    await node.store.commit(hub.rid, "relock", "", quick, 1)
    back = await events_until(watcher, 1, 4 * WAIT, "TABLE_STATUS_CHANGED")
    assert back[0]["data"]["table"]["status"] == "OCCUPIED"
    await watcher.command("order.add_item", {"order_id": order_id, "menu_item_id": "fries"})


async def test_a_group_bill_over_two_tables_is_one_invoice(hub: RunningHub, servers: Servers) -> None:
    """Two tables' orders: one preview, one invoice whose lines keep their orders; paid in full once, both tables DIRTY."""
    a = await ready_dine_in(hub, "T11", "burger")
    b = await ready_dine_in(hub, "T12", "fries", "mojito")
    cashier = await hub.client(Role.CASHIER)
    bill = (await cashier.command("bill.preview", {"order_ids": [a, b]}))["result"]["bill"]
    assert sorted({line["order_id"] for line in bill["lines"]}) == sorted([a, b])
    assert {line["tax_code"] for line in bill["lines"]} == {"GST5", "GST18"}
    with pytest.raises(HubError) as err:
        await cashier.command("order.pay", {"order_ids": [a, b], "tenders": [{"method": "CARD", "amount": 100}]})
    assert err.value.code == ErrorCode.AMOUNT_MISMATCH  # a group is paid in full at once
    data = {"order_ids": [a, b], "tenders": [{"method": "CARD", "amount": bill["total"]}]}
    first = await cashier.command("order.pay", data, id="group-1")
    again = await cashier.command("order.pay", data, id="group-1")
    assert first["result"] == again["result"] and first["result"]["status"] == "PAID"
    rows = await _rows(
        servers, "SELECT order_id FROM invoice_orders WHERE invoice_id = $1", first["result"]["invoice_id"]
    )
    assert sorted(r["order_id"] for r in rows) == sorted([a, b])
    lines = await _rows(
        servers, "SELECT DISTINCT order_id FROM invoice_lines WHERE invoice_id = $1", first["result"]["invoice_id"]
    )
    assert sorted(r["order_id"] for r in lines) == sorted([a, b])
    async with hub.http(Role.CASHIER) as http:
        tables = {t["id"]: t["status"] for t in (await http.get("/api/v1/tables")).json()["tables"]}
    assert (tables["T11"], tables["T12"]) == ("DIRTY", "DIRTY")


async def test_orders_of_different_named_customers_are_not_one_bill(hub: RunningHub) -> None:
    """A group bill for two different named customers is refused."""
    waiter = await hub.client(Role.WAITER)
    a = await new_order(waiter, "water", customer_name="Asha")
    b = await new_order(waiter, "water", customer_name="Ravi")
    cashier = await hub.client(Role.CASHIER)
    with pytest.raises(HubError) as err:
        await cashier.command("bill.preview", {"order_ids": [a, b]})
    assert err.value.code == ErrorCode.INVALID_STATE and err.value.frame["details"]["reason"] == "MIXED_CUSTOMERS"


async def test_a_settlement_the_live_state_lost_is_repaired_from_the_books(hub: RunningHub, redis: Any) -> None:
    """Redis lost the applied settlement (as after a crash): paying again is ALREADY_SETTLED and the order is closed again."""
    from fireflow.hub.live.keys import Keys

    order_id = await ready_dine_in(hub, "T2", "burger")
    k = Keys(hub.rid)
    before_order = await redis.hget(k.open_orders, order_id)
    before_table = await redis.hget(k.tables, "T2")
    versions = await redis.hgetall(k.versions)
    cashier = await hub.client(Role.CASHIER)
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    paid = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": "UPI", "amount": due}]})
    # Put the live state back as it was before the payment was applied.
    await redis.hset(k.open_orders, order_id, before_order)
    await redis.hdel(k.closed_orders, order_id)
    await redis.hset(k.tables, "T2", before_table)
    await redis.hset(k.versions, mapping={f"order:{order_id}": versions[f"order:{order_id}".encode()],
                                          "table:T2": versions[b"table:T2"]})  # fmt: skip
    with pytest.raises(HubError) as err:
        await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": "CARD", "amount": due}]})
    assert err.value.code == ErrorCode.ALREADY_SETTLED
    assert err.value.frame["details"]["invoice_id"] == paid["result"]["invoice_id"]
    async with hub.http(Role.CASHIER) as http:
        order = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]
        tables = {t["id"]: t["status"] for t in (await http.get("/api/v1/tables")).json()["tables"]}
    assert (order["status"], order["payment_status"], order["invoice_id"]) == (
        "CLOSED",
        "PAID",
        paid["result"]["invoice_id"],
    )
    assert tables["T2"] == "DIRTY"
