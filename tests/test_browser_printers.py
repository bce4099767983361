"""/printers in Debian's Chromium at 1366x768: the demo's printed tickets, live and readable without scrolling.

The page is opened on the demo's node (emulated printers and their in-process agent, as ``fireflow demo``
runs them) before anything is printed, so the ticket fired next must appear by itself. Screenshots:
``test-artifacts/screenshots/printers-*.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.browser import TIMEOUT_MS, chromium, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub, Servers
from tests.test_demo_printers import demo_node, fire_order

LAPTOP = (1366, 768)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def test_printers_page_shows_a_fired_ticket_as_printed_without_scrolling(
    servers: Servers, redis: Redis, rid: str, browser: Any
) -> None:
    """Open before the fire, the page shows the grill's and fry's tickets as they printed, in view at 1366x768."""
    async with demo_node(servers, redis, rid) as node:
        screen = await open_screen(browser, node.url + "/printers", size=LAPTOP)
        page = screen.page
        await page.wait_for_selector('body[data-conn="live"]', timeout=TIMEOUT_MS)
        await page.locator("#empty").wait_for(timeout=TIMEOUT_MS)  # nothing printed yet, and it says so
        assert await page.locator('#chips .chip[data-printer="grill"] .count').inner_text() == "0"
        await fire_order(node, "burger", "fries")
        await node.printers.emulators["grill"].wait_for(1, WAIT)
        await node.printers.emulators["fry"].wait_for(1, WAIT)
        grill = page.locator('#paper .slip[data-printer="grill"]')
        await grill.wait_for(timeout=TIMEOUT_MS)
        burger = grill.locator(".pl", has_text="1 x Classic Burger")
        assert await in_view(burger), "the grill ticket's item is not in view"
        assert await in_view(grill.locator(".pl", has_text="GRILL")) and await in_view(grill.locator(".cut"))
        fries = page.locator('#paper .slip[data-printer="fry"] .pl', has_text="1 x Fries")
        assert await in_view(fries)
        assert await page.locator('#chips .chip[data-printer="grill"] .count').inner_text() == "1"
        assert await page.locator("#empty").is_hidden()
        await screenshot(screen, "printers-1366x768")
        # One printer's chip: only its tickets, and what prints on it.
        await page.locator('#chips .chip[data-printer="fry"]').click()
        await page.locator('#paper .slip[data-printer="grill"]').wait_for(state="detached", timeout=TIMEOUT_MS)
        assert await in_view(fries)
        assert "kitchen tickets of Fry" in await page.locator("#about").inner_text()
        assert screen.errors == [], screen.errors


async def test_printers_page_says_plainly_when_no_printer_is_emulated(hub: RunningHub, browser: Any) -> None:
    """On a node `fireflow serve` started, /printers says no emulated printers run in this process."""
    screen = await open_screen(browser, hub.url + "/printers", size=LAPTOP)
    none = screen.page.locator("#none")
    await none.wait_for(timeout=TIMEOUT_MS)
    assert "No emulated printers run in this process" in await none.inner_text()
    assert await in_view(none)
    assert await screen.page.locator("#chips .chip").count() == 0
    await screenshot(screen, "printers-none-1366x768")
    assert screen.errors == [], screen.errors


async def test_with_the_hub_not_answering_the_agent_badge_does_not_claim_printing(
    servers: Servers, redis: Redis, rid: str, browser: Any
) -> None:
    """The hub stops answering /printers.json: the agent badge says unknown (offline), not printing; back: printing."""
    async with demo_node(servers, redis, rid) as node:
        screen = await open_screen(browser, node.url + "/printers", size=LAPTOP)
        page = screen.page
        agent = page.locator("#agent")
        await page.locator('#agent[data-state="printing"]').wait_for(timeout=TIMEOUT_MS)
        assert await agent.inner_text() == "AGENT: printing"

        await page.route("**/printers.json", lambda route: route.abort())  # the hub out of reach
        await page.wait_for_selector('body[data-conn="offline"]', timeout=TIMEOUT_MS)
        await page.locator('#agent[data-state="unknown"]').wait_for(timeout=TIMEOUT_MS)
        assert await agent.inner_text() == "AGENT: unknown (offline)"
        assert "printing" not in await agent.inner_text()
        await screenshot(screen, "printers-hub-down-1366x768")

        await page.unroute("**/printers.json")
        await page.locator('#agent[data-state="printing"]').wait_for(timeout=TIMEOUT_MS)
        assert await agent.inner_text() == "AGENT: printing"
        failed = "net::ERR_FAILED"  # the browser's line for each read refused while the hub was out of reach
        assert [e for e in screen.errors if failed not in e] == [], screen.errors
