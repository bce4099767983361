"""Which ticket first, on a real kitchen screen: the queue's order and the words that say why, at 1920x1080."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, card, chromium, command, fired, in_view, open_screen, screenshot
from tests.conftest import RunningHub

MIN = 60_000


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def queue_order(page: Any, count: int) -> list[str]:
    """The order ids of the queue's cards, top to bottom, once it holds ``count`` cards."""
    await page.wait_for_function(f"document.querySelectorAll('#queue .card').length === {count}", timeout=TIMEOUT_MS)
    ids: list[str] = await page.eval_on_selector_all("#queue .card", "els => els.map(e => e.dataset.orderId)")
    return ids


async def test_the_kds_puts_the_soonest_due_first_says_why_and_a_snapshot_agrees(hub: RunningHub, browser: Any) -> None:
    """A table fired first, then a takeaway (less grace), then a takeaway promised in 5 minutes: the promise is
    first, the takeaway second, the table last; rushing the table puts it on top. The first card says FIRST and
    why; the others say their own reason; a new subscriber's snapshot has the same order."""
    url = f"{hub.url}/kds?token={hub.token(Role.KITCHEN, stations=('grill',), device='kds-grill')}"
    kds = await open_screen(browser, url)
    await kds.live()
    async with hub.http(Role.WAITER) as waiter:
        table, _ = await fired(waiter, "burger", type="DINE_IN", table_id="T1", guests=2)
        takeaway, _ = await fired(waiter, "burger")
        promised_at = int(time.time() * 1000) + 5 * MIN
        promised, _ = await fired(waiter, "burger", promised_at=promised_at)
        assert await queue_order(kds.page, 3) == [promised, takeaway, table]
        first = kds.page.locator(f"#queue {card(promised)} .why.first")
        assert await in_view(first)
        words = await first.inner_text()
        assert words.startswith("FIRST:") and "promised to the customer" in words and "out by" in words, words
        assert "takeaway, customer waiting" in await kds.page.locator(f"{card(takeaway)} .why").inner_text()
        assert "dine-in" in await kds.page.locator(f"{card(table)} .why").inner_text()
        assert await kds.page.locator(f"{card(takeaway)} .why.first").count() == 0
        size = await first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
        assert size >= 18, size  # read from a step away
        await screenshot(kds, "kds-priority")

        await command(waiter, "order.rush", {"order_id": table})
        await kds.page.wait_for_function(
            f"document.querySelector('#queue .card')?.dataset.orderId === {table!r}", timeout=TIMEOUT_MS
        )
        top = await kds.page.locator(f"{card(table)} .why.first").inner_text()
        assert top.startswith("FIRST:") and "RUSH" in top, top
        assert await queue_order(kds.page, 3) == [table, promised, takeaway]

    later = await hub.kitchen("grill")
    view = (await later.subscribe("kitchen:grill"))["snapshot"]["kitchen:grill"]
    tickets = view["tickets"]
    assert [t["order_id"] for t in tickets] == [table, promised, takeaway]
    assert [t["priority"]["reason"] for t in tickets] == ["RUSH", "PROMISED", "TAKEAWAY"]
    assert tickets[1]["priority"]["due_at"] == promised_at
    assert kds.errors == []
