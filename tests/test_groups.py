"""Saved group bills against the real servers: saved once, previewed with what is left out, invoiced once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fireflow.clients.python import HubError
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.conftest import RunningHub
from tests.helpers import new_order
from tests.test_settle import ready_dine_in


async def _preview(hub: RunningHub, group_id: str) -> dict[str, Any]:
    async with hub.http(Role.CASHIER) as till:
        answer = await till.get(f"/api/v1/groups/{group_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_a_group_is_previewed_with_what_is_left_out_then_invoiced_once_with_its_title(hub: RunningHub) -> None:
    """Three tables of an office lunch and a cancelled order: the invoice covers the three and keeps the title."""
    tables = [await ready_dine_in(hub, t, "burger", "water") for t in ("T4", "T5", "T6")]
    waiter = await hub.client(Role.WAITER)
    cancelled = await new_order(waiter, "fries")
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.command("order.cancel", {"order_id": cancelled, "reason": "left"})
    till = await hub.client(Role.CASHIER, device="till-1")
    save = {"title": "Acme offsite lunch", "customer_name": "Acme Ltd", "order_ids": [*tables, cancelled]}
    saved = (await till.command("group.save", save))["result"]["group"]
    assert (saved["version"], saved["invoice_id"], saved["reference1"]) == (1, None, "")
    preview = await _preview(hub, saved["id"])
    assert [o["order_id"] for o in preview["included"]] == tables
    assert preview["excluded"] == [{"order_id": cancelled, "reason": "cancelled"}]
    assert preview["warnings"] == {
        "mixed_customers": False,
        "missing_references": True,
        "invoice_id": None,
        "nothing_to_invoice": False,
    }
    due = preview["bill"]["total"]

    refs = save | {"group_id": saved["id"], "version": 1, "reference1": "PO-7781", "reference2": "CC-12"}
    assert (await till.command("group.save", refs))["result"]["group"]["version"] == 2
    with pytest.raises(HubError) as stale:
        await till.command("group.save", refs)
    assert stale.value.code == ErrorCode.VERSION_CONFLICT
    assert (await _preview(hub, saved["id"]))["warnings"]["missing_references"] is False

    pay = {"order_ids": tables, "group_id": saved["id"], "tenders": [{"method": "CARD", "amount": due}]}
    paid = (await till.command("order.pay", pay))["result"]
    async with hub.http(Role.CASHIER) as http:
        invoice = (await http.get(f"/api/v1/invoices/{paid['invoice_id']}")).json()["invoice"]
        listed = (await http.get("/api/v1/groups", params={"q": "po-778", "invoiced": "yes"})).json()["groups"]
    assert (invoice["total"], invoice["customer_name"], sorted(invoice["order_ids"])) == (
        due,
        "Acme Ltd",
        sorted(tables),
    )
    assert invoice["bill"]["group"] == {
        "id": saved["id"],
        "title": "Acme offsite lunch",
        "customer_name": "Acme Ltd",
        "reference1": "PO-7781",
        "reference2": "CC-12",
    }
    assert [(g["id"], g["invoice_id"]) for g in listed] == [(saved["id"], paid["invoice_id"])]
    after = await _preview(hub, saved["id"])
    assert after["warnings"]["invoice_id"] == paid["invoice_id"] and after["included"] == []
    with pytest.raises(HubError) as again:
        await till.command("order.pay", pay)
    assert again.value.code == ErrorCode.ALREADY_SETTLED
    assert again.value.frame["details"]["invoice_id"] == paid["invoice_id"]
    with pytest.raises(HubError) as frozen:
        await till.command("group.save", refs | {"version": 2})
    assert frozen.value.code == ErrorCode.INVALID_STATE


async def test_copies_of_one_save_make_one_group_and_strangers_are_refused(hub: RunningHub) -> None:
    """Five tills resend one group.save at once: one group. Another's order, an unknown one, a waiter: refused."""
    order_id = await ready_dine_in(hub, "T7", "burger")
    save = {"title": "Birthday", "order_ids": [order_id]}
    tills = [await hub.client(Role.CASHIER, device="till-1") for _ in range(5)]
    answers = await asyncio.gather(*(t.command("group.save", save, id="save-birthday") for t in tills))
    assert len({a["result"]["group"]["id"] for a in answers}) == 1
    async with hub.http(Role.CASHIER) as http:
        found = (await http.get("/api/v1/groups", params={"q": "birth"})).json()["groups"]
        assert len(found) == 1
        for bad, code in (
            (save | {"order_ids": ["elsewhere.o1"]}, "WRONG_TENANT"),
            (save | {"order_ids": [f"{hub.rid}.onothere"]}, "NOT_FOUND"),
            (save | {"order_ids": [order_id, order_id]}, "INVALID_COMMAND"),
            (save | {"title": " "}, "INVALID_COMMAND"),
        ):
            refused = await http.post("/api/v1/commands", json={"type": "group.save", "data": bad})
            assert refused.json()["code"] == code, (bad, refused.text)
        other = await hub.client(Role.MANAGER, rid="elsewhere")
        with pytest.raises(HubError) as foreign:
            await other.command("order.pay", {"order_ids": ["elsewhere.o1"], "group_id": found[0]["id"],
                                              "tenders": [{"method": "CASH", "amount": 1}]})  # fmt: skip
        assert foreign.value.code == ErrorCode.WRONG_TENANT
        not_in = await ready_dine_in(hub, "T8", "water")
        due = await http.post("/api/v1/commands", json={"type": "bill.preview", "data": {"order_ids": [not_in]}})
        pay = {"order_ids": [not_in], "group_id": found[0]["id"],
               "tenders": [{"method": "CASH", "amount": due.json()["result"]["due"]}]}  # fmt: skip
        stranger = await http.post("/api/v1/commands", json={"type": "order.pay", "data": pay})
        assert stranger.json()["code"] == "INVALID_STATE", stranger.text
    async with hub.http(Role.WAITER) as waiter:
        assert (await waiter.get("/api/v1/groups")).status_code == 403
        denied = await waiter.post("/api/v1/commands", json={"type": "group.save", "data": save})
        assert denied.json()["code"] == "FORBIDDEN"


async def test_a_group_is_paid_whole_or_not_at_all(hub: RunningHub) -> None:
    """Paying one of a group's two open orders under the group is refused: its invoice covers the group."""
    a, b = [await ready_dine_in(hub, t, "water") for t in ("T9", "T10")]
    till = await hub.client(Role.CASHIER, device="till-1")
    group = (await till.command("group.save", {"title": "Two tables", "order_ids": [a, b]}))["result"]["group"]
    due = (await till.command("bill.preview", {"order_ids": [a]}))["result"]["due"]
    with pytest.raises(HubError) as part:
        await till.command(
            "order.pay", {"order_ids": [a], "group_id": group["id"], "tenders": [{"method": "CASH", "amount": due}]}
        )
    assert part.value.code == ErrorCode.INVALID_STATE and part.value.frame["details"]["order_ids"] == [b]
    assert [o["order_id"] for o in (await _preview(hub, group["id"]))["included"]] == [a, b]
