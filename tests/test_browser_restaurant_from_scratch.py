"""A restaurant from nothing, on the hub's own screens only, in Debian's Chromium against the real servers.

``fireflow restaurant create`` makes an empty restaurant and prints a manager's token; the manager
builds it on /manager (stations, categories, an item with a required choice, an area and tables,
and a kitchen screen, a till and a waiter's phone paired by code); the waiter takes a dine-in order
with a choice and a note on /pos at 390x844 and fires it; the grill's screen shows it. Nothing is
set up by code. Screenshots: ``test-artifacts/screenshots/scratch-<screen>.png``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.browser import PHONE, TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import ROOT, SECRET, WAIT, RunningHub, Servers, serve_in_process, settings_for
from tests.test_browser_manager_modifiers import add_group

LAPTOP, KITCHEN = (1366, 768), (1920, 1080)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


@pytest.fixture
async def empty_hub(servers: Servers, rid: str) -> AsyncIterator[RunningHub]:
    """A hub node with no restaurant ``rid`` in it yet."""
    async with serve_in_process(settings_for(servers), rid) as running:
        yield running


def create_restaurant(servers: Servers, rid: str) -> str:
    """README's ``fireflow restaurant create``, against the suite's Redis; the manager's token it prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREFLOW_")}
    env |= {"REDIS_URL": servers.redis_url, "FIREFLOW_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    args = ["restaurant", "create", "--id", rid, "--name", "Casa Nueva", "--timezone", "Asia/Kolkata"]
    done = subprocess.run(
        [sys.executable, "-m", "fireflow.hub.run.cli", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=12 * WAIT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = done.stdout.splitlines()
    assert said[0] == f"restaurant {rid!r} created", said
    return said[-1].rsplit(" ", 1)[-1]


class Manager:
    """/manager, driven the way a manager would: sections, sub-tabs, forms, SAVE."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.page = screen.page

    async def section(self, name: str) -> None:
        await self.page.click(f'[data-go="{name}"]')
        await self.page.locator(f"#sec-{name}:not([hidden])").wait_for(timeout=TIMEOUT_MS)

    async def sub(self, name: str) -> None:
        await self.page.click(f'#sec-menu .subtabs [data-sub="{name}"]')

    async def shown(self, selector: str) -> None:
        await self.page.locator(selector).first.wait_for(timeout=TIMEOUT_MS)

    async def station(self, name: str, colour: str) -> None:
        await self.sub("station")
        await self.page.fill("#station-name", name)
        await self.page.fill("#station-colour", colour)
        await self.page.click("#station-save")
        await self.shown(f'#station-list button:text-is("{name}")')

    async def category(self, name: str) -> None:
        await self.sub("category")
        await self.page.fill("#cat-name", name)
        await self.page.click("#cat-save")
        await self.shown(f'#cat-list button:text-is("{name}")')

    async def item(self, name: str, price: str, category: str, station: str) -> Any:
        """The item form filled (SAVE not pressed yet, so choices can be added)."""
        await self.page.click("#item-new")
        await self.page.fill("#item-name", name)
        await self.page.fill("#item-price", price)
        await self.page.select_option("#item-category", category)
        await self.page.select_option("#item-station", station)
        await self.page.fill("#item-tax", "GST5")
        return self.page

    async def save_item(self, item_id: str) -> None:
        await self.page.click("#item-save")
        await self.shown(f'#menu-list .item[data-item-id="{item_id}"]')

    async def table(self, table_id: str, name: str, area: str, x: int) -> None:
        await self.page.click("#table-new")
        await self.page.fill("#table-id", table_id)
        await self.page.fill("#table-name", name)
        await self.page.select_option("#table-area", area)
        await self.page.fill("#table-x", str(x))
        await self.page.click("#table-save")
        await self.shown(f'#floor-plan .spot[data-table-id="{table_id}"]')

    async def pair(self, device_id: str, role: str, stations: str = "") -> str:
        """Add a device; the pairing code the page shows for it."""
        await self.page.fill("#dev-id", device_id)
        await self.page.select_option("#dev-role", role)
        await self.page.fill("#dev-stations", stations)
        await self.page.click("#dev-pair")
        code = self.page.locator("#offer", has_text=f"Pairing code for {device_id}").locator("#offer-code")
        await code.wait_for(timeout=TIMEOUT_MS)
        assert await in_view(code)
        return (await code.inner_text()).strip()


async def paired(browser: Any, url: str, code: str, size: tuple[int, int]) -> Screen:
    """A screen opened with no token, paired by typing its code, live."""
    screen = await open_screen(browser, url, size=size)
    await screen.page.locator('#blocked[data-kind="no-token"] #pair-code').wait_for(timeout=TIMEOUT_MS)
    await screen.page.fill("#pair-code", code)
    await screen.page.click("#pair-go")
    await screen.live()
    return screen


async def test_a_restaurant_built_on_the_back_office_takes_its_first_order_on_pos_and_the_grill_sees_it(
    servers: Servers, rid: str, empty_hub: RunningHub, browser: Any
) -> None:
    """Empty hub -> create -> /manager builds it all -> devices paired by code -> /pos fires -> /kds shows it."""
    hub = empty_hub
    token = create_restaurant(servers, rid)
    back = await open_screen(browser, f"{hub.url}/manager?token={token}", size=LAPTOP)
    await back.live()
    office = Manager(back)
    page = back.page

    await office.section("menu")
    await office.station("Grill", "#d9480f")
    await office.station("Bar", "#7048e8")
    await office.category("Mains")
    await office.category("Drinks")
    await office.item("Ribeye", "650.00", "mains", "grill")
    await add_group(page, "Doneness", [("Rare", ""), ("Medium", ""), ("Well done", "")], required=True)
    await add_group(page, "Sauce", [("Pepper", "+40.00"), ("Bearnaise", "+60.00")], up_to=1)
    await office.save_item("ribeye")
    await office.item("Lemonade", "120.00", "drinks", "bar")
    await office.save_item("lemonade")
    await screenshot(back, "scratch-manager-menu")

    await office.section("floor")
    await page.fill("#area-name", "Main hall")
    await page.click("#area-save")
    await office.shown('#area-tabs button:text-is("Main hall")')
    await office.table("T1", "Table 1", "main-hall", 250)
    await office.table("T2", "Table 2", "main-hall", 750)

    await office.section("devices")
    codes = {
        "kds-grill": await office.pair("kds-grill", "KITCHEN", "grill"),
        "till-1": await office.pair("till-1", "CASHIER"),
        "phone-anna": await office.pair("phone-anna", "WAITER"),
    }
    await screenshot(back, "scratch-manager-devices")

    kds = await paired(browser, f"{hub.url}/kds", codes["kds-grill"], KITCHEN)
    assert await kds.page.locator("#title").inner_text() == "GRILL"
    till = await paired(browser, f"{hub.url}/cashier", codes["till-1"], LAPTOP)
    await till.page.locator('#map .tile[data-table-id="T1"][data-status="FREE"]').wait_for(timeout=TIMEOUT_MS)
    pos = await paired(browser, f"{hub.url}/pos", codes["phone-anna"], PHONE)
    waiter = pos.page

    await waiter.locator('#plan .table[data-table-id="T1"][data-status="FREE"]').click()
    await waiter.locator("#ask #ask-ok").click()
    await waiter.locator('body[data-view="order"] #o-head .num').wait_for(timeout=TIMEOUT_MS)
    await waiter.locator("#menu-search").fill("rib")
    await waiter.locator('.mi[data-item-id="ribeye"]').click()
    sheet = waiter.locator("#sheet")
    await sheet.locator('.mod-group[data-group="doneness"] input[data-option="medium"]').check()
    await sheet.locator('.mod-group[data-group="sauce"] input[data-option="pepper"]').check()
    await sheet.locator("#sheet-note").fill("no salt")
    assert await sheet.locator("#sheet-ok").get_attribute("data-minor") == str(65000 + 4000)
    await sheet.locator("#sheet-ok").click()
    line = waiter.locator('.o-line[data-menu-item-id="ribeye"][data-status="NOT_SENT"]')
    await line.wait_for(timeout=TIMEOUT_MS)
    assert await in_view(waiter.locator("#fire"))
    await waiter.locator("#fire").click()
    await waiter.locator('.o-line[data-menu-item-id="ribeye"][data-status="PENDING"]').wait_for(timeout=TIMEOUT_MS)
    await screenshot(pos, "scratch-pos-390x844")

    ticket = kds.page.locator("#queue .card", has_text="Ribeye")
    await ticket.wait_for(timeout=TIMEOUT_MS)
    assert await ticket.locator(".line .lmods").inner_text() == "Medium · Pepper"
    assert await ticket.locator(".line .lnotes").inner_text() == "no salt"
    await screenshot(kds, "scratch-kds-grill")
    await till.page.locator('#map .tile[data-table-id="T1"][data-status="OCCUPIED"]').wait_for(timeout=TIMEOUT_MS)
    for screen in (back, kds, till, pos):
        assert [e for e in screen.errors if "404 (Not Found)" not in e] == [], screen.errors
