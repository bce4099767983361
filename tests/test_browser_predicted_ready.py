"""The waiter's phone (/pos) and the till (/cashier) show when a fired order should be ready (Debian's Chromium).

Run: ``.venv/bin/python -m pytest tests/test_browser_predicted_ready.py -q -s`` (``-s`` shows the screenshot
paths); the screenshots go to ``test-artifacts/screenshots/{pos,cashier}-predicted-*.png``.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from tests.browser import PHONE, SIZES, TIMEOUT_MS, Screen, chromium, command, fired, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub

ZONE = "Asia/Kolkata"  # the screens' own clock: the estimate is told in the restaurant's time of day
SAID = re.compile(r"^Ready about (\d\d:\d\d) · in (\d+) min$")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def open_at(browser: Any, url: str, size: tuple[int, int]) -> Screen:
    """The page at ``url`` on a device whose clock is in ZONE (24-hour, as the restaurant's screens)."""
    width, height = size
    context = await browser.new_context(viewport={"width": width, "height": height}, timezone_id=ZONE, locale="en-GB")
    screen = await open_screen(browser, url, context=context)
    await screen.live()
    return screen


async def listening(hub: RunningHub) -> HubClient:
    cashier = await hub.client(Role.CASHIER, device="cashier-listen")
    await cashier.subscribe("cashier")
    return cashier


async def predicted(client: HubClient, *order_ids: str) -> dict[str, int]:
    """The ready time of the next ORDER_PREDICTED about each of ``order_ids`` (other events passed over)."""
    found: dict[str, int] = {}

    async def wait() -> None:
        while len(found) < len(order_ids):
            event = await client.events.get()
            if event["type"] == "ORDER_PREDICTED" and event["data"]["order_id"] in order_ids:
                found.setdefault(event["data"]["order_id"], int(event["data"]["ready_at"]))

    await asyncio.wait_for(wait(), 4 * WAIT)
    return found


def about(ready_at: int) -> str:
    return datetime.fromtimestamp(ready_at / 1000, ZoneInfo(ZONE)).strftime("%H:%M")


async def says_ready_at(locator: Any, ready_at: int) -> None:
    """The estimate reads "Ready about HH:MM · in N min": ``ready_at``'s time, its minutes left rounded up."""
    text = await locator.inner_text()
    said = SAID.match(text)
    assert said, text
    assert said[1] == about(ready_at)
    left = math.ceil((ready_at - time.time() * 1000) / 60_000)  # counted after the page did: as many, or one less
    assert left <= int(said[2]) <= left + 1, (text, left)


async def font_px(locator: Any) -> float:
    size: float = await locator.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    return size


# What the order's screen says at another time of the hub's clock (the page's own, moved for one redraw, then
# put back), without waiting for it: its words, and whether it is marked late.
_SAID_AT = """(at) => {
    const hub = window.fireflow.hub;
    const was = hub.skew;
    const redraw = () => document.getElementById("menu-search").dispatchEvent(new Event("input"));
    hub.skew += at - hub.now();
    redraw();
    const eta = document.getElementById("o-eta");
    const said = [eta.textContent, eta.classList.contains("late")];
    hub.skew = was;
    redraw();
    return said;
}"""


async def said_when(page: Any, at: int) -> tuple[str, bool]:
    text, late = await page.evaluate(_SAID_AT, at)
    return text, late


async def test_the_waiters_phone_shows_when_a_fired_order_will_be_ready_until_it_is(
    predicting: RunningHub, browser: Any
) -> None:
    """/pos shows "Ready about HH:MM · in N min" on the floor and the order's screen, and drops it once READY."""
    listener = await listening(predicting)
    pos = await open_at(browser, f"{predicting.url}/pos?token={predicting.token(Role.WAITER)}", PHONE)
    page = pos.page
    async with predicting.http(Role.WAITER) as waiter, predicting.http(Role.EXPO) as expo:
        table_order, _ = await fired(waiter, "burger", type="DINE_IN", table_id="T2", guests=2)
        takeaway, _ = await fired(waiter, "burger", "fries", customer_name="Asha")
        ready_at = await predicted(listener, table_order, takeaway)

        listed = page.locator(f'#to-go .togo[data-order-id="{takeaway}"] .tg-eta')
        await listed.wait_for(timeout=TIMEOUT_MS)
        await says_ready_at(listed, ready_at[takeaway])
        tile = page.locator(f'#plan .table[data-order-id="{table_order}"] .t-eta')
        await tile.wait_for(timeout=TIMEOUT_MS)
        assert await tile.inner_text() == f"≈ {about(ready_at[table_order])}"
        assert await in_view(tile)
        assert await font_px(tile) >= 16 and await font_px(listed) >= 16
        await screenshot(pos, "pos-predicted-floor")

        await page.locator(f'#plan .table[data-order-id="{table_order}"]').click()
        eta = page.locator("#o-eta")
        await eta.wait_for(timeout=TIMEOUT_MS)
        await says_ready_at(eta, ready_at[table_order])
        assert await page.evaluate("(id) => window.fireflow.predicted.get(id)", table_order) == ready_at[table_order]
        assert await in_view(eta)  # in the bar with FIRE, on a phone's screen without scrolling
        assert await font_px(eta) >= 16
        await screenshot(pos, "pos-predicted-order")
        at = about(ready_at[table_order])
        assert await said_when(page, ready_at[table_order] - 30_000) == (f"Ready about {at} · any minute", False)
        assert await said_when(page, ready_at[table_order] + 60_000) == (f"Ready about {at} · running late", True)

        await command(expo, "order.bump", {"order_id": table_order})
        await page.locator("#o-head .badge.ready").wait_for(timeout=TIMEOUT_MS)
        await eta.wait_for(state="hidden", timeout=TIMEOUT_MS)
        assert await page.locator(".ready-eta:visible").count() == 0
        await screenshot(pos, "pos-predicted-ready")
    assert pos.errors == []


async def test_the_till_tells_the_cashier_when_an_order_will_be_ready_until_it_is(
    predicting: RunningHub, browser: Any
) -> None:
    """/cashier shows the estimate in the order list, the pay panel and the paid panel (a till opened later too,
    from its snapshot), and drops it once READY."""
    listener = await listening(predicting)
    till = await open_at(browser, f"{predicting.url}/cashier?token={predicting.token(Role.CASHIER)}", SIZES["/cashier"])
    page = till.page
    async with (
        predicting.http(Role.WAITER) as waiter,
        predicting.http(Role.CASHIER) as cashier,
        predicting.http(Role.KITCHEN, device="kds-grill", stations=("grill",)) as grill,
    ):
        order_id, _ = await fired(waiter, "burger", customer_name="Ravi")
        table_order, _ = await fired(waiter, "fries", type="DINE_IN", table_id="T4", guests=2)
        told = await predicted(listener, order_id, table_order)
        ready_at = told[order_id]
        tile = page.locator(f'#map .tile[data-order-id="{table_order}"] .t-eta')
        await tile.wait_for(timeout=TIMEOUT_MS)
        assert await tile.inner_text() == f"≈ {about(told[table_order])}"
        assert await in_view(tile)

        listed = page.locator(f'#to-go .togo[data-order-id="{order_id}"] .tg-eta')
        await listed.wait_for(timeout=TIMEOUT_MS)
        await says_ready_at(listed, ready_at)
        assert await in_view(listed)
        assert await font_px(listed) >= 16

        await page.locator(f'#to-go .togo[data-order-id="{order_id}"]').click()
        detail = page.locator("#detail #d-eta")
        await detail.wait_for(timeout=TIMEOUT_MS)
        await says_ready_at(detail, ready_at)
        assert await in_view(detail)
        await screenshot(till, "cashier-predicted-order")
        # a till opened after the prediction has it at once: the order keeps it for snapshots
        second = predicting.token(Role.CASHIER, device="cashier-2")
        later = await open_at(browser, f"{predicting.url}/cashier?token={second}", SIZES["/cashier"])
        again = later.page.locator(f'#to-go .togo[data-order-id="{order_id}"] .tg-eta')
        await again.wait_for(timeout=TIMEOUT_MS)
        await says_ready_at(again, ready_at)
        assert later.errors == []

        # paid first, the customer asks when it will be ready: the paid panel says so too
        due = (await command(cashier, "bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        await command(cashier, "order.pay", {"order_ids": [order_id], "tenders": [{"method": "UPI", "amount": due}]})
        await page.locator(f'#receipt[data-order-id="{order_id}"]').wait_for(timeout=TIMEOUT_MS)
        await says_ready_at(detail, ready_at)
        assert await in_view(detail)
        waiting = page.locator(f'#pickup .togo[data-order-id="{order_id}"] .tg-eta')
        await says_ready_at(waiting, ready_at)
        assert await in_view(waiting)
        await screenshot(till, "cashier-predicted-paid")

        await command(grill, "order.bump", {"order_id": order_id, "station": "grill"})
        await page.locator('#pickup-state[data-ready="true"]').wait_for(timeout=TIMEOUT_MS)
        await detail.wait_for(state="detached", timeout=TIMEOUT_MS)
        assert await page.locator(".ready-eta").count() == 1  # the table's order is still being made
        await screenshot(till, "cashier-predicted-ready")
    assert till.errors == []
