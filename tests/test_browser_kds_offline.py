"""The kitchen screen (/kds) at 1920x1080 when it loses the hub: said across the top, big enough for the far end
of a kitchen, and gone once it is live again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import SIZES, TIMEOUT_MS, HubSwitch, chromium, open_screen, screenshot
from tests.conftest import RunningHub


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def test_a_kds_that_lost_the_hub_says_so_in_a_banner_across_the_top_until_it_is_back(
    hub: RunningHub, browser: Any
) -> None:
    """Hub down: a banner across the top says OFFLINE in letters of 32 px or more; back up: LIVE, no banner."""
    width, height = SIZES["/kds"]
    context = await browser.new_context(viewport={"width": width, "height": height})
    switch = HubSwitch()
    await switch.attach(context)
    token = hub.token(Role.KITCHEN, stations=("grill",), device="kds-grill")
    kds = await open_screen(browser, f"{hub.url}/kds?token={token}", context=context)
    await kds.live()
    banner = kds.page.locator("#offline-banner")
    assert not await banner.is_visible()

    await switch.down()
    await banner.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert "OFFLINE" in await banner.inner_text()
    assert "reconnecting" in (await banner.inner_text()).lower()
    font_px = float(await banner.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))
    assert font_px >= 32, font_px
    box = await banner.bounding_box()
    assert box is not None and box["y"] < 120 and box["width"] >= 0.9 * width, box  # across the top
    await screenshot(kds, "kds-offline-banner")

    switch.back()
    await kds.page.wait_for_selector('body[data-conn="live"]', timeout=4 * TIMEOUT_MS)
    await banner.wait_for(state="hidden", timeout=TIMEOUT_MS)
    assert kds.errors == [], kds.errors
