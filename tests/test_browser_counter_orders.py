"""Counter orders on /cashier in a real browser: paid first, they stay on the till until handed over.

Run: ``.venv/bin/python -m pytest tests/test_browser_counter_orders.py -q -s`` (``-s`` shows the screenshot
path); the screenshot goes to ``test-artifacts/screenshots/cashier-paid-counter-1366x768.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, command, fired, open_screen, screenshot
from tests.conftest import RunningHub


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def _screen(browser: Any, url: str) -> Screen:
    screen = await open_screen(browser, url)
    await screen.live()
    return screen


async def _order(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]
    return order


def _waiting(order_id: str) -> str:
    """The selector of a paid order's row in the till's "waiting for pickup" strip."""
    return f'#pickup .pickup-row[data-order-id="{order_id}"]'


async def test_a_takeaway_paid_first_on_the_till_waits_through_a_reload_and_is_handed_over(
    hub: RunningHub, browser: Any
) -> None:
    """Paid on /cashier it stays listed PAID (no pay action, even after a reload); bumped, HANDED OVER closes it."""
    cashier = await _screen(browser, f"{hub.url}/cashier?token={hub.token(Role.CASHIER, device='cashier-1')}")
    board = await _screen(browser, f"{hub.url}/board?token={hub.token(Role.DISPLAY, device='board-1')}")
    page = cashier.page
    assert await page.evaluate("() => [innerWidth, innerHeight]") == [1366, 768]
    async with hub.http(Role.WAITER) as waiter:
        order_id, answer = await fired(waiter, "burger", customer_name="Asha")
    token = answer["result"]["order"]["token"]

    entry = page.locator(f'#to-go .togo[data-order-id="{order_id}"]')
    await entry.click(timeout=TIMEOUT_MS)
    await page.locator("#bill-total").wait_for(timeout=TIMEOUT_MS)
    await page.locator("#d-pay button.add-card").click()
    await page.locator('#remaining[data-minor="0"]').wait_for(timeout=TIMEOUT_MS)
    await page.locator("#settle").click()

    waiting = page.locator(_waiting(order_id))
    await waiting.locator(".badge.paid").wait_for(timeout=TIMEOUT_MS)  # paid, the burger still cooking
    await page.locator("#receipt").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#invoice-number").inner_text() == "Invoice #1"
    await entry.wait_for(state="detached", timeout=TIMEOUT_MS)  # nothing left to charge
    assert await page.locator('#pickup-state[data-ready="false"]').count() == 1
    assert await waiting.locator("button.handover").count() == 0
    assert await page.locator("#handed-over").count() == 0

    await page.reload()
    await cashier.live()
    await board.page.reload()
    await board.live()
    await board.page.locator(f'#preparing [data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)
    await waiting.locator(".badge.paid").wait_for(timeout=TIMEOUT_MS)  # from the snapshots: PAID, open
    assert await page.locator(f'#to-go [data-order-id="{order_id}"]').count() == 0
    await waiting.locator(".togo").click()
    await page.locator("#receipt", has_text="PAID").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#invoice-number").inner_text() == "Invoice #1"
    for charge in ("#d-pay", "#settle", ".add-tender", "#bill-toggle", "#d-discount"):
        assert await page.locator(charge).count() == 0, charge
    await page.keyboard.press("3")  # the CARD key adds no tender to a paid order
    assert await page.locator(".tender").count() == 0
    assert await page.locator("#handed-over").count() == 0

    async with hub.http(Role.EXPO, device="expo-1") as expo:
        await command(expo, "order.bump", {"order_id": order_id})
    await page.locator(f'{_waiting(order_id)}[data-status="READY"] button.handover').wait_for(timeout=TIMEOUT_MS)
    await page.locator('#pickup-state[data-ready="true"]').wait_for(timeout=TIMEOUT_MS)
    assert await waiting.locator(".badge.ready").count() == 1
    await board.page.locator(f'#ready [data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)
    await screenshot(cashier, "cashier-paid-counter-1366x768")

    await page.locator("#handed-over").click()
    await waiting.wait_for(state="detached", timeout=TIMEOUT_MS)
    await page.locator("#pickup").wait_for(state="hidden", timeout=TIMEOUT_MS)
    await page.locator("#receipt").wait_for(state="detached", timeout=TIMEOUT_MS)
    assert await page.locator(f'[data-order-id="{order_id}"]').count() == 0
    await board.page.locator(f'#ready [data-token="{token}"]').wait_for(state="detached", timeout=TIMEOUT_MS)
    assert await board.page.locator(f'[data-token="{token}"]').count() == 0
    async with hub.http(Role.CASHIER) as till:
        order = await _order(till, order_id)
    assert (order["status"], order["payment_status"], order["picked_up_by"]) == ("CLOSED", "PAID", "cashier-1")
    errors = cashier.errors + board.errors
    assert errors == [], errors


async def test_a_takeaway_paid_and_picked_up_elsewhere_follows_the_events_on_the_till(
    hub: RunningHub, browser: Any
) -> None:
    """ORDER_SETTLED naming it `awaiting_pickup` keeps it (PAID), ORDER_READY readies it, ORDER_PICKED_UP drops it."""
    cashier = await _screen(browser, f"{hub.url}/cashier?token={hub.token(Role.CASHIER, device='cashier-1')}")
    page = cashier.page
    async with hub.http(Role.WAITER) as waiter, hub.http(Role.CASHIER, device="cashier-2") as till:
        order_id, _ = await fired(waiter, "burger")
        await page.locator(f'#to-go .togo[data-order-id="{order_id}"]').click(timeout=TIMEOUT_MS)
        await page.locator("#bill-total").wait_for(timeout=TIMEOUT_MS)
        due = (await command(till, "bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        paid = await command(
            till, "order.pay", {"order_ids": [order_id], "tenders": [{"method": "UPI", "amount": due}]}
        )
    assert paid["result"]["status"] == "PAID"

    waiting = page.locator(_waiting(order_id))
    await waiting.locator(".badge.paid").wait_for(timeout=TIMEOUT_MS)
    await page.locator("#receipt", has_text="PAID").wait_for(timeout=TIMEOUT_MS)  # the open form gave way
    assert await page.locator("#settle").count() == 0
    assert await page.locator(f'#to-go [data-order-id="{order_id}"]').count() == 0

    async with hub.http(Role.EXPO, device="expo-1") as expo:
        await command(expo, "order.bump", {"order_id": order_id})
        await page.locator("#handed-over").wait_for(timeout=TIMEOUT_MS)
        await command(expo, "order.pickup", {"order_id": order_id})
    await waiting.wait_for(state="detached", timeout=TIMEOUT_MS)
    await page.locator("#receipt").wait_for(state="detached", timeout=TIMEOUT_MS)
    assert await page.evaluate("(id) => window.fireflow.orders.has(id)", order_id) is False
    assert cashier.errors == [], cashier.errors
