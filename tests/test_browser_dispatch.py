"""The dispatch page in a real browser (Debian's Chromium under Playwright) at a laptop's 1366x768.

Three ready delivery orders wait; the dispatcher ticks them and assigns them to rider-1 in one batch; the
rider (a test client) picks up, delivers one and fails another, and the page follows live; "Back at the
restaurant" puts the failed one back in the waiting list; a refusal shows the hub's own reason.

Run: ``.venv/bin/python -m pytest tests/test_browser_dispatch.py -q -s`` (``-s`` shows the screenshot paths);
the screenshots go to ``test-artifacts/screenshots/dispatch-<what>.png``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, Screen, chromium, command, in_view, new_order, open_screen, screenshot
from tests.conftest import WAIT, RunningHub

LAPTOP = (1366, 768)
# Hold back the page's incoming events (acks and pings still pass), as a slow link would; release() delivers them.
HOLD_EVENTS = """() => {
    const ws = window.fireflow.hub.ws;
    const pass = ws.onmessage;
    const held = [];
    ws.onmessage = (m) => (JSON.parse(m.data).op === "event" ? held.push(m) : pass(m));
    window.releaseEvents = () => { ws.onmessage = pass; held.forEach((m) => pass(m)); };
}"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def delivery_order(hub: RunningHub, n: int, *, ready: bool = True) -> str:
    """A delivery order for customer ``n`` with a burger, fired, and bumped READY by expo when ``ready``."""
    async with hub.http(Role.WAITER) as waiter, hub.http(Role.EXPO) as expo:
        order_id = await new_order(
            waiter,
            "burger",
            type="DELIVERY",
            phone=f"555030{n}",
            address=f"{n} Dispatch Lane",
            customer_name=f"Guest {n}",
        )
        await command(waiter, "order.fire", {"order_id": order_id})
        if ready:
            await command(expo, "order.bump", {"order_id": order_id})
    return order_id


async def assigned_in_order(rider: HubClient, count: int) -> list[dict[str, Any]]:
    """The next ``count`` DELIVERY_ASSIGNED orders the rider is told of, in the order they came."""

    async def wait() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while len(got) < count:
            event = await rider.events.get()
            if event["type"] == "DELIVERY_ASSIGNED":
                got.append(event["data"]["order"])
        return got

    return await asyncio.wait_for(wait(), WAIT)


def row(order_id: str, state: str | None = None, rider: str = "rider-1") -> str:
    """A rider's order on the page (in ``state`` when given)."""
    st = f'[data-state="{state}"]' if state else ""
    return f'.rider[data-rider="{rider}"] .r-order[data-order-id="{order_id}"]{st}'


def waiting(order_id: str) -> str:
    return f'#waiting .w-order[data-order-id="{order_id}"]'


async def open_dispatch(browser: Any, hub: RunningHub) -> Screen:
    url = f"{hub.url}/dispatch?token={hub.token(Role.DISPATCHER, device='dispatch-1')}"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    return screen


async def test_three_orders_go_out_as_one_batch_and_the_page_follows_the_rider(hub: RunningHub, browser: Any) -> None:
    """Tick three, assign to rider-1 (told in that order); picked up, one delivered, one failed, brought back."""
    screen = await open_dispatch(browser, hub)
    page = screen.page
    first, second, third = [await delivery_order(hub, n) for n in (1, 2, 3)]
    cooking = await delivery_order(hub, 4, ready=False)
    for order_id in (first, second, third):
        await page.locator(waiting(order_id)).wait_for(timeout=TIMEOUT_MS)
    assert "Guest 2" in await page.locator(waiting(second)).inner_text()
    assert "2 Dispatch Lane" in await page.locator(waiting(second)).inner_text()
    await page.locator(f"{waiting(cooking)} .badge.cooking").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator(f"{waiting(first)} .badge.cooking").count() == 0
    assert "CASH ON DELIVERY" in await page.locator(f"{waiting(first)} .collect").inner_text()
    await page.reload()  # a snapshot now: the hub says what each waiting order's rider will collect
    collect = page.locator(f"{waiting(first)} .collect[data-minor]")
    await collect.wait_for(timeout=TIMEOUT_MS)
    due_shown = int(await collect.get_attribute("data-minor") or 0)
    assert (await collect.inner_text()).startswith("COLLECT ₹")

    rider = await hub.client(Role.RIDER, device="rider-1")
    await rider.subscribe("rider:rider-1")
    await page.locator("#rider-id").fill("rider-1")
    await page.locator("#rider-add").click()
    for order_id in (third, first, second):  # ticked in this order: the rider's stops
        await page.locator(f"{waiting(order_id)} input.pick").check()
    assign = page.locator('button.assign[data-rider="rider-1"]')
    assert await assign.inner_text() == "Assign 3 to rider-1"
    assert await in_view(assign), "the main action is on screen at 1366x768 without scrolling"
    await screenshot(screen, "dispatch-picked")
    await assign.click()

    told = await assigned_in_order(rider, 3)
    assert [o["id"] for o in told] == [third, first, second]
    assert [o["delivery"]["stop"] for o in told] == [1, 2, 3]
    assert len({o["delivery"]["batch"] for o in told}) == 1
    await page.locator(row(second)).wait_for(timeout=TIMEOUT_MS)
    shown = [
        await r.get_attribute("data-order-id")
        for r in await page.locator('.rider[data-rider="rider-1"] .r-order').all()
    ]
    assert shown == [third, first, second], shown
    for order_id in (third, first, second):
        assert await page.locator(waiting(order_id)).count() == 0
    cod = told[1]["delivery"]["cod"]
    assert cod > 0 and cod == due_shown
    await page.locator(f'{row(first)} .collect[data-minor="{cod}"]').wait_for(timeout=TIMEOUT_MS)

    for order_id in (third, first, second):
        await rider.command("delivery.pickup", {"order_id": order_id})
    await page.locator(row(third, "OUT_FOR_DELIVERY")).wait_for(timeout=TIMEOUT_MS)
    await rider.command("delivery.deliver", {"order_id": first, "collected": cod})
    await rider.command("delivery.fail", {"order_id": second, "reason": "nobody home"})
    await page.locator(row(first, "DELIVERED")).wait_for(timeout=TIMEOUT_MS)
    failed = page.locator(row(second, "FAILED"))
    await failed.wait_for(timeout=TIMEOUT_MS)
    assert "nobody home" in await failed.locator(".reason").inner_text()
    assert "OUT FOR DELIVERY" in await page.locator(row(third)).inner_text()
    await screenshot(screen, "dispatch-live")

    back = failed.locator("button.back")
    assert await back.inner_text() == "Back at the restaurant"
    await back.click()
    await page.locator(f"{waiting(second)} .badge.returned").wait_for(timeout=TIMEOUT_MS)
    await page.locator(row(second)).wait_for(state="detached", timeout=TIMEOUT_MS)
    assert screen.errors == [], screen.errors


async def test_a_refused_assignment_shows_the_hubs_reason(hub: RunningHub, browser: Any) -> None:
    """Another dispatcher sends the order out first (this page has not heard yet): the page says where it is."""
    screen = await open_dispatch(browser, hub)
    page = screen.page
    order_id = await delivery_order(hub, 1)
    await page.locator(waiting(order_id)).wait_for(timeout=TIMEOUT_MS)
    await page.locator("#rider-id").fill("rider-1")
    await page.locator("#rider-add").click()
    await page.locator(f"{waiting(order_id)} input.pick").check()

    await page.evaluate(HOLD_EVENTS)
    other, rider = (
        await hub.client(Role.DISPATCHER, device="dispatch-2"),
        await hub.client(Role.RIDER, device="rider-2"),
    )
    await other.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-2"})
    await rider.command("delivery.pickup", {"order_id": order_id})
    await page.locator('button.assign[data-rider="rider-1"]').click()
    said = page.locator('#toasts .toast.error[data-code="INVALID_STATE"]')
    await said.wait_for(timeout=TIMEOUT_MS)
    text = await said.inner_text()
    assert "OUT_FOR_DELIVERY with rider-2" in text, text
    await screenshot(screen, "dispatch-refused")

    await page.evaluate("() => window.releaseEvents()")
    await page.locator(row(order_id, "OUT_FOR_DELIVERY", rider="rider-2")).wait_for(timeout=TIMEOUT_MS)
    assert await page.locator(waiting(order_id)).count() == 0
    assert screen.errors == [], screen.errors


async def test_a_token_of_another_role_is_told_plainly(hub: RunningHub, browser: Any) -> None:
    """A kitchen token on /dispatch: the page says it needs a dispatcher's token, and subscribes to nothing."""
    url = f"{hub.url}/dispatch?token={hub.token(Role.KITCHEN, stations=('grill',), device='kds-grill')}"
    screen = await open_screen(browser, url, size=LAPTOP)
    blocked = screen.page.locator('#blocked[data-kind="role"]')
    await blocked.wait_for(timeout=TIMEOUT_MS)
    assert "dispatcher" in await blocked.inner_text()


async def test_with_no_delivery_waiting_the_suggestions_say_there_is_no_batch(hub: RunningHub, browser: Any) -> None:
    """No delivery waits: the hub's empty answer replaces "Asking the hub…" with "No batch to suggest right now"."""
    screen = await open_dispatch(browser, hub)
    said = screen.page.locator("#suggestions .s-empty", has_text="No batch to suggest right now")
    await said.wait_for(timeout=TIMEOUT_MS)
    assert "Asking the hub" not in await screen.page.locator("#suggestions").inner_text()
    assert screen.errors == [], screen.errors
