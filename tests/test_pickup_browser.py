"""Quick service on the expo and board pages in a real browser: paid first, bumped, PICKED UP clears the token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, card, chromium, command, fired, open_screen
from tests.conftest import RunningHub


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def _screen(browser: Any, url: str) -> Screen:
    screen = await open_screen(browser, url)
    await screen.live()
    return screen


async def test_a_takeaway_paid_first_is_bumped_on_expo_and_picked_up_off_the_board(
    hub: RunningHub, browser: Any
) -> None:
    """Paid while cooking: expo keeps the card (PAID, BUMP offered); bumped it is READY; PICKED UP clears the board."""
    expo = await _screen(browser, f"{hub.url}/expo?token={hub.token(Role.EXPO, device='expo-1')}")
    board = await _screen(browser, f"{hub.url}/board?token={hub.token(Role.DISPLAY, device='board-1')}")
    async with hub.http(Role.WAITER) as waiter, hub.http(Role.CASHIER) as till:
        order_id, answer = await fired(waiter, "burger")
        token = answer["result"]["order"]["token"]
        due = (await command(till, "bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        paid = await command(
            till, "order.pay", {"order_ids": [order_id], "tenders": [{"method": "CARD", "amount": due}]}
        )
    assert paid["result"]["status"] == "PAID"

    queued = expo.page.locator(f"#queue {card(order_id)}")
    await queued.locator(".badge.paid").wait_for(timeout=TIMEOUT_MS)  # ORDER_SETTLED arrived: paid, yet still open
    assert await queued.get_attribute("data-closed") is None
    await board.page.locator(f'#preparing [data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)

    await queued.locator("button.bump").click()
    done = expo.page.locator(f'#done {card(order_id)}[data-ready="true"]')
    await done.wait_for(timeout=TIMEOUT_MS)
    await board.page.locator(f'#ready [data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)

    await done.locator("button.pickup").click()
    await expo.page.locator(f'#done {card(order_id)}[data-closed="true"]').wait_for(timeout=TIMEOUT_MS)
    await board.page.locator(f'#ready [data-token="{token}"]').wait_for(state="detached", timeout=TIMEOUT_MS)
    assert await board.page.locator(f'[data-token="{token}"]').count() == 0
    assert await expo.page.locator(f"{card(order_id)} button.pickup").count() == 0
    async with hub.http(Role.CASHIER) as till:
        order = (await till.get(f"/api/v1/orders/{order_id}")).json()["order"]
    assert (order["status"], order["picked_up_by"]) == ("CLOSED", "expo-1")
    errors = expo.errors + board.errors
    assert errors == [], errors
