"""The customer board shows each preparing token's pickup estimate (Debian's Chromium, TV size)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, chromium, in_view, open_screen, screenshot
from tests.conftest import RunningHub


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def test_a_preparing_token_shows_about_when_it_will_be_ready(predicting: RunningHub, browser: Any) -> None:
    board = await open_screen(
        browser, f"{predicting.url}/board?token={predicting.token(Role.DISPLAY, device='board-1')}"
    )
    await board.live()
    waiter = await predicting.client("WAITER")
    order = (await waiter.command("order.open", {"type": "TAKEAWAY"}))["result"]["order"]
    await waiter.command("order.add_item", {"order_id": order["id"], "menu_item_id": "burger"})
    token = (await waiter.command("order.fire", {"order_id": order["id"]}))["result"]["order"]["token"]

    eta = board.page.locator(f'#preparing [data-token="{token}"] .eta')
    await eta.wait_for(timeout=TIMEOUT_MS)
    # the grill's first burger, before anything is learned: 60 % of its 8-minute warning, about 5 min
    assert await eta.inner_text() == "about 5 min"
    assert await in_view(eta)
    size = await eta.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 24  # read from across the counter
    await screenshot(board, "board-estimate")

    kitchen = await predicting.client(Role.KITCHEN, device="kds-grill", stations=("grill",))
    await kitchen.command("order.bump", {"order_id": order["id"], "station": "grill"})
    await board.page.locator(f'#ready [data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)
    assert await board.page.locator(f'#ready [data-token="{token}"] .eta').count() == 0  # ready: no estimate
    assert board.errors == []
