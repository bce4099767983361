"""The back office (/manager) in a real browser (Debian's Chromium under Playwright), at a manager's 1366x768.

Run: ``.venv/bin/python -m pytest tests/test_browser_manager.py -q -s`` (``-s`` shows the screenshot paths);
the screenshots go to ``test-artifacts/screenshots/manager-<section>.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, command, fired, in_view, new_order, open_screen, screenshot
from tests.conftest import WAIT, RunningHub, free_port

LAPTOP = (1366, 768)
SMALL_LAPTOP = (1280, 800)
MANAGER_PIN = "1234"  # the test restaurant's PIN for device manager-1
# Each section's main action, which must be in view without scrolling.
MAIN = {
    "alerts": ["#alerts-list li"],
    "day": ["#fig-revenue", "#float-go", "#payout-go", "#close-go", "#z-link"],
    "invoices": ["#inv-go", "#inv-rows tr", "#inv-next"],
    "menu": ["#menu-list .item", "#item-new", "#item-save"],
    "floor": ["#floor-plan .spot", "#table-new", "#table-save", "#area-save"],
    "devices": ["#dev-rows tr", "#dev-pair"],
}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def open_manager(browser: Any, hub: RunningHub, size: tuple[int, int] = LAPTOP) -> Screen:
    screen = await open_screen(
        browser, f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}", size=size
    )
    await screen.live()
    return screen


async def section(screen: Screen, name: str) -> None:
    await screen.page.click(f'[data-go="{name}"]')
    await screen.page.locator(f"#sec-{name}:not([hidden])").wait_for(timeout=TIMEOUT_MS)


async def confirm(screen: Screen) -> None:
    await screen.page.locator("#confirm-dialog[open] #confirm-yes").click()


async def settled(hub: RunningHub, customer: str) -> tuple[str, int]:
    """A takeaway order of a burger and fries for ``customer``, fired and paid in cash: its invoice id and total."""
    async with hub.http(Role.WAITER) as waiter, hub.http(Role.CASHIER) as till:
        order_id = await new_order(waiter, "burger", "fries", customer_name=customer)
        await command(waiter, "order.fire", {"order_id": order_id})
        due = (await command(till, "bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        paid = await command(
            till, "order.pay", {"order_ids": [order_id], "tenders": [{"method": "CASH", "amount": due}]}
        )
    return paid["result"]["invoice_id"], due


async def test_the_back_office_goes_live_with_every_sections_main_action_in_view(hub: RunningHub, browser: Any) -> None:
    """At 1366x768 and 1280x800 each section's main action is in view unscrolled; an alert arrives live."""
    await settled(hub, "Meera")
    screen = await open_manager(browser, hub)
    page = screen.page
    await section(screen, "alerts")
    async with hub.http(Role.WAITER) as waiter:
        order_id, _ = await fired(waiter, "burger")  # no grill screen is open: STATION_OFFLINE
    alert = page.locator(f'#alerts-list li[data-kind="STATION_OFFLINE"][data-order-id="{order_id}"]')
    await alert.wait_for(timeout=TIMEOUT_MS)
    assert "grill" in await alert.inner_text()
    assert await page.locator("#nav-alerts").inner_text() == str(await page.locator("#alerts-list li").count())
    for name, selectors in MAIN.items():
        await section(screen, name)
        await page.locator(selectors[-1]).first.wait_for(timeout=TIMEOUT_MS)
        await screenshot(screen, f"manager-{name}")
        for selector in selectors:
            assert await in_view(page.locator(selector).first), (name, selector)
    small = await open_manager(browser, hub, size=SMALL_LAPTOP)
    for name, selectors in MAIN.items():
        await section(small, name)
        for selector in selectors:
            assert await in_view(small.page.locator(selector).first), ("1280x800", name, selector)
    assert screen.errors == [] and small.errors == [], screen.errors + small.errors


async def test_every_nav_item_is_on_screen_without_scrolling(hub: RunningHub, browser: Any) -> None:
    """At 1366x768 and 1280x800, under a printer's big "not known" line, every section's nav button (Webhooks the
    last) is wholly on screen unscrolled."""
    async with hub.http(Role.MANAGER) as http:
        body = {"printer": {"id": "kitchen", "name": "Grill", "host": "127.0.0.1", "port": free_port()}}
        assert (await http.put("/api/v1/setup/printers", json=body)).status_code == 200
    for size in (LAPTOP, SMALL_LAPTOP):
        screen = await open_manager(browser, hub, size=size)
        await screen.page.locator('#printer-health li[data-state="UNKNOWN"]').wait_for(timeout=TIMEOUT_MS)
        buttons = await screen.page.locator(".m-nav button").all()
        assert len(buttons) == 11, len(buttons)
        assert await buttons[-1].inner_text() == "Webhooks"
        for button in buttons:
            box = await button.bounding_box()
            assert box is not None and box["y"] + box["height"] <= size[1], (size, await button.inner_text(), box)
            assert await in_view(button), (size, await button.inner_text())
        await screenshot(screen, f"manager-nav-{size[0]}x{size[1]}")
        assert screen.errors == [], screen.errors


async def test_a_price_changed_on_the_back_office_reaches_a_menu_subscriber_and_back(
    hub: RunningHub, browser: Any
) -> None:
    """Fries to ₹159.00 on /manager: a waiter on `menu` gets MENU_CHANGED; a change made elsewhere shows at once."""
    waiter = await hub.client(Role.WAITER)
    await waiter.subscribe("menu")
    screen = await open_manager(browser, hub)
    page = screen.page
    await section(screen, "menu")
    await page.locator('.item[data-item-id="fries"] .item-edit').click()
    await page.fill("#item-price", "159.00")
    await page.click("#item-save")
    while (event := await waiter.next_event(WAIT))["type"] != "MENU_CHANGED":
        pass
    assert [(i["id"], i["price"]) for i in event["data"]["items"]] == [("fries", 15900)]
    await page.locator('.item[data-item-id="fries"] .i-price[data-minor="15900"]').wait_for(timeout=TIMEOUT_MS)
    assert await page.locator('.item[data-item-id="fries"] .i-price').inner_text() == "\u20b9159.00"

    fries = event["data"]["items"][0] | {"price": 16900, "name": "Fries (large)"}
    manager = await hub.client(Role.MANAGER, device="manager-2")
    await manager.command("setup.menu_item.put", {"item": fries, "version": event["data"]["version"]})
    edited = page.locator('.item[data-item-id="fries"] .i-price[data-minor="16900"]')
    await edited.wait_for(timeout=TIMEOUT_MS)  # no reload
    assert await page.locator('.item[data-item-id="fries"] .i-name').inner_text() == "Fries (large)"
    assert screen.errors == [], screen.errors


async def test_a_device_paired_on_the_back_office_redeems_its_code_and_is_revoked(
    hub: RunningHub, browser: Any
) -> None:
    """Add kds-9: the code is shown big, POST /pair trades it for a token; revoke (confirmed) shows REVOKED."""
    screen = await open_manager(browser, hub)
    page = screen.page
    await section(screen, "devices")
    await page.fill("#dev-id", "kds-9")
    await page.fill("#dev-name", "Grill two")
    await page.select_option("#dev-role", "KITCHEN")
    await page.fill("#dev-stations", "grill")
    await page.click("#dev-pair")
    shown = page.locator("#offer-code")
    await shown.wait_for(timeout=TIMEOUT_MS)
    assert await in_view(shown)
    code = (await shown.inner_text()).strip()
    await screenshot(screen, "manager-devices-code")
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        paired = await http.post("/api/v1/pair", json={"code": code})
        assert paired.status_code == 200, paired.text
        device_token = paired.json()["token"]
        assert (await http.get("/api/v1/menu", headers={"Authorization": f"Bearer {device_token}"})).status_code == 200
    row = page.locator('#dev-rows tr[data-device-id="kds-9"]')
    await row.wait_for(timeout=TIMEOUT_MS)
    await row.locator("button.revoke").click()
    await confirm(screen)
    await page.locator('#dev-rows tr[data-device-id="kds-9"][data-state="revoked"]').wait_for(timeout=TIMEOUT_MS)
    assert await row.locator(".state").inner_text() == "REVOKED"
    async with httpx.AsyncClient(base_url=hub.url, timeout=WAIT) as http:
        refused = await http.get("/api/v1/menu", headers={"Authorization": f"Bearer {device_token}"})
    assert refused.status_code == 401
    assert screen.errors == [], screen.errors


async def test_a_refund_a_payout_and_the_days_close_on_the_back_office_balance_in_the_z_report(
    hub: RunningHub, browser: Any
) -> None:
    """Find Asha's invoice, refund ₹100 cash (a wrong PIN said plainly first), float, payout, close: Z balances."""
    invoice_id, total = await settled(hub, "Asha Rao")
    await settled(hub, "Someone Else")
    screen = await open_manager(browser, hub)
    page = screen.page

    await section(screen, "invoices")
    await page.fill("#inv-customer", "asha")
    await page.click("#inv-go")
    await page.locator("#inv-page", has_text="1 invoices").wait_for(timeout=TIMEOUT_MS)
    await page.locator(f'#inv-rows tr[data-invoice-id="{invoice_id}"]').click()
    await page.locator(f'#inv-total[data-minor="{total}"]').wait_for(timeout=TIMEOUT_MS)
    await page.fill("#refund-amount", "100.00")
    await page.select_option("#refund-method", "CASH")
    await page.fill("#refund-reason", "cold fries")
    await page.fill("#refund-pin", "9999")
    await page.click("#refund-go")
    wrong = page.locator('#toasts .toast.error[data-code="WRONG_PIN"]')
    await wrong.wait_for(timeout=TIMEOUT_MS)
    assert await wrong.inner_text() == "Wrong PIN."
    await page.fill("#refund-pin", MANAGER_PIN)
    await page.click("#refund-go")
    await page.locator("#toasts .toast.info", has_text="Refunded").wait_for(timeout=TIMEOUT_MS)
    await screenshot(screen, "manager-invoices-refunded")
    assert await in_view(page.locator("#refund-go"))

    await section(screen, "day")
    await page.fill("#float-amount", "500")
    await page.click("#float-go")
    await page.locator('#drawer-log li[data-kind="FLOAT"]').wait_for(timeout=TIMEOUT_MS)
    await page.fill("#payout-amount", "120.00")
    await page.fill("#payout-category", "supplies")
    await page.fill("#payout-note", "ice")
    await page.click("#payout-go")
    await page.locator('#drawer-log li[data-kind="PAYOUT"]').wait_for(timeout=TIMEOUT_MS)
    async with hub.http(Role.MANAGER, device="manager-1") as http:
        day = (await http.get("/api/v1/reports/day")).json()
    await page.locator(f'#fig-revenue[data-minor="{day["revenue"]}"]').wait_for(timeout=TIMEOUT_MS)
    cash = day["by_method"]["CASH"]
    expected = 50000 + cash - 12000
    counted = expected - 1000  # ₹10 short
    await page.fill("#close-counted", f"{counted // 100}.{counted % 100:02d}")
    await page.click("#close-go")
    await confirm(screen)
    await page.locator('#close-result[data-difference="-1000"]').wait_for(timeout=TIMEOUT_MS)
    await screenshot(screen, "manager-day-closed")

    async with hub.http(Role.MANAGER, device="manager-1") as http:
        z = (await http.get("/api/v1/reports/z")).json()
    assert z["invoices"] == 2 and z["refunds"] == 1 and z["refunded"] == 10000
    assert {m: a for m, a in z["refunds_by_method"].items() if a} == {"CASH": 10000}
    assert {m: a for m, a in z["takings_by_method"].items() if a} == {"CASH": cash + 10000}
    assert z["net_by_method"]["CASH"] == cash
    assert z["opening_float"] == 50000 and z["payouts"] == 12000 and z["payouts_by_category"] == {"supplies": 12000}
    assert z["expected_cash"] == z["opening_float"] + z["net_by_method"]["CASH"] - z["payouts"] == expected
    assert z["counted_cash"] == counted and z["cash_difference"] == counted - z["expected_cash"] == -1000
    assert day["revenue"] == sum(day["by_method"].values()) == cash
    assert [e for e in screen.errors if "403 (Forbidden)" not in e] == []  # the wrong PIN was answered 403


async def test_a_cashiers_token_on_the_back_office_is_told_plainly(hub: RunningHub, browser: Any) -> None:
    """A cashier's token stops /manager with "Wrong token for this screen" and what it needs instead."""
    screen = await open_screen(browser, f"{hub.url}/manager?token={hub.token(Role.CASHIER)}")
    blocked = screen.page.locator('#blocked[data-kind="role"]')
    await blocked.wait_for(timeout=TIMEOUT_MS)
    assert await blocked.locator("h2").inner_text() == "Wrong token for this screen"
    assert "back office needs a manager's token" in await blocked.locator(".why").inner_text()
    assert "--role MANAGER" in await blocked.locator(".fix").inner_text()
    assert not await screen.page.locator(".m-nav").is_visible()
    await screenshot(screen, "manager-wrong-token")
    assert screen.errors == [], screen.errors
