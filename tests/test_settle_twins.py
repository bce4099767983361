"""Copies of one money command sent at once (a till resending after a timeout): one posting, one identical answer."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import httpx

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.domain.actors import Role
from tests.conftest import RunningHub, Servers
from tests.test_settle import ready_dine_in

COPIES = 30
MONEY_COPIES = 10


async def _rows(servers: Servers, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(servers.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _answer(frame: dict[str, Any]) -> str:
    """What a copy was told, without the frame's transport fields: the ack's offset and result, or the error code."""
    if frame.get("op") == "error" or "code" in frame:
        return f"error {frame['code']}"
    return repr((frame["offset"], sorted(frame["result"].items())))


async def _over_ws(client: HubClient, command_type: str, data: dict[str, Any], command_id: str) -> str:
    try:
        return _answer(await client.command(command_type, data, id=command_id))
    except HubError as exc:
        return _answer(exc.frame)


async def _over_http(http: httpx.AsyncClient, command_type: str, data: dict[str, Any], command_id: str) -> str:
    response = await http.post("/api/v1/commands", json={"type": command_type, "data": data, "id": command_id})
    return _answer(response.json())


async def _copies(
    hub: RunningHub, role: Role, command_type: str, data: dict[str, Any], command_id: str, copies: int
) -> Counter[str]:
    """``copies`` copies of one command at once, from one device: half over WebSocket, half over HTTP."""
    sockets = [await hub.client(role, device="till-1") for _ in range((copies + 1) // 2)]
    async with hub.http(role, device="till-1") as http:
        answers = await asyncio.gather(
            *(_over_ws(ws, command_type, data, command_id) for ws in sockets),
            *(_over_http(http, command_type, data, command_id) for _ in range(copies // 2)),
        )
    return Counter(answers)


async def _paid(hub: RunningHub, table: str) -> dict[str, Any]:
    order_id = await ready_dine_in(hub, table, "burger")
    cashier = await hub.client(Role.CASHIER)
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    ack = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": "CARD", "amount": due}]})
    return dict(ack["result"])


async def test_thirty_copies_of_one_payment_all_get_its_ack(hub: RunningHub, servers: Servers) -> None:
    """30 copies of one order.pay id at once (WebSocket and HTTP): 30 identical acks, 1 invoice, 1 payment."""
    order_id = await ready_dine_in(hub, "T5", "burger")
    cashier = await hub.client(Role.CASHIER)
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    data = {"order_ids": [order_id], "tenders": [{"method": "CARD", "amount": due}]}
    answers = await _copies(hub, Role.CASHIER, "order.pay", data, "pay-resent", COPIES)
    assert len(answers) == 1 and sum(answers.values()) == COPIES, answers
    (answer,) = answers
    assert "'invoice_number', 1" in answer and "'status', 'PAID'" in answer, answer
    assert len(await _rows(servers, "SELECT 1 FROM invoices WHERE restaurant_id = $1", hub.rid)) == 1
    assert len(await _rows(servers, "SELECT 1 FROM payments WHERE restaurant_id = $1", hub.rid)) == 1
    order = await hub.hub.store.order(hub.rid, order_id)
    assert order.settling is None and order.invoice_number == 1


async def test_thirty_copies_of_one_part_payment_take_it_once(hub: RunningHub, servers: Servers) -> None:
    """30 copies of one part payment at once: 30 identical acks, one payment, the order PARTIALLY_PAID once."""
    order_id = await ready_dine_in(hub, "T6", "burger")
    data = {"order_ids": [order_id], "tenders": [{"method": "UPI", "amount": 10000}]}
    answers = await _copies(hub, Role.CASHIER, "order.pay", data, "part-resent", COPIES)
    assert len(answers) == 1 and sum(answers.values()) == COPIES, answers
    assert "'paid', 10000" in next(iter(answers))
    assert len(await _rows(servers, "SELECT 1 FROM payments WHERE restaurant_id = $1", hub.rid)) == 1
    order = await hub.hub.store.order(hub.rid, order_id)
    assert (order.paid, order.settling) == (10000, None)


async def test_ten_copies_of_one_refund_void_drawer_move_or_close_post_once(hub: RunningHub, servers: Servers) -> None:
    """10 copies of each books-only command at once: identical answers each, one ledger posting, one audit row."""
    refund_of, void_of = await _paid(hub, "T7"), await _paid(hub, "T8")
    commands = [
        ("invoice.refund", {"invoice_id": refund_of["invoice_id"], "amount": refund_of["total"], "method": "CASH",
                            "reason": "cold", "pin": "1234"}, "REFUNDED"),
        ("invoice.void", {"invoice_id": void_of["invoice_id"], "reason": "wrong table", "pin": "1234"}, "VOIDED"),
        ("drawer.float", {"amount": 500000}, "FLOAT"),
        ("drawer.payout", {"amount": 12000, "category": "supplies", "note": "ice"}, "PAYOUT"),
        ("day.close", {"counted_cash": 1000}, "DAY_CLOSED"),
    ]  # fmt: skip
    for command_type, data, action in commands:
        role = Role.MANAGER if command_type == "day.close" else Role.CASHIER
        answers = await _copies(hub, role, command_type, data, f"twin-{command_type}", MONEY_COPIES)
        assert len(answers) == 1 and sum(answers.values()) == MONEY_COPIES, (command_type, answers)
        assert not next(iter(answers)).startswith("error"), (command_type, answers)
        audited = await _rows(
            servers, "SELECT 1 FROM audit_log WHERE restaurant_id = $1 AND action = $2", hub.rid, action
        )
        assert len(audited) == 1, (command_type, len(audited))
    postings = await _rows(
        servers, "SELECT kind, count(*) AS n FROM ledger_transactions WHERE restaurant_id = $1 GROUP BY kind", hub.rid
    )
    assert {r["kind"]: r["n"] for r in postings} == {"SALE": 2, "REFUND": 1, "VOID": 1, "FLOAT": 1, "PAYOUT": 1}


def _full_answer(frame: dict[str, Any]) -> str:
    """What a copy was told, errors with their message and details too (the frame's id and transport fields aside)."""
    if frame.get("op") == "error" or "code" in frame:
        return repr((frame["code"], frame["message"], sorted((frame.get("details") or {}).items())))
    return repr((frame["offset"], sorted(frame["result"].items())))


async def _discount_copies(hub: RunningHub, data: dict[str, Any], command_id: str) -> tuple[Counter[str], int]:
    """MONEY_COPIES copies of one order.discount id at once from till-1 (WebSocket and HTTP), and the PIN checks made."""
    pins = hub.hub.bus.pins
    checks = 0
    approver = pins.approver

    async def counted(*args: Any) -> str:
        nonlocal checks
        checks += 1
        return str(await approver(*args))

    pins.approver = counted  # the real check, counted
    sockets = [await hub.client(Role.CASHIER, device="till-1") for _ in range(MONEY_COPIES // 2)]

    async def over_ws(ws: HubClient) -> str:
        try:
            return _full_answer(await ws.command("order.discount", data, id=command_id))
        except HubError as exc:
            return _full_answer(exc.frame)

    async def over_http(http: httpx.AsyncClient) -> str:
        body = {"type": "order.discount", "data": data, "id": command_id}
        return _full_answer((await http.post("/api/v1/commands", json=body)).json())

    try:
        async with hub.http(Role.CASHIER, device="till-1") as http:
            answers = await asyncio.gather(
                *(over_ws(ws) for ws in sockets), *(over_http(http) for _ in range(MONEY_COPIES // 2))
            )
    finally:
        del pins.approver
    return Counter(answers), checks


async def test_ten_copies_of_one_approved_discount_check_the_pin_once(hub: RunningHub) -> None:
    """10 copies of one order.discount id over the PIN limit with the right PIN: 10 identical acks, one PIN check."""
    order_id = await ready_dine_in(hub, "T9", "burger", "mojito")
    data = {"order_id": order_id, "kind": "AMOUNT", "value": 10000, "reason": "cold food", "pin": "1234"}
    answers, checks = await _discount_copies(hub, data, "discount-resent")
    assert len(answers) == 1 and sum(answers.values()) == MONEY_COPIES, answers
    assert "'approved_by', 'manager-1'" in next(iter(answers)) and checks == 1
    order = await hub.hub.store.order(hub.rid, order_id)
    assert [d.approved_by for d in order.discounts] == ["manager-1"]  # taken once


async def test_ten_copies_of_one_wrong_pin_are_one_wrong_try(hub: RunningHub, servers: Servers, redis: Any) -> None:
    """10 copies of one order.discount id with a wrong PIN: 10 identical WRONG_PIN answers, counted as one wrong try."""
    from fireflow.hub.live.keys import Keys

    order_id = await ready_dine_in(hub, "T10", "burger", "mojito")
    data = {"order_id": order_id, "kind": "AMOUNT", "value": 10000, "reason": "cold food", "pin": "9999"}
    answers, checks = await _discount_copies(hub, data, "guess-resent")
    assert len(answers) == 1 and sum(answers.values()) == MONEY_COPIES, answers
    assert "'WRONG_PIN'" in next(iter(answers)) and "('attempts_left', 4)" in next(iter(answers)), answers
    assert checks == 1
    k = Keys(hub.rid)
    assert (int(await redis.get(k.pin_failures("till-1"))), int(await redis.get(k.restaurant_pin_failures))) == (1, 1)
    audited = await _rows(servers, "SELECT 1 FROM audit_log WHERE restaurant_id = $1 AND action = 'WRONG_PIN'", hub.rid)
    assert len(audited) == 1
