"""The manager's Dashboard (/manager#dashboard) in Debian's Chromium at a till's 1366x768: charts drawn, no scrolling;
its second page (the anomalies and the forecast) over weeks of planted books; and the Alerts section's findings of
the hub's self-healing sweeps.

Run: ``.venv/bin/python -m pytest tests/test_browser_dashboard.py -q -s`` (``-s`` shows the screenshot paths);
the screenshots go to ``test-artifacts/screenshots/manager-dashboard*.png``, ``manager-alerts-sweeps.png`` and
``/tmp/dashboard.png``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.hub.domain.actors import Role
from fireflow.schema.records import TableStatus
from tests.browser import TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub, Servers, free_port, seed, serve_in_process, settings_for
from tests.helpers import event_about, fired_order
from tests.planted_history import plant
from tests.test_sweeps import RULES, now_ms, plant_table, sweeper

LAPTOP = (1366, 768)
CARDS = ("takings", "queues", "prep", "predictions", "alerts")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def _manager_page(browser: Any, hub: RunningHub) -> Screen:
    url = f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    return screen


async def _dashboard_page(browser: Any, hub: RunningHub) -> Screen:
    screen = await _manager_page(browser, hub)
    await screen.page.click('[data-go="dashboard"]')
    await screen.page.locator("#sec-dashboard:not([hidden]) .dash-grid").wait_for(timeout=TIMEOUT_MS)
    return screen


async def _ahead_page(browser: Any, hub: RunningHub) -> Screen:
    """The Dashboard's second page, Unusual & ahead, its two reads answered."""
    screen = await _dashboard_page(browser, hub)
    page = screen.page
    await page.click("#dash-tab-ahead")
    await page.locator("#dash-page-ahead:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    await page.wait_for_function(
        "() => { const s = window.fireflow.dashboard.state().ahead; return s.anomalies && s.forecast; }",
        timeout=TIMEOUT_MS,
    )
    return screen


async def _no_page_scroll(page: Any) -> bool:
    return bool(await page.evaluate("() => document.scrollingElement.scrollHeight <= window.innerHeight"))


async def test_the_dashboard_draws_every_chart_on_one_laptop_screen(predicting: RunningHub, browser: Any) -> None:
    """Takings, queues, prep, predicted vs actual and alerts drawn by uPlot at 1366x768; takings as the API says."""
    waiter = await predicting.client(Role.WAITER)
    cashier = await predicting.client(Role.CASHIER, device="till-1")
    await cashier.subscribe("cashier")
    fry = await predicting.kitchen("fry")
    for _ in range(3):  # three fries orders predicted, then bumped: three pairs to draw
        quick = await fired_order(waiter, "fries")
        await event_about(cashier, "ORDER_PREDICTED", quick)
        await fry.command("order.bump", {"order_id": quick, "station": "fry"})
    for items in (("burger", "fries"), ("burger",), ("fries",)):
        await fired_order(waiter, *items)  # no grill screen is open: STATION_OFFLINE alerts too
    for method in ("CASH", "CARD"):
        order_id = await fired_order(waiter, "water", "soda")
        due = (await cashier.command("bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        await cashier.command("order.pay", {"order_ids": [order_id], "tenders": [{"method": method, "amount": due}]})
    async with predicting.http(Role.MANAGER) as http:
        for _ in range(int(40 * WAIT)):  # until the predictor's looks have scored the three bumped orders
            api = (await http.get("/api/v1/stats/dashboard")).json()
            fry_scores = next(p for p in api["predictions"] if p["station"] == "fry")
            if len(fry_scores["recent"]) == 3:
                break
            await asyncio.sleep(0.05)
    assert len(fry_scores["recent"]) == 3 and api["takings"] > 0

    screen = await _dashboard_page(browser, predicting)
    page = screen.page
    for card in CARDS:
        await page.locator(f"#dash-{card}-chart canvas").wait_for(timeout=TIMEOUT_MS)
    state = await page.evaluate("() => window.fireflow.dashboard.state()")
    for card in CARDS:
        assert state["charts"][card]["width"] > 150 and state["charts"][card]["height"] > 80, card
        box = await page.locator(f"#dash-{card}-chart canvas").bounding_box()
        assert box is not None and box["width"] > 150 and box["height"] > 80, card
        assert await in_view(page.locator(f"#dash-{card}")), f"{card} needs a scroll"
    takings = state["charts"]["takings"]["data"]
    assert takings[1] == [h["takings"] for h in state["data"]["takings_by_hour"]]
    assert sum(takings[1]) == api["takings"]  # the page drew what the hub answered
    queues = state["charts"]["queues"]["data"]
    by_station = {q["name"]: (q["waiting"], q["preparing"]) for q in api["queues"]}
    assert (queues[1][0], queues[1][1]) == (by_station["Grill"][0], by_station["Fry"][0]) == (2, 2)
    assert len(state["charts"]["predictions"]["data"][1]) == 3
    assert sum(state["charts"]["alerts"]["data"][1]) >= 2  # each grill order's STATION_OFFLINE

    total = await page.locator("#dash-takings-total").inner_text()
    assert total.startswith("\u20b9") and "2 bills" in total
    assert await page.locator('#dash-mae tr[data-station="fry"]').count() == 1
    assert "min" in await page.locator('#dash-mae tr[data-station="fry"] td').first.inner_text()
    assert await page.locator("#dash-latest li").count() >= 1
    assert await page.locator("#dash-problem").is_hidden()
    assert await page.evaluate("() => document.scrollingElement.scrollHeight <= window.innerHeight")
    shot = await screenshot(screen, "manager-dashboard")
    shutil.copy(shot, "/tmp/dashboard.png")
    assert screen.errors == [], screen.errors


async def test_an_empty_day_says_so_in_words(hub: RunningHub, browser: Any) -> None:
    """No sales, nothing scored, nothing finished: each card says so instead of drawing an empty chart."""
    screen = await _dashboard_page(browser, hub)
    page = screen.page
    await page.locator("#dash-takings-empty:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#dash-takings-empty").inner_text() == "No sales yet today."
    assert "No orders scored yet" in await page.locator("#dash-predictions-empty").inner_text()
    assert "No lines finished" in await page.locator("#dash-prep-empty").inner_text()
    assert "nothing waiting" in await page.locator("#dash-queues-note").inner_text()
    assert await page.locator("#dash-takings-chart canvas").count() == 0
    await screenshot(screen, "manager-dashboard-empty")
    await page.click("#dash-tab-ahead")
    await page.locator("#dash-anomalies-empty:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#dash-anomalies-empty").inner_text() == "Nothing unusual today."
    notes = await page.locator("#dash-anomalies-notes li").all_inner_texts()
    assert any(note.startswith("Takings not judged: 0 earlier") for note in notes), notes
    await page.locator("#dash-forecast-empty:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    words = await page.locator("#dash-forecast-empty").inner_text()
    assert words == "Not enough history to forecast yet (0 hours, two days needed).", words
    assert await page.locator("#dash-forecast-chart canvas").count() == 0
    assert await page.locator("#dash-unusual-count").inner_text() == ""
    assert await in_view(page.locator("#dash-anomalies-notes")) and await in_view(page.locator("#dash-forecast-empty"))
    await screenshot(screen, "manager-dashboard-ahead-empty")
    assert screen.errors == [], screen.errors


async def test_the_anomalies_and_the_forecast_are_read_on_one_laptop_screen(hub: RunningHub, browser: Any) -> None:
    """Six weeks of planted books: yesterday's anomalies in the hub's words with their severity, and the forecast's
    line, band and peaks drawn by uPlot, all at 1366x768 with no scrolling."""
    yesterday, _ = await plant(hub)
    async with hub.http(Role.MANAGER, device="manager-1") as http:
        unusual = (await http.get("/api/v1/stats/anomalies", params={"day": yesterday.isoformat()})).json()
        forecast = (await http.get("/api/v1/stats/forecast", params={"days": 3})).json()
    assert len(unusual["anomalies"]) >= 4 and forecast["hours"] and forecast["peaks"]

    screen = await _ahead_page(browser, hub)
    page = screen.page
    await page.click('#dash-anomalies [data-day="yesterday"]')
    lunch = page.locator('#dash-anomalies-list li[data-kind="TAKINGS_BELOW_CURVE"]')
    await lunch.wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#dash-anomalies-title").inner_text() == "Unusual yesterday"
    shown = await page.locator("#dash-anomalies-list li .what").all_inner_texts()
    assert shown == [a["message"] for a in unusual["anomalies"]]  # in the hub's words, in its order
    said = unusual["anomalies"][0]
    first = page.locator("#dash-anomalies-list li").first
    assert await first.locator(".sev").inner_text() == said["severity"].upper()
    assert await page.locator("#dash-unusual-count").inner_text() == str(len(unusual["anomalies"]))
    message = next(a["message"] for a in unusual["anomalies"] if a["kind"] == "TAKINGS_BELOW_CURVE")
    assert await lunch.locator(".what").inner_text() == message and "below a usual" in message
    assert await in_view(lunch), "the thin lunch needs a scroll"

    canvas = page.locator("#dash-forecast-chart canvas")
    await canvas.wait_for(timeout=TIMEOUT_MS)
    box = await canvas.bounding_box()
    assert box is not None and box["width"] > 450 and box["height"] > 250, box
    assert await in_view(page.locator("#dash-forecast-chart")), "the forecast chart needs a scroll"
    state = (await page.evaluate("() => window.fireflow.dashboard.state()"))["ahead"]
    drawn = state["chart"]["data"]
    assert drawn[1:] == [[h[key] for h in forecast["hours"]] for key in ("low", "high", "orders")]
    peaks = await page.locator("#dash-peaks li").all_inner_texts()
    assert peaks == [p["message"] for p in forecast["peaks"]]
    top = max(forecast["peaks"], key=lambda p: p["orders"])
    assert " 20:00\u201321:00: about " in top["message"] and "grill " in top["message"]
    assert await in_view(page.locator(f'#dash-peaks li[data-day="{top["day"]}"]')), "the peaks need a scroll"
    assert await _no_page_scroll(page)
    await screenshot(screen, "manager-dashboard-ahead")

    await page.click('#dash-anomalies [data-day="today"]')  # back to today: its own answer, whatever it holds
    await page.wait_for_function(
        "(day) => (window.fireflow.dashboard.state().ahead.anomalies || {}).day > day", arg=yesterday.isoformat()
    )
    await page.click("#dash-tab-today")  # and the first page is drawn again at its size
    await page.locator("#dash-page-today:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    assert await in_view(page.locator("#dash-takings"))
    assert screen.errors == [], screen.errors


async def test_a_sweeps_findings_are_said_in_the_alerts_once_needing_you_or_fixed(
    hub: RunningHub, browser: Any
) -> None:
    """A table left dirty 20 min is in Alerts as "Needs you: clean the table…" and in the nav's count; a table
    seated for a lost order is "Fixed by the hub"; the same finding told twice is shown once."""
    screen = await _manager_page(browser, hub)
    page = screen.page
    await page.locator("#sec-alerts:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("#sweeps").is_hidden()
    badge = await page.locator("#nav-alerts").inner_text()
    before = int(badge or 0)
    await plant_table(hub, "T3", status=TableStatus.DIRTY, order_id=None)
    await plant_table(hub, "T2", status=TableStatus.OCCUPIED, order_id=f"{hub.rid}.o999")
    sweeps = sweeper(hub)
    start = now_ms()
    assert await sweeps.sweep(hub.rid, start) == []  # first seen: each fault stands its time first
    found = await sweeps.sweep(hub.rid, start + RULES.dirty_after_s * 1000)
    assert {f.kind for f in found} == {"TABLE_DIRTY", "TABLE_WITHOUT_ORDER"}
    dirty = next(f for f in found if f.kind == "TABLE_DIRTY")

    needs = page.locator(f'#sweeps-list li[data-finding-id="{dirty.id}"]')
    await needs.wait_for(timeout=TIMEOUT_MS)
    assert await needs.locator(".what").inner_text() == dirty.message
    assert (await needs.locator(".todo").inner_text()) == f"Needs you: {dirty.action}"
    assert dirty.action.startswith("clean the table")
    fixed = page.locator('#sweeps-list li[data-kind="TABLE_WITHOUT_ORDER"]')
    await fixed.wait_for(timeout=TIMEOUT_MS)
    assert await fixed.locator(".done").inner_text() == "Fixed by the hub"
    assert "released to DIRTY" in await fixed.locator(".what").inner_text()
    assert await in_view(needs) and await in_view(fixed)
    await page.wait_for_function(
        "(n) => document.getElementById('nav-alerts').textContent === String(n)", arg=before + 1
    )  # the one that needs someone counts; the one the hub fixed does not

    # the same finding told again (a second node's sweep, a replay; fed past the hub's offsets): still one line
    await page.evaluate(
        """(id) => {
            const hub = window.fireflow.hub;
            const finding = window.fireflow.sweeps.findings.get(id);
            hub.handlers.event({ op: "event", type: "SWEEP_FOUND", ts: Date.now(), data: { finding } });
            hub._applied();
        }""",
        dirty.id,
    )
    await page.evaluate("() => new Promise((done) => requestAnimationFrame(() => setTimeout(done)))")  # drawn
    assert await page.locator(f'#sweeps-list li[data-finding-id="{dirty.id}"]').count() == 1
    assert await page.locator("#sweeps-list li").count() == 2
    assert await page.locator("#nav-alerts").inner_text() == str(before + 1)
    await screenshot(screen, "manager-alerts-sweeps")
    later = await _manager_page(browser, hub)  # opened after the sweep: reads what still stands
    again = later.page.locator(f'#sweeps-list li[data-finding-id="{dirty.id}"]')
    await again.wait_for(timeout=TIMEOUT_MS)
    assert (await again.locator(".todo").inner_text()) == f"Needs you: {dirty.action}"
    assert later.errors == []

    # cleaned: the table's status changes, and the finding is no longer standing
    async with hub.http(Role.MANAGER, device="manager-1") as http:
        answer = await http.post("/api/v1/commands", json={"type": "table.clean", "data": {"table_id": "T3"}})
    assert answer.status_code == 200, answer.text
    await needs.wait_for(state="detached", timeout=TIMEOUT_MS)
    await page.wait_for_function(
        "(n) => document.getElementById('nav-alerts').textContent === (n ? String(n) : '')", arg=before
    )
    assert screen.errors == [], screen.errors


async def test_books_not_answering_are_said_in_words(servers: Servers, redis: Any, rid: str, browser: Any) -> None:
    """Postgres unreachable: the page says the books are not answering, and still draws the queues; the anomalies
    and the forecast say they cannot be read."""
    await seed(servers, rid)
    nowhere = f"postgresql+asyncpg://fireflow:fireflow@127.0.0.1:{free_port()}/fireflow"
    async with serve_in_process(settings_for(servers).with_(database_url=nowhere, durable="off"), rid) as running:
        waiter = await running.client(Role.WAITER)
        await fired_order(waiter, "burger")
        screen = await _dashboard_page(browser, running)
        page = screen.page
        await page.locator("#dash-problem:not([hidden])").wait_for(timeout=TIMEOUT_MS)
        assert "Postgres" in await page.locator("#dash-problem").inner_text()
        assert "not answering" in await page.locator("#dash-takings-empty").inner_text()
        await page.locator("#dash-queues-chart canvas").wait_for(timeout=TIMEOUT_MS)
        assert await in_view(page.locator("#dash-problem"))
        await screenshot(screen, "manager-dashboard-no-books")
        await page.click("#dash-tab-ahead")  # the second page's reads are refused too: each card says so
        for card in ("anomalies", "forecast"):
            words = page.locator(f"#dash-{card}-empty")
            await page.locator(f"#dash-{card}-empty:has-text('cannot be read just now')").wait_for(timeout=TIMEOUT_MS)
            assert await in_view(words), card
        await screenshot(screen, "manager-dashboard-ahead-no-books")
    # the page's other reads of the books (the day's figures) answer 503: the browser logs those, nothing else
    assert [e for e in screen.errors if "status of 503" not in e] == [], screen.errors
