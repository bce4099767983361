"""The back office's Restaurant section (profile and billing rules) in a real browser at 1366x768.

Run: ``.venv/bin/python -m pytest tests/test_browser_manager_settings.py -q -s`` (``-s`` shows the screenshot
path); the screenshot goes to ``test-artifacts/screenshots/manager-restaurant-1366x768.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub
from tests.helpers import events_until

LAPTOP = (1366, 768)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def open_restaurant(browser: Any, hub: RunningHub) -> Screen:
    url = f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}#restaurant"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    await screen.page.locator("#sec-restaurant:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    await screen.page.locator("#tax-rows .tax-row").first.wait_for(timeout=TIMEOUT_MS)
    return screen


async def told(hub: RunningHub) -> dict[str, Any]:
    """The restaurant as the hub holds it now (a fresh `manager` snapshot)."""
    reader = await hub.client(Role.MANAGER, device="manager-9")
    restaurant: dict[str, Any] = (await reader.subscribe("manager"))["snapshot"]["manager"]["restaurant"]
    await reader.close()
    return restaurant


async def changed(watcher: HubClient) -> dict[str, Any]:
    """The restaurant of the next PROFILE_CHANGED."""
    event = (await events_until(watcher, 1, WAIT, "PROFILE_CHANGED"))[0]
    restaurant: dict[str, Any] = event["data"]["restaurant"]
    return restaurant


async def problem(screen: Screen, which: str) -> str:
    box = screen.page.locator(f"#{which}-problem:not([hidden])")
    await box.wait_for(timeout=TIMEOUT_MS)
    assert await in_view(box)
    text: str = await box.inner_text()
    return text


async def test_the_profile_and_billing_are_changed_on_the_back_office_and_mistakes_are_told_plainly(
    hub: RunningHub, browser: Any
) -> None:
    """Name, zone, a GST12 rate and 7.5% service on dine-in and takeaway land; a bad zone and a twin code change nothing."""
    watcher = await hub.client(Role.MANAGER, device="manager-2")
    await watcher.subscribe("manager")
    before = await told(hub)
    screen = await open_restaurant(browser, hub)
    page = screen.page
    for selector in ("#profile-save", "#billing-save", "#tax-add", "#prof-tz", "#svc-TAKEAWAY"):
        assert await in_view(page.locator(selector)), selector
    assert await page.input_value("#prof-name") == before["name"]
    assert await page.input_value("#prof-currency") == "INR · 2 decimals"
    assert await page.get_attribute("#prof-currency", "readonly") is not None

    await page.fill("#prof-name", "Spice Route")
    await page.fill("#prof-tz", "Asia/Kolkata")
    await page.click("#profile-save")
    profile = await changed(watcher)
    assert (profile["name"], profile["timezone"], profile["version"]) == (
        "Spice Route",
        "Asia/Kolkata",
        before["version"] + 1,
    )
    assert profile["billing"] == before["billing"]
    await page.locator(f'#rest-version:text-is("version {profile["version"]}")').wait_for(timeout=TIMEOUT_MS)
    await page.locator('#where:has-text("Spice Route")').wait_for(timeout=TIMEOUT_MS)

    # Billing: GST12 at 12%, service 7.5% on dine-in and takeaway.
    await page.click("#tax-add")
    row = page.locator("#tax-rows .tax-row").last
    await row.locator(".t-code").fill("GST12")
    await row.locator(".t-name").fill("GST 12%")
    await row.locator(".t-rate").fill("12")
    await page.fill("#bill-service", "7.5")
    await page.check("#svc-TAKEAWAY")
    assert await page.is_checked("#svc-DINE_IN")
    assert await in_view(page.locator("#billing-save"))
    await page.click("#billing-save")
    billing = (await changed(watcher))["billing"]
    old = before["billing"]
    assert billing["taxes"] == [*old["taxes"], {"code": "GST12", "name": "GST 12%", "rate_bp": 1200}]
    assert billing["service_charge_bp"] == 750
    assert sorted(billing["service_charge_types"]) == ["DINE_IN", "TAKEAWAY"]
    assert billing["tax_mode"] == old["tax_mode"] == "EXCLUSIVE"
    assert (billing["bill_lock_s"], billing["discount_pin_above_bp"]) == (
        old["bill_lock_s"],
        old["discount_pin_above_bp"],
    )
    now = await told(hub)
    assert (now["name"], now["timezone"], now["billing"], now["version"]) == (
        "Spice Route",
        "Asia/Kolkata",
        billing,
        before["version"] + 2,
    )
    await page.locator(f'#rest-version:text-is("version {now["version"]}")').wait_for(timeout=TIMEOUT_MS)
    assert await page.input_value("#bill-service") == "7.5"
    await screenshot(screen, "manager-restaurant-1366x768")

    # An unknown time zone: the hub refuses it, the page says so plainly, nothing changes.
    await page.fill("#prof-tz", "Mars/Olympus")
    await page.click("#profile-save")
    assert await problem(screen, "profile") == (
        "Not saved: “Mars/Olympus” is not a time zone: pick one from the list, like Asia/Kolkata or Europe/London."
    )
    await page.locator('#toasts .toast.error[data-code="INVALID_SETUP"]').first.wait_for(timeout=TIMEOUT_MS)
    assert await page.get_attribute("#prof-tz", "aria-invalid") == "true"
    after = await told(hub)
    assert (after["timezone"], after["version"]) == ("Asia/Kolkata", now["version"])
    await page.fill("#prof-tz", "Asia/Kolkata")

    # A tax code twice: said before sending, nothing sent.
    await page.click("#tax-add")
    twin = page.locator("#tax-rows .tax-row").last
    await twin.locator(".t-code").fill("gst12")
    await twin.locator(".t-rate").fill("5")
    await page.click("#billing-save")
    assert await problem(screen, "billing") == (
        "The tax code “gst12” is there twice: each code has one rate. Remove one, or change its code."
    )
    assert await twin.locator(".t-code").get_attribute("aria-invalid") == "true"
    await twin.locator(".t-rate").fill("over")  # typing clears the problem; a rate not a number is told next
    assert await page.locator("#billing-problem").is_hidden()
    await twin.locator(".t-code").fill("GST28")
    await page.click("#billing-save")
    assert (
        await problem(screen, "billing") == "The rate of GST28 is not a number: type it in percent, like 5, 18 or 12.5."
    )
    await twin.locator(".t-remove").click()
    # A rate the menu's items still name cannot go: said with the items, before sending.
    await page.locator('#tax-rows .tax-row:has(.t-code[value="GST5"]) .t-remove').click()
    await page.click("#billing-save")
    assert "the tax code GST5" in await problem(screen, "billing")
    assert (await told(hub))["version"] == now["version"]

    # Changed on another screen: a form nobody edits follows; mid-edit it says so.
    other = await hub.client(Role.MANAGER, device="manager-3")
    await other.command("setup.profile", {"name": "Spice Route Annexe"})
    await page.wait_for_function("() => document.getElementById('prof-name').value === 'Spice Route Annexe'")
    await page.fill("#prof-name", "Half typed")
    await other.command("setup.profile", {"timezone": "Europe/London"})
    stale = page.locator("#profile-stale:not([hidden])")
    await stale.wait_for(timeout=TIMEOUT_MS)
    assert "Changed on another screen" in await stale.inner_text()
    assert await page.input_value("#prof-name") == "Half typed"
    await page.click("#profile-reload")
    assert (await page.input_value("#prof-name"), await page.input_value("#prof-tz")) == (
        "Spice Route Annexe",
        "Europe/London",
    )
    # The billing form, mid-edit (GST5 taken out), kept it: the billing rules themselves did not change.
    assert await page.locator("#billing-stale").is_hidden()
    assert await page.locator('#tax-rows .t-code[value="GST5"]').count() == 0
    state = await page.evaluate("() => window.fireflow.state()")
    assert state["restaurantVersion"] == (await told(hub))["version"]
    assert screen.errors == [], screen.errors


async def test_a_waiter_device_paired_on_the_back_office_is_told_to_open_pos(hub: RunningHub, browser: Any) -> None:
    """The pairing code of a WAITER device says to open /pos; a CASHIER's says /cashier or /pos."""
    url = f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}#devices"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    page = screen.page
    for device_id, role, page_words in (
        ("phone-anna", "WAITER", "(open /pos)"),
        ("till-2", "CASHIER", "(open /cashier or /pos)"),
    ):
        await page.fill("#dev-id", device_id)
        await page.select_option("#dev-role", role)
        await page.click("#dev-pair")
        offer = page.locator("#offer", has_text=f"Pairing code for {device_id}")
        await offer.wait_for(timeout=TIMEOUT_MS)
        assert page_words in await offer.inner_text()
    assert screen.errors == [], screen.errors
