"""The outbox on real Postgres and a loopback ERPNext: written with the posting, pushed once, through outages."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.clients.erpnext.emulator import serve_emulator
from fireflow.clients.python import HubError
from fireflow.hub.books.sold import sold_invoice
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.erpnext import ErpSettings, amount, sale_doc
from fireflow.hub.integrations.erpnext import ErpNext
from fireflow.hub.integrations.object_store import LocalStore
from fireflow.hub.workers.outbox import OutboxDrain
from fireflow.hub.workers.outbox_archive import ArchiveTarget
from fireflow.hub.workers.outbox_erpnext import ErpNextTarget
from fireflow.schema.tables import OutboxAttemptRow, OutboxRow
from tests.conftest import WAIT, RunningHub, Servers, seed
from tests.helpers import new_order
from tests.test_settle_crash import _http, _pay, _ready_order

KEY, SECRET = "fireflow-key", "fireflow-secret"


async def _settled(hub: RunningHub, *items: str) -> dict[str, Any]:
    """A takeaway fired and paid by UPI (and cash when two tenders are asked): the order.pay answer."""
    waiter, cashier = await hub.client(Role.WAITER), await hub.client(Role.CASHIER)
    order_id = await new_order(waiter, *(items or ("burger", "fries")))
    await waiter.command("order.fire", {"order_id": order_id})
    due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
    tenders = [{"method": "UPI", "amount": due - 1000, "reference": "UPI-1"}, {"method": "CASH", "amount": 1000}]
    paid = await cashier.command("order.pay", {"order_ids": [order_id], "tenders": tenders, "force": True})
    return dict(paid["result"]) | {"order_id": order_id}


async def _alone(engine: AsyncEngine, rid: str) -> None:
    """The outbox as if this test's restaurant were the only one: the rows other tests left in the shared
    Postgres are put out of the drain's way (a drain takes every restaurant's rows, oldest first)."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE outbox SET status = 'DONE' WHERE restaurant_id <> :rid AND status = 'PENDING'"), {"rid": rid}
        )


async def _rows(engine: AsyncEngine, invoice_id: str, target: str = "erpnext") -> list[Any]:
    """The invoice's outbox rows for ``target``, oldest first."""
    query = (
        select(OutboxRow.__table__)
        .where(OutboxRow.reference == invoice_id, OutboxRow.target == target)
        .order_by(OutboxRow.id)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def _attempts(engine: AsyncEngine, outbox_id: int) -> list[Any]:
    async with engine.connect() as conn:
        query = (
            select(OutboxAttemptRow.__table__)
            .where(OutboxAttemptRow.outbox_id == outbox_id)
            .order_by(OutboxAttemptRow.id)
        )
        return list((await conn.execute(query)).all())


async def _until_done(drain: OutboxDrain, engine: AsyncEngine, invoice_id: str, rows: int) -> list[Any]:
    """Drain until the invoice's ``rows`` outbox rows are no longer PENDING (a retry's backoff is waited out)."""

    async def done() -> list[Any]:
        while True:
            await drain.drain()
            found = await _rows(engine, invoice_id)
            if len(found) == rows and all(r.status != "PENDING" for r in found):
                return found
            async with engine.begin() as conn:  # what is due later is due now: the backoff is not under test here
                await conn.execute(text("UPDATE outbox SET next_at = now() WHERE reference = :r"), {"r": invoice_id})

    return await asyncio.wait_for(done(), 10 * WAIT)


async def _refused(engine: AsyncEngine, url: str, invoice_id: str) -> Any:
    """The invoice's sale pushed to the ERPNext at ``url`` with a wrong API secret until it stands: its row."""
    wrong = OutboxDrain(engine, [ErpNextTarget(ErpNext(url, KEY, "not-the-secret"))])
    try:
        (row,) = await _until_done(wrong, engine, invoice_id, 1)
    finally:
        await wrong.close()
    return row


async def test_a_settlement_writes_its_outbox_row_in_its_own_transaction(hub: RunningHub, engine: AsyncEngine) -> None:
    paid = await _settled(hub)
    (row,) = await _rows(engine, paid["invoice_id"])
    assert (row.restaurant_id, row.target, row.kind, row.status, row.attempts) == (
        hub.rid,
        "erpnext",
        "SALE",
        "PENDING",
        0,
    )
    async with engine.connect() as conn:  # the posting it is about, by id
        kind = (
            await conn.execute(text("SELECT kind FROM ledger_transactions WHERE id = :s"), {"s": row.subject})
        ).scalar()
    assert kind == "SALE"
    (archived,) = await _rows(engine, paid["invoice_id"], "archive")  # and one for the invoice archive (0013)
    assert (archived.subject, archived.status) == (row.subject, "PENDING")
    # a posting rolled back leaves no row: the trigger writes in the posting's transaction
    async with engine.connect() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar()
    async with engine.connect() as conn:
        async with conn.begin() as txn:
            await conn.execute(
                text(
                    "INSERT INTO ledger_transactions (id, restaurant_id, kind, reference, business_day, created_by, "
                    "created_at) VALUES ('rolled-back', :rid, 'SALE', 'nothing', current_date, 'test', now())"
                ),
                {"rid": hub.rid},
            )
            assert (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar() == before + 2
            await txn.rollback()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar() == before


async def test_without_erpnext_each_push_is_logged_here_and_done(hub: RunningHub, engine: AsyncEngine) -> None:
    paid = await _settled(hub)
    await _alone(engine, hub.rid)
    drain = OutboxDrain(engine, [ErpNextTarget(None)])
    (row,) = await _until_done(drain, engine, paid["invoice_id"], 1)
    assert (row.status, row.remote_id, row.last_error) == ("DONE", None, "ERPNEXT_URL is not set: not sent")
    (attempt,) = await _attempts(engine, row.id)
    assert attempt.outcome == "LOGGED" and attempt.payload["fireflow_id"] == row.subject
    assert attempt.payload["remarks"].endswith(f"({paid['invoice_id']})")


async def test_a_sale_reaches_erpnext_once_through_an_outage_with_its_items_taxes_and_payments(
    hub: RunningHub, engine: AsyncEngine
) -> None:
    paid = await _settled(hub, "burger", "fries")
    await _alone(engine, hub.rid)
    async with serve_emulator(KEY, SECRET) as erp:
        drain = OutboxDrain(engine, [ErpNextTarget(ErpNext(erp.url, KEY, SECRET))])
        try:
            erp.set_down(True)
            assert (await drain.push_one()) is not None
            (row,) = await _rows(engine, paid["invoice_id"])
            assert (row.status, row.attempts) == ("PENDING", 1) and "503" in (row.last_error or "")
            erp.set_down(False)
            (row,) = await _until_done(drain, engine, paid["invoice_id"], 1)
        finally:
            await drain.close()
        docs = [d for d in erp.docs if d.get("fireflow_id") == row.subject]
    assert len(docs) == 1
    (doc,) = docs
    assert (row.status, row.remote_id) == ("DONE", doc["name"])
    assert doc["docstatus"] == 1 and doc["is_pos"] == 1
    assert sorted(i["item_code"] for i in doc["items"]) == ["burger", "fries"]
    assert doc["grand_total"] == amount(paid["total"], 2)
    assert sorted((p["mode_of_payment"], p["amount"]) for p in doc["payments"]) == sorted(
        [("Cash", 10.0), ("UPI", amount(paid["total"] - 1000, 2))]
    )
    outcomes = [a.outcome for a in await _attempts(engine, row.id)]
    assert outcomes == ["FAILED", "SENT"]


async def test_a_push_that_got_there_before_a_crash_is_not_made_twice(hub: RunningHub, engine: AsyncEngine) -> None:
    """The node died after ERPNext took the document and before its row was marked: the row is still PENDING,
    the next push is refused there as a duplicate of its fireflow_id, found, and taken as done."""
    paid = await _settled(hub)
    await _alone(engine, hub.rid)
    async with serve_emulator(KEY, SECRET) as erp:
        client = ErpNext(erp.url, KEY, SECRET)
        drain = OutboxDrain(engine, [ErpNextTarget(client)])
        try:
            (row,) = await _rows(engine, paid["invoice_id"])
            async with engine.connect() as conn:  # the same document the drain makes, sent by the node that died
                invoice = await sold_invoice(conn, hub.rid, paid["invoice_id"])
            first = await client.create(sale_doc(invoice, row.subject, ErpSettings()))
            (row,) = await _until_done(drain, engine, paid["invoice_id"], 1)
        finally:
            await drain.close()
        assert len([d for d in erp.docs if d.get("fireflow_id") == row.subject]) == 1
    assert row.remote_id == first.name
    assert [a.outcome for a in await _attempts(engine, row.id)] == ["ALREADY"]


async def test_a_refund_becomes_a_return_against_the_sale_and_a_void_cancels_it(
    hub: RunningHub, engine: AsyncEngine
) -> None:
    refunded, voided = await _settled(hub), await _settled(hub)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    refund = {"invoice_id": refunded["invoice_id"], "amount": 5000, "method": "CASH", "reason": "cold", "pin": "1234"}
    await manager.command("invoice.refund", refund)
    await manager.command("invoice.void", {"invoice_id": voided["invoice_id"], "reason": "wrong", "pin": "1234"})
    await _alone(engine, hub.rid)
    async with serve_emulator(KEY, SECRET) as erp:
        drain = OutboxDrain(engine, [ErpNextTarget(ErpNext(erp.url, KEY, SECRET))])
        try:
            sale, back = await _until_done(drain, engine, refunded["invoice_id"], 2)
            sold, void = await _until_done(drain, engine, voided["invoice_id"], 2)
        finally:
            await drain.close()
        by_name = {d["name"]: d for d in erp.docs}
    assert (back.kind, back.status, sale.status) == ("REFUND", "DONE", "DONE")
    returned = by_name[back.remote_id]
    assert returned["is_return"] == 1 and returned["return_against"] == sale.remote_id
    assert returned["grand_total"] == -50.0
    assert [p["amount"] for p in returned["payments"]] == [-50.0]
    assert "cold" in returned["remarks"]
    assert (void.kind, void.status, void.remote_id) == ("VOID", "DONE", sold.remote_id)
    assert by_name[sold.remote_id]["docstatus"] == 2


async def test_a_refusal_a_person_must_fix_fails_at_once_and_the_managers_retry_sends_it(
    hub: RunningHub, engine: AsyncEngine
) -> None:
    """A wrong API secret is not something time mends: FAILED after one try, with ERPNext's words. Once it is
    right, the manager's outbox.retry (two copies at once: one effect, the same answer) sends it."""
    paid = await _settled(hub)
    await _alone(engine, hub.rid)
    manager = await hub.client(Role.MANAGER, device="manager-1")
    async with serve_emulator(KEY, SECRET) as erp:
        row = await _refused(engine, erp.url, paid["invoice_id"])
        assert (row.status, row.attempts) == ("FAILED", 1) and "401 AuthenticationError" in (row.last_error or "")
        retry = {"outbox_id": row.id}
        twin = await hub.client(Role.MANAGER, device="manager-2")  # the same command sent again from another screen
        first, second = await asyncio.gather(
            manager.command("outbox.retry", retry, id="retry-1"), twin.command("outbox.retry", retry, id="retry-1")
        )
        assert first["result"] == second["result"] == {"outbox_id": row.id, "status": "PENDING"}
        (again,) = await _rows(engine, paid["invoice_id"])
        assert (again.status, again.attempts) == ("PENDING", 0)
        right = OutboxDrain(engine, [ErpNextTarget(ErpNext(erp.url, KEY, SECRET))])
        try:
            (row,) = await _until_done(right, engine, paid["invoice_id"], 1)
        finally:
            await right.close()
        assert row.status == "DONE" and len([d for d in erp.docs if d.get("fireflow_id") == row.subject]) == 1
    for refused, code in [({"outbox_id": row.id}, "INVALID_STATE"), ({"outbox_id": 10**12}, "NOT_FOUND")]:
        with pytest.raises(HubError) as caught:
            await manager.command("outbox.retry", refused)
        assert caught.value.code == code
    with pytest.raises(HubError) as caught:
        await (await hub.client(Role.CASHIER)).command("outbox.retry", {"outbox_id": row.id})
    assert caught.value.code == "FORBIDDEN"


async def test_the_manager_reads_the_outbox_with_counts_and_errors_and_no_one_else_does(
    hub: RunningHub, engine: AsyncEngine, tmp_path: Path
) -> None:
    """A sale's two rows (ERPNext, the archive), each named by its target: counts by status, a status filter, what
    each did (logged here; the archived PDF's key); a bad filter is INVALID_FRAME and a waiter is refused."""
    paid = await _settled(hub)
    await _alone(engine, hub.rid)
    async with hub.http(Role.MANAGER) as http:
        before = (await http.get("/api/v1/outbox")).json()
    assert before["counts"] == {"PENDING": 2, "FAILED": 0, "DONE": 0}  # for ERPNext, and for the archive
    assert sorted(i["target"] for i in before["items"]) == ["archive", "erpnext"]
    (item,) = [i for i in before["items"] if i["target"] == "erpnext"]
    assert (item["kind"], item["reference"], item["status"], item["attempts"]) == (
        "SALE",
        paid["invoice_id"],
        "PENDING",
        0,
    )
    await _until_done(OutboxDrain(engine, [ErpNextTarget(None)]), engine, paid["invoice_id"], 1)
    async with hub.http(Role.MANAGER) as http:
        done = (await http.get("/api/v1/outbox", params={"status": "DONE"})).json()
        pending = (await http.get("/api/v1/outbox", params={"status": "PENDING"})).json()
        wrong = await http.get("/api/v1/outbox", params={"status": "LOST"})
    assert done["counts"] == {"PENDING": 1, "FAILED": 0, "DONE": 1}
    assert [i["target"] for i in pending["items"]] == ["archive"]  # this drain sends to ERPNext only
    assert done["items"][0]["last_error"] == "ERPNEXT_URL is not set: not sent" and done["items"][0]["done_at"]
    assert wrong.status_code == 400 and wrong.json()["code"] == "INVALID_FRAME"
    archive = ArchiveTarget(LocalStore(tmp_path), hub.hub.invoice_links, hub.hub.store.restaurant)
    assert await OutboxDrain(engine, [archive]).drain() == 1
    async with hub.http(Role.MANAGER) as http:
        after = (await http.get("/api/v1/outbox")).json()
    assert after["counts"] == {"PENDING": 0, "FAILED": 0, "DONE": 2}
    (kept,) = [i for i in after["items"] if i["target"] == "archive"]
    assert kept["status"] == "DONE" and kept["last_error"] is None and (tmp_path / kept["remote_id"]).is_file()
    async with hub.http(Role.WAITER) as http:
        refused = await http.get("/api/v1/outbox")
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"


async def test_a_sale_reaches_erpnext_exactly_once_across_a_kill_9_mid_push_and_an_outage(
    nodes: Any, servers: Servers, rid: str, engine: AsyncEngine
) -> None:
    """A node pushes the sale; ERPNext books it but its answer is held back, and the node is killed -9 then.
    Its transaction dies with it: the row is still PENDING, no try recorded. ERPNext then goes down: the next
    node's try fails (503) and is tried again; once ERPNext is back the push is refused there as a copy of
    the one booked, found by its fireflow_id, and done. ERPNext holds one Sales Invoice."""
    await seed(servers, rid)
    await _alone(engine, rid)
    async with serve_emulator(KEY, SECRET) as erp:
        env = {"FIREFLOW_OUTBOX": "on", "ERPNEXT_URL": erp.url, "ERPNEXT_API_KEY": KEY, "ERPNEXT_API_SECRET": SECRET}
        env |= {"ERPNEXT_COMPANY": "Spice Route Pvt Ltd", "ERPNEXT_TAX_ACCOUNT": "Output Tax {code} - SR"}
        erp.slow(60)  # each answer is sent a minute after the request took effect
        node = await nodes(**env)
        async with _http(node.url, rid, Role.MANAGER) as manager:
            profile = {"type": "setup.profile", "id": "tz-1", "data": {"timezone": "Asia/Kolkata"}}
            assert (await manager.post("/api/v1/commands", json=profile)).status_code == 200
        order_id, due = await _ready_order(node.url, rid)
        async with _http(node.url, rid, Role.CASHIER) as cashier:
            paid = (await cashier.post("/api/v1/commands", json=_pay(order_id, due))).json()["result"]
        invoice_id = paid["invoice_id"]
        (row,) = await _rows(engine, invoice_id)

        async def booked() -> None:
            while not [d for d in erp.docs if d.get("fireflow_id") == row.subject]:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(booked(), 10 * WAIT)
        node.kill()
        (row,) = await _rows(engine, invoice_id)
        assert (row.status, row.attempts) == ("PENDING", 0) and await _attempts(engine, row.id) == []

        erp.slow(0)
        erp.set_down(True)
        await nodes(**env)

        async def tried() -> Any:
            while True:
                (found,) = await _rows(engine, invoice_id)
                if found.attempts:
                    return found
                await asyncio.sleep(0.02)

        failed = await asyncio.wait_for(tried(), 10 * WAIT)
        assert failed.status == "PENDING" and "503" in (failed.last_error or "")
        erp.set_down(False)

        async def done() -> Any:
            while True:
                (found,) = await _rows(engine, invoice_id)
                if found.status != "PENDING":
                    return found
                await asyncio.sleep(0.05)

        row = await asyncio.wait_for(done(), 10 * WAIT)
        docs = [d for d in erp.docs if d.get("fireflow_id") == row.subject]
    assert len(docs) == 1 and (row.status, row.remote_id) == ("DONE", docs[0]["name"])
    assert [a.outcome for a in await _attempts(engine, row.id)] == ["FAILED", "ALREADY"]
    # the site's names from the environment, the time on the restaurant's clock (Kolkata: UTC+05:30)
    async with engine.connect() as conn:
        at = (await conn.execute(text("SELECT created_at FROM invoices WHERE id = :i"), {"i": invoice_id})).scalar()
    assert docs[0]["company"] == "Spice Route Pvt Ltd"
    assert "Output Tax GST5 - SR" in {t["account_head"] for t in docs[0]["taxes"]}  # a burger's GST
    assert docs[0]["posting_time"] == at.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M:%S")


async def test_a_failed_item_is_retried_over_its_rest_route_and_a_word_for_an_id_is_refused(
    hub: RunningHub, engine: AsyncEngine
) -> None:
    """POST /api/v1/outbox/{id}/retry takes the path's id as the number it is; a non-number is a clear 422 (INVALID_COMMAND)."""
    paid = await _settled(hub)
    await _alone(engine, hub.rid)
    async with serve_emulator(KEY, SECRET) as erp:
        row = await _refused(engine, erp.url, paid["invoice_id"])
    assert row.status == "FAILED"
    async with hub.http(Role.MANAGER) as http:
        retried = await http.post(f"/api/v1/outbox/{row.id}/retry")
        wrong = await http.post("/api/v1/outbox/five/retry")
        huge = await http.post("/api/v1/outbox/99999999999999999999/retry")
    assert retried.status_code == 200, retried.text
    assert wrong.status_code == 422 and wrong.json()["code"] == "INVALID_COMMAND", wrong.text
    assert huge.status_code == 422 and "valid integer" in huge.text, huge.text  # past a BIGINT: refused in words
    (again,) = await _rows(engine, paid["invoice_id"])
    assert (again.status, again.attempts) == ("PENDING", 0)
