"""The rider's phone (/rider) sharing its location and showing its cash, in Chromium at 390x844.

Geolocation is Chromium's own, emulated by Playwright (``set_geolocation``), permission granted or
not. The fixes are seen where they matter: a dispatcher's socket (``positions`` frames).
Run: ``.venv/bin/python -m pytest tests/test_browser_rider_position.py -q -s`` (``-s`` shows the
screenshot path, ``test-artifacts/screenshots/rider-position.png``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from tests.browser import PHONE, TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub
from tests.helpers import event_about, ready_delivery

HOME = {"latitude": 12.9716, "longitude": 77.5946, "accuracy": 8}
MIN_GAP = 5.0  # s: the page sends at most one fix per 5 s (clients/web/rider_position.js)
METRE = 1 / 111_195  # degrees of latitude in a metre


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


def north(metres: float, of: dict[str, float] = HOME) -> dict[str, float]:
    return {**of, "latitude": of["latitude"] + metres * METRE}


async def open_rider(browser: Any, hub: RunningHub, *, located: bool = True) -> Screen:
    """The rider-1 page on a phone, at HOME, with the geolocation permission granted (or not)."""
    context = await browser.new_context(
        viewport={"width": PHONE[0], "height": PHONE[1]},
        is_mobile=True,
        has_touch=True,
        service_workers="allow",
        geolocation=HOME,
        permissions=["geolocation"] if located else [],
    )
    screen = await open_screen(
        browser, f"{hub.url}/rider?token={hub.token(Role.RIDER, device='rider-1')}", context=context
    )
    await screen.live()
    return screen


async def dispatcher(hub: RunningHub) -> HubClient:
    client = await hub.client(Role.DISPATCHER)
    await client.subscribe("dispatch")
    return client


async def next_fix(client: HubClient, timeout: float, rider: str = "rider-1") -> dict[str, Any]:
    """The next fix of ``rider`` the dispatcher is told of, within ``timeout`` s (else TimeoutError)."""

    async def wait() -> dict[str, Any]:
        while True:
            frame = await client.positions.get()
            for found in frame["riders"]:
                if found["rider"] == rider:
                    return dict(found)

    return await asyncio.wait_for(wait(), timeout)


async def none_within(client: HubClient, timeout: float) -> None:
    """No fix of rider-1 reaches the dispatcher within ``timeout`` s."""
    with pytest.raises(TimeoutError):
        await next_fix(client, timeout)


def at(fix: dict[str, Any], where: dict[str, float]) -> bool:
    return bool(abs(fix["lat"] - where["latitude"]) < 1e-9 and abs(fix["lon"] - where["longitude"]) < 1e-9)


async def where_says(screen: Screen, state: str) -> str:
    line = screen.page.locator(f'#where[data-state="{state}"]')
    await line.wait_for(timeout=TIMEOUT_MS)
    text: str = await line.inner_text()
    return text


async def sent(screen: Screen) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await screen.page.evaluate("() => window.fireflow.positions.sent")
    return found


async def test_an_out_for_delivery_rider_sends_fixes_throttled_by_time_and_distance(
    hub: RunningHub, browser: Any
) -> None:
    """Picked up: the fix reaches dispatch; 3 m moved sends nothing in 5 s; 200 m sends, the next 200 m only 5 s later;
    delivered, nothing is sent."""
    order_id = await ready_delivery(hub, 1, prepaid=True)
    dispatch = await dispatcher(hub)
    await dispatch.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"})
    screen = await open_rider(browser, hub)
    page = screen.page
    await page.locator(f'.stop[data-order-id="{order_id}"] button.pickup').click()
    await page.locator(f'.stop[data-order-id="{order_id}"][data-status="OUT_FOR_DELIVERY"]').wait_for(
        timeout=TIMEOUT_MS
    )

    first = await next_fix(dispatch, WAIT)
    assert at(first, HOME) and first["accuracy"] == HOME["accuracy"]
    assert await where_says(screen, "sharing") == "Sharing location"
    assert await in_view(page.locator("#where"))

    await page.context.set_geolocation(north(3))  # a few metres: not news
    await none_within(dispatch, MIN_GAP)
    assert len(await sent(screen)) == 1

    far = north(200)
    await page.context.set_geolocation(far)  # 5 s since the last: goes at once
    moved = await next_fix(dispatch, WAIT)
    assert at(moved, far)
    farther = north(200, far)
    await page.context.set_geolocation(farther)  # right after one was sent: held until the 5 s are up
    assert at(await next_fix(dispatch, MIN_GAP + WAIT), farther)
    log = await sent(screen)
    assert len(log) == 3
    assert log[2]["sentAt"] - log[1]["sentAt"] >= MIN_GAP * 1000 - 50, log
    assert log[2]["sentAt"] - log[1]["sentAt"] < (MIN_GAP + 2) * 1000, log

    await page.locator(f'.stop[data-order-id="{order_id}"] button.deliver').click()
    await page.locator("#sheet-ok").click()
    await page.locator(f'.stop[data-order-id="{order_id}"][data-status="DELIVERED"]').wait_for(timeout=TIMEOUT_MS)
    assert await where_says(screen, "idle") == "Not tracked: nothing to deliver"
    await page.context.set_geolocation(north(400, farther))
    await none_within(dispatch, MIN_GAP)
    assert await page.evaluate("() => window.fireflow.positions.watch") is None
    assert screen.errors == [], screen.errors


async def test_a_rider_with_nothing_to_deliver_is_not_tracked(hub: RunningHub, browser: Any) -> None:
    """No orders: the page says so in one line, never watches the GPS, and no fix reaches dispatch."""
    dispatch = await dispatcher(hub)
    screen = await open_rider(browser, hub)
    page = screen.page
    line = await where_says(screen, "idle")
    assert line == "Not tracked: nothing to deliver"
    assert await page.locator("#where").evaluate("el => el.getBoundingClientRect().height < 40")  # one line
    await page.context.set_geolocation(north(300))
    await none_within(dispatch, MIN_GAP)
    assert await sent(screen) == []
    assert await page.evaluate("() => window.fireflow.positions.watch") is None
    assert await page.locator("#holds").is_hidden()  # no RIDER_CASH yet: no guess
    assert screen.errors == [], screen.errors


async def test_location_permission_denied_is_said_plainly(hub: RunningHub, browser: Any) -> None:
    """An order assigned, location not allowed: a red line says to turn location on; nothing is sent; stops still usable."""
    order_id = await ready_delivery(hub, 1)
    dispatch = await dispatcher(hub)
    await dispatch.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"})
    screen = await open_rider(browser, hub, located=False)
    page = screen.page
    assert await where_says(screen, "denied") == "Location off: turn on location so dispatch sees you"
    assert await in_view(page.locator("#where"))
    assert await in_view(page.locator(f'.stop[data-order-id="{order_id}"] button.pickup'))
    await none_within(dispatch, 1.0)
    assert await sent(screen) == []
    await screenshot(screen, "rider-position-denied")
    assert screen.errors == [], screen.errors


async def test_a_cash_on_delivery_drop_updates_you_hold_and_it_shows_offline(hub: RunningHub, browser: Any) -> None:
    """Nothing shown before any RIDER_CASH; a COD delivery shows "You hold ₹<due>"; a reload with no signal still shows it."""
    ids = [await ready_delivery(hub, n, prepaid=n == 2) for n in (1, 2)]
    dispatch = await dispatcher(hub)
    ack = await dispatch.command("delivery.assign", {"order_ids": ids, "rider": "rider-1"})
    due = ack["result"]["orders"][0]["delivery"]["cod"]
    assert due > 0
    screen = await open_rider(browser, hub)
    page = screen.page
    holds = page.locator("#holds")
    assert await holds.is_hidden()
    card = page.locator(f'.stop[data-order-id="{ids[0]}"]')
    await card.locator("button.pickup").click()
    await page.locator(f'.stop[data-order-id="{ids[0]}"][data-status="OUT_FOR_DELIVERY"]').wait_for(timeout=TIMEOUT_MS)
    await card.locator("button.deliver").click()
    await page.locator("#sheet-ok").click()
    told = await event_about(dispatch, "RIDER_CASH", ids[0], kind="COD")
    assert told["data"]["holds"] == due
    await page.locator(f'#holds[data-minor="{due}"]').wait_for(timeout=TIMEOUT_MS)
    text = await holds.inner_text()
    assert text == f"You hold ₹{due // 100:,}.{due % 100:02d}", text
    assert await in_view(holds)
    assert await where_says(screen, "sharing") == "Sharing location"  # the prepaid one is still to deliver
    assert await in_view(page.locator(f'.stop[data-order-id="{ids[1]}"] button.pickup'))
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(screen, "rider-position")

    # no signal, page reloaded from the worker's cache: the cash held comes from IndexedDB
    assert await page.evaluate("async () => { await navigator.serviceWorker.ready; return true; }")
    await page.context.set_offline(True)
    await page.wait_for_function("() => navigator.onLine === false", timeout=TIMEOUT_MS)
    await page.reload()
    await page.locator(f'#holds[data-minor="{due}"]').wait_for(timeout=TIMEOUT_MS)
    assert await holds.inner_text() == text
    offline = "net::ERR_INTERNET_DISCONNECTED"
    assert [e for e in screen.errors if offline not in e] == [], screen.errors


async def test_fixes_taken_with_no_signal_are_dropped_not_queued(hub: RunningHub, browser: Any) -> None:
    """Out for delivery, no signal: two moves are dropped (the line says so); signal back: only the current fix goes."""
    order_id = await ready_delivery(hub, 1, prepaid=True)
    dispatch = await dispatcher(hub)
    await dispatch.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"})
    screen = await open_rider(browser, hub)
    page = screen.page
    assert at(await next_fix(dispatch, WAIT), HOME)

    await page.context.set_offline(True)
    await page.wait_for_function("() => navigator.onLine === false", timeout=TIMEOUT_MS)
    assert await where_says(screen, "nosignal") == "No signal: location not sent"
    await page.context.set_geolocation(north(300))
    await page.wait_for_function("() => window.fireflow.positions.dropped >= 1", timeout=(MIN_GAP + WAIT) * 1000)
    here = north(600)
    await page.context.set_geolocation(here)
    await page.wait_for_function("() => window.fireflow.positions.dropped >= 2", timeout=TIMEOUT_MS)
    assert len(await sent(screen)) == 1

    await page.context.set_offline(False)
    assert at(await next_fix(dispatch, WAIT * 2), here)  # the current fix, not the one taken 300 m back
    assert await where_says(screen, "sharing") == "Sharing location"
    await none_within(dispatch, MIN_GAP)
    assert len(await sent(screen)) == 2
    offline = "net::ERR_INTERNET_DISCONNECTED"
    assert [e for e in screen.errors if offline not in e] == [], screen.errors


async def test_the_throttle_rules(hub: RunningHub, browser: Any) -> None:
    """decide(): the first fix at once; 25 m moved waits out the 5 s gap; less than 25 m waits for 30 s since the last."""
    screen = await open_rider(browser, hub)
    waits = await screen.page.evaluate(
        """async () => {
            const { decide } = await import("/static/rider_position.js");
            const m = 1 / 111195;
            const last = { lat: 12.97, lon: 77.59, sentAt: 100000 };
            const to = (metres) => ({ lat: 12.97 + metres * m, lon: 77.59 });
            return [
                decide(null, null, 0),
                decide(null, to(0), 100000),
                decide(last, to(200), 101000),
                decide(last, to(25.5), 105000),
                decide(last, to(24), 106000),
                decide(last, to(3), 129000),
                decide(last, to(0), 130000),
            ];
        }"""
    )
    assert waits == [None, 0, 4000, 0, 24000, 1000, 0]
