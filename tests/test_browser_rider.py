"""The rider's phone (/rider) in a real browser: stops in order, offline actions kept and sent once, a wrong token.

Run: ``.venv/bin/python -m pytest tests/test_browser_rider.py -q -s`` (``-s`` shows the screenshot paths);
the screenshots go to ``test-artifacts/screenshots/rider-<what>.png``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from tests.browser import PHONE, TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub
from tests.helpers import ready_delivery

UNSENT = ["OUT_FOR_DELIVERY", "OUT_FOR_DELIVERY", "ASSIGNED"]  # the hub's view while the phone has no signal
STEPS = {"DELIVERY_PICKED_UP", "DELIVERY_DELIVERED", "DELIVERY_FAILED"}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def _ready_delivery(hub: RunningHub, n: int, *, prepaid: bool = False) -> str:
    """A delivery order for Guest n at "n Rider Rd, Pune", READY (paid first when ``prepaid``)."""
    where = {"phone": f"555030{n}", "address": f"{n} Rider Rd, Pune", "customer_name": f"Guest {n}"}
    return await ready_delivery(hub, n, prepaid=prepaid, **where)


async def three_assigned(hub: RunningHub) -> tuple[HubClient, list[str], list[int]]:
    """Three READY orders (the second prepaid) batched to rider-1; the dispatcher (on `dispatch`), ids, cash due."""
    ids = [await _ready_delivery(hub, n, prepaid=n == 2) for n in (1, 2, 3)]
    dispatcher = await hub.client(Role.DISPATCHER)
    await dispatcher.subscribe("dispatch")
    ack = await dispatcher.command("delivery.assign", {"order_ids": ids, "rider": "rider-1"})
    return dispatcher, ids, [o["delivery"]["cod"] for o in ack["result"]["orders"]]


async def open_rider(browser: Any, hub: RunningHub, token: str | None = None) -> Screen:
    context = await browser.new_context(
        viewport={"width": PHONE[0], "height": PHONE[1]}, is_mobile=True, has_touch=True, service_workers="allow"
    )
    return await open_screen(
        browser, f"{hub.url}/rider?token={token or hub.token(Role.RIDER, device='rider-1')}", context=context
    )


def stop(order_id: str) -> str:
    return f'#stops .stop[data-order-id="{order_id}"]'


async def shown(screen: Screen, ids: list[str]) -> None:
    """Wait until the page shows the stops of ``ids``."""
    for order_id in ids:
        await screen.page.locator(stop(order_id)).wait_for(timeout=TIMEOUT_MS)


async def status_of(screen: Screen, order_id: str, status: str) -> None:
    await screen.page.locator(f'{stop(order_id)}[data-status="{status}"]').wait_for(timeout=TIMEOUT_MS)


async def order(hub: RunningHub, order_id: str) -> dict[str, Any]:
    async with hub.http(Role.DISPATCHER) as http:
        found: dict[str, Any] = (await http.get(f"/api/v1/orders/{order_id}")).json()["order"]
    return found


async def events_until(client: HubClient, type_: str, order_id: str) -> list[dict[str, Any]]:
    """Every event the client gets up to and including the first ``type_`` about ``order_id``."""
    seen: list[dict[str, Any]] = []

    async def wait() -> list[dict[str, Any]]:
        while True:
            event = await client.events.get()
            seen.append(event)
            if event["type"] == type_ and event["data"].get("order", {}).get("id") == order_id:
                return seen

    return await asyncio.wait_for(wait(), WAIT * 4)


async def test_the_rider_sees_three_stops_in_order_with_links_and_cash(hub: RunningHub, browser: Any) -> None:
    """Three assigned orders in stop order: number, name, navigation and tel: links, COD amount; main action on screen."""
    _, ids, due = await three_assigned(hub)
    screen = await open_rider(browser, hub)
    await screen.live()
    await shown(screen, ids)
    page = screen.page
    assert await page.locator("#stops .stop").evaluate_all("els => els.map(e => e.dataset.orderId)") == ids
    for n, (order_id, cod) in enumerate(zip(ids, due, strict=True), start=1):
        card = page.locator(stop(order_id))
        assert await card.locator(".name").inner_text() == f"Guest {n}"
        nav = await card.locator("a.nav").get_attribute("href")
        assert nav == f"https://www.google.com/maps/dir/?api=1&destination={quote(f'{n} Rider Rd, Pune', safe='')}"
        assert await card.locator("a.tel").get_attribute("href") == f"tel:555030{n}"
        assert await card.locator(".cod").get_attribute("data-minor") == str(cod)
        assert await card.locator(".state").inner_text() == "TO PICK UP"
    assert due[0] > 0 and due[1] == 0
    assert "₹" in await page.locator(f"{stop(ids[0])} .cod").inner_text()
    assert await page.locator(f"{stop(ids[1])} .cod").inner_text() == "PREPAID"
    assert await in_view(page.locator(f"{stop(ids[0])} button.pickup")), "the first stop's action must be on screen"
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    manifest = await page.evaluate("() => fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())")
    assert manifest["start_url"] == "/rider" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:  # installable: a 192 and a 512 PNG as well as the SVG, each served
        status = await page.evaluate(
            "(src) => fetch(src).then(r => r.status + ' ' + r.headers.get('content-type'))", icon["src"]
        )
        assert status == f"200 {icon['type']}", (icon, status)
    assert {"192x192", "512x512"} <= {i["sizes"] for i in manifest["icons"]}
    await screenshot(screen, "rider-stops-390x844")
    assert screen.errors == [], screen.errors


async def test_actions_taken_offline_survive_a_reload_and_are_applied_once_in_order(
    hub: RunningHub, browser: Any
) -> None:
    """Offline: picked up, delivered two (one COD), failed; reload offline (from the worker's cache); online: each once, in order."""
    dispatcher, ids, due = await three_assigned(hub)
    cod, prepaid, failing = ids
    screen = await open_rider(browser, hub)
    page = screen.page
    await screen.live()
    await shown(screen, ids)
    # the service worker is active and has the shell before the signal goes
    assert await page.evaluate(
        "async () => { await navigator.serviceWorker.ready; return Boolean(await caches.match('/rider')); }"
    )
    for order_id in (cod, prepaid):
        await page.locator(f"{stop(order_id)} button.pickup").click()
        await events_until(dispatcher, "DELIVERY_PICKED_UP", order_id)
        await status_of(screen, order_id, "OUT_FOR_DELIVERY")

    await page.context.set_offline(True)
    await page.wait_for_function("() => navigator.onLine === false", timeout=TIMEOUT_MS)
    await page.locator(f"{stop(failing)} button.pickup").click()
    await status_of(screen, failing, "OUT_FOR_DELIVERY")
    await page.locator(f"{stop(cod)} button.deliver").click()
    collected = page.locator("#sheet #collected")
    assert await collected.input_value() == f"{due[0] // 100}.{due[0] % 100:02d}"  # prefilled to what is due
    await page.locator("#sheet-ok").click()
    await status_of(screen, cod, "DELIVERED")
    await page.locator(f"{stop(prepaid)} button.deliver").click()
    await page.locator("#sheet-ok").click()
    await status_of(screen, prepaid, "DELIVERED")
    await page.locator(f"{stop(failing)} button.fail").click()
    await page.locator("#sheet-ok").click()  # no reason: refused on the phone
    assert await page.locator("#sheet .problem").inner_text() == "Say why it could not be delivered."
    await page.locator("#sheet #reason").fill("nobody home")
    await page.locator("#sheet-ok").click()
    await status_of(screen, failing, "FAILED")
    signal = page.locator("#signal")
    await page.wait_for_function(
        "() => document.getElementById('signal').textContent === 'No signal — 4 actions waiting, they will be sent'",
        timeout=TIMEOUT_MS,
    )
    await screenshot(screen, "rider-offline-390x844")
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert [(await order(hub, i))["delivery"]["status"] for i in ids] == UNSENT  # nothing reached the hub

    # a reload with no signal: the page comes from the worker's cache, the stops and the outbox from IndexedDB
    response = await page.reload()
    assert response is not None and response.from_service_worker
    assert (await response.all_headers()).get("x-fireflow-from") == "rider-sw-cache"  # not the network: there is none
    await shown(screen, ids)
    await page.wait_for_function(
        "() => document.getElementById('signal').textContent === 'No signal — 4 actions waiting, they will be sent'",
        timeout=TIMEOUT_MS,
    )
    for order_id, status in ((cod, "DELIVERED"), (prepaid, "DELIVERED"), (failing, "FAILED")):
        await status_of(screen, order_id, status)
    assert await page.locator(f"{stop(failing)} .said").inner_text() == "Reason: nobody home"
    assert await page.locator("#stops .waiting").count() == 3
    assert [(await order(hub, i))["delivery"]["status"] for i in ids] == UNSENT  # nothing reached the hub

    await page.context.set_offline(False)
    seen = await events_until(dispatcher, "DELIVERY_FAILED", failing)
    await page.wait_for_selector('body[data-outbox="0"]', timeout=TIMEOUT_MS)
    assert not await signal.is_visible()
    # one more step through the hub: anything sent twice would have reached dispatch before it
    extra = await _ready_delivery(hub, 4)
    await dispatcher.command("delivery.assign", {"order_ids": [extra], "rider": "rider-2"})
    seen += await events_until(dispatcher, "DELIVERY_ASSIGNED", extra)
    steps = [(e["type"], e["data"]["order"]["id"]) for e in seen if e["type"] in STEPS]
    assert steps == [
        ("DELIVERY_PICKED_UP", failing),
        ("DELIVERY_DELIVERED", cod),
        ("DELIVERY_DELIVERED", prepaid),
        ("DELIVERY_FAILED", failing),
    ]
    assert (await order(hub, cod))["delivery"]["collected"] == due[0]
    assert (await order(hub, prepaid))["status"] == "CLOSED"
    assert (await order(hub, failing))["delivery"]["reason"] == "nobody home"
    assert await page.locator("#refused li").count() == 0
    offline = "net::ERR_INTERNET_DISCONNECTED"  # the browser's own line for each reconnect tried with no signal
    assert [e for e in screen.errors if offline not in e] == [], screen.errors


async def test_a_wrong_token_says_so_plainly(hub: RunningHub, browser: Any) -> None:
    """A mangled token: "Token refused"; a waiter's token: "Wrong token for this screen"; no stops shown."""
    screen = await open_rider(browser, hub, token="not-a-token")
    box = screen.page.locator("#blocked")
    await box.wait_for(timeout=TIMEOUT_MS)
    assert await box.locator("h2").inner_text() == "Token refused"
    assert "does not accept this screen's token" in await box.inner_text()

    waiter = await open_rider(browser, hub, token=hub.token(Role.WAITER, device="waiter-1"))
    box = waiter.page.locator("#blocked")
    await box.wait_for(timeout=TIMEOUT_MS)
    assert await box.locator("h2").inner_text() == "Wrong token for this screen"
    assert "rider's token" in await box.inner_text()


async def test_an_action_the_hub_refuses_leaves_the_outbox_and_is_said_in_words(hub: RunningHub, browser: Any) -> None:
    """Picked up offline, but dispatch gave the order to rider-2 meanwhile: online, the refusal is shown, the outbox empties."""
    order_id = await _ready_delivery(hub, 1)
    dispatcher = await hub.client(Role.DISPATCHER)
    await dispatcher.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-1"})
    screen = await open_rider(browser, hub)
    page = screen.page
    await screen.live()
    await shown(screen, [order_id])
    await page.context.set_offline(True)
    await page.wait_for_function("() => navigator.onLine === false", timeout=TIMEOUT_MS)
    await page.locator(f"{stop(order_id)} button.pickup").click()
    await page.wait_for_selector('body[data-outbox="1"]', timeout=TIMEOUT_MS)
    await dispatcher.command("delivery.assign", {"order_ids": [order_id], "rider": "rider-2"})

    await page.context.set_offline(False)
    await page.wait_for_selector('body[data-outbox="0"]', timeout=TIMEOUT_MS)
    refusal = page.locator("#refused li")
    await refusal.wait_for(timeout=TIMEOUT_MS)
    assert (await refusal.inner_text()).startswith("Order #")
    assert "Picked up: not done" in await refusal.inner_text()
    await page.locator(stop(order_id)).wait_for(state="detached", timeout=TIMEOUT_MS)  # it is rider-2's now
    assert (await order(hub, order_id))["delivery"]["status"] == "ASSIGNED"
