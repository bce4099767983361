"""The back office's Groups section (saved group bills) in a real browser at 1366x768.

Run: ``.venv/bin/python -m pytest tests/test_browser_manager_groups.py -q -s`` (``-s`` shows the screenshot
path); the screenshot goes to ``test-artifacts/screenshots/manager-groups-1366x768.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import RunningHub
from tests.helpers import fired_order, new_order
from tests.test_settle import ready_dine_in

LAPTOP = (1366, 768)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def open_groups(browser: Any, hub: RunningHub) -> Screen:
    url = f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}#groups"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    await screen.page.locator("#sec-groups:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    return screen


async def new_group(screen: Screen, title: str, customer: str, order_ids: list[str]) -> str:
    """Fill the new group's form, tick ``order_ids``, save; the id of the group the preview shows."""
    page = screen.page
    await page.click("#grp-new")
    await page.fill("#grp-title", title)
    await page.fill("#grp-customer", customer)
    for order_id in order_ids:
        pick = page.locator(f'#grp-order-list label.pick[data-order-id="{order_id}"] input')
        await pick.wait_for(timeout=TIMEOUT_MS)
        await pick.check()
    assert await in_view(page.locator("#grp-save"))
    await page.click("#grp-save")
    view = page.locator(f'#grp-view[data-invoiced="no"] #grp-included li[data-order-id="{order_ids[-1]}"]')
    await view.wait_for(timeout=TIMEOUT_MS)
    group_id: str = await page.get_attribute("#grp-view", "data-group-id") or ""
    return group_id


async def test_a_group_made_on_the_back_office_leaves_out_a_cancelled_order_and_is_paid_by_card(
    hub: RunningHub, browser: Any
) -> None:
    """T4, T5, T6 and a takeaway grouped; the takeaway is cancelled and left out; paid by card: Invoiced as #N."""
    tables = [await ready_dine_in(hub, t, "burger", "water") for t in ("T4", "T5", "T6")]
    waiter = await hub.client(Role.WAITER)
    takeaway = await new_order(waiter, "fries")
    screen = await open_groups(browser, hub)
    page = screen.page
    await page.locator('#grp-rows td.none:has-text("No group yet")').wait_for(timeout=TIMEOUT_MS)
    group_id = await new_group(screen, "Acme offsite lunch", "Acme Ltd", [*tables, takeaway])
    assert await page.locator("#grp-included li").count() == 4
    no_refs = page.locator('#grp-warnings li[data-warning="missing_references"]')
    assert await no_refs.inner_text() == "No references: the invoice can still be made."
    await page.locator(f'#grp-rows tr[data-group-id="{group_id}"][data-invoiced="no"]').wait_for(timeout=TIMEOUT_MS)

    # The takeaway is cancelled at the till: the preview leaves it out, with the reason.
    manager = await hub.client(Role.MANAGER, device="manager-2")
    await manager.command("order.cancel", {"order_id": takeaway, "reason": "left"})
    left_out = page.locator(f'#grp-excluded li[data-order-id="{takeaway}"]')
    await left_out.wait_for(timeout=TIMEOUT_MS)
    assert await left_out.get_attribute("data-reason") == "cancelled"
    assert "cancelled" in await left_out.inner_text()
    assert [await li.get_attribute("data-order-id") for li in await page.locator("#grp-included li").all()] == tables

    # One reference added: the group is changed (its version held), the warning goes.
    await page.click("#grp-edit")
    assert await page.input_value("#grp-title") == "Acme offsite lunch"
    await page.fill("#grp-ref1", "PO-7781")
    await page.click("#grp-save")
    await no_refs.wait_for(state="detached", timeout=TIMEOUT_MS)
    await page.locator(f'#grp-excluded li[data-order-id="{takeaway}"]').wait_for(timeout=TIMEOUT_MS)

    async with hub.http(Role.MANAGER) as http:
        preview = (await http.get(f"/api/v1/groups/{group_id}")).json()
        due = preview["bill"]["total"]
        assert preview["group"]["version"] == 2
        assert await page.get_attribute("#grp-total", "data-minor") == str(due)
        assert await page.input_value("#grp-tenders .tn-amount") == f"{due // 100}.{due % 100:02d}"
        await page.select_option("#grp-tenders .tn-method", "CARD")
        assert await in_view(page.locator("#grp-pay"))
        await page.click("#grp-pay")
        done = page.locator('#grp-view[data-invoiced="yes"] #grp-invoiced')
        await done.wait_for(timeout=TIMEOUT_MS)

        listed = (await http.get("/api/v1/groups", params={"q": "po-7781"})).json()["groups"]
        assert [g["id"] for g in listed] == [group_id]
        invoice_id = listed[0]["invoice_id"]
        assert invoice_id
        invoice = (await http.get(f"/api/v1/invoices/{invoice_id}")).json()["invoice"]
    assert invoice["bill"]["group"] == {
        "id": group_id,
        "title": "Acme offsite lunch",
        "customer_name": "Acme Ltd",
        "reference1": "PO-7781",
        "reference2": "",
    }
    assert (invoice["total"], sorted(invoice["order_ids"]), invoice["customer_name"]) == (
        due,
        sorted(tables),
        "Acme Ltd",
    )
    assert [(p["method"], p["amount"]) for p in invoice["payments"]] == [("CARD", due)]
    number = invoice["number"]
    assert (await done.inner_text()).startswith(f"Invoiced as #{number}")
    assert await page.locator("#grp-state").inner_text() == f"INVOICED #{number}"
    await page.locator(f'#grp-rows tr[data-group-id="{group_id}"][data-invoiced="yes"]').wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#grp-pay-form").count() == 0
    await screenshot(screen, "manager-groups-1366x768")

    # The filter: open groups no longer list it; invoiced ones do.
    await page.select_option("#grp-invoiced", "no")
    await page.locator('#grp-rows td.none:has-text("No group matches.")').wait_for(timeout=TIMEOUT_MS)
    await page.select_option("#grp-invoiced", "yes")
    await page.locator(f'#grp-rows tr[data-group-id="{group_id}"]').wait_for(timeout=TIMEOUT_MS)

    # Its invoice, whole, in the Invoices section.
    await page.click("#grp-open-invoice")
    await page.locator("#sec-invoices:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    await page.locator(f'#inv-detail h2:text-is("Invoice #{number}")').wait_for(timeout=TIMEOUT_MS)
    assert screen.errors == [], screen.errors


async def test_a_group_with_items_not_ready_is_settled_anyway_when_the_manager_says_so(
    hub: RunningHub, browser: Any
) -> None:
    """Among a dozen open orders (the form's SAVE in view), one still cooking: SETTLE ANYWAY invoices it."""
    waiter = await hub.client(Role.WAITER)
    for _ in range(12):
        await new_order(waiter, "water")
    cooking = await fired_order(waiter, "burger", type="DINE_IN", table_id="T7", guests=2)
    screen = await open_groups(browser, hub)
    page = screen.page
    await new_group(screen, "Late lunch", "Ravi", [cooking])
    await page.click("#grp-pay")
    not_ready = page.locator("#grp-not-ready")
    await not_ready.wait_for(timeout=TIMEOUT_MS)
    assert "Some items are not ready" in await not_ready.inner_text()
    assert "Burger" in await not_ready.inner_text()
    assert await in_view(page.locator("#grp-force"))
    await page.click("#grp-force")
    await page.locator('#grp-view[data-invoiced="yes"] #grp-invoiced').wait_for(timeout=TIMEOUT_MS)
    async with hub.http(Role.MANAGER) as http:
        order = (await http.get(f"/api/v1/orders/{cooking}")).json()["order"]
    assert order["invoice_id"] and order["status"] == "CLOSED"
    assert [e for e in screen.errors if "409 (Conflict)" not in e] == []  # ITEMS_NOT_READY was answered 409
