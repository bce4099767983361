"""Riders' cash against the real servers: a float, cash on delivery, a part handover, and the books agreeing.

A rider's cash is an account in the same ledger as the drawer (``asset:rider_cash:<rider>``): the
float comes out of the drawer, cash collected on delivery is the order's payment in COD, and a
handover moves cash back to the drawer. The rider's balance as told live (RIDER_CASH), as read
(GET /api/v1/riders), as the ledger holds it and as the Z-report carries it agree to the minor unit.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import RunningHub, Servers
from tests.helpers import event_about, ready_delivery

ACCOUNT = "asset:rider_cash:rider-1"


async def _ledger_balance(servers: Servers, hub: RunningHub, account: str = ACCOUNT) -> int:
    """The account's balance in this restaurant's ledger, summed in Postgres itself."""
    conn = await asyncpg.connect(servers.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        found = await conn.fetchval(
            "SELECT coalesce(sum(e.debit - e.credit), 0) FROM ledger_entries e "
            "JOIN ledger_transactions t ON t.id = e.transaction_id WHERE t.restaurant_id = $1 AND e.account = $2",
            hub.rid,
            account,
        )
        return int(found)
    finally:
        await conn.close()


async def _out_with(hub: RunningHub, rider: HubClient, *order_ids: str) -> None:
    dispatcher = await hub.client(Role.DISPATCHER)
    await dispatcher.command("delivery.assign", {"order_ids": list(order_ids), "rider": "rider-1"})
    for order_id in order_ids:
        await rider.command("delivery.pickup", {"order_id": order_id})


async def _get(hub: RunningHub, role: Role, path: str) -> Any:
    async with hub.http(role) as http:
        answer = await http.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()


async def _due(hub: RunningHub, order_id: str) -> int:
    order = (await _get(hub, Role.DISPATCHER, f"/api/v1/orders/{order_id}"))["order"]
    return int(order["delivery"]["cod"])


async def _refused(code: ErrorCode, client: HubClient, command_type: str, data: dict[str, Any]) -> HubError:
    with pytest.raises(HubError) as err:
        await client.command(command_type, data)
    assert err.value.code == code, err.value.frame
    return err.value


async def test_float_cash_on_delivery_and_a_part_handover_agree_everywhere(hub: RunningHub, servers: Servers) -> None:
    """Float 200.00, two orders collected on delivery, one prepaid; 200.00 + the first handed in, the rest held."""
    cashier, rider = await hub.client(Role.CASHIER), await hub.client(Role.RIDER, device="rider-1")
    dispatch = await hub.client(Role.DISPATCHER)
    await cashier.subscribe("cashier")
    await dispatch.subscribe("dispatch")
    await rider.subscribe("rider:rider-1")
    await cashier.command("drawer.float", {"amount": 500_00})
    await cashier.command("rider.float", {"rider": "rider-1", "amount": 200_00})
    for client in (cashier, dispatch, rider):
        told = await event_about(client, "RIDER_CASH", rider="rider-1", kind="RIDER_FLOAT")
        assert (told["data"]["amount"], told["data"]["holds"]) == (200_00, 200_00)

    first, second, prepaid = [await ready_delivery(hub, n, prepaid=n == 3) for n in (1, 2, 3)]
    await _out_with(hub, rider, first, second, prepaid)
    due = [await _due(hub, first), await _due(hub, second)]
    assert all(d > 0 for d in due) and await _due(hub, prepaid) == 0
    for order_id, cod in zip((first, second), due, strict=True):
        await rider.command("delivery.deliver", {"order_id": order_id, "collected": cod})
    await rider.command("delivery.deliver", {"order_id": prepaid})
    held = 200_00 + sum(due)
    told = await event_about(dispatch, "RIDER_CASH", second, kind="COD")
    assert (told["data"]["amount"], told["data"]["holds"]) == (due[1], held)

    # A till cannot take COD, a rider cannot hand cash in for itself, nor anyone more than is held.
    other = await ready_delivery(hub, 4)
    cod_at_till = {"order_ids": [other], "tenders": [{"method": "COD", "amount": 1, "reference": "rider-1"}]}
    assert "rider" in (await _refused(ErrorCode.INVALID_COMMAND, cashier, "order.pay", cod_at_till)).frame["message"]
    await _refused(ErrorCode.FORBIDDEN, rider, "rider.handover", {"rider": "rider-1", "amount": 1})
    too_much = {"rider": "rider-1", "amount": held + 1}
    refused = await _refused(ErrorCode.INVALID_STATE, cashier, "rider.handover", too_much)
    assert refused.frame["details"]["holds"] == held  # the message in money: "holds 1,047.30 INR"
    assert f"holds {held // 100:,}.{held % 100:02d} INR" in refused.frame["message"]
    assert await _ledger_balance(servers, hub) == held

    handed = 200_00 + due[0]
    ack = await cashier.command("rider.handover", {"rider": "rider-1", "amount": handed})
    assert ack["result"] == {"kind": "RIDER_HANDOVER", "rider": "rider-1", "amount": handed}
    told = await event_about(rider, "RIDER_CASH", kind="RIDER_HANDOVER")
    assert (told["data"]["amount"], told["data"]["holds"]) == (-handed, due[1])

    riders = await _get(hub, Role.DISPATCHER, "/api/v1/riders")
    assert {"rider": "rider-1", "name": "rider-1", "holds": due[1]} in riders["riders"]
    assert await _ledger_balance(servers, hub) == due[1]
    z = await _get(hub, Role.CASHIER, "/api/v1/reports/z")
    (mine,) = [r for r in z["riders"] if r["rider"] == "rider-1"]
    assert mine == {
        "rider": "rider-1",
        "carried_in": 0,
        "floats": 200_00,
        "collected": sum(due),
        "handed_in": handed,
        "holds": due[1],
    }
    assert z["riders_hold"] == due[1] and z["takings_by_method"]["COD"] == sum(due)
    assert z["expected_cash"] == 500_00 - 200_00 + handed  # the drawer: what riders hold is not in it
    day = await _get(hub, Role.CASHIER, "/api/v1/reports/day")
    assert day["by_method"]["COD"] == sum(due)


async def test_the_rest_is_carried_into_the_next_day(hub: RunningHub) -> None:
    """Closed with cash still out with a rider: the close's report shows it held; the next day starts with it."""
    cashier, rider = await hub.client(Role.CASHIER), await hub.client(Role.RIDER, device="rider-1")
    manager = await hub.client(Role.MANAGER, device="manager-1")
    order_id = await ready_delivery(hub, 1)
    await _out_with(hub, rider, order_id)
    due = await _due(hub, order_id)
    await rider.command("delivery.deliver", {"order_id": order_id, "collected": due})
    await cashier.command("rider.handover", {"rider": "rider-1", "amount": 1_00})
    closed = (await manager.command("day.close", {"counted_cash": 1_00}))["result"]["report"]
    assert closed["riders_hold"] == due - 1_00 and closed["cash_difference"] == 0
    # Money after the close goes to the next day, which starts with what the rider still holds.
    ack = await cashier.command("rider.handover", {"rider": "rider-1", "amount": due - 1_00})
    assert ack["result"]["amount"] == due - 1_00
    following = (date.fromisoformat(closed["day"]) + timedelta(days=1)).isoformat()
    z = await _get(hub, Role.CASHIER, f"/api/v1/reports/z?day={following}")
    assert z["riders"] == [
        {
            "rider": "rider-1",
            "carried_in": due - 1_00,
            "floats": 0,
            "collected": 0,
            "handed_in": due - 1_00,
            "holds": 0,
        }
    ]
    assert z["expected_cash"] == due - 1_00


async def test_concurrent_handovers_never_take_a_rider_below_zero(hub: RunningHub, servers: Servers) -> None:
    """Three copies of one handover: handed in once. Three different handovers of everything at once: one is taken."""
    cashier = await hub.client(Role.CASHIER)
    await cashier.command("rider.float", {"rider": "rider-1", "amount": 300_00})
    tills = [await hub.client(Role.CASHIER) for _ in range(3)]
    same = await asyncio.gather(
        *(till.command("rider.handover", {"rider": "rider-1", "amount": 100_00}, id="handover-once") for till in tills)
    )
    assert len({(a["offset"], str(a["result"])) for a in same}) == 1
    assert await _ledger_balance(servers, hub) == 200_00
    everything = {"rider": "rider-1", "amount": 200_00}
    answers = await asyncio.gather(
        *(till.command("rider.handover", everything) for till in tills), return_exceptions=True
    )
    taken = [a for a in answers if isinstance(a, dict)]
    refused = [a for a in answers if isinstance(a, HubError)]
    assert len(taken) == 1 and len(refused) == 2, answers
    assert all(r.code == ErrorCode.INVALID_STATE and "holds" in r.frame["message"] for r in refused)
    assert await _ledger_balance(servers, hub) == 0


async def test_concurrent_copies_of_a_cash_delivery_pay_once(hub: RunningHub, servers: Servers) -> None:
    """The same COD delivery sent three times at once (one id, three sockets): one invoice, one answer, the cash
    counted once. Three different ids for another order: one delivers, two are refused, nothing paid twice."""
    first, second = await ready_delivery(hub, 1), await ready_delivery(hub, 2)
    rider = await hub.client(Role.RIDER, device="rider-1")
    await _out_with(hub, rider, first, second)
    due = [await _due(hub, first), await _due(hub, second)]
    phones = [await hub.client(Role.RIDER, device="rider-1") for _ in range(3)]
    deliver = {"order_id": first, "collected": due[0]}
    same = await asyncio.gather(*(p.command("delivery.deliver", deliver, id="cod-once") for p in phones))
    assert len({(a["offset"], str(a["result"])) for a in same}) == 1
    assert same[0]["result"]["closed"] is True and same[0]["result"]["payment"]["invoice_number"] is not None
    answers = await asyncio.gather(
        *(p.command("delivery.deliver", {"order_id": second, "collected": due[1]}) for p in phones),
        return_exceptions=True,
    )
    done = [a for a in answers if isinstance(a, dict)]
    refused = [a for a in answers if isinstance(a, HubError)]
    assert len(done) == 1 and len(refused) == 2, answers
    assert {r.code for r in refused} <= {ErrorCode.INVALID_STATE, ErrorCode.ORDER_LOCKED, ErrorCode.ALREADY_SETTLED}
    assert await _ledger_balance(servers, hub) == sum(due)
    z = await _get(hub, Role.CASHIER, "/api/v1/reports/z")
    assert z["invoices"] == 2 and z["takings_by_method"]["COD"] == sum(due)


async def test_a_cash_delivery_the_books_have_but_a_crash_left_unapplied_is_finished_and_answered(
    hub: RunningHub, servers: Servers
) -> None:
    """The hub died after writing a COD delivery to the books: the payment lock's due check pays, delivers and
    tells the rider's cash; the rider's outbox sending the same command id again is answered, nothing twice."""
    from fireflow.hub.domain import delivery
    from fireflow.hub.domain.actors import Actor
    from fireflow.hub.domain.settlement import lock, plan_payment

    node = hub.hub
    dispatch, rider = await hub.client(Role.DISPATCHER), await hub.client(Role.RIDER, device="rider-1")
    await dispatch.subscribe("dispatch")
    order_id = await ready_delivery(hub, 1)
    await _out_with(hub, rider, order_id)
    order = await node.store.order(hub.rid, order_id)
    restaurant = await node.store.restaurant(hub.rid)
    assert order is not None and restaurant is not None and order.delivery is not None
    due, key, phone = order.delivery.cod, "cod-crashed", Actor(hub.rid, Role.RIDER, "rider-1")
    plan = plan_payment(
        [order], restaurant.billing, restaurant.currency, delivery.cod_tender(order, due), phone, 1,
        key=key, prep_mean_ms={}, on_delivery=True,
    )  # fmt: skip
    # The books first, then the lock whose check is due at once: in the other order (as the crash happened)
    # a due check between the two would find no payment and release the lock, which is a different test.
    await node.settler.books.record(node.settler._settlement(plan, restaurant, phone, 1))
    await node.store.commit(hub.rid, f"{key}:lock", "", lock(plan, phone, 1, 0), 1)

    told = await event_about(dispatch, "RIDER_CASH", order_id)
    assert (told["data"]["kind"], told["data"]["amount"], told["data"]["holds"]) == ("COD", due, due)
    done = await node.store.order(hub.rid, order_id)
    assert done is not None and done.delivery is not None
    assert (done.status, done.payment_status, done.delivery.status, done.delivery.collected) == (
        "CLOSED", "PAID", "DELIVERED", due,
    )  # fmt: skip
    again = await rider.command("delivery.deliver", {"order_id": order_id, "collected": due}, id=key)
    assert again["result"]["closed"] is True and again["result"]["order"]["delivery"]["status"] == "DELIVERED"
    assert await _ledger_balance(servers, hub) == due  # collected once
