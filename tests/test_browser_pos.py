"""The order-taking page (/pos) in a real browser: floor plan, menu with modifiers, courses, fire, ready, customers.

Run: ``.venv/bin/python -m pytest tests/test_browser_pos.py -q -s`` (``-s`` shows the screenshot paths);
the screenshots go to ``test-artifacts/screenshots/pos-<what>.png``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import PHONE, TIMEOUT_MS, HubSwitch, Screen, chromium, command, in_view, open_screen, screenshot
from tests.conftest import RunningHub

COUNTER = (1280, 800)  # the counter tablet; the waiter's phone is /pos's own size (390x844)
BURGER = 34900
CHEESE = 3000
FRIES = 14900


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


class Pos:
    """The /pos page and what the tests do and wait for on it."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.page = screen.page

    def no_errors(self) -> None:
        assert self.screen.errors == [], self.screen.errors

    async def wait(self, selector: str) -> Any:
        locator = self.page.locator(selector)
        await locator.first.wait_for(timeout=TIMEOUT_MS)
        return locator

    async def open_table(self, table_id: str, guests: int = 2) -> str:
        """Tap a free table, set the guests with the stepper (from its default of 2), open; the order's id."""
        await self.page.locator(f'#plan .table[data-table-id="{table_id}"][data-status="FREE"]').click()
        dialog = self.page.locator("#ask")
        assert await dialog.locator("#guests").inner_text() == "2"
        for _ in range(abs(guests - 2)):
            await dialog.locator(".step.plus" if guests > 2 else ".step.minus").click()
        await dialog.locator("#ask-ok").click()
        return await self.order_view()

    async def order_view(self) -> str:
        """Wait for the order view with its order drawn; the order's id (from the address: #order=<id>)."""
        await self.wait('body[data-view="order"] #o-head .num')
        order_id: str = await self.page.evaluate("() => window.fireflow.state().view.order")
        return order_id

    async def find(self, text: str) -> None:
        await self.page.locator("#menu-search").fill(text)

    async def no_sideways_scroll(self) -> bool:
        fits: bool = await self.page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        return fits


async def open_pos(browser: Any, hub: RunningHub, role: Role = Role.WAITER, **kw: Any) -> Pos:
    device = {Role.WAITER: "waiter-1", Role.CASHIER: "cashier-1", Role.MANAGER: "manager-1"}[role]
    screen = await open_screen(browser, f"{hub.url}/pos?token={hub.token(role, device=device)}", **kw)
    await screen.live()
    pos = Pos(screen)
    await pos.wait("#plan .table")
    return pos


async def read_order(hub: RunningHub, order_id: str) -> dict[str, Any]:
    async with hub.http(Role.CASHIER) as till:
        answer = await till.get(f"/api/v1/orders/{order_id}")
    assert answer.status_code == 200, answer.text
    order: dict[str, Any] = answer.json()["order"]
    return order


async def test_a_waiter_opens_a_table_adds_a_burger_with_its_choice_and_a_note_and_fires(
    hub: RunningHub, browser: Any
) -> None:
    """On the phone: T5 for 3, a burger medium with extra cheese and a note, fired; the hub has it all, T5 is seated."""
    pos = await open_pos(browser, hub)
    page = pos.page
    assert await pos.no_sideways_scroll()
    order_id = await pos.open_table("T5", guests=3)

    await pos.find("burg")
    await page.locator('.mi[data-item-id="burger"]').click()
    sheet = page.locator("#sheet")
    await sheet.locator('.mod-group[data-group="doneness"] input[data-option="medium"]').check()
    await sheet.locator('.mod-group[data-group="add-ons"] input[data-option="cheese"]').check()
    await sheet.locator("#sheet-note").fill("no onions")
    assert await sheet.locator("#sheet-ok").get_attribute("data-minor") == str(BURGER + CHEESE)
    await sheet.locator("#sheet-ok").click()

    line = await pos.wait('.o-line[data-menu-item-id="burger"][data-status="NOT_SENT"]')
    assert await line.locator(".l-mods").inner_text() == "Medium, Extra cheese"
    assert "no onions" in await line.locator(".l-note").inner_text()
    assert await line.locator(".l-total").get_attribute("data-minor") == str(BURGER + CHEESE)
    assert await page.locator("#o-total").get_attribute("data-minor") == str(BURGER + CHEESE)
    assert not await sheet.is_visible()
    assert await in_view(page.locator("#fire")), "FIRE must be on screen without scrolling"
    assert await in_view(page.locator('.mi[data-item-id="burger"]')), "the menu must be on screen"
    assert await pos.no_sideways_scroll()
    await screenshot(pos.screen, "pos-waiter-390x844")

    await page.locator("#fire").click()
    await pos.wait('.o-line[data-menu-item-id="burger"][data-status="PENDING"]')
    order = await read_order(hub, order_id)
    (burger,) = order["items"]
    assert [(m["group"], m["option"], m["name"], m["price_delta"]) for m in burger["modifiers"]] == [
        ("doneness", "medium", "Medium", 0),
        ("add-ons", "cheese", "Extra cheese", CHEESE),
    ]
    assert (burger["notes"], burger["quantity"], burger["sent"], burger["fired"]) == ("no onions", 1, 1, True)
    assert (burger["unit_price"], burger["course"]) == (BURGER + CHEESE, 1)
    assert (order["table_id"], order["guests"], order["opened_by"]) == ("T5", 3, "waiter-1")

    await page.locator("#back").click()
    tile = await pos.wait('#plan .table[data-table-id="T5"][data-status="OCCUPIED"]')
    assert f"#{order['number']}" in await tile.inner_text()
    pos.no_errors()


async def test_the_counter_tablet_shows_menu_and_order_side_by_side_and_holds_a_course(
    hub: RunningHub, browser: Any
) -> None:
    """At 1280x800: fries tapped twice make one line of 2, a lassi in course 2 with a note is held; FIRE sends the fries."""
    pos = await open_pos(browser, hub, Role.CASHIER, size=COUNTER)
    page = pos.page
    order_id = await pos.open_table("T2")

    await page.locator('.cat[data-category="sides"]').click()
    fries = page.locator('.mi[data-item-id="fries"]')
    await fries.click()
    await pos.wait('.o-line[data-menu-item-id="fries"]')
    await fries.click()
    await pos.wait('.o-line[data-menu-item-id="fries"] .l-total[data-minor="29800"]')
    assert await page.locator(".o-line").count() == 1

    await page.locator('.cat[data-category="drinks"]').click()
    await page.locator('.mi-row[data-item-id="lassi"] .mi-more').click()
    sheet = page.locator("#sheet")
    await sheet.locator('.course-pick label:has(input[value="2"])').click()
    await sheet.locator("#sheet-note").fill("less sugar")
    await sheet.locator("#sheet-ok").click()
    await pos.wait('.course[data-course="2"] .o-line[data-menu-item-id="lassi"]')
    await page.locator('.course[data-course="2"] .c-hold').click()
    await pos.wait('.course[data-course="2"] .o-line[data-status="HELD"]')
    assert await page.locator("#fire").inner_text() == "FIRE 2"

    menu, order = page.locator(".menu-pane"), page.locator(".order-pane")
    menu_box, order_box = await menu.bounding_box(), await order.bounding_box()
    assert menu_box["x"] + menu_box["width"] <= order_box["x"], "menu left, order right"
    assert await in_view(page.locator("#fire")) and await in_view(page.locator(".o-actions .a-bill"))
    assert await pos.no_sideways_scroll()
    await screenshot(pos.screen, "pos-counter-1280x800")

    await page.locator("#fire").click()
    await pos.wait('.o-line[data-menu-item-id="fries"][data-status="PENDING"]')
    hub_order = await read_order(hub, order_id)
    lines = {line["menu_item_id"]: line for line in hub_order["items"]}
    assert (lines["fries"]["quantity"], lines["fries"]["sent"]) == (2, 2)
    assert (lines["lassi"]["course"], lines["lassi"]["notes"], lines["lassi"]["sent"]) == (2, "less sugar", 0)
    assert hub_order["held_courses"] == [2]
    pos.no_errors()


async def test_a_ribeye_without_its_required_doneness_is_refused_on_the_sheet_and_nothing_is_added(
    hub: RunningHub, browser: Any
) -> None:
    """ADD without a doneness says "Choose Doneness for Ribeye steak." and sends nothing; with it, one line in course 2."""
    pos = await open_pos(browser, hub)
    page = pos.page
    order_id = await pos.open_table("T1")
    await pos.find("ribeye")
    await page.locator('.mi[data-item-id="ribeye"]').click()
    sheet = page.locator("#sheet")
    doneness = sheet.locator('.mod-group[data-group="doneness"]')
    assert await doneness.get_attribute("data-required") == "true", "the demo's ribeye must need a doneness"
    await sheet.locator("#sheet-ok").click()
    assert await sheet.locator("#sheet-msg").inner_text() == "Choose Doneness for Ribeye steak."
    assert await sheet.locator('.mod-group[data-group="doneness"].missing').count() == 1
    assert await sheet.is_visible()
    assert await page.evaluate("() => window.fireflow.hub.pending.size") == 0  # nothing went to the hub

    # Commands go one at a time: had the refused ADD been sent, it would be on the order before this one.
    await doneness.locator('input[data-option="rare"]').check()
    assert await sheet.locator("#sheet-msg").inner_text() == ""
    await sheet.locator("#sheet-ok").click()
    await pos.wait('.course[data-course="2"] .o-line[data-menu-item-id="ribeye"]')
    order = await read_order(hub, order_id)
    assert [([m["option"] for m in line["modifiers"]], line["course"]) for line in order["items"]] == [(["rare"], 2)]
    pos.no_errors()


async def test_a_price_change_shows_at_once_and_the_line_on_the_order_keeps_its_price(
    hub: RunningHub, browser: Any
) -> None:
    """A manager raises the fries to ₹169 on /manager: the open /pos shows it without a reload; fries added before stay ₹149."""
    pos = await open_pos(browser, hub)
    page = pos.page
    await pos.open_table("T3")
    await pos.find("fries")
    await page.locator('.mi[data-item-id="fries"]').click()
    await pos.wait(f'.o-line[data-menu-item-id="fries"] .l-total[data-minor="{FRIES}"]')
    await page.evaluate("() => { window.notReloaded = true; }")

    office = await open_screen(browser, f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}")
    await office.live()
    await office.page.click('[data-go="menu"]')
    await office.page.locator('.item[data-item-id="fries"] .item-edit').click()
    await office.page.fill("#item-price", "169.00")
    await office.page.click("#item-save")

    await pos.wait('.mi[data-item-id="fries"] .mi-price[data-minor="16900"]')
    assert await page.locator('.mi[data-item-id="fries"] .mi-price').inner_text() == "₹169.00"
    line_total = page.locator('.o-line[data-menu-item-id="fries"] .l-total')
    assert await line_total.get_attribute("data-minor") == str(FRIES)
    assert await page.evaluate("() => window.notReloaded") is True

    # One more fries at the new price is a line of its own, not one more of the old one.
    await page.locator('.mi[data-item-id="fries"]').click()
    await pos.wait('.o-line[data-menu-item-id="fries"] .l-total[data-minor="16900"]')
    assert await page.locator("#o-total").get_attribute("data-minor") == str(FRIES + 16900)
    pos.no_errors()
    assert office.errors == [], office.errors


async def test_order_ready_for_the_waiters_own_order_shows_a_banner_until_dismissed(
    hub: RunningHub, browser: Any
) -> None:
    """Expo bumps the waiter's T5 order: "Table 5 — order #n ready" on the floor, and T5 marked ready, until OK."""
    pos = await open_pos(browser, hub)
    page = pos.page
    order_id = await pos.open_table("T5")
    await pos.find("fries")
    await page.locator('.mi[data-item-id="fries"]').click()
    await pos.wait('.o-line[data-menu-item-id="fries"]')
    await page.locator("#fire").click()
    await pos.wait('.o-line[data-menu-item-id="fries"][data-status="PENDING"]')
    await page.locator("#back").click()
    await pos.wait('#plan .table[data-table-id="T5"][data-status="OCCUPIED"]')

    async with hub.http(Role.EXPO, device="expo-1") as expo:
        await command(expo, "order.bump", {"order_id": order_id})

    banner = await pos.wait(f'#ready .ready-banner[data-order-id="{order_id}"]')
    number = (await read_order(hub, order_id))["number"]
    assert await banner.locator(".rb-open").inner_text() == f"Table 5 — order #{number} ready"
    assert await in_view(banner)
    await pos.wait('#plan .table[data-table-id="T5"].is-ready')
    await screenshot(pos.screen, "pos-ready")
    await banner.locator(".rb-ok").click()
    await page.locator("#ready .ready-banner").wait_for(state="detached", timeout=TIMEOUT_MS)
    pos.no_errors()


async def test_a_takeaway_finds_the_customer_by_phone_and_a_delivery_saves_a_new_one(
    hub: RunningHub, browser: Any
) -> None:
    """A saved customer is found by the phone typed any way and prefilled; a new delivery customer is saved."""
    async with hub.http(Role.CASHIER, device="till-1") as till:
        saved = {
            "name": "Asha Rao",
            "phones": ["+91 98450-12345"],
            "addresses": [{"label": "home", "line": "12 MG Road", "location": {"lat": 12.975, "lon": 77.606}}],
        }
        await command(till, "customer.put", saved)
    pos = await open_pos(browser, hub)
    page = pos.page
    dialog = page.locator("#ask")

    await page.locator("#new-takeaway").click()
    await dialog.locator("#cust-phone").fill("98450 12345")
    await dialog.locator("#cust-find").click()
    await pos.wait('#cust-found:text("Found: Asha Rao")')
    assert await dialog.locator("#cust-name").input_value() == "Asha Rao"
    await dialog.locator("#ask-ok").click()
    takeaway_id = await pos.order_view()
    assert "Asha Rao" in await page.locator("#o-head .where").inner_text()
    order = await read_order(hub, takeaway_id)
    assert (order["type"], order["customer_name"], order["phone"]) == ("TAKEAWAY", "Asha Rao", "98450 12345")

    await page.locator("#back").click()
    await pos.wait(f'#to-go .togo[data-order-id="{takeaway_id}"]')
    await page.locator("#new-delivery").click()
    await dialog.locator("#cust-phone").fill("080 4444 5555")
    await dialog.locator("#cust-phone").press("Enter")
    await pos.wait('#cust-found:text("New customer")')
    await dialog.locator("#cust-name").fill("Ravi K")
    await dialog.locator("#ask-ok").click()
    assert await dialog.locator(".d-msg").inner_text() == "A delivery needs the phone number and the address."
    await dialog.locator("#cust-address").fill("4 Church St")
    assert await dialog.locator("#cust-save").is_checked()
    opened = time.time() * 1000
    await dialog.locator("#ask-ok").click()
    delivery_id = await pos.order_view()
    order = await read_order(hub, delivery_id)
    assert (order["type"], order["address"], order["customer_name"]) == ("DELIVERY", "4 Church St", "Ravi K")
    assert order["location"] is None  # not in the book: no place known
    assert abs(order["promised_at"] - (opened + 45 * 60_000)) < 60_000  # promised in 45 min, the default
    async with hub.http(Role.WAITER) as waiter:
        found = (await waiter.get("/api/v1/customers", params={"phone": "08044445555"})).json()["customers"]
    assert [(c["name"], c["addresses"][0]["line"]) for c in found] == [("Ravi K", "4 Church St")]

    # A saved address with its place: the delivery carries it, promised in the time chosen.
    await page.locator("#back").click()
    await page.locator("#new-delivery").click()
    await dialog.locator("#cust-phone").fill("9845012345")
    await dialog.locator("#cust-find").click()
    await pos.wait('#cust-found:text("Found: Asha Rao")')
    assert await dialog.locator("#cust-address").input_value() == "12 MG Road"
    await dialog.locator("#cust-promise").select_option("30")
    await dialog.locator("#ask-ok").click()
    placed = await read_order(hub, await pos.order_view())
    assert placed["location"] == {"lat": 12.975, "lon": 77.606}
    assert placed["promised_at"] - placed["created_at"] < 31 * 60_000
    pos.no_errors()


async def test_a_stale_version_is_refused_plainly_and_the_page_takes_the_hubs_order(
    hub: RunningHub, browser: Any
) -> None:
    """Another terminal changed the order unseen: + is refused with plain words, the page shows the hub's order."""
    pos = await open_pos(browser, hub)
    page = pos.page
    order_id = await pos.open_table("T4")
    await pos.find("fries")
    await page.locator('.mi[data-item-id="fries"]').click()
    await pos.wait('.o-line[data-menu-item-id="fries"]')
    # As if this page had missed a change: it holds the order one version back.
    await page.evaluate(
        "(id) => { const o = window.fireflow.orders.get(id); window.fireflow.orders.set(id, { ...o, version: o.version - 1 }); }",
        order_id,
    )
    await page.locator('.o-line[data-menu-item-id="fries"] .step.plus').click()
    toast = await pos.wait('#toasts .toast[data-code="VERSION_CONFLICT"]')
    assert await toast.inner_text() == "Someone changed this order at the same moment: check it, then try again."
    current = await read_order(hub, order_id)
    held = await page.evaluate("(id) => window.fireflow.orders.get(id).version", order_id)
    assert held == current["version"] and current["items"][0]["quantity"] == 1
    await page.locator('.o-line[data-menu-item-id="fries"] .step.plus').click()  # now with the right version
    await pos.wait('.o-line[data-menu-item-id="fries"] .l-qty:text("2")')
    pos.no_errors()


async def test_a_kitchen_token_is_told_plainly_it_is_the_wrong_one(hub: RunningHub, browser: Any) -> None:
    """A kitchen screen's token on /pos: the page says it is the wrong token and what is needed."""
    token = hub.token(Role.KITCHEN, device="kds-grill", stations=("grill",))
    screen = await open_screen(browser, f"{hub.url}/pos?token={token}")
    blocked = screen.page.locator("#blocked")
    await blocked.wait_for(timeout=TIMEOUT_MS)
    assert await blocked.locator("h2").inner_text() == "Wrong token for this screen"
    assert "waiter's or cashier's token" in await blocked.locator(".why").inner_text()
    assert await screen.page.locator("#floor").is_hidden()


async def test_an_86d_item_is_struck_through_and_cannot_be_tapped_until_it_is_back(
    hub: RunningHub, browser: Any
) -> None:
    """The kitchen 86s the fries: struck through and disabled at once; available again, tappable again."""
    pos = await open_pos(browser, hub)
    await pos.open_table("T6")
    await pos.find("fries")
    async with hub.http(Role.KITCHEN, device="kds-fry", stations=("fry",)) as kitchen:
        assert (await kitchen.post("/api/v1/menu/fries/86")).status_code == 200
        row = await pos.wait('.mi-row.out[data-item-id="fries"]')
        assert await row.locator(".mi").is_disabled()
        assert "86'D" in await row.inner_text()
        assert (await kitchen.post("/api/v1/menu/fries/available")).status_code == 200
    await pos.wait('.mi-row:not(.out)[data-item-id="fries"] .mi:enabled')
    pos.no_errors()


async def test_the_order_moves_takes_in_another_table_gets_a_note_a_rush_and_its_bill_requested(
    hub: RunningHub, browser: Any
) -> None:
    """At the counter: T6 moves to T8, T7's order joins it, a note and a rush reach the hub, the bill locks T8."""
    async with hub.http(Role.WAITER, device="waiter-2") as waiter:
        opened = await command(waiter, "order.open", {"type": "DINE_IN", "table_id": "T7", "guests": 2})
        other_id = opened["result"]["order"]["id"]
        await command(waiter, "order.add_item", {"order_id": other_id, "menu_item_id": "water"})
    pos = await open_pos(browser, hub, Role.CASHIER, size=COUNTER)
    page = pos.page
    dialog = page.locator("#ask")
    order_id = await pos.open_table("T6")
    await pos.find("fries")
    await page.locator('.mi[data-item-id="fries"]').click()
    await pos.wait('.o-line[data-menu-item-id="fries"]')

    await page.locator(".o-actions .a-move").click()
    await dialog.locator('.pick .table[data-table-id="T8"]').click()
    await pos.wait('#o-head .where:text("Table 8")')
    await page.locator(".o-actions .a-merge").click()
    await dialog.locator('.pick .table[data-table-id="T7"]').click()
    await pos.wait('.o-line[data-menu-item-id="water"]')

    await page.locator(".o-actions .a-note").click()
    await dialog.locator("#note-text").fill("allergy: nuts")
    await dialog.locator("#ask-ok").click()
    await pos.wait('#o-notes li:text("allergy: nuts")')
    await page.locator(".o-actions .a-rush").click()
    await pos.wait("#o-head .badge.rush")
    await page.locator(".o-actions .a-bill").click()
    await pos.wait('.o-actions .a-bill:text("RELEASE BILL")')

    order = await read_order(hub, order_id)
    assert (order["table_id"], order["extra_tables"], order["rush"]) == ("T8", ["T7"], True)
    assert sorted(line["menu_item_id"] for line in order["items"]) == ["fries", "water"]
    assert [note["text"] for note in order["notes"]] == ["allergy: nuts"]
    assert order["bill_lock"] is not None
    await page.locator("#back").click()
    await pos.wait('#plan .table[data-table-id="T8"][data-status="BILL_REQUESTED"]')
    await pos.wait('#plan .table[data-table-id="T6"][data-status="FREE"]')
    pos.no_errors()


async def test_a_choice_made_required_while_the_sheet_is_open_is_refused_by_the_hub_in_plain_words(
    hub: RunningHub, browser: Any
) -> None:
    """The burger's doneness becomes required after its sheet opened: the hub's INVALID_MODIFIERS, said plainly."""
    pos = await open_pos(browser, hub)
    page = pos.page
    order_id = await pos.open_table("T2")
    await pos.find("burger")
    await page.locator('.mi[data-item-id="burger"]').click()
    sheet = page.locator("#sheet")
    await sheet.locator('.mod-group[data-group="doneness"][data-required="false"]').wait_for(timeout=TIMEOUT_MS)

    async with hub.http(Role.MANAGER, device="manager-1") as manager:
        menu = (await manager.get("/api/v1/menu")).json()["menu"]
        burger = next(item for item in menu["items"] if item["id"] == "burger")
        groups = [group | {"required": group["id"] == "doneness" or group["required"]} for group in burger["modifiers"]]
        answer = await manager.put("/api/v1/setup/menu/items", json={"item": burger | {"modifiers": groups}})
        assert answer.status_code == 200, answer.text

    await sheet.locator("#sheet-ok").click()
    await pos.wait('#sheet-msg:text("Choose Doneness for Classic Burger.")')
    assert await sheet.is_visible()
    assert (await read_order(hub, order_id))["items"] == []
    pos.no_errors()


async def test_on_the_phone_the_pairing_form_fits_and_a_refused_token_offers_it_too(
    hub: RunningHub, browser: Any
) -> None:
    """At 390x844 the code box and PAIR are on screen with no sideways scroll; a bad token gets the same way back."""
    for url in (f"{hub.url}/pos", f"{hub.url}/pos?token=not-a-token"):
        screen = await open_screen(browser, url)
        pair = screen.page.locator("#blocked #pair-go")
        await pair.wait_for(timeout=TIMEOUT_MS)
        assert await in_view(screen.page.locator("#blocked #pair-code")) and await in_view(pair), url
        fits = await screen.page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
        assert fits, url
        assert "--restaurant" in await screen.page.locator("#blocked").inner_text() or url.endswith("/pos")
        await screen.page.close()


# Whether an element shows all of its text: nothing cut off (an ellipsis) and all of it inside the screen.
WHOLE = """el => {
    const r = el.getBoundingClientRect();
    return el.scrollWidth <= el.clientWidth && r.left >= 0 && r.right <= innerWidth;
}"""


async def test_on_the_phone_offline_the_title_and_the_connection_state_are_both_whole(
    hub: RunningHub, browser: Any
) -> None:
    """At 390x844 with the hub down long enough to say OFFLINE, neither the title nor the pill is cut short."""
    width, height = PHONE
    context = await browser.new_context(viewport={"width": width, "height": height})
    switch = HubSwitch()
    await switch.attach(context)
    pos = await open_pos(browser, hub, context=context)
    await switch.down()
    await pos.page.wait_for_selector('body[data-conn="offline"]', timeout=4 * TIMEOUT_MS)  # after 5 attempts
    title, conn = pos.page.locator("#title"), pos.page.locator("#conn")
    assert await title.inner_text() == "ORDERS"
    assert (await conn.inner_text()).startswith("OFFLINE")
    await screenshot(pos.screen, "pos-offline-390x844")
    assert await title.evaluate(WHOLE), "the title is cut short"
    assert await conn.evaluate(WHOLE), f"the connection state is cut short: {await conn.get_attribute('title')}"
    assert await pos.no_sideways_scroll()
    pos.no_errors()
