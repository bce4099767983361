"""The back office's item form edits an item's choices (modifier groups), in a real browser at 1366x768.

Run: ``.venv/bin/python -m pytest tests/test_browser_manager_modifiers.py -q -s`` (``-s`` shows the screenshot
path); the screenshot goes to ``test-artifacts/screenshots/manager-modifiers-1366x768.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import RunningHub

LAPTOP = (1366, 768)
TOUCH_PX = 44
SMALLEST_TEXT_PX = 15
# Counts the commands the page sends from now on (window.sent), without changing what it sends.
WATCH_COMMANDS = """() => {
    const hub = window.fireflow.hub;
    const command = hub.command.bind(hub);
    window.sent = [];
    hub.command = (type, data, id) => (window.sent.push(type), command(type, data, id));
}"""
# The smallest height of the choices' controls and the smallest font size in the item form, in px.
SIZES = """() => {
    const form = document.getElementById("item-form");
    const controls = form.querySelectorAll("#item-choices button, #item-choices input:not([type=checkbox]), #item-choices label.check");
    const texts = [...form.querySelectorAll("*")].filter((el) => el.closest(".sr") === null && [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()));
    return {
        controls: controls.length,
        height: Math.min(...[...controls].map((el) => el.getBoundingClientRect().height)),
        font: Math.min(...[...texts, ...form.querySelectorAll("input")].map((el) => parseFloat(getComputedStyle(el).fontSize))),
    };
}"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def open_menu(browser: Any, hub: RunningHub) -> Screen:
    """/manager as manager-1 at 1366x768, live, on its Menu section."""
    screen = await open_screen(
        browser, f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}", size=LAPTOP
    )
    await screen.live()
    await screen.page.click('[data-go="menu"]')
    await screen.page.locator("#sec-menu:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    return screen


async def menu_item(hub: RunningHub, item_id: str) -> tuple[int, dict[str, Any] | None]:
    """The menu's version and the item as the hub holds it (GET /api/v1/menu/stock)."""
    async with hub.http(Role.MANAGER, device="manager-1") as http:
        response = await http.get("/api/v1/menu/stock")
    assert response.status_code == 200, response.text
    body = response.json()
    found = [item for item in body["items"] if item["id"] == item_id]
    return body["version"], found[0] if found else None


async def add_group(
    page: Any, name: str, options: list[tuple[str, str]], *, up_to: int = 1, required: bool = False
) -> None:
    """Add a group on the form and type it in, reaching each control by its label as a screen reader would."""
    await page.click("#group-add")
    group = page.locator("#groups .group").last
    await group.get_by_label("Group name").fill(name)
    await group.get_by_label("Up to").fill(str(up_to))
    if required:
        await group.get_by_label("Required").check()
    for n, (option, delta) in enumerate(options, start=1):
        if n > 1:
            await group.get_by_role("button", name=f"Add an option to {name}").click()
        await group.get_by_label(f"{name}: option {n}", exact=True).fill(option)
        await group.get_by_label(f"{name}: option {n} price change", exact=True).fill(delta)


async def save_and_wait(page: Any, hub: RunningHub, version: int) -> int:
    """Press SAVE ITEM and wait until the page shows the menu's next version; returns it."""
    await page.click("#item-save")
    await page.locator(f'#menu-version:text-is("version {version + 1}")').wait_for(timeout=TIMEOUT_MS)
    return version + 1


def option(id_: str, name: str, price_delta: int = 0) -> dict[str, Any]:
    return {"id": id_, "name": name, "price_delta": price_delta}


DONENESS = {
    "id": "doneness",
    "name": "Doneness",
    "required": True,
    "max_choices": 1,
    "options": [option("rare", "Rare"), option("medium", "Medium"), option("well-done", "Well done")],
}
SIDES = {
    "id": "sides",
    "name": "Sides",
    "required": False,
    "max_choices": 2,
    "options": [option("fries", "Fries"), option("truffle-mash", "Truffle mash", 5000)],
}


async def test_a_new_items_choices_are_saved_whole_edited_and_a_group_without_options_is_refused(
    hub: RunningHub, browser: Any
) -> None:
    """Steak with Doneness (required) and Sides (up to 2, +50.00) saves field by field; an option removed saves; an
    emptied group is refused in plain words and nothing is sent."""
    screen = await open_menu(browser, hub)
    page = screen.page
    version, before = await menu_item(hub, "steak")
    assert before is None
    await page.click("#item-new")
    await page.fill("#item-name", "Steak")
    await page.fill("#item-price", "899.00")
    await page.fill("#item-course", "2")
    await add_group(page, "Doneness", [("Rare", ""), ("Medium", "+0"), ("Well done", "")], required=True)
    await add_group(page, "Sides", [("Fries", ""), ("Truffle mash", "+50.00")], up_to=2)
    assert await in_view(page.locator("#item-save")), "SAVE ITEM scrolled out of view"
    sizes = await page.evaluate(SIZES)
    assert sizes["controls"] >= 10 and sizes["height"] >= TOUCH_PX, sizes
    assert sizes["font"] >= SMALLEST_TEXT_PX, sizes
    await screenshot(screen, "manager-modifiers-1366x768")

    version = await save_and_wait(page, hub, version)
    await page.locator('.item[data-item-id="steak"]').wait_for(timeout=TIMEOUT_MS)
    now, steak = await menu_item(hub, "steak")
    assert now == version and steak is not None
    assert (steak["name"], steak["price"], steak["default_course"]) == ("Steak", 89900, 2)
    assert steak["modifiers"] == [DONENESS, SIDES]

    await page.click("#item-new")
    await page.locator('.item[data-item-id="steak"] .item-edit').click()
    await page.locator('#item-choices[data-groups="2"]').wait_for(timeout=TIMEOUT_MS)
    doneness = page.get_by_role("group", name="Choices: Doneness")
    assert await doneness.get_by_label("Doneness: option 2", exact=True).input_value() == "Medium"
    assert await doneness.get_by_label("Required").is_checked()
    sides = page.get_by_role("group", name="Choices: Sides")
    assert await sides.get_by_label("Sides: option 2 price change").input_value() == "50.00"
    await doneness.get_by_role("button", name="Remove Doneness option 2").click()
    version = await save_and_wait(page, hub, version)
    _, steak = await menu_item(hub, "steak")
    assert steak is not None
    assert steak["modifiers"] == [
        DONENESS | {"options": [option("rare", "Rare"), option("well-done", "Well done")]},
        SIDES,
    ]

    await page.evaluate(WATCH_COMMANDS)
    await sides.get_by_role("button", name="Remove Sides option 2").click()
    await sides.get_by_role("button", name="Remove Sides option 1").click()
    await page.click("#item-save")
    problem = page.locator("#item-problem:not([hidden])")
    await problem.wait_for(timeout=TIMEOUT_MS)
    assert await problem.inner_text() == "“Sides” has no option: add at least one, or remove the group."
    assert await in_view(problem) and await in_view(page.locator("#item-save"))
    assert await page.evaluate("() => window.sent") == []
    now, kept = await menu_item(hub, "steak")
    assert (now, kept) == (version, steak)
    assert screen.errors == [], screen.errors


async def test_a_price_change_that_is_not_a_number_and_too_many_choices_are_told_before_sending(
    hub: RunningHub, browser: Any
) -> None:
    """A delta of "abc", then "up to 3" of one option, are said plainly and not sent; "-10" saves as -1000."""
    screen = await open_menu(browser, hub)
    page = screen.page
    version, _ = await menu_item(hub, "salad-bowl")
    await page.click("#item-new")
    await page.fill("#item-name", "Salad bowl")
    await page.fill("#item-price", "250")
    await add_group(page, "Dressing", [("Oil", "abc")], up_to=3)
    await page.evaluate(WATCH_COMMANDS)
    problem = page.locator("#item-problem:not([hidden])")

    await page.click("#item-save")
    await problem.wait_for(timeout=TIMEOUT_MS)
    assert await problem.inner_text() == (
        "The price change of “Oil” in “Dressing” is not a number: type it like 50.00 or -10.00,"
        " or leave it empty for no change."
    )
    delta = page.get_by_label("Dressing: option 1 price change", exact=True)
    assert await delta.get_attribute("aria-invalid") == "true"
    await delta.fill("-10")  # typing again clears the problem
    await page.locator("#item-problem[hidden]").wait_for(state="attached", timeout=TIMEOUT_MS)

    await page.click("#item-save")
    await problem.wait_for(timeout=TIMEOUT_MS)
    assert await problem.inner_text() == (
        "“Dressing” lets a guest choose up to 3 but has only 1 option: add options, or lower “Up to”."
    )
    assert await page.evaluate("() => window.sent") == []
    assert (await menu_item(hub, "salad-bowl")) == (version, None)

    await page.get_by_label("Up to").fill("1")
    await save_and_wait(page, hub, version)
    assert await page.evaluate("() => window.sent") == ["setup.menu_item.put"]
    _, bowl = await menu_item(hub, "salad-bowl")
    assert bowl is not None
    assert bowl["modifiers"] == [
        {
            "id": "dressing",
            "name": "Dressing",
            "required": False,
            "max_choices": 1,
            "options": [option("oil", "Oil", -1000)],
        }
    ]
    assert screen.errors == [], screen.errors
