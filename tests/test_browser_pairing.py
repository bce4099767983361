"""A screen paired by code in Debian's Chromium, and told plainly when a manager revokes it."""

from __future__ import annotations

from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, chromium, in_view, open_screen, screenshot
from tests.conftest import RunningHub


@pytest.fixture
async def browser() -> Any:
    async for found in chromium():
        yield found


async def test_a_kitchen_screen_pairs_with_a_code_then_stops_plainly_when_revoked(
    hub: RunningHub, browser: Any
) -> None:
    """/kds with no token asks for the code; a wrong one is said in words; the right one makes it LIVE as GRILL."""
    manager = await hub.client(Role.MANAGER, device="manager-1")
    offer = await manager.command("device.pair", {"device_id": "kds-7", "role": "KITCHEN", "stations": ["grill"]})
    screen = await open_screen(browser, f"{hub.url}/kds")
    form = screen.page.locator('#blocked[data-kind="no-token"] #pair')
    await form.wait_for(timeout=TIMEOUT_MS)
    assert await in_view(screen.page.locator("#pair-code")) and await in_view(screen.page.locator("#pair-go"))
    await screenshot(screen, "kds-pairing")
    await screen.page.fill("#pair-code", "000-000")
    await screen.page.click("#pair-go")
    said = screen.page.locator("#pair-said", has_text="wrong, already used")
    await said.wait_for(timeout=TIMEOUT_MS)
    await screen.page.fill("#pair-code", offer["result"]["code"])
    await screen.page.click("#pair-go")
    await screen.live()
    assert await screen.page.locator("#title").inner_text() == "GRILL"
    assert "token=" not in screen.page.url and "device=kds-7" in screen.page.url
    await manager.command("device.revoke", {"device_id": "kds-7"})
    revoked = screen.page.locator('#blocked[data-kind="revoked"]')
    await revoked.wait_for(timeout=TIMEOUT_MS)
    assert "revoked" in await revoked.locator(".why").inner_text()
    assert await in_view(screen.page.locator("#pair-code"))  # and the way back: pair it again
    assert await screen.page.locator("body").get_attribute("data-conn") == "offline"
    await screenshot(screen, "kds-revoked")
    assert [e for e in screen.errors if "404 (Not Found)" not in e] == []  # the wrong code was answered 404
