"""The cashier page in a real browser (Debian's Chromium under Playwright): bill, split payment, settle, PIN.

Run: ``.venv/bin/python -m pytest tests/test_browser_cashier.py -q -s`` (``-s`` shows the screenshot paths);
the screenshots go to ``test-artifacts/screenshots/cashier-<what>.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, command, in_view, new_order, open_screen, screenshot
from tests.conftest import RunningHub

NOT_WIRED = ("UNKNOWN_COMMAND", "INTERNAL")
MANAGER_PIN = "1234"  # the test restaurant's PIN for device manager-1


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


class Cashier:
    """The /cashier page and what the tests wait for on it."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.page = screen.page

    def no_errors(self) -> None:
        assert self.screen.errors == [], self.screen.errors

    async def select_table(self, table_id: str) -> None:
        await self.page.locator(f'#map .tile[data-table-id="{table_id}"]').click()

    async def bill_total(self, minor: int) -> None:
        await self.page.locator(f'#bill-total[data-minor="{minor}"]').wait_for(timeout=TIMEOUT_MS)

    async def remaining(self, minor: int) -> str:
        remaining = self.page.locator(f'#remaining[data-minor="{minor}"]')
        await remaining.wait_for(timeout=TIMEOUT_MS)
        text: str = await remaining.inner_text()
        return text

    async def toast_or(self, selector: str) -> str | None:
        """Wait until ``selector`` is there (None) or an error toast says what went wrong (its text)."""
        await self.page.wait_for_function(
            "(sel) => document.querySelector(sel) || document.querySelector('#toasts .toast.error')",
            arg=selector,
            timeout=TIMEOUT_MS,
        )
        if await self.page.locator(selector).count():
            return None
        said: str = await self.page.locator("#toasts .toast.error").first.inner_text()
        return said


async def open_cashier(browser: Any, hub: RunningHub, role: Role = Role.CASHIER) -> Cashier:
    device = "manager-1" if role is Role.MANAGER else "cashier-1"
    screen = await open_screen(browser, f"{hub.url}/cashier?token={hub.token(role, device=device)}")
    await screen.live()
    return Cashier(screen)


def rupees(minor: int) -> str:
    """How the page prints an INR amount below ₹1,000 (en-IN grouping starts at 1,000)."""
    assert 0 <= minor < 100_000
    return f"\u20b9{minor // 100}.{minor % 100:02d}"


async def ready_order(hub: RunningHub, *items: str, **open_fields: Any) -> str:
    """An order opened by a waiter over HTTP, fired, and bumped by expo: every item is ready."""
    async with hub.http(Role.WAITER) as waiter, hub.http(Role.EXPO) as expo:
        order_id = await new_order(waiter, *items, **open_fields)
        await command(waiter, "order.fire", {"order_id": order_id})
        await command(expo, "order.bump", {"order_id": order_id})
    return order_id


async def preview(hub: RunningHub, order_id: str) -> dict[str, Any]:
    async with hub.http(Role.CASHIER) as till:
        answer = await command(till, "bill.preview", {"order_ids": [order_id]})
    result: dict[str, Any] = answer["result"]
    return result


def not_wired(what: str, said: str) -> None:
    if any(code in said for code in NOT_WIRED):
        pytest.fail(f"{what}: the hub does not run it yet (the page says {said!r}); land it in the hub, then rerun")
    pytest.fail(f"{what}: unexpected answer, the page says {said!r}")


async def test_a_bill_split_over_cash_with_change_and_upi_settles_dirties_the_table_and_moves_revenue(
    hub: RunningHub, browser: Any
) -> None:
    """Select T3, see the exact bill, split it over CASH (₹500 for ₹300: ₹200 change) and UPI, settle.

    The remaining amount follows the typing down to ₹0.00; the page shows invoice #1 and the change,
    the table turns DIRTY on the map, the day's revenue moves to the bill total, and CLEAN frees the table.
    """
    cashier = await open_cashier(browser, hub)
    page = cashier.page
    await page.locator('#day-revenue[data-minor="0"]').wait_for(timeout=TIMEOUT_MS)
    order_id = await ready_order(hub, "burger", "mojito", type="DINE_IN", table_id="T3", guests=2)
    total = (await preview(hub, order_id))["bill"]["total"]
    assert total == 34900 + 17900 + 1745 + 3222 + 5280  # the same sums as tests/test_settle.py

    tile = page.locator('#map .tile[data-table-id="T3"]')
    await page.locator('#map .tile[data-table-id="T3"][data-status="OCCUPIED"] .badge.ready').wait_for(
        timeout=TIMEOUT_MS
    )
    await cashier.select_table("T3")
    await cashier.bill_total(total)
    assert await page.locator("#bill-total").inner_text() == rupees(total)
    assert await page.locator("#bill-gross").get_attribute("data-minor") == "52800"
    assert await page.locator("#bill-service").get_attribute("data-minor") == "5280"
    taxes = {
        await t.get_attribute("data-code"): await t.locator("b").inner_text()
        for t in await page.locator(".sums .tax").all()
    }
    assert taxes == {"GST5": rupees(1745), "GST18": rupees(3222)}, taxes
    lines = page.locator("#d-lines li")
    assert await lines.count() == 2
    assert {await line.get_attribute("data-status") for line in await lines.all()} == {"DONE"}
    assert "Classic Burger" in await lines.first.inner_text()
    await screenshot(cashier.screen, "cashier-bill")

    # CASH: ₹300.00 of the bill, ₹500.00 handed over.
    await page.locator("#d-pay button.add-cash").click()
    cash = page.locator('.tender[data-method="CASH"]')
    await cash.locator("input.amount").fill("300")
    assert await cashier.remaining(total - 30000) == rupees(total - 30000)
    await cash.locator("input.received").fill("500.00")
    await page.locator('#change[data-minor="20000"]').wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#change").inner_text() == rupees(20000)
    assert await cash.locator(".row-change").inner_text() == f"change {rupees(20000)}"

    # UPI: prefilled with what is left; typed again by hand, the remaining follows each key.
    await page.locator("#d-pay button.add-upi").click()
    upi = page.locator('.tender[data-method="UPI"]')
    amount = upi.locator("input.amount")
    assert await amount.input_value() == "330.47"
    await cashier.remaining(0)
    await amount.fill("")
    await cashier.remaining(total - 30000)
    assert await page.locator("#settle").is_disabled()  # an empty tender: nothing to settle yet
    await amount.press_sequentially("330.4")
    assert await cashier.remaining(7) == rupees(7)
    assert await page.locator("#settle").inner_text() == f"TAKE PART PAYMENT {rupees(total - 7)}"
    await amount.press_sequentially("7")
    assert await cashier.remaining(0) == rupees(0)
    await upi.locator("input.reference").fill("UPI-4471")
    settle = page.locator("#settle")
    assert await settle.inner_text() == f"SETTLE {rupees(total)}"
    await settle.click()

    await page.locator("#receipt").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#invoice-number").inner_text() == "Invoice #1"
    assert await page.locator("#receipt-change").get_attribute("data-minor") == "20000"
    assert rupees(20000) in await page.locator("#receipt-change").inner_text()
    await page.locator('#map .tile[data-table-id="T3"][data-status="DIRTY"]').wait_for(timeout=TIMEOUT_MS)
    assert "DIRTY" in await tile.inner_text()
    await page.locator(f'#day-revenue[data-minor="{total}"]').wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#day-revenue").inner_text() == rupees(total)
    assert await page.locator("#day-invoices").inner_text() == "1"
    assert await page.locator("#day-method-CASH").get_attribute("data-minor") == "30000"
    assert await page.locator("#day-method-UPI").get_attribute("data-minor") == str(total - 30000)
    await screenshot(cashier.screen, "cashier-settled")

    async with hub.http(Role.CASHIER) as till:
        order = (await till.get(f"/api/v1/orders/{order_id}")).json()["order"]
    assert (order["status"], order["payment_status"], order["paid"], order["invoice_number"]) == (
        "CLOSED", "PAID", total, 1,
    )  # fmt: skip

    await page.locator("#clean").click()
    await page.locator('#map .tile[data-table-id="T3"][data-status="FREE"]').wait_for(timeout=TIMEOUT_MS)
    cashier.no_errors()


async def test_a_takeaway_still_cooking_is_paid_first_from_the_keyboard(hub: RunningHub, browser: Any) -> None:
    """A takeaway beside the map, its burger still cooking, is paid first: it settles at once, no guidance, no force.

    Driven from the keyboard (3 adds a CARD tender prefilled with the due, Enter settles); the index links
    /cashier, a reload keeps the token, and typed amounts are read into integer minor units.
    """
    async with httpx.AsyncClient(base_url=hub.url) as http:
        assert 'href="/cashier"' in (await http.get("/")).text
    cashier = await open_cashier(browser, hub)
    page = cashier.page
    assert "token=" not in page.url
    await page.reload()
    await cashier.screen.live()

    parsed = await page.evaluate(
        """async () => {
            const m = await import('/static/money.js');
            return ['123.45', '300', '0.05', '1,23,456.7', '₹ 12', '-5', '1.234', '.', '', 'abc']
                .map((t) => { const v = m.parseAmount(t, 2); return v === null ? 'null' : Number.isNaN(v) ? 'NaN' : v; });
        }"""
    )
    assert parsed == [12345, 30000, 5, 12345670, 1200, "NaN", "NaN", "NaN", "null", "NaN"], parsed

    async with hub.http(Role.WAITER) as waiter:
        order_id = await new_order(waiter, "burger", "water", customer_name="Asha")
        await command(waiter, "order.fire", {"order_id": order_id})
    due = (await preview(hub, order_id))["due"]
    entry = page.locator(f'#to-go .togo[data-order-id="{order_id}"]')
    await entry.wait_for(timeout=TIMEOUT_MS)
    assert "TAKEAWAY" in await entry.inner_text() and "Asha" in await entry.inner_text()
    await entry.focus()
    await page.keyboard.press("Enter")
    await cashier.bill_total(due)
    await page.locator('#d-lines li[data-status="PENDING"]', has_text="Classic Burger").wait_for(timeout=TIMEOUT_MS)

    await page.keyboard.press("3")  # the focus is still on the order's entry, off the inputs
    card = page.locator('.tender[data-method="CARD"]')
    await card.wait_for(timeout=TIMEOUT_MS)
    await cashier.remaining(0)
    await card.locator("input.reference").fill("auth-991")
    await card.locator("input.reference").press("Enter")

    await page.locator("#receipt").wait_for(timeout=TIMEOUT_MS)  # counter orders are paid first, then cooked
    assert await page.locator("#guidance").count() == 0
    assert await page.locator("#invoice-number").inner_text() == "Invoice #1"
    await entry.wait_for(state="detached", timeout=TIMEOUT_MS)
    await page.locator(f'#day-revenue[data-minor="{due}"]').wait_for(timeout=TIMEOUT_MS)
    cashier.no_errors()


async def test_a_discount_over_the_limit_asks_for_a_manager_pin_and_the_bill_follows(
    hub: RunningHub, browser: Any
) -> None:
    """₹20 off a line applies at once; 15% off the order asks for a PIN: a wrong one is refused, 1234 approves.

    Needs order.discount and the test restaurant's manager PIN in the hub.
    """
    cashier = await open_cashier(browser, hub)
    page = cashier.page
    order_id = await ready_order(hub, "burger", "fries", type="DINE_IN", table_id="T5", guests=3)
    await page.locator('#map .tile[data-table-id="T5"] .badge.ready').wait_for(timeout=TIMEOUT_MS)
    await cashier.select_table("T5")
    await cashier.bill_total((await preview(hub, order_id))["bill"]["total"])

    # Within the limit: no PIN.
    await page.locator("#disc-kind").select_option("AMOUNT")
    await page.locator("#disc-value").fill("20")
    await page.locator("#disc-line").select_option(label="1\u00d7 Classic Burger")
    await page.locator("#disc-reason").fill("cold fries")
    await page.locator("#disc-apply").click()
    said = await cashier.toast_or('#bill-discount[data-minor="-2000"]')
    if said is not None:
        not_wired("order.discount", said)
    assert not await page.locator("#pin-dialog").evaluate("(d) => d.open")

    # Over the limit: PIN_REQUIRED, then WRONG_PIN, then approved.
    await page.locator("#disc-kind").select_option("PERCENT")
    await page.locator("#disc-value").fill("15")
    await page.locator("#disc-line").select_option(label="whole order")
    await page.locator("#disc-reason").fill("regular guest")
    await page.locator("#disc-apply").click()
    said = await cashier.toast_or("#pin-dialog[open]")
    if said is not None:
        not_wired("order.discount over 10% (PIN_REQUIRED expected)", said)
    pin = page.locator("#pin-input")
    assert await pin.get_attribute("type") == "password"
    await pin.press_sequentially("00a00")  # digits only
    assert await pin.input_value() == "0000"
    await page.locator("#pin-ok").click()
    await page.locator("#pin-msg", has_text="Wrong PIN").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#pin-dialog").evaluate("(d) => d.open")
    await screenshot(cashier.screen, "cashier-pin")
    await pin.fill(MANAGER_PIN)
    await pin.press("Enter")
    await page.locator("#pin-dialog").wait_for(state="hidden", timeout=TIMEOUT_MS)

    expected = await preview(hub, order_id)
    bill = expected["bill"]
    assert bill["discount"] > 2000
    await page.locator(f'#bill-discount[data-minor="{-bill["discount"]}"]').wait_for(timeout=TIMEOUT_MS)
    await cashier.bill_total(bill["total"])
    listed = page.locator("#disc-list li")
    assert await listed.count() == 2
    assert "15%" in await listed.nth(1).inner_text()
    await screenshot(cashier.screen, "cashier-discount")
    cashier.no_errors()


async def test_request_bill_marks_the_table_and_release_frees_it(hub: RunningHub, browser: Any) -> None:
    """REQUEST BILL turns the table BILL REQUESTED on the map; B (release) turns it back to OCCUPIED.

    Needs bill.request and bill.release in the hub.
    """
    cashier = await open_cashier(browser, hub)
    page = cashier.page
    async with hub.http(Role.WAITER) as waiter:
        await new_order(waiter, "lassi", type="DINE_IN", table_id="T6", guests=2)
    await page.locator('#map .tile[data-table-id="T6"][data-status="OCCUPIED"]').wait_for(timeout=TIMEOUT_MS)
    await cashier.select_table("T6")
    await page.locator("#bill-toggle", has_text="REQUEST BILL").click()
    said = await cashier.toast_or('#map .tile[data-table-id="T6"][data-status="BILL_REQUESTED"]')
    if said is not None:
        not_wired("bill.request", said)
    assert "BILL REQUESTED" in await page.locator('#map .tile[data-table-id="T6"]').inner_text()
    await page.locator("#bill-toggle", has_text="RELEASE BILL").wait_for(timeout=TIMEOUT_MS)
    await screenshot(cashier.screen, "cashier-bill-requested")
    await page.locator("#map .tile[data-table-id='T6']").focus()
    await page.keyboard.press("b")
    said = await cashier.toast_or('#map .tile[data-table-id="T6"][data-status="OCCUPIED"]')
    if said is not None:
        not_wired("bill.release", said)
    await page.locator("#bill-toggle", has_text="REQUEST BILL").wait_for(timeout=TIMEOUT_MS)
    cashier.no_errors()


# The smallest text on screen, in CSS pixels (what is hidden or empty does not count).
SMALLEST_TEXT = """() => {
    let smallest = Infinity;
    for (const el of document.querySelectorAll("body *")) {
        const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
        if (!own || !el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
        smallest = Math.min(smallest, parseFloat(getComputedStyle(el).fontSize));
    }
    return smallest;
}"""


async def test_at_1366x768_the_map_the_takeaways_the_total_and_settle_are_all_in_view(
    hub: RunningHub, browser: Any
) -> None:
    """On a 1366x768 till every table, every takeaway, the total and SETTLE are in view unscrolled; no text under 15px."""
    cashier = await open_cashier(browser, hub)
    page = cashier.page
    assert await page.evaluate("() => [innerWidth, innerHeight]") == [1366, 768]
    await ready_order(hub, "burger", "mojito", type="DINE_IN", table_id="T3", guests=2)
    async with hub.http(Role.WAITER) as waiter:
        names = ("Asha", "Bilal", "Chen")
        takeaways = [await new_order(waiter, "burger", "fries", "water", customer_name=name) for name in names]
        for order_id in takeaways:
            await command(waiter, "order.fire", {"order_id": order_id})
    chosen = takeaways[-1]
    entry = page.locator(f'#to-go .togo[data-order-id="{chosen}"]')
    await entry.click(timeout=TIMEOUT_MS)
    await cashier.bill_total((await preview(hub, chosen))["bill"]["total"])
    await page.locator("#d-pay button.add-cash").click()
    await cashier.remaining(0)
    await screenshot(cashier.screen, "cashier-1366x768")

    tiles = await page.locator("#map .tile").all()
    assert len(tiles) == 12
    for tile in tiles:
        assert await in_view(tile), await tile.get_attribute("data-table-id")
    for order_id in takeaways:
        assert await in_view(page.locator(f'#to-go .togo[data-order-id="{order_id}"]')), order_id
    for what in ("#bill-total", "#remaining", "#settle"):
        assert await in_view(page.locator(what)), what
    assert await page.locator("#settle").is_enabled()
    assert await page.evaluate("() => document.scrollingElement.scrollHeight <= innerHeight")
    smallest = await page.evaluate(SMALLEST_TEXT)
    assert smallest >= 15, f"text at {smallest}px"
    cashier.no_errors()
