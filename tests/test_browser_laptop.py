"""Every page on a 1366x768 laptop, the screen a small restaurant may run any of them on: main action in view.

Each page is opened on a service in progress (a takeaway fired to the grill, fry and bar) and must
show its main action without scrolling the page or any box in it. The screenshots are the
artefacts a person checks: ``test-artifacts/screenshots/<page>-1366x768.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, card, chromium, fired, in_view, open_screen, screenshot
from tests.conftest import RunningHub

LAPTOP = (1366, 768)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def test_every_page_at_1366x768_has_its_main_action_in_view(hub: RunningHub, browser: Any) -> None:
    """/kds BUMP, /expo BUMP, /board's token, /cashier's order, /pos FIRE, /manager's sections: all unscrolled."""
    async with hub.http(Role.WAITER) as waiter:
        order_id, answer = await fired(waiter, "burger", "fries", "mojito", customer_name="Ira")
    token = answer["result"]["order"]["token"]
    ticket = card(order_id)
    pages: dict[str, tuple[str, list[str]]] = {
        "kds": (
            f"/kds?token={hub.token(Role.KITCHEN, stations=('grill',), device='kds-grill')}",
            [f"#queue {ticket}", f"#queue {ticket} button.bump"],
        ),
        "expo": (f"/expo?token={hub.token(Role.EXPO, device='expo-1')}", [f"#queue {ticket} button.bump"]),
        "board": (f"/board?token={hub.token(Role.DISPLAY, device='board-1')}", [f'#preparing li:text-is("{token}")']),
        "cashier": (
            f"/cashier?token={hub.token(Role.CASHIER, device='till-1')}",
            [f'#to-go .togo[data-order-id="{order_id}"]', '#map .tile[data-table-id="T1"]'],
        ),
        "pos": (f"/pos?token={hub.token(Role.WAITER, device='waiter-1')}", ['#plan .table[data-table-id="T1"]']),
        "manager": (
            f"/manager?token={hub.token(Role.MANAGER, device='manager-1')}",
            [
                f'[data-go="{name}"]'
                for name in ("alerts", "day", "invoices", "groups", "menu", "floor", "staff", "devices", "restaurant")
            ],
        ),
    }
    for name, (path, main) in pages.items():
        screen = await open_screen(browser, hub.url + path, size=LAPTOP)
        await screen.live()
        for selector in main:
            await screen.page.locator(selector).first.wait_for(timeout=TIMEOUT_MS)
            assert await in_view(screen.page.locator(selector).first), (name, selector)
        if name == "pos":  # the order itself: its lines, the total and FIRE
            await screen.page.locator(f'#to-go .togo[data-order-id="{order_id}"]').click()
            await screen.page.locator('body[data-view="order"] #o-head .num').wait_for(timeout=TIMEOUT_MS)
            for selector in ("#fire", "#o-total", '.o-line[data-menu-item-id="burger"]', "#menu-search", ".mi"):
                assert await in_view(screen.page.locator(selector).first), (name, selector)
        assert await screen.page.evaluate("() => document.documentElement.scrollWidth <= innerWidth"), name
        await screenshot(screen, f"{name}-1366x768")
        assert screen.errors == [], (name, screen.errors)
        await screen.page.close()
