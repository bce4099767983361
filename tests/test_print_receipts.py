"""Receipts and the Z-report on paper, against a running hub (Redis, Postgres), a real print agent and the emulator.

The figures printed are read back from the emulator's decoding of the bytes and compared with numbers
worked out by hand for the demo menu, and with what the hub's own APIs (the invoice, the Z-report)
say. Waits are on the agent's outcomes and on printed paper, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.printers.agent import Outcome, PrintAgent
from fireflow.clients.printers.emulator import Printed, PrinterEmulator
from fireflow.clients.python import HubClient, HubError
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.money import major
from fireflow.schema.protocol import ErrorCode
from tests.conftest import WAIT, RunningHub
from tests.helpers import new_order, running_agent

TILL = "till-1"


@pytest.fixture
async def printer() -> AsyncIterator[PrinterEmulator]:
    async with await PrinterEmulator.start() as emulator:
        yield emulator


async def _set_up(hub: RunningHub, *printers: dict[str, Any], desk_printer: str = "desk") -> None:
    """``printers`` in the setup (backups after the printer they back up is fine: listed in order), and till-1's desk."""
    async with hub.http(Role.MANAGER) as http:
        for printer in printers:
            answer = await http.put("/api/v1/setup/printers", json={"printer": {"columns": 42, **printer}})
            assert answer.status_code == 200, answer.text
        desk = {"id": TILL, "name": "Front desk", "printer": desk_printer}
        answer = await http.put("/api/v1/setup/desks", json={"desk": desk})
        assert answer.status_code == 200, answer.text


def _agent(hub: RunningHub) -> contextlib.AbstractAsyncContextManager[PrintAgent]:
    """A print agent following the hub from its first snapshot on; stopped after, its end checked."""
    return running_agent(PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device="print-agent-1")), WAIT)


async def _settled(hub: RunningHub, cashier: HubClient, table: str = "T3") -> dict[str, Any]:
    """Dine-in at ``table``: a burger (349.00, GST 5 %) and a mojito (179.00, GST 18 %), 10 % service charge,
    paid 200.00 by UPI and the rest in cash from 500.00. The order.pay answer, with the order's id."""
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger", "mojito", type="DINE_IN", table_id=table, guests=2)
    await waiter.command("order.fire", {"order_id": order_id})
    total = 52800 + 1745 + 3222 + 5280
    tenders = [
        {"method": "UPI", "amount": 20000, "reference": "UPI-42"},
        {"method": "CASH", "amount": total - 20000, "received": 50000},
    ]
    ack = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tenders, "force": True})
    result: dict[str, Any] = ack["result"]
    assert (result["status"], result["total"], result["change"]) == ("PAID", total, 50000 - (total - 20000))
    return result | {"order_id": order_id}


def _flat(printed: Printed) -> str:
    """The paper's text with wrapping undone: a label and its amount read as one phrase."""
    return " ".join(printed.text.split())


def _rupees(amount: int) -> str:
    return major(amount, "INR")


async def test_a_settled_receipt_prints_its_lines_tax_total_payments_and_change(
    hub: RunningHub, printer: PrinterEmulator
) -> None:
    """print.receipt on till-1's desk printer: one job, printed by the agent, the paper adds up to the invoice."""
    await _set_up(hub, {"id": "desk", "name": "Front desk", "host": "127.0.0.1", "port": printer.port})
    cashier = await hub.client(Role.CASHIER, device=TILL)
    paid = await _settled(hub, cashier)
    async with _agent(hub) as agent:
        ack = await cashier.command("print.receipt", {"order_id": paid["order_id"]})
        job = ack["result"]["job"]
        assert (job["id"], job["kind"], job["printer"], job["fired_by"]) == (
            f"{paid['invoice_id']}:receipt", "RECEIPT", "desk", TILL,
        )  # fmt: skip
        assert (await agent.result(job["id"], WAIT)).outcome is Outcome.PRINTED
        (paper,) = await printer.wait_for(1, WAIT)
    assert paper.cut and not paper.unknown
    flat = _flat(paper)
    assert f"INVOICE {paid['invoice_number']}" in flat and "Fireflow Demo Kitchen" in flat
    assert "Classic Burger 1 x 349.00 349.00" in flat
    assert "Virgin Mojito 1 x 179.00 179.00" in flat
    assert "Subtotal 528.00" in flat and "Service charge 52.80" in flat
    assert "GST5 5% on 349.00 17.45" in flat and "GST18 18% on 179.00 32.22" in flat
    assert "TOTAL INR 630.47" in flat
    assert "UPI 200.00 ref UPI-42" in flat and "Cash 430.47 received 500.00" in flat and "CHANGE 69.53" in flat
    assert "STILL DUE" not in flat and "REPRINT" not in flat
    async with hub.http(Role.CASHIER, device=TILL) as http:  # the same figures as the invoice history holds
        invoice = (await http.get(f"/api/v1/invoices/{paid['invoice_id']}")).json()["invoice"]
    assert job["receipt"]["bill"] == {k: v for k, v in invoice["bill"].items() if k in job["receipt"]["bill"]}
    assert [(p["method"], p["amount"], p["change"]) for p in job["receipt"]["payments"]] == [
        (p["method"], p["amount"], p["change"]) for p in invoice["payments"]
    ]


async def test_a_double_press_makes_one_receipt_and_a_copy_is_a_reprint(
    hub: RunningHub, printer: PrinterEmulator
) -> None:
    """Two asks at once (WebSocket and HTTP): one job, the other refused naming it; print.reprint prints a copy."""
    await _set_up(hub, {"id": "desk", "host": "127.0.0.1", "port": printer.port})
    cashier = await hub.client(Role.CASHIER, device=TILL)
    paid = await _settled(hub, cashier)
    order_id = paid["order_id"]
    async with hub.http(Role.CASHIER, device=TILL) as http:
        by_ws, by_http = await asyncio.gather(
            cashier.command("print.receipt", {"order_id": order_id}),
            http.post(f"/api/v1/orders/{order_id}/receipt", json={}),
            return_exceptions=True,
        )
    job_id = f"{paid['invoice_id']}:receipt"
    assert not isinstance(by_http, BaseException)
    made = [a for a in (by_ws, by_http.json() if by_http.status_code == 200 else None) if isinstance(a, dict)]
    assert len(made) == 1 and made[0]["result"]["job"]["id"] == job_id
    refusal = str(by_ws) if isinstance(by_ws, HubError) else by_http.json()["message"]
    assert job_id in refusal and "print.reprint" in refusal, refusal
    if isinstance(by_ws, dict):  # the same command again (a till's retry): the same answer, no second job
        again = await cashier.command("print.receipt", {"order_id": order_id}, id=by_ws["id"])
        assert again["result"] == by_ws["result"]
    assert await hub.hub.redis.hlen(f"ff:{{{hub.rid}}}:print_jobs") == 1
    async with _agent(hub) as agent:
        assert (await agent.result(job_id, WAIT)).outcome is Outcome.PRINTED
        kitchen = await hub.client(Role.KITCHEN, stations=("grill",), device="kds-grill")
        with pytest.raises(HubError) as not_theirs:  # a receipt's copy is the till's to ask for
            await kitchen.command("print.reprint", {"job_id": job_id})
        assert not_theirs.value.code == ErrorCode.FORBIDDEN
        copy = (await cashier.command("print.reprint", {"job_id": job_id}))["result"]["job"]
        assert (copy["id"], copy["reprint"], copy["kind"]) == (f"{job_id}:r1", True, "RECEIPT")
        assert (await agent.result(copy["id"], WAIT)).outcome is Outcome.PRINTED
        first, second = await printer.wait_for(2, WAIT)
    assert "REPRINT" not in first.text
    assert second.lines[0].text.strip() == second.lines[-1].text.strip() == "** REPRINT **"
    assert "TOTAL INR 630.47" in _flat(second) and "CHANGE 69.53" in _flat(second)
    assert len(printer.printed) == 2


async def test_the_printed_z_report_has_the_figures_of_the_z_report_api(
    hub: RunningHub, printer: PrinterEmulator
) -> None:
    """A float, a sale and a payout; print.z_report prints what GET /api/v1/reports/z says, once per figures."""
    await _set_up(hub, {"id": "office", "name": "Office", "host": "127.0.0.1", "port": printer.port, "columns": 48},
                  desk_printer="office")  # fmt: skip
    cashier = await hub.client(Role.CASHIER, device=TILL)
    await cashier.command("drawer.float", {"amount": 200000})
    await _settled(hub, cashier)
    await cashier.command("drawer.payout", {"amount": 5000, "category": "supplies", "note": "ice"})
    manager = await hub.client(Role.MANAGER)
    async with hub.http(Role.MANAGER) as http:
        z = (await http.get("/api/v1/reports/z")).json()
    with pytest.raises(HubError) as not_a_manager:
        await cashier.command("print.z_report", {"printer": "office"})
    assert not_a_manager.value.code == ErrorCode.FORBIDDEN
    async with _agent(hub) as agent:
        job = (await manager.command("print.z_report", {"printer": "office"}))["result"]["job"]
        assert job["kind"] == "Z_REPORT" and job["id"].startswith(f"{hub.rid}.z:{z['day']}:office:")
        assert job["z_report"]["report"] == z  # the very report the API serves
        assert (await agent.result(job["id"], WAIT)).outcome is Outcome.PRINTED
        with pytest.raises(HubError) as not_the_tills:  # a Z-report's copy is a manager's to ask for
            await cashier.command("print.reprint", {"job_id": job["id"]})
        assert not_the_tills.value.code == ErrorCode.FORBIDDEN
        copy = (await manager.command("print.reprint", {"job_id": job["id"]}))["result"]["job"]
        assert (await agent.result(copy["id"], WAIT)).outcome is Outcome.PRINTED
        paper, second = await printer.wait_for(2, WAIT)
    assert second.lines[0].text.strip() == "** REPRINT **" and _flat(second).count(_rupees(z["bills_total"])) >= 1
    with pytest.raises(HubError) as again:  # the same figures again: one job, the copy is print.reprint's
        await manager.command("print.z_report", {"printer": "office", "day": z["day"]})
    assert again.value.code == ErrorCode.INVALID_STATE and job["id"] in str(again.value)
    flat = _flat(paper)
    assert "Z-REPORT" in flat and z["day"] in flat and f"Invoices: {z['invoices']}" in flat
    assert z["bills_total"] == 63047 and z["expected_cash"] == 200000 + 43047 - 5000
    for label, key in [
        ("Bills total (with tax and service charge)", "bills_total"),
        ("Service charge", "service_charge"),
        ("Tax", "tax"),
        ("Opening float", "opening_float"),
        ("Expected cash", "expected_cash"),
    ]:
        assert f"{label} {_rupees(z[key])}" in flat, label
    for code, amount in z["net_tax_by_code"].items():
        assert f"{code} {_rupees(amount)}" in flat, code
    assert f"CASH {_rupees(z['takings_by_method']['CASH'])}" in flat
    assert f"UPI {_rupees(z['takings_by_method']['UPI'])}" in flat
    assert f"supplies {_rupees(5000)}" in flat and "Counted cash not counted" in flat


async def test_a_receipt_goes_to_the_backup_printer_when_the_desk_printer_is_offline(
    hub: RunningHub, printer: PrinterEmulator
) -> None:
    """The desk printer is off: the job FAILED with nothing sent, the receipt printed on its backup."""
    async with await PrinterEmulator.start() as office:
        await _set_up(
            hub,
            {"id": "office", "host": "127.0.0.1", "port": office.port},
            {"id": "desk", "host": "127.0.0.1", "port": printer.port, "backup": "office"},
        )
        await printer.set_offline(True)
        cashier = await hub.client(Role.CASHIER, device=TILL)
        paid = await _settled(hub, cashier)
        async with _agent(hub) as agent:
            job_id = (await cashier.command("print.receipt", {"order_id": paid["order_id"]}))["result"]["job"]["id"]
            failed = await agent.result(job_id, WAIT)
            assert (failed.outcome, failed.reason, failed.sent) == (Outcome.FAILED, "offline", False)
            assert (await agent.result(f"{job_id}@office", WAIT)).outcome is Outcome.PRINTED
            (paper,) = await office.wait_for(1, WAIT)
        assert f"INVOICE {paid['invoice_number']}" in _flat(paper) and "TOTAL INR 630.47" in _flat(paper)
    assert printer.printed == []


async def _refused(client: HubClient, command: str, data: dict[str, Any]) -> HubError:
    with pytest.raises(HubError) as refused:
        await client.command(command, data)
    return refused.value


async def test_receipts_and_z_reports_that_cannot_print_are_refused_plainly(hub: RunningHub) -> None:
    """Unknown order or printer, nothing billed, a till without a desk, another restaurant, the wrong role."""
    await _set_up(hub, {"id": "desk", "host": "127.0.0.1", "port": 9100})
    till = await hub.client(Role.CASHIER, device=TILL)
    other_till = await hub.client(Role.CASHIER, device="till-2")
    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger")
    unknown = await _refused(till, "print.receipt", {"order_id": f"{hub.rid}.o999"})
    assert (unknown.code, unknown.frame["message"]) == (ErrorCode.NOT_FOUND, f"no order '{hub.rid}.o999'")
    not_billed = await _refused(till, "print.receipt", {"order_id": order_id})
    assert not_billed.code == ErrorCode.INVALID_STATE and "neither billed nor settled" in not_billed.frame["message"]
    no_desk = await _refused(other_till, "print.receipt", {"order_id": order_id})
    assert (
        no_desk.code == ErrorCode.INVALID_STATE
        and "till-2" in no_desk.frame["message"]
        and "no desk printer" in no_desk.frame["message"]
    )
    no_printer = await _refused(till, "print.receipt", {"order_id": order_id, "printer": "bar"})
    assert no_printer.code == ErrorCode.NOT_FOUND and "no printer 'bar'" in no_printer.frame["message"]
    elsewhere = await _refused(till, "print.receipt", {"order_id": "elsewhere.o1"})
    assert elsewhere.code == ErrorCode.WRONG_TENANT
    assert (await _refused(waiter, "print.receipt", {"order_id": order_id})).code == ErrorCode.FORBIDDEN
    manager = await hub.client(Role.MANAGER)
    assert (await _refused(manager, "print.z_report", {"printer": "bar"})).code == ErrorCode.NOT_FOUND
    bad_day = await _refused(manager, "print.z_report", {"printer": "desk", "day": "2026-13-45"})
    assert bad_day.code == ErrorCode.INVALID_COMMAND
    # A bill requested: it prints as a bill, not paid, once per version of the order, on the printer named.
    await till.command("bill.request", {"order_id": order_id})
    bill = (await other_till.command("print.receipt", {"order_id": order_id, "printer": "desk"}))["result"]["job"]
    assert bill["id"].startswith(f"{order_id}:bill") and bill["receipt"]["invoice_number"] is None
    assert bill["receipt"]["bill"]["total"] == 34900 + 1745
    async with hub.http(Role.CASHIER, device=TILL) as http:
        answer = await http.post(f"/api/v1/orders/{order_id}/receipt", json={})
    assert answer.status_code == 409 and bill["id"] in answer.json()["message"]
