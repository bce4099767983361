"""The dispatch map, promised times and ETAs in a real browser (Debian's Chromium under Playwright) at 1366x768.

The restaurant has a location; four delivery orders with locations and promised times: two go out with rider-1
(one promised soon: it will be late), one is assigned to rider-2, one waits. rider-1 rides and sends fixes;
rider-2's phone went quiet three minutes ago. The map shows the pins and both riders (rider-2 greyed, "last
seen"), rider-1's dot moves with a new fix, and once the hub's ETA check runs the page shows the ETAs and LATE
with the hub's message.

Run: ``.venv/bin/python -m pytest tests/test_browser_dispatch_map.py -q -s``; the screenshot goes to
``test-artifacts/screenshots/dispatch-map.png``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from fireflow.clients.python import HubClient
from fireflow.hub.domain.actors import Role
from fireflow.hub.live.keys import Keys
from tests.browser import TIMEOUT_MS, chromium, in_view, open_screen, screenshot
from tests.conftest import RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import ready_delivery
from tests.test_positions import kept

LAPTOP = (1366, 768)
HOME = (12.9716, 77.5946)
MINUTE = 60_000


def near(north_m: float, east_m: float) -> dict[str, float]:
    """The place ``north_m`` metres north and ``east_m`` east of the restaurant."""
    return {"lat": HOME[0] + north_m / 110_574, "lon": HOME[1] + east_m / 108_500}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def ride(rider: HubClient, watching: HubClient, name: str, points: list[tuple[float, float, int]]) -> None:
    """``rider`` sends a fix per (north, east, at) and the hub has kept each one (``watching`` is told)."""
    for north, east, at in points:
        await rider.send({"op": "position", **near(north, east), "accuracy": 6.0, "at": at})
        await kept(watching, name, at)


async def dot(page: Any, rider: str) -> str:
    transform: str = await page.locator(f'#map .rider-dot[data-rider="{rider}"]').get_attribute("transform")
    return transform


async def test_the_map_follows_the_riders_and_the_page_says_which_order_is_late(
    servers: Servers, redis: Redis, rid: str, browser: Any
) -> None:
    """Pins for the four orders, two rider dots (one greyed, last seen), rider-1's dot moves with a new fix; after
    the ETA check the orders out show their ETA, and the one past its promised time LATE with the hub's message."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, position_interval=1e-6), rid) as hub:
        await run_scene(hub, redis, rid, browser)


async def run_scene(hub: RunningHub, redis: Redis, rid: str, browser: Any) -> None:
    now = int(time.time() * 1000)
    manager = await hub.client(Role.MANAGER)
    await manager.command("setup.profile", {"location": {"lat": HOME[0], "lon": HOME[1]}})
    places = {
        1: (near(1_400, 900), now + 40 * MINUTE, "Asha Rao", "14 Lake View Rd"),  # rider-1, on time
        2: (near(2_400, 1_500), now + 4 * MINUTE, "Vikram Shah", "7 Hill St, 3rd floor"),  # rider-1, will be late
        3: (near(-1_900, -1_200), now + 35 * MINUTE, "Meera Iyer", "22 Temple Lane"),  # rider-2, assigned
        4: (near(600, -2_100), now + 25 * MINUTE, "Rahul Nair", "3 Market Sq"),  # waiting
    }
    ids = {}
    for n, (location, promised, name, address) in places.items():
        ids[n] = await ready_delivery(
            hub, n, location=location, promised_at=promised, customer_name=name, address=address
        )
    dispatcher = await hub.client(Role.DISPATCHER, device="dispatch-2")
    await dispatcher.subscribe("dispatch")
    rider1 = await hub.client(Role.RIDER, device="rider-1")
    rider2 = await hub.client(Role.RIDER, device="rider-2")
    await dispatcher.command("delivery.assign", {"order_ids": [ids[1], ids[2]], "rider": "rider-1"})
    await dispatcher.command("delivery.assign", {"order_ids": [ids[3]], "rider": "rider-2"})
    for order_id in (ids[1], ids[2]):
        await rider1.command("delivery.pickup", {"order_id": order_id})
    # rider-2 was last seen three minutes ago south-west; rider-1 left 2.5 minutes ago, north-east at ~5 m/s
    await ride(rider2, dispatcher, "rider-2", [(-2_300, 500, now - 200_000)])
    await ride(rider1, dispatcher, "rider-1", [(120 * n, 80 * n, now - 150_000 + 30_000 * n) for n in range(6)])

    url = f"{hub.url}/dispatch?token={hub.token(Role.DISPATCHER, device='dispatch-1')}"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    page = screen.page
    for n in (1, 2, 3, 4):
        await page.locator(f'#map .pin[data-order-id="{ids[n]}"]').wait_for(timeout=TIMEOUT_MS)
    assert await page.locator(f'#map .pin[data-order-id="{ids[4]}"]').get_attribute("data-state") == "waiting"
    assert await page.locator(f'#map .pin[data-order-id="{ids[3]}"]').get_attribute("data-state") == "assigned"
    assert await page.locator(f'#map .pin[data-order-id="{ids[1]}"]').get_attribute("data-state") == "out"
    assert await page.locator("#map .restaurant").count() == 1
    labels = await page.locator("#map .ring-label").all_text_contents()
    assert {"1 km", "2 km"} <= set(labels), labels
    stale = page.locator('#map .rider-dot.stale[data-rider="rider-2"]')
    await stale.wait_for(timeout=TIMEOUT_MS)
    assert "last seen 3:" in (await stale.locator(".rider-label").text_content() or "")
    waiting = page.locator(f'#waiting .w-order[data-order-id="{ids[4]}"] .promise')
    assert "promised " in await waiting.inner_text() and "in 2" in await waiting.inner_text()

    # rider-1 moves on: its dot (and trail) follow the positions frame, with no reload
    before = await dot(page, "rider-1")
    await ride(rider1, dispatcher, "rider-1", [(760, 500, now + 5_000)])
    await page.wait_for_function(
        """(before) => {
            const g = document.querySelector('#map .rider-dot[data-rider="rider-1"]');
            return g && g.getAttribute("transform") !== before;
        }""",
        arg=before,
        timeout=TIMEOUT_MS,
    )
    assert await page.locator('#map .rider-dot[data-rider="rider-1"]').get_attribute("data-at") == str(now + 5_000)
    assert await page.locator('#map .rider-dot.stale[data-rider="rider-1"]').count() == 0
    assert "NOT SEEN for 3:" in await page.locator('.rider[data-rider="rider-2"] .seen').inner_text()

    # the hub's ETA check, due 30 s after pickup, made due now (as tests/test_positions.py does)
    for order_id in (ids[1], ids[2]):
        await redis.zadd(Keys(rid).due, {f"eta|{order_id}": 0})
    on_time = page.locator(f'.rider[data-rider="rider-1"] .r-order[data-order-id="{ids[1]}"] .eta')
    late = page.locator(f'.rider[data-rider="rider-1"] .r-order[data-order-id="{ids[2]}"] .eta.late')
    await late.wait_for(timeout=TIMEOUT_MS)
    await page.wait_for_function(
        f"""() => /ETA \\d\\d:\\d\\d/.test(document.querySelector('.r-order[data-order-id="{ids[1]}"] .eta').textContent)""",
        timeout=TIMEOUT_MS,
    )
    assert "LATE" not in await on_time.inner_text()
    said = await late.inner_text()
    assert "LATE" in said and "km away" in said and "promised" in said, said
    await page.locator(f'#map .pin.st-late[data-order-id="{ids[2]}"]').wait_for(timeout=TIMEOUT_MS)
    assert await in_view(page.locator('button.assign[data-rider="rider-1"]'))
    assert await in_view(page.locator("#map .map-svg"))
    assert await in_view(page.locator(f'#waiting .w-order[data-order-id="{ids[4]}"] input.pick'))
    await page.locator(f'#waiting .w-order[data-order-id="{ids[4]}"] input.pick').check()
    await screenshot(screen, "dispatch-map")

    # folded away, the riders get the column; shown again, it is drawn again
    await page.locator("#map-toggle").click()
    assert await page.locator("#map").is_hidden()
    await page.locator("#map-toggle").click()
    await page.locator('#map .rider-dot[data-rider="rider-1"]').wait_for(timeout=TIMEOUT_MS)
    assert screen.errors == [], screen.errors
