"""Riders' cash and suggested batches in a real browser (Debian's Chromium under Playwright), at 1366x768.

The till gives a rider a float and takes part of it back, and the list follows the hub's RIDER_CASH
events; a handover of more than the rider holds shows the hub's reason and changes nothing. The
dispatch screen shows a rider's cash grow as a cash-on-delivery order is delivered, and the hub's
suggested batch for two orders to one side of the restaurant, sent with "Assign to".

Run: ``.venv/bin/python -m pytest tests/test_browser_rider_cash.py -q -s`` (``-s`` shows the screenshot
paths); the screenshots go to ``test-artifacts/screenshots/<page>-<what>.png``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import RunningHub
from tests.helpers import event_about, ready_delivery

TILL = (1366, 768)
HOME = {"lat": 12.9716, "lon": 77.5946}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


def rupees(minor: int) -> str:
    """How the pages print an INR amount below ₹1,000 (en-IN grouping starts at 1,000)."""
    assert 0 <= minor < 100_000
    return f"\u20b9{minor // 100}.{minor % 100:02d}"


def rider_row(rider: str, minor: int | None = None) -> str:
    """A rider's row in the till's panel (holding ``minor`` when given)."""
    held = f'[data-minor="{minor}"]' if minor is not None else ""
    return f'#rider-cash .rc-rider[data-rider="{rider}"]{held}'


def cash_badge(rider: str, minor: int) -> str:
    """A rider's CASH badge on the dispatch screen, holding ``minor``."""
    return f'.rider[data-rider="{rider}"] .rider-cash[data-minor="{minor}"]'


async def held(hub: RunningHub, rider: str) -> int:
    """What ``rider`` holds as GET /api/v1/riders says (0 when not listed)."""
    async with hub.http(Role.CASHIER) as http:
        answer = await http.get("/api/v1/riders")
    assert answer.status_code == 200, answer.text
    return next((int(r["holds"]) for r in answer.json()["riders"] if r["rider"] == rider), 0)


async def open_riders_cash(browser: Any, hub: RunningHub) -> Screen:
    """The till at /cashier with its riders' cash panel open (the top bar's RIDERS' CASH)."""
    screen = await open_screen(
        browser, f"{hub.url}/cashier?token={hub.token(Role.CASHIER, device='cashier-1')}", size=TILL
    )
    await screen.live()
    await screen.page.locator("#riders-cash-btn").click()
    await screen.page.locator("#rider-cash").wait_for(timeout=TIMEOUT_MS)
    return screen


async def open_dispatch(browser: Any, hub: RunningHub) -> Screen:
    url = f"{hub.url}/dispatch?token={hub.token(Role.DISPATCHER, device='dispatch-1')}"
    screen = await open_screen(browser, url, size=TILL)
    await screen.live()
    return screen


async def test_the_till_gives_a_float_and_takes_part_back_and_the_list_follows_the_events(
    hub: RunningHub, browser: Any
) -> None:
    """A float of ₹200 to a new rider, ₹100 more from its row, ₹250 handed in: it holds ₹50, shown and booked."""
    drawer = await hub.client(Role.CASHIER, device="cashier-2")
    await drawer.command("drawer.float", {"amount": 1000_00})
    screen = await open_riders_cash(browser, hub)
    page = screen.page
    await page.locator("#rider-cash #rc-total[data-minor='0']").wait_for(timeout=TIMEOUT_MS)

    await page.locator("#rc-new-rider").fill("rider-1")
    await page.locator("#rc-new-amount").fill("200")
    assert await in_view(page.locator("#rc-new-float")), "GIVE FLOAT is on screen at 1366x768 without scrolling"
    await page.locator("#rc-new-float").click()
    row = page.locator(rider_row("rider-1", 200_00))
    await row.wait_for(timeout=TIMEOUT_MS)
    assert await row.locator(".rc-holds").inner_text() == rupees(200_00)
    assert await row.locator("input.rc-hand-amount").input_value() == "200.00", (
        "hand in is prefilled with what it holds"
    )

    await row.locator("input.rc-float-amount").fill("100")
    await row.locator("button.rc-float").click()
    row = page.locator(rider_row("rider-1", 300_00))
    await row.wait_for(timeout=TIMEOUT_MS)
    assert await row.locator("input.rc-hand-amount").input_value() == "300.00"

    await row.locator("input.rc-hand-amount").fill("250")
    assert await in_view(row.locator("button.rc-hand")), "HAND IN is on screen at 1366x768 without scrolling"
    await row.locator("button.rc-hand").click()
    row = page.locator(rider_row("rider-1", 50_00))
    await row.wait_for(timeout=TIMEOUT_MS)
    assert await row.locator(".rc-holds").inner_text() == rupees(50_00)
    assert await row.locator("input.rc-hand-amount").input_value() == "50.00"
    await page.locator('#rc-total[data-minor="5000"]').wait_for(timeout=TIMEOUT_MS)
    await page.locator('#riders-cash-btn[data-minor="5000"]').wait_for(timeout=TIMEOUT_MS)
    assert rupees(50_00) in await page.locator("#riders-cash-btn").inner_text()
    assert await held(hub, "rider-1") == 50_00
    await screenshot(screen, "cashier-riders-cash")
    assert screen.errors == [], screen.errors


async def test_a_handover_of_more_than_the_rider_holds_shows_the_hubs_reason_and_changes_nothing(
    hub: RunningHub, browser: Any
) -> None:
    """rider-1 holds ₹100; ₹150 handed in is refused: the row and a toast say it holds ₹100; still ₹100."""
    till = await hub.client(Role.CASHIER, device="cashier-2")
    await till.command("drawer.float", {"amount": 500_00})
    await till.command("rider.float", {"rider": "rider-1", "amount": 100_00})
    screen = await open_riders_cash(browser, hub)
    page = screen.page
    row = page.locator(rider_row("rider-1", 100_00))
    await row.wait_for(timeout=TIMEOUT_MS)

    await row.locator("input.rc-hand-amount").fill("150")
    await row.locator("button.rc-hand").click()
    said = page.locator('#toasts .toast.error[data-code="INVALID_STATE"]')
    await said.wait_for(timeout=TIMEOUT_MS)
    text = await said.inner_text()
    assert rupees(100_00) in text and rupees(150_00) in text, f"the hub's reason, in money: {text!r}"
    inline = row.locator('.rc-said[data-code="INVALID_STATE"]')
    assert await inline.inner_text() == text, "the rider's row says the same"
    await screenshot(screen, "cashier-riders-cash-refused")
    assert await page.locator(rider_row("rider-1", 100_00)).count() == 1
    assert await row.locator(".rc-holds").inner_text() == rupees(100_00)
    assert await held(hub, "rider-1") == 100_00
    assert screen.errors == [], screen.errors


async def test_dispatch_shows_a_riders_cash_grow_as_cash_on_delivery_is_collected(
    hub: RunningHub, browser: Any
) -> None:
    """A cash-on-delivery order delivered by rider-1: its card's CASH goes from ₹0 to what it collected, live."""
    order_id = await ready_delivery(hub, 1)
    screen = await open_dispatch(browser, hub)
    page = screen.page
    dispatcher, rider = await hub.client(Role.DISPATCHER), await hub.client(Role.RIDER, device="rider-1")
    await rider.subscribe("rider:rider-1")
    await dispatcher.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"})
    await page.locator(cash_badge("rider-1", 0)).wait_for(timeout=TIMEOUT_MS)
    await rider.command("delivery.pickup", {"order_id": order_id})
    async with hub.http(Role.DISPATCHER) as http:
        cod = int((await http.get(f"/api/v1/orders/{order_id}")).json()["order"]["delivery"]["cod"])
    assert cod > 0
    await rider.command("delivery.deliver", {"order_id": order_id, "collected": cod})
    badge = page.locator(cash_badge("rider-1", cod))
    await badge.wait_for(timeout=TIMEOUT_MS)
    assert rupees(cod) in await badge.inner_text()
    assert await in_view(badge)
    delivered = page.locator(
        f'.rider[data-rider="rider-1"] .r-order[data-order-id="{order_id}"][data-state="DELIVERED"]'
    )
    await delivered.locator(f'.collect[data-minor="{cod}"]').wait_for(timeout=TIMEOUT_MS)
    assert f"COLLECTED {rupees(cod)}" in await delivered.locator(".collect").inner_text()
    await screenshot(screen, "dispatch-rider-cash")
    assert screen.errors == [], screen.errors


async def test_dispatch_shows_the_hubs_suggested_batch_and_assign_sends_it(hub: RunningHub, browser: Any) -> None:
    """Two ready orders north-east of the restaurant, one with no place: one suggestion with its reason, the other
    named to assign by hand; "Assign to rider-1" sends the batch in the suggested stop order."""
    manager = await hub.client(Role.MANAGER, device="manager-1")
    await manager.command("setup.profile", {"location": HOME})
    promised = int(time.time() * 1000) + 40 * 60_000
    north_east = [
        await ready_delivery(
            hub,
            n,
            location={"lat": HOME["lat"] + 0.01 + n / 1000, "lon": HOME["lon"] + 0.01 + n / 1000},
            promised_at=promised,
        )
        for n in (1, 2)
    ]
    nowhere = await ready_delivery(hub, 3)
    screen = await open_dispatch(browser, hub)
    page = screen.page
    suggestion = page.locator("#suggestions .suggestion")
    await suggestion.first.wait_for(timeout=TIMEOUT_MS)
    assert await suggestion.count() == 1
    batch = (await suggestion.get_attribute("data-orders") or "").split(",")
    assert sorted(batch) == sorted(north_east), batch
    assert "to the NE" in await suggestion.locator(".s-reason").inner_text()
    hand = page.locator("#unplaced")
    await hand.wait_for(timeout=TIMEOUT_MS)
    number = await page.locator(f'#waiting .w-order[data-order-id="{nowhere}"]').get_attribute("data-number")
    assert f"#{number}" in await hand.inner_text() and "assign by hand" in (await hand.inner_text()).lower()

    rider = await hub.client(Role.RIDER, device="rider-1")
    await rider.subscribe("rider:rider-1")
    await page.locator("#rider-id").fill("rider-1")
    await page.locator("#rider-add").click()
    await suggestion.locator("select.s-rider").select_option("rider-1")
    assign = suggestion.locator("button.s-assign")
    assert await in_view(assign), "the suggestion's Assign is on screen at 1366x768 without scrolling"
    await screenshot(screen, "dispatch-suggestions")
    await assign.click()

    told = [(await event_about(rider, "DELIVERY_ASSIGNED"))["data"]["order"] for _ in batch]
    assert [o["id"] for o in told] == batch, "the rider's stops are the suggestion's order"
    assert len({o["delivery"]["batch"] for o in told}) == 1
    for order_id in batch:
        await page.locator(f'.rider[data-rider="rider-1"] .r-order[data-order-id="{order_id}"]').wait_for(
            timeout=TIMEOUT_MS
        )
    await suggestion.first.wait_for(state="detached", timeout=TIMEOUT_MS)
    assert screen.errors == [], screen.errors
