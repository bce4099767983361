"""The manager's Dashboard (/manager#dashboard) in Debian's Chromium at a till's 1366x768: charts drawn, no scrolling.

Run: ``.venv/bin/python -m pytest tests/test_browser_dashboard.py -q -s`` (``-s`` shows the screenshot paths);
the screenshots go to ``test-artifacts/screenshots/manager-dashboard*.png`` and ``/tmp/dashboard.png``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub, Servers, free_port, seed, serve_in_process, settings_for

LAPTOP = (1366, 768)
CARDS = ("takings", "queues", "prep", "predictions", "alerts")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def _fired(waiter: HubClient, *items: str) -> str:
    order = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]
    for item in items:
        await waiter.command("order.add_item", {"order_id": order["id"], "menu_item_id": item})
    await waiter.command("order.fire", {"order_id": order["id"]})
    return str(order["id"])


async def _predicted(cashier: HubClient, order_id: str) -> None:
    """Until the predictor told ``order_id``'s first ready time (ORDER_PREDICTED on the cashier's channel)."""

    async def wait() -> None:
        while True:
            event = await cashier.events.get()
            if event["type"] == "ORDER_PREDICTED" and event["data"]["order_id"] == order_id:
                return

    await asyncio.wait_for(wait(), 4 * WAIT)


async def _dashboard_page(browser: Any, hub: RunningHub) -> Screen:
    url = f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    await screen.page.click('[data-go="dashboard"]')
    await screen.page.locator("#sec-dashboard:not([hidden]) .dash-grid").wait_for(timeout=TIMEOUT_MS)
    return screen


async def test_the_dashboard_draws_every_chart_on_one_laptop_screen(predicting: RunningHub, browser: Any) -> None:
    """Takings, queues, prep, predicted vs actual and alerts drawn by uPlot at 1366x768; takings as the API says."""
    waiter = await predicting.client(Role.WAITER)
    cashier = await predicting.client(Role.CASHIER, device="till-1")
    await cashier.subscribe("cashier")
    fry = await predicting.kitchen("fry")
    for _ in range(3):  # three fries orders predicted, then bumped: three pairs to draw
        quick = await _fired(waiter, "fries")
        await _predicted(cashier, quick)
        await fry.command("order.bump", {"order_id": quick, "station": "fry"})
    for items in (("burger", "fries"), ("burger",), ("fries",)):
        await _fired(waiter, *items)  # no grill screen is open: STATION_OFFLINE alerts too
    for method in ("CASH", "CARD"):
        order_id = await _fired(waiter, "water", "soda")
        due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": method, "amount": due}]})
    async with predicting.http(Role.MANAGER) as http:
        for _ in range(int(40 * WAIT)):  # until the predictor's looks have scored the three bumped orders
            api = (await http.get("/api/v1/stats/dashboard")).json()
            fry_scores = next(p for p in api["predictions"] if p["station"] == "fry")
            if len(fry_scores["recent"]) == 3:
                break
            await asyncio.sleep(0.05)
    assert len(fry_scores["recent"]) == 3 and api["takings"] > 0

    screen = await _dashboard_page(browser, predicting)
    page = screen.page
    for card in CARDS:
        await page.locator(f"#dash-{card}-chart canvas").wait_for(timeout=TIMEOUT_MS)
    state = await page.evaluate("() => window.fireflow.dashboard.state()")
    for card in CARDS:
        assert state["charts"][card]["width"] > 150 and state["charts"][card]["height"] > 80, card
        box = await page.locator(f"#dash-{card}-chart canvas").bounding_box()
        assert box is not None and box["width"] > 150 and box["height"] > 80, card
        assert await in_view(page.locator(f"#dash-{card}")), f"{card} needs a scroll"
    takings = state["charts"]["takings"]["data"]
    assert takings[1] == [h["takings"] for h in state["data"]["takings_by_hour"]]
    assert sum(takings[1]) == api["takings"]  # the page drew what the hub answered
    queues = state["charts"]["queues"]["data"]
    by_station = {q["name"]: (q["waiting"], q["preparing"]) for q in api["queues"]}
    assert (queues[1][0], queues[1][1]) == (by_station["Grill"][0], by_station["Fry"][0]) == (2, 2)
    assert len(state["charts"]["predictions"]["data"][1]) == 3
    assert sum(state["charts"]["alerts"]["data"][1]) >= 2  # each grill order's STATION_OFFLINE

    total = await page.locator("#dash-takings-total").inner_text()
    assert total.startswith("\u20b9") and "2 bills" in total
    assert await page.locator('#dash-mae tr[data-station="fry"]').count() == 1
    assert "min" in await page.locator('#dash-mae tr[data-station="fry"] td').first.inner_text()
    assert await page.locator("#dash-latest li").count() >= 1
    assert await page.locator("#dash-problem").is_hidden()
    assert await page.evaluate("() => document.scrollingElement.scrollHeight <= window.innerHeight")
    shot = await screenshot(screen, "manager-dashboard")
    shutil.copy(shot, "/tmp/dashboard.png")
    assert screen.errors == [], screen.errors


async def test_an_empty_day_says_so_in_words(hub: RunningHub, browser: Any) -> None:
    """No sales, nothing scored, nothing finished: each card says so instead of drawing an empty chart."""
    screen = await _dashboard_page(browser, hub)
    page = screen.page
    await page.locator("#dash-takings-empty:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#dash-takings-empty").inner_text() == "No sales yet today."
    assert "No orders scored yet" in await page.locator("#dash-predictions-empty").inner_text()
    assert "No lines finished" in await page.locator("#dash-prep-empty").inner_text()
    assert "nothing waiting" in await page.locator("#dash-queues-note").inner_text()
    assert await page.locator("#dash-takings-chart canvas").count() == 0
    await screenshot(screen, "manager-dashboard-empty")
    assert screen.errors == [], screen.errors


async def test_books_not_answering_are_said_in_words(servers: Servers, redis: Any, rid: str, browser: Any) -> None:
    """Postgres unreachable: the page says the books are not answering, and still draws the queues."""
    await seed(servers, rid)
    nowhere = f"postgresql+asyncpg://fireflow:fireflow@127.0.0.1:{free_port()}/fireflow"
    async with serve_in_process(settings_for(servers).with_(database_url=nowhere, durable="off"), rid) as running:
        waiter = await running.client(Role.WAITER)
        await _fired(waiter, "burger")
        screen = await _dashboard_page(browser, running)
        page = screen.page
        await page.locator("#dash-problem:not([hidden])").wait_for(timeout=TIMEOUT_MS)
        assert "Postgres" in await page.locator("#dash-problem").inner_text()
        assert "not answering" in await page.locator("#dash-takings-empty").inner_text()
        await page.locator("#dash-queues-chart canvas").wait_for(timeout=TIMEOUT_MS)
        assert await in_view(page.locator("#dash-problem"))
        await screenshot(screen, "manager-dashboard-no-books")
    # the page's other reads of the books (the day's figures) answer 503: the browser logs those, nothing else
    assert [e for e in screen.errors if "status of 503" not in e] == [], screen.errors
