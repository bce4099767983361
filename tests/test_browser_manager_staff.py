"""The back office's Staff section and its kitchen alerts that clear, in a real browser at 1366x768.

Run: ``.venv/bin/python -m pytest tests/test_browser_manager_staff.py -q -s`` (``-s`` shows the screenshot
paths); the screenshots go to ``test-artifacts/screenshots/manager-staff-1366x768.png`` and
``manager-alerts-cleared-1366x768.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.python import HubClient
from fireflow.clients.python.client import HubError
from fireflow.hub.domain.actors import Role
from fireflow.schema.protocol import ErrorCode
from tests.browser import TIMEOUT_MS, Screen, chromium, fired, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub
from tests.helpers import events_until
from tests.test_settle import ready_dine_in

LAPTOP = (1366, 768)
ANNA_PIN = "8642"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def open_manager(browser: Any, hub: RunningHub, section: str) -> Screen:
    url = f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}#{section}"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    await screen.page.locator(f"#sec-{section}:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    return screen


async def approver(hub: RunningHub, table: str, pin: str) -> str:
    """Who approves, with ``pin``, a discount over a cashier's limit on a new order at ``table`` (or the refusal)."""
    order_id = await ready_dine_in(hub, table, "burger", "mojito")
    till = await hub.client(Role.CASHIER, device=f"till-{table}")
    data = {"order_id": order_id, "kind": "AMOUNT", "value": 10000, "reason": "cold food", "pin": pin}
    try:
        ack = await till.command("order.discount", data, timeout=4 * WAIT)
    except HubError as exc:
        return str(exc.code)
    return str(ack["result"]["approved_by"])


async def save_staff(screen: Screen, staff_id: str, role: str) -> None:
    """Press SAVE and wait for the list to show ``staff_id`` with ``role``."""
    page = screen.page
    assert await in_view(page.locator("#staff-save"))
    await page.click("#staff-save")
    await page.locator(f'#staff-rows tr[data-staff-id="{staff_id}"][data-role="{role}"]').wait_for(timeout=TIMEOUT_MS)


async def remove_staff(screen: Screen, staff_id: str) -> None:
    """Select ``staff_id`` in the list, press REMOVE and confirm."""
    page = screen.page
    await page.locator(f'#staff-rows tr[data-staff-id="{staff_id}"]').click()
    await page.locator("#staff-remove:not([hidden])").click()
    await page.locator("#confirm-dialog[open] #confirm-yes").click()


async def restaurant_version(hub: RunningHub) -> int:
    manager = await hub.client(Role.MANAGER, device="manager-3")
    version: int = (await manager.subscribe("manager"))["snapshot"]["manager"]["restaurant"]["version"]
    return version


async def test_a_manager_added_on_the_back_office_approves_with_her_pin_until_she_is_removed(
    hub: RunningHub, browser: Any
) -> None:
    """Anna added as MANAGER with PIN 8642 approves a big discount; removed, her PIN is refused; the last manager stays."""
    screen = await open_manager(browser, hub, "staff")
    page = screen.page
    await page.locator('#staff-rows tr[data-staff-id="manager-1"][data-role="MANAGER"]').wait_for(timeout=TIMEOUT_MS)
    await page.click("#staff-new")
    await page.fill("#staff-name", "Anna")
    await page.select_option("#staff-role", "MANAGER")
    await page.fill("#staff-pin", ANNA_PIN)
    assert (await page.get_attribute("#staff-pin", "type"), await page.get_attribute("#staff-pin", "inputmode")) == (
        "password",
        "numeric",
    )
    await save_staff(screen, "anna", "MANAGER")
    assert await page.input_value("#staff-pin") == ""  # the PIN is never shown again
    assert await page.get_attribute("#staff-pin", "placeholder") == "leave empty to keep"
    assert ANNA_PIN not in await page.locator("#sec-staff").inner_text()
    await screenshot(screen, "manager-staff-1366x768")
    assert await approver(hub, "T9", ANNA_PIN) == "anna"

    await page.select_option("#staff-role", "CASHIER")  # her PIN field left empty: she keeps her PIN
    await save_staff(screen, "anna", "CASHIER")
    assert await page.locator('#staff-rows tr[data-staff-id="anna"] td').first.inner_text() == "Anna"

    await remove_staff(screen, "anna")
    await page.locator('#staff-rows tr[data-staff-id="anna"]').wait_for(state="detached", timeout=TIMEOUT_MS)
    assert await approver(hub, "T8", ANNA_PIN) == ErrorCode.WRONG_PIN.value

    await remove_staff(screen, "manager-1")  # the last one who approves: refused, and said plainly
    problem = page.locator("#staff-problem:not([hidden])")
    await problem.wait_for(timeout=TIMEOUT_MS)
    assert await problem.inner_text() == (
        "Not removed: that would leave nobody who approves refunds and voids: add another manager first."
    )
    await page.locator('#toasts .toast.error[data-code="INVALID_SETUP"]').wait_for(timeout=TIMEOUT_MS)
    assert await page.locator('#staff-rows tr[data-staff-id="manager-1"]').count() == 1
    # Every staff change moved the restaurant's version: the page holds the hub's.
    state = await page.evaluate("() => window.fireflow.state()")
    assert state["restaurantVersion"] == await restaurant_version(hub)
    assert screen.errors == [], screen.errors


async def test_a_kitchen_alert_on_the_back_office_goes_when_it_stops_standing(hub: RunningHub, browser: Any) -> None:
    """Two STATION_OFFLINE alerts show live with their count; a fry ack ends one, the grill's bump the other."""
    watcher: HubClient = await hub.client(Role.MANAGER, device="manager-2")
    await watcher.subscribe("manager")
    screen = await open_manager(browser, hub, "alerts")
    page = screen.page
    async with hub.http(Role.WAITER) as waiter:
        fry_order, _ = await fired(waiter, "calamari")  # no screen at fry, nor at grill
        grill_order, _ = await fired(waiter, "burger")
    raised = {
        ev["data"]["alert"]["order_id"]: ev["data"]["alert"]
        for ev in await events_until(watcher, 2, WAIT, "KITCHEN_ALERT")
    }
    for order_id in (fry_order, grill_order):
        shown = page.locator(f'#alerts-list li[data-kind="STATION_OFFLINE"][data-order-id="{order_id}"]')
        await shown.wait_for(timeout=TIMEOUT_MS)
        assert raised[order_id]["message"] in await shown.inner_text()
    await page.locator('#nav-alerts:text-is("2")').wait_for(timeout=TIMEOUT_MS)

    fry = await hub.client(Role.KITCHEN, stations=("fry",), device="kds-fry")
    await fry.command("ticket.ack", {"order_id": fry_order, "ticket_ids": [raised[fry_order]["ticket_id"]]})
    await page.locator(f'#alerts-list li[data-order-id="{fry_order}"]').wait_for(state="detached", timeout=TIMEOUT_MS)
    await page.locator('#nav-alerts:text-is("1")').wait_for(timeout=TIMEOUT_MS)

    expo = await hub.client(Role.EXPO)
    await expo.command("order.bump", {"order_id": grill_order})  # nothing left to make at grill: nothing to chase
    await page.locator("#alerts-list li.none").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#nav-alerts").inner_text() == ""
    await screenshot(screen, "manager-alerts-cleared-1366x768")
    reader = await hub.client(Role.MANAGER, device="manager-3")
    assert (await reader.subscribe("manager"))["snapshot"]["manager"]["alerts"] == []  # the hub agrees
    assert screen.errors == [], screen.errors
