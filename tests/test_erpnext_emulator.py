"""The loopback ERPNext: Frappe's REST API for Sales Invoices as a client meets it over HTTP, and its faults.

Real sockets on 127.0.0.1: httpx against the emulator served by uvicorn in the test's event loop, and
the command line in a process of its own. Waits are on answers, never on sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fireflow.clients.erpnext.emulator import ErpNextEmulator, serve_emulator
from tests.conftest import ROOT, WAIT, free_port

KEY, SECRET = "fireflow-key", "fireflow-secret"
TOKEN = {"Authorization": f"token {KEY}:{SECRET}"}
INVOICES = "/api/resource/Sales%20Invoice"
LOGGED_USER = "/api/method/frappe.auth.get_logged_user"
CANCEL = "/api/method/frappe.client.cancel"
NAME = re.compile(r"ACC-SINV-\d{4}-(\d{5})")


@pytest.fixture
async def emu() -> AsyncIterator[ErpNextEmulator]:
    async with serve_emulator(KEY, SECRET) as emulator:
        yield emulator


@pytest.fixture
async def erp(emu: ErpNextEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in with the site's API key pair, as the hub's would be."""
    async with httpx.AsyncClient(base_url=emu.url, headers=TOKEN, timeout=WAIT) as client:
        yield client


def invoice(fireflow_id: str, **changes: Any) -> dict[str, Any]:
    """A settled bill as the hub books it: two lines, a tax as an amount, paid in cash (22.25 + 2.23 = 24.48)."""
    return {
        "customer": "Walk-in Customer",
        "fireflow_id": fireflow_id,
        "docstatus": 1,
        "items": [{"item_code": "BURGER", "qty": 2, "rate": 9.5}, {"item_code": "FRIES", "qty": 1, "rate": 3.25}],
        "taxes": [{"charge_type": "Actual", "account_head": "VAT - FF", "description": "VAT 10%", "tax_amount": 2.23}],
        "payments": [{"mode_of_payment": "Cash", "amount": 24.48}],
        **changes,
    }


def refund(of: str, fireflow_id: str, **changes: Any) -> dict[str, Any]:
    """A return of the fries of invoice ``of``."""
    lines = {"items": [{"item_code": "FRIES", "qty": -1, "rate": 3.25}], "taxes": [], "payments": []}
    return invoice(fireflow_id, is_return=1, return_against=of, **{**lines, **changes})


def said(answer: httpx.Response) -> list[str]:
    """What Frappe showed (``_server_messages``, each a JSON string in a JSON list) and the exception's text."""
    body = answer.json()
    shown = [json.loads(message)["message"] for message in json.loads(body.get("_server_messages", "[]"))]
    return [*shown, body.get("exception", "")]


async def create(erp: httpx.AsyncClient, doc: dict[str, Any]) -> dict[str, Any]:
    answer = await erp.post(INVOICES, json=doc)
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()["data"]
    return created


async def listed(erp: httpx.AsyncClient, filters: Any = None, fields: Any = None) -> list[dict[str, Any]]:
    params = {key: json.dumps(value) for key, value in (("filters", filters), ("fields", fields)) if value is not None}
    answer = await erp.get(INVOICES, params=params)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


# -- authentication ---------------------------------------------------------------------------------------


async def test_the_key_pair_signs_in_as_a_token_and_as_basic(emu: ErpNextEmulator) -> None:
    """`token key:secret` and `Basic base64(key:secret)` both run the request as the key's user."""
    basic = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()}
    async with httpx.AsyncClient(base_url=emu.url, timeout=WAIT) as client:
        for headers in (TOKEN, basic):
            answer = await client.get(LOGGED_USER, headers=headers)
            assert (answer.status_code, answer.json()) == (200, {"message": "Administrator"})
    assert [entry.headers["authorization"] for entry in emu.received] == [
        TOKEN["Authorization"],
        basic["Authorization"],
    ]


async def test_a_wrong_pair_is_refused_401_and_no_credentials_run_as_a_guest(emu: ErpNextEmulator) -> None:
    """A two-word Authorization that fails is 401 AuthenticationError; without one the Guest gets 403."""
    wrong = [
        f"token {KEY}:nope",
        f"token {KEY}",
        "Basic " + base64.b64encode(f"{KEY}:nope".encode()).decode(),
        "Bearer some-oauth-token",
    ]
    async with httpx.AsyncClient(base_url=emu.url, timeout=WAIT) as client:
        for authorization in wrong:
            answer = await client.post(INVOICES, json=invoice("f-1"), headers={"Authorization": authorization})
            assert (answer.status_code, answer.json()) == (401, {"exc_type": "AuthenticationError"}), authorization
        undecodable = await client.get(LOGGED_USER, headers={"Authorization": "Basic abc"})
        assert (undecodable.status_code, undecodable.json()["exc_type"]) == (400, "InvalidAuthorizationToken")
        for path in (INVOICES, LOGGED_USER):
            guest = await client.get(path)
            assert (guest.status_code, guest.json()["exc_type"]) == (403, "PermissionError"), path
            assert "exception" not in guest.json()  # no traceback for a Guest
        ping = await client.get("/api/method/frappe.ping")
        assert (ping.status_code, ping.json()) == (200, {"message": "pong"})
    assert emu.docs == []


# -- Sales Invoices -----------------------------------------------------------------------------------------


async def test_an_invoice_is_named_by_the_series_totalled_stored_and_read_back(
    erp: httpx.AsyncClient, emu: ErpNextEmulator
) -> None:
    """POST answers the whole document, named ACC-SINV-YYYY-00001; GET by name gives the same one back."""
    doc = await create(erp, invoice("f-1"))
    name = doc["name"]
    assert (match := NAME.fullmatch(name)) and match.group(1) == "00001"
    assert (doc["docstatus"], doc["status"], doc["owner"], doc["fireflow_id"]) == (1, "Paid", "Administrator", "f-1")
    assert (doc["total"], doc["total_taxes_and_charges"], doc["grand_total"]) == (22.25, 2.23, 24.48)
    assert [(row["item_code"], row["amount"], row["parent"], row["idx"]) for row in doc["items"]] == [
        ("BURGER", 19.0, name, 1),
        ("FRIES", 3.25, name, 2),
    ]
    assert (
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", doc["creation"]) and doc["modified"] == doc["creation"]
    )
    for path in (f"{INVOICES}/{name}", f"/api/resource/Sales Invoice/{name}"):
        answer = await erp.get(path)
        assert (answer.status_code, answer.json()) == (200, {"data": doc}), path
    assert NAME.fullmatch(second := (await create(erp, invoice("f-2")))["name"]) and second.endswith("-00002")
    first = emu.received[0]
    assert (first.method, first.path, first.status, first.json()["fireflow_id"]) == (
        "POST",
        "/api/resource/Sales Invoice",
        200,
        "f-1",
    )


async def test_the_doc_may_come_in_the_form_field_data_and_without_docstatus_is_a_draft(
    erp: httpx.AsyncClient,
) -> None:
    """Frappe reads form field `data` as the document; no `docstatus` saves a draft (docstatus 0)."""
    draft = invoice("f-1")
    del draft["docstatus"]
    answer = await erp.post("/api/v1/resource/Sales Invoice", data={"data": json.dumps(draft)})
    assert answer.status_code == 200, answer.text
    assert answer.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert (answer.json()["data"]["docstatus"], answer.json()["data"]["status"]) == (0, "Draft")
    assert await listed(erp, [["docstatus", "=", 0]]) == [{"name": answer.json()["data"]["name"]}]


async def test_the_list_filters_and_picks_fields_as_frappe_reads_them(erp: httpx.AsyncClient) -> None:
    """JSON `filters` and `fields`: `=` on any field (case-blind, as MariaDB), `["*"]` for all, `name` by default."""
    paid = (await create(erp, invoice("f-paid")))["name"]
    draft = (await create(erp, invoice("f-draft", docstatus=0)))["name"]
    fields = ["name", "fireflow_id", "docstatus"]
    assert await listed(erp, [["fireflow_id", "=", "f-paid"]], fields) == [
        {"name": paid, "fireflow_id": "f-paid", "docstatus": 1}
    ]
    assert await listed(erp, [["Sales Invoice", "fireflow_id", "=", "F-PAID"]]) == [{"name": paid}]
    assert await listed(erp, {"docstatus": 0}) == [{"name": draft}]
    assert await listed(erp) == [{"name": draft}, {"name": paid}]  # newest first
    assert await listed(erp, [["fireflow_id", "=", "f-none"]]) == []
    (everything,) = await listed(erp, {"fireflow_id": "f-paid"}, ["*"])
    assert everything["grand_total"] == 24.48 and everything["customer"] == "Walk-in Customer"
    assert "items" not in everything  # child tables are not columns of the list


async def test_a_second_invoice_with_the_same_fireflow_id_is_refused_and_nothing_is_added(
    erp: httpx.AsyncClient, emu: ErpNextEmulator
) -> None:
    """The unique custom field: 417 UniqueValidationError "Fireflow ID must be unique"; one invoice stays."""
    first = await create(erp, invoice("f-1"))
    again = await erp.post(INVOICES, json=invoice("f-1", customer="Someone Else"))
    assert (again.status_code, again.json()["exc_type"]) == (417, "UniqueValidationError")
    assert said(again)[0] == "Fireflow ID must be unique"
    assert await listed(erp, {"fireflow_id": "f-1"}, ["name", "customer"]) == [
        {"name": first["name"], "customer": "Walk-in Customer"}
    ]
    assert len(emu.docs) == 1
    assert (await create(erp, invoice("f-2")))["name"].endswith("-00002")  # the refusal used no number


async def test_a_return_against_a_submitted_invoice_is_a_credit_note(erp: httpx.AsyncClient) -> None:
    """is_return 1, return_against the invoice, negative quantities: stored, negative total, status Return."""
    original = await create(erp, invoice("f-1"))
    credit = await create(erp, refund(original["name"], "f-1-refund"))
    assert (credit["is_return"], credit["return_against"], credit["status"]) == (1, original["name"], "Return")
    assert (credit["grand_total"], credit["items"][0]["qty"]) == (-3.25, -1.0)


@pytest.mark.parametrize(
    ("against", "changes", "exc_type", "message"),
    [
        ("ACC-SINV-2001-00042", {}, "LinkValidationError", "Could not find Return Against: ACC-SINV-2001-00042"),
        (None, {}, "ValidationError", "Return Against is mandatory for Return"),
        ("draft", {}, "ValidationError", "Invalid Return Against: {draft}"),
        ("paid", {"customer": "Someone Else"}, "ValidationError", "Invalid Return Against: {paid}"),
        ("cancelled", {}, "CancelledLinkError", "Cannot link cancelled document: Return Against: {cancelled}"),
        (
            "paid",
            {"items": [{"item_code": "FRIES", "qty": 1, "rate": 3.25}]},
            "ValidationError",
            "Qty must be negative",
        ),
    ],
)
async def test_a_return_is_refused_unless_against_a_submitted_invoice_of_its_customer_with_negative_qty(
    erp: httpx.AsyncClient,
    emu: ErpNextEmulator,
    against: str | None,
    changes: dict[str, Any],
    exc_type: str,
    message: str,
) -> None:
    """A return names an invoice that exists, is submitted and is the same customer's; its quantities are negative."""
    names = {
        "paid": (await create(erp, invoice("f-paid")))["name"],
        "draft": (await create(erp, invoice("f-draft", docstatus=0)))["name"],
        "cancelled": (await create(erp, invoice("f-cancelled")))["name"],
    }
    assert (await erp.post(CANCEL, json={"doctype": "Sales Invoice", "name": names["cancelled"]})).status_code == 200
    answer = await erp.post(INVOICES, json=refund(names.get(against or "", against or ""), "f-refund", **changes))
    assert (answer.status_code, answer.json()["exc_type"]) == (417, exc_type)
    assert message.format(**names) in said(answer)[0]
    assert len(emu.docs) == 3


async def test_cancel_takes_a_submitted_invoice_to_docstatus_2_once(erp: httpx.AsyncClient) -> None:
    """frappe.client.cancel: submitted → cancelled; a cancelled or draft one, or a GET, is refused."""
    name = (await create(erp, invoice("f-1")))["name"]
    cancelled = await erp.post(CANCEL, json={"doctype": "Sales Invoice", "name": name})
    assert cancelled.status_code == 200
    assert (cancelled.json()["message"]["docstatus"], cancelled.json()["message"]["status"]) == (2, "Cancelled")
    assert (await erp.get(f"{INVOICES}/{name}")).json()["data"]["docstatus"] == 2
    again = await erp.post(CANCEL, json={"doctype": "Sales Invoice", "name": name})
    assert (again.status_code, again.json()["exc_type"]) == (417, "ValidationError")
    assert said(again)[-1].endswith("Cannot edit cancelled document")
    draft = (await create(erp, invoice("f-2", docstatus=0)))["name"]
    refused = await erp.post(CANCEL, data={"doctype": "Sales Invoice", "name": draft})  # a form works as well
    assert (refused.status_code, refused.json()["exc_type"]) == (417, "DocstatusTransitionError")
    assert (await erp.get(f"{INVOICES}/{draft}")).json()["data"]["docstatus"] == 0
    missing = await erp.post(CANCEL, json={"doctype": "Sales Invoice", "name": "ACC-SINV-2001-00001"})
    assert (missing.status_code, missing.json()["exc_type"]) == (404, "DoesNotExistError")
    by_get = await erp.get(CANCEL, params={"doctype": "Sales Invoice", "name": draft})
    assert (by_get.status_code, by_get.json()["exc_type"]) == (403, "PermissionError")


async def test_an_invoice_with_a_submitted_return_is_cancelled_only_after_its_return(erp: httpx.AsyncClient) -> None:
    """The return links to the invoice: LinkExistsError until the return itself is cancelled."""
    original = (await create(erp, invoice("f-1")))["name"]
    credit = (await create(erp, refund(original, "f-1-refund")))["name"]
    linked = await erp.post(CANCEL, json={"doctype": "Sales Invoice", "name": original})
    assert (linked.status_code, linked.json()["exc_type"]) == (417, "LinkExistsError")
    assert credit in said(linked)[0]
    for name in (credit, original):
        answer = await erp.post(CANCEL, json={"doctype": "Sales Invoice", "name": name})
        assert (answer.status_code, answer.json()["message"]["docstatus"]) == (200, 2)


@pytest.mark.parametrize(
    ("changes", "exc_type", "message"),
    [
        ({"customer": None}, "MandatoryError", "Error: Value missing for Sales Invoice: Customer"),
        ({"items": []}, "MandatoryError", "Error: Data missing in table: Items"),
        (
            {"items": [{"item_code": "BURGER", "qty": 1}]},
            "MandatoryError",
            "Error: <strong>Sales Invoice Item</strong> Row #1: Value missing for: Rate",
        ),
        (
            {"payments": [{"mode_of_payment": "Cash"}]},
            "MandatoryError",
            "Error: <strong>Sales Invoice Payment</strong> Row #1: Value missing for: Amount",
        ),
        (
            {"items": [{"item_code": "BURGER", "qty": 0, "rate": 9.5}]},
            "InvalidQtyError",
            "Row #1: Quantity for Item <strong>BURGER</strong> cannot be zero.",
        ),
        (
            {"taxes": [{"charge_type": "Sometimes", "account_head": "VAT - FF", "description": "VAT"}]},
            "ValidationError",
            'Row #1: Type cannot be "Sometimes"',
        ),
        ({"docstatus": 2}, "DocstatusTransitionError", "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)"),
    ],
)
async def test_an_invalid_invoice_is_refused_417_with_frappes_message_and_not_stored(
    erp: httpx.AsyncClient, emu: ErpNextEmulator, changes: dict[str, Any], exc_type: str, message: str
) -> None:
    """What ERPNext checks before it saves: mandatory fields and rows, a quantity, a tax type, the docstatus."""
    answer = await erp.post(INVOICES, json=invoice("f-1", **changes))
    assert (answer.status_code, answer.json()["exc_type"]) == (417, exc_type)
    assert any(message in text for text in said(answer)), said(answer)
    assert answer.json()["exception"].startswith(("frappe.exceptions.", "erpnext."))
    assert emu.docs == []


async def test_what_is_not_there_is_404_and_an_unknown_method_417(erp: httpx.AsyncClient) -> None:
    """A missing invoice or doctype is 404 DoesNotExistError (no traceback); an unknown method 417."""
    missing = await erp.get(f"{INVOICES}/ACC-SINV-2001-00001")
    assert (missing.status_code, missing.json()["exc_type"]) == (404, "DoesNotExistError")
    assert said(missing) == ["Sales Invoice ACC-SINV-2001-00001 not found", ""]
    doctype = await erp.get("/api/resource/Customer")
    assert (doctype.status_code, said(doctype)[0]) == (404, "DocType Customer not found")
    method = await erp.post("/api/method/erpnext.nothing.here")
    assert (method.status_code, method.json()["exc_type"]) == (417, "ValidationError")


# -- faults ---------------------------------------------------------------------------------------------------


async def test_the_next_requests_fail_as_told_then_the_site_answers_again(
    erp: httpx.AsyncClient, emu: ErpNextEmulator
) -> None:
    """fail_next: each failed request is answered the status and does not take effect; then service resumes."""
    emu.fail_next(2, 503)
    emu.fail_next(1, 502)
    answers = [await erp.post(INVOICES, json=invoice("f-1")) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [503, 503, 502, 200]
    assert answers[0].json() == {"exc_type": "SessionStopped"}
    assert answers[2].headers["content-type"] == "text/html" and "502 Bad Gateway" in answers[2].text
    assert [doc["fireflow_id"] for doc in emu.docs] == ["f-1"]
    assert [entry.status for entry in emu.received] == [503, 503, 502, 200]


async def test_a_connection_dropped_before_processing_books_nothing_and_after_processing_books_once(
    erp: httpx.AsyncClient, emu: ErpNextEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """drop_next: no answer either way; after processing the invoice exists and a retry is refused as a duplicate."""
    emu.drop_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        await erp.post(INVOICES, json=invoice("f-1"))
    assert emu.docs == [] and (emu.received[-1].status, emu.received[-1].dropped) == (None, True)
    emu.drop_next(1, after_processing=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await erp.post(INVOICES, json=invoice("f-1"))
    assert (emu.received[-1].status, emu.received[-1].dropped) == (200, True)
    retry = await erp.post(INVOICES, json=invoice("f-1"))
    assert (retry.status_code, retry.json()["exc_type"]) == (417, "UniqueValidationError")
    assert await listed(erp, {"fireflow_id": "f-1"}) == [{"name": emu.docs[0]["name"]}]
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


async def test_a_site_that_is_down_answers_503_to_everything_until_it_is_up(
    erp: httpx.AsyncClient, emu: ErpNextEmulator
) -> None:
    """set_down: every API request 503 (control endpoints still answer), nothing booked; set up, all is well."""
    emu.set_down(True)
    for answer in (await erp.post(INVOICES, json=invoice("f-1")), await erp.get(LOGGED_USER)):
        assert (answer.status_code, answer.json()) == (503, {"exc_type": "SessionStopped"})
    faults = await erp.get("/_emulator/faults")
    assert (faults.status_code, faults.json()["down"]) == (200, True)
    assert emu.docs == []
    emu.set_down(False)
    assert (await erp.post(INVOICES, json=invoice("f-1"))).status_code == 200


async def test_a_slow_site_answers_late_and_a_client_that_gave_up_still_booked(
    erp: httpx.AsyncClient, emu: ErpNextEmulator
) -> None:
    """slow: the answer leaves `seconds` after the request took effect; a client timing out first still booked it."""
    delay = 0.2
    emu.slow(delay)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await erp.get(LOGGED_USER)).status_code == 200
    assert loop.time() - started >= delay
    emu.slow(WAIT * 10)
    with pytest.raises(httpx.ReadTimeout):
        await erp.post(INVOICES, json=invoice("f-1"), timeout=httpx.Timeout(WAIT, read=delay))
    emu.slow(0)
    assert await listed(erp, {"fireflow_id": "f-1"}, ["fireflow_id", "docstatus"]) == [
        {"fireflow_id": "f-1", "docstatus": 1}
    ]


async def test_the_control_endpoints_set_faults_and_show_state_without_auth(emu: ErpNextEmulator) -> None:
    """/_emulator/: the same faults and inspection over HTTP for a process that runs the emulator elsewhere."""
    async with (
        httpx.AsyncClient(base_url=emu.url, timeout=WAIT) as control,
        httpx.AsyncClient(base_url=emu.url, headers=TOKEN, timeout=WAIT) as erp,
    ):
        pending = await control.post("/_emulator/fail", json={"count": 1, "status": 504})
        assert (pending.status_code, pending.json()["pending"]) == (200, [504])
        assert (await erp.get(LOGGED_USER)).status_code == 504
        assert (await control.post("/_emulator/drop", json={"after_processing": True})).json()["pending"] == [
            "drop-after"
        ]
        with pytest.raises(httpx.RemoteProtocolError):
            await erp.post(INVOICES, json=invoice("f-1"))
        assert (await control.post("/_emulator/down")).json()["down"] is True
        assert (await erp.get(LOGGED_USER)).status_code == 503
        assert (await control.post("/_emulator/up")).json()["down"] is False
        assert (await control.post("/_emulator/slow", json={"seconds": 0.01})).json()["slow"] == 0.01
        bad = await control.post("/_emulator/fail", json={"count": "many"})
        assert (bad.status_code, bad.json()) == (400, {"error": "count must be int, not 'many'"})
        docs = (await control.get("/_emulator/docs")).json()["docs"]
        assert [doc["fireflow_id"] for doc in docs] == ["f-1"]
        received = (await control.get("/_emulator/received")).json()["received"]
        assert [(entry["path"], entry["status"], entry["dropped"]) for entry in received] == [
            ("/api/method/frappe.auth.get_logged_user", 504, False),
            ("/api/resource/Sales Invoice", 200, True),
            ("/api/method/frappe.auth.get_logged_user", 503, False),
        ]
        assert json.loads(received[1]["body"])["fireflow_id"] == "f-1"
        reset = await control.post("/_emulator/reset")
        assert reset.json() == {"down": False, "pending": [], "slow": 0.0}
        assert (await control.get("/_emulator/docs")).json() == {"docs": []}
        assert (await control.get("/_emulator/received")).json() == {"received": []}


# -- the command line -----------------------------------------------------------------------------------------


async def test_the_command_line_serves_the_site_until_sigterm(tmp_path: Path) -> None:
    """`python -m fireflow.clients.erpnext.emulator --port N ...` prints when ready, serves, and exits 0 on SIGTERM."""
    port = free_port()
    command = [sys.executable, "-m", "fireflow.clients.erpnext.emulator", "--port", str(port)]
    command += ["--api-key", KEY, "--api-secret", SECRET]
    with (tmp_path / "stderr.log").open("wb") as errors:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
    assert process.stdout is not None
    try:
        ready = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), WAIT * 4)
        assert f"http://127.0.0.1:{port}" in ready, (tmp_path / "stderr.log").read_text()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as client:
            signed_in = await client.get(LOGGED_USER, headers=TOKEN)
            assert (signed_in.status_code, signed_in.json()) == (200, {"message": "Administrator"})
            assert (await client.post("/_emulator/fail", json={"count": 1, "status": 503})).status_code == 200
            assert (await client.post(INVOICES, json=invoice("f-1"), headers=TOKEN)).status_code == 503
            assert (await client.post(INVOICES, json=invoice("f-1"), headers=TOKEN)).status_code == 200
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(asyncio.to_thread(process.wait), WAIT * 4) == 0
            with pytest.raises(httpx.ConnectError):
                await client.get(LOGGED_USER, headers=TOKEN)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
        process.stdout.close()
