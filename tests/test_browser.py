"""The kitchen, expo and customer-board pages in a real browser (Debian's Chromium under Playwright).

Run: ``.venv/bin/python -m pytest tests/test_browser.py -s`` (``-s`` shows the screenshot paths and timings);
the screenshots go to ``test-artifacts/screenshots/<page>-<what>.png``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fireflow.hub.domain.actors import Role
from fireflow.hub.transports.tokens import mint
from tests.browser import (
    PHONE,
    SIZES,
    TIMEOUT_MS,
    Screen,
    card,
    chromium,
    command,
    fired,
    new_order,
    open_screen,
    screenshot,
)
from tests.conftest import SCALE, SECRET, WAIT, NodeProcess, RunningHub, Servers, free_port, seed
from tests.helpers import events_until

TIMES, MINUS = "\u00d7", "\u2212"  # how the screens print "3x" and "-2"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


def kds_url(hub: RunningHub, station: str) -> str:
    return f"{hub.url}/kds?token={hub.token(Role.KITCHEN, stations=(station,), device=f'kds-{station}')}"


def expo_url(hub: RunningHub) -> str:
    return f"{hub.url}/expo?token={hub.token(Role.EXPO, device='expo-1')}"


def board_url(hub: RunningHub) -> str:
    return f"{hub.url}/board?token={hub.token(Role.DISPLAY, device='board-1')}"


async def screens(browser: Any, *urls: str) -> list[Screen]:
    opened = [await open_screen(browser, url) for url in urls]
    for screen in opened:
        await screen.live()
    return opened


def no_errors(*opened: Screen) -> None:
    errors = [error for screen in opened for error in screen.errors]
    assert errors == [], errors


async def test_pages_load_live_without_console_errors(hub: RunningHub, browser: Any) -> None:
    """/kds, /expo and /board load, go LIVE and log no error; the index links them; a reload keeps the token."""
    async with httpx.AsyncClient(base_url=hub.url) as http:
        index = (await http.get("/")).text
    assert all(f'href="{path}"' in index for path in ("/kds", "/expo", "/board"))
    kds, expo, board = await screens(browser, kds_url(hub, "grill"), expo_url(hub), board_url(hub))
    assert "token=" not in kds.page.url  # taken out of the address bar, kept in localStorage
    await kds.page.reload()
    await kds.live()
    assert await kds.page.locator("#title").inner_text() == "GRILL"
    no_errors(kds, expo, board)
    nobody = await open_screen(browser, f"{hub.url}/board")
    await nobody.page.wait_for_selector('body[data-conn="offline"]', timeout=TIMEOUT_MS)
    refused = await open_screen(browser, f"{hub.url}/expo?token=not-a-token")
    await refused.page.wait_for_selector('body[data-conn="offline"]', timeout=TIMEOUT_MS)
    no_errors(nobody, refused)


async def test_a_fire_shows_on_its_station_kds_within_a_second_and_not_on_another(
    hub: RunningHub, browser: Any
) -> None:
    """A fire over HTTP is on /kds of its station under a second after the ack, and never on another station's.

    The page acknowledges the ticket it showed: expo hears TICKET_ACKED from the grill screen's device.
    """
    grill, fry = await screens(browser, kds_url(hub, "grill"), kds_url(hub, "fry"))
    expo = await hub.client(Role.EXPO)
    await expo.subscribe("expo")
    async with hub.http(Role.WAITER) as waiter:
        order_id = await new_order(waiter, "burger")
        await command(waiter, "order.fire", {"order_id": order_id})
        acked = time.perf_counter()
        await grill.page.wait_for_selector(f"#queue {card(order_id)}", state="visible", timeout=TIMEOUT_MS)
        shown = time.perf_counter() - acked
        # The fry screen applies events in offset order: once this later fry ticket is on it, so would the first be.
        later, _ = await fired(waiter, "fries")
    print(f"fire ack -> card visible on /kds: {shown * 1000:.0f} ms")
    assert shown < 1.0 * SCALE
    await fry.page.wait_for_selector(f"#queue {card(later)}", state="visible", timeout=TIMEOUT_MS)
    assert await fry.page.locator(card(order_id)).count() == 0
    assert await grill.page.locator(card(later)).count() == 0
    burger = grill.page.locator(f"{card(order_id)} .line")
    assert await burger.count() == 1
    assert "Classic Burger" in await burger.inner_text()
    acks = [e["data"] for e in await events_until(expo, 2, WAIT, "TICKET_ACKED")]
    assert {(a["order_id"], a["station"], a["by"]) for a in acks} == {
        (order_id, "grill", "kds-grill"), (later, "fry", "kds-fry"),
    }  # fmt: skip
    no_errors(grill, fry)


async def test_two_screens_of_a_station_send_one_ticket_ack_between_them(hub: RunningHub, browser: Any) -> None:
    """Both grill screens show the ticket. The one whose moment comes first acknowledges it; the other has heard
    its TICKET_ACKED by its own moment and leaves the ticket out: one ticket.ack a ticket, not one a screen.

    Each page's moment is drawn from ``Math.random``, fixed here (0 and 0.9 of the spread), so the order is known.
    """
    opened: list[Screen] = []
    for device, draw in (("kds-grill-a", 0.0), ("kds-grill-b", 0.9)):
        width, height = SIZES["/kds"]
        context = await browser.new_context(viewport={"width": width, "height": height})
        await context.add_init_script(f"Math.random = () => {draw};")
        token = hub.token(Role.KITCHEN, stations=("grill",), device=device)
        opened.append(await open_screen(browser, f"{hub.url}/kds?token={token}", context=context))
    for screen in opened:
        await screen.live()
    expo = await hub.client(Role.EXPO)
    await expo.subscribe("expo")
    before = await _ack_commands(hub)
    async with hub.http(Role.WAITER) as waiter:
        order_id, _ = await fired(waiter, "burger")
    for screen in opened:
        await screen.page.wait_for_selector(f"#queue {card(order_id)}", state="visible", timeout=TIMEOUT_MS)
    acks = [e["data"] for e in await events_until(expo, 1, WAIT, "TICKET_ACKED")]
    assert [(a["order_id"], a["by"]) for a in acks] == [(order_id, "kds-grill-a")]
    first, second = opened
    await second.page.wait_for_function("() => window.fireflow.acks().covered === 1", timeout=TIMEOUT_MS)
    assert await first.page.evaluate("() => window.fireflow.acks()") == {"sent": 1, "covered": 0}
    assert await second.page.evaluate("() => window.fireflow.acks()") == {"sent": 0, "covered": 1}
    assert await _ack_commands(hub) == before + 1
    no_errors(*opened)


async def _ack_commands(hub: RunningHub) -> float:
    """The node's count of ticket.ack commands run (``/metrics``)."""
    async with hub.http(Role.MANAGER) as http:
        text = (await http.get("/metrics")).text
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("fireflow_commands_total{") and 'type="ticket.ack"' in line
    )


async def test_bumping_on_kds_shows_the_order_ready_on_expo_and_its_token_ready_on_the_board(
    hub: RunningHub, browser: Any
) -> None:
    """Tap a line, BUMP on /kds: expo shows the order READY, the board its token READY; RECALL undoes both."""
    kds, expo, board = await screens(browser, kds_url(hub, "grill"), expo_url(hub), board_url(hub))
    async with hub.http(Role.WAITER) as waiter:
        order_id, answer = await fired(waiter, "burger", ("chicken-wings", 2))
    token = answer["result"]["order"]["token"]
    ticket = kds.page.locator(f"#queue {card(order_id)}")
    await ticket.wait_for(timeout=TIMEOUT_MS)
    await expo.page.locator(f"#queue {card(order_id)}").wait_for(timeout=TIMEOUT_MS)
    await board.page.locator(f'#preparing [data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)
    await screenshot(kds, "kds-ticket")

    await ticket.locator(".line", has_text="Classic Burger").click()  # a tap on a line: item.done
    await ticket.locator('.line[data-status="DONE"]', has_text="Classic Burger").wait_for(timeout=TIMEOUT_MS)
    await ticket.locator("button.bump").click()  # the card: order.bump for this station

    await kds.page.locator(f"#bumped {card(order_id)}").wait_for(timeout=TIMEOUT_MS)
    assert await kds.page.locator(f"#queue {card(order_id)}").count() == 0
    ready = expo.page.locator(f'{card(order_id)}[data-ready="true"]')
    await ready.wait_for(timeout=TIMEOUT_MS)
    assert await ready.locator(".badge.ready").count() == 1
    await board.page.locator(f'#ready .token.newest[data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)
    assert await board.page.locator(f'#preparing [data-token="{token}"]').count() == 0
    await screenshot(kds, "kds-bumped")
    await screenshot(expo, "expo-ready")
    await screenshot(board, "board-ready")

    # The recently-bumped strip comes back from the snapshot after a reload, and RECALL works from it.
    await kds.page.reload()
    await kds.live()
    recall = kds.page.locator(f"#bumped {card(order_id)} button.recall")
    await recall.click(timeout=TIMEOUT_MS)
    await kds.page.locator(f"#queue {card(order_id)}").wait_for(timeout=TIMEOUT_MS)
    await expo.page.locator(f'#queue {card(order_id)}[data-ready="false"]').wait_for(timeout=TIMEOUT_MS)
    await board.page.locator(f'#preparing [data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)
    assert await board.page.locator(f'#ready [data-token="{token}"]').count() == 0
    no_errors(kds, expo, board)


async def test_kds_shows_added_voided_and_held_lines_distinctly_and_screens_are_saved(
    hub: RunningHub, browser: Any
) -> None:
    """NEW, +N, -N VOID, struck VOID and held lines look distinct; all-day, 86 panel and expo alerts are live."""
    kds, expo, board = await screens(browser, kds_url(hub, "grill"), expo_url(hub), board_url(hub))
    async with hub.http(Role.WAITER) as waiter, hub.http(Role.MANAGER) as manager:
        # A: fired, then 2 more burgers and a new line fired on top: "+2" and NEW on the same card.
        added = await new_order(waiter, notes="no onions")
        burger_a = (await command(waiter, "order.add_item", {"order_id": added, "menu_item_id": "burger"}))["result"]
        await command(waiter, "order.fire", {"order_id": added})
        await command(waiter, "order.change_item", {"order_id": added, "line_id": burger_a["line_id"], "quantity": 3})
        await command(waiter, "order.add_item", {"order_id": added, "menu_item_id": "paneer-tikka"})
        await command(waiter, "order.fire", {"order_id": added})
        # B: 3 burgers cut to 1 (-2 VOID) and the wings removed (struck through).
        voided = await new_order(waiter)
        burger_b = await command(
            waiter, "order.add_item", {"order_id": voided, "menu_item_id": "burger", "quantity": 3}
        )
        wings_b = await command(waiter, "order.add_item", {"order_id": voided, "menu_item_id": "chicken-wings"})
        await command(waiter, "order.fire", {"order_id": voided})
        await command(
            waiter, "order.change_item", {"order_id": voided, "line_id": burger_b["result"]["line_id"], "quantity": 1}
        )
        await command(waiter, "order.remove_item", {"order_id": voided, "line_id": wings_b["result"]["line_id"]})
        # C: course 2 held, then rushed: first in the queue, wings greyed as held.
        held = await new_order(waiter)
        await command(waiter, "order.add_item", {"order_id": held, "menu_item_id": "burger", "notes": "well done"})
        await command(waiter, "order.add_item", {"order_id": held, "menu_item_id": "chicken-wings", "course": 2})
        await command(waiter, "order.hold", {"order_id": held, "course": 2})
        await command(waiter, "order.fire", {"order_id": held})
        await command(manager, "order.rush", {"order_id": held, "rush": True})
        # D: made and bumped by expo: ready.
        done, answer = await fired(waiter, "burger")
        await command(manager, "order.bump", {"order_id": done})
        # E: fried, but no screen is live at fry: expo gets an alert.
        await fired(waiter, "calamari")

    queue = kds.page.locator("#queue")
    first = queue.locator(".card").first
    await queue.locator(f'{card(held)}.rush .line.held:has-text("COURSE 2 — HELD")').wait_for(timeout=TIMEOUT_MS)
    assert await first.get_attribute("data-order-id") == held  # rush first
    assert "well done" in await queue.locator(card(held)).inner_text()
    a = queue.locator(card(added))
    assert await a.locator(".line.m-ADDED .badge.added").inner_text() == "+2"
    assert await a.locator(".line.m-ADDED .qty").inner_text() == f"3{TIMES}"
    assert "Paneer Tikka" in await a.locator(".line.m-NEW").inner_text()
    assert "no onions" in await a.locator(".notes").inner_text()
    b = queue.locator(card(voided))
    assert await b.locator(".line.m-VOID .badge.void").inner_text() == f"{MINUS}2 VOID"
    assert await b.locator(".line.m-VOID .qty").inner_text() == f"1{TIMES}"
    assert "Grilled Wings" in await b.locator(".line.m-VOIDED").inner_text()
    await kds.page.locator(f"#bumped {card(done)}").wait_for(timeout=TIMEOUT_MS)
    # All day: burgers still to make are A's 3, B's 1 and C's 1 (D is done); the voided wings do not count.
    burgers = kds.page.locator('#allday [data-item="Classic Burger"]')
    assert await burgers.get_attribute("data-qty") == "5"
    assert await kds.page.locator('#allday [data-item="Grilled Wings"]').get_attribute("data-qty") == "1"
    await screenshot(kds, "kds-tickets")

    # The 86 panel: 86 an item and set a count from the screen; both come back as live stock.
    await kds.page.locator("#menu-toggle").click()
    panel = kds.page.locator("#menu")
    await panel.locator('.menu-item[data-item-id="paneer-tikka"] button.out-btn').click(timeout=TIMEOUT_MS)
    await panel.locator('.menu-item.out[data-item-id="paneer-tikka"]').wait_for(timeout=TIMEOUT_MS)
    wings = panel.locator('.menu-item[data-item-id="chicken-wings"]')
    await wings.locator("input").fill("12")
    await wings.locator("button", has_text="SET").click()
    await panel.locator('.menu-item[data-item-id="chicken-wings"] .left', has_text="12").wait_for(timeout=TIMEOUT_MS)
    await screenshot(kds, "kds-menu")

    await expo.page.locator(f'{card(done)}[data-ready="true"]').wait_for(timeout=TIMEOUT_MS)
    await expo.page.locator(f"#queue {card(held)}.rush").wait_for(timeout=TIMEOUT_MS)
    alert = expo.page.locator('#alerts li[data-kind="STATION_OFFLINE"]')
    await alert.wait_for(timeout=TIMEOUT_MS)
    assert "fry" in await alert.inner_text()
    await screenshot(expo, "expo-orders")
    await board.page.locator(f'#ready [data-token="{answer["result"]["order"]["token"]}"]').wait_for(timeout=TIMEOUT_MS)
    await screenshot(board, "board-tokens")
    no_errors(kds, expo, board)


@pytest.mark.slow
async def test_kds_resumes_by_itself_after_its_node_is_killed_and_shows_each_missed_ticket_once(
    servers: Servers, redis: Any, rid: str, tmp_path: Path, browser: Any
) -> None:
    """kill -9 of the KDS's node while tickets are fired elsewhere: the page reconnects, resumes and shows each once."""
    await seed(servers, rid)
    log = tmp_path / "nodes.log"
    a = NodeProcess(servers, free_port(), log)
    b = NodeProcess(servers, free_port(), log)
    started = [a, b]
    try:
        await a.ready()
        await b.ready()
        token = mint(SECRET, rid, Role.KITCHEN, device="kds-grill", stations=("grill",))
        (kds,) = await screens(browser, f"{a.url}/kds?token={token}")
        waiter = mint(SECRET, rid, Role.WAITER, device="waiter-1")
        async with httpx.AsyncClient(
            base_url=b.url, headers={"Authorization": f"Bearer {waiter}"}, timeout=WAIT
        ) as http:
            before = [(await fired(http, "burger"))[0] for _ in range(2)]
            for order_id in before:
                await kds.page.locator(f"#queue {card(order_id)}").wait_for(timeout=TIMEOUT_MS)
            a.kill()
            await kds.page.wait_for_selector(
                'body[data-conn="reconnecting"], body[data-conn="offline"]', timeout=TIMEOUT_MS
            )
            # A tap while the hub is away waits as an unsent command and goes out (same id) on reconnect.
            await kds.page.locator(f"{card(before[0])} .line").click()
            await kds.page.wait_for_function(
                "() => [...window.fireflow.hub.pending.values()].some((c) => c.frame.type === 'item.done')",
                timeout=TIMEOUT_MS,
            )
            await kds.page.locator("#conn", has_text="unsent").wait_for(timeout=TIMEOUT_MS)  # said on screen too
            meanwhile = [(await fired(http, "burger"))[0] for _ in range(4)]
        restarted = NodeProcess(servers, a.port, log)
        started.append(restarted)
        await restarted.ready()
        await kds.page.wait_for_selector('body[data-conn="live"]', timeout=4 * TIMEOUT_MS)
        await kds.page.locator(f'#bumped {card(before[0])} .line[data-status="DONE"]').wait_for(timeout=TIMEOUT_MS)
        cards = kds.page.locator("#queue .card")
        await cards.nth(len(before) + len(meanwhile) - 2).wait_for(timeout=TIMEOUT_MS)
        for order_id in before + meanwhile:
            assert await kds.page.locator(card(order_id)).count() == 1, order_id
        assert await cards.count() == len(before) + len(meanwhile) - 1
        assert await kds.page.locator(".card .line").count() == len(before) + len(meanwhile)
        stats = await kds.stats()
        print(f"kds connection stats: {stats}")
        assert stats["snapshots"] == 1 and stats["resumes"] >= 1, stats  # resumed with since/epoch, no new snapshot
        assert stats["replayed"] >= len(meanwhile), stats
        states = stats["states"]
        assert "reconnecting" in states[states.index("live") :] and states[-1] == "live", states
        await screenshot(kds, "kds-resumed")
    finally:
        for node in started:
            node.stop()


async def test_a_kds_of_several_stations_shows_a_card_per_station_and_bumps_from_the_keyboard(
    hub: RunningHub, browser: Any
) -> None:
    """/kds?stations=grill,fry shows a card per station of an order; keys 1, B bump the first; * is every station."""
    token = hub.token(Role.KITCHEN, stations=("grill", "fry"), device="kds-pass")
    pair, every = await screens(
        browser,
        f"{hub.url}/kds?token={token}&stations=grill,fry",
        f"{hub.url}/kds?token={hub.token(Role.KITCHEN, stations=('*',), device='kds-all')}",
    )
    assert await pair.page.locator("#title").inner_text() == "GRILL + FRY"
    assert await every.page.locator("#title").inner_text() == "GRILL + FRY + COLD + BAR"
    async with hub.http(Role.WAITER) as waiter:
        order_id, _ = await fired(waiter, "burger", ("fries", 2), "caesar")
    for station in ("grill", "fry"):
        await pair.page.locator(f'#queue {card(order_id)}[data-station="{station}"]').wait_for(timeout=TIMEOUT_MS)
    await every.page.locator(f'#queue {card(order_id)}[data-station="cold"]').wait_for(timeout=TIMEOUT_MS)
    assert await pair.page.locator(card(order_id)).count() == 2
    assert await pair.page.locator('#allday [data-station="fry"][data-item="Fries"]').get_attribute("data-qty") == "2"
    first = await pair.page.locator("#queue .card").first.get_attribute("data-station")
    other = "fry" if first == "grill" else "grill"
    await pair.page.keyboard.press("1")
    await pair.page.keyboard.press("b")
    await pair.page.locator(f'#bumped {card(order_id)}[data-station="{first}"]').wait_for(timeout=TIMEOUT_MS)
    await pair.page.locator(f'#queue {card(order_id)}[data-station="{other}"]').wait_for(timeout=TIMEOUT_MS)
    await screenshot(pair, "kds-two-stations")
    no_errors(pair, every)


async def test_a_cancelled_order_leaves_every_screen(hub: RunningHub, browser: Any) -> None:
    """order.cancel takes the order's cards off /kds and /expo and its token off /board."""
    kds, expo, board = await screens(browser, kds_url(hub, "grill"), expo_url(hub), board_url(hub))
    async with hub.http(Role.WAITER) as waiter, hub.http(Role.MANAGER) as manager:
        order_id, answer = await fired(waiter, "burger")
        token = answer["result"]["order"]["token"]
        await kds.page.locator(f"#queue {card(order_id)}").wait_for(timeout=TIMEOUT_MS)
        await expo.page.locator(f"#queue {card(order_id)}").wait_for(timeout=TIMEOUT_MS)
        await board.page.locator(f'#preparing [data-token="{token}"]').wait_for(timeout=TIMEOUT_MS)
        await command(manager, "order.cancel", {"order_id": order_id, "reason": "customer left"})
    for screen in (kds, expo):
        await screen.page.locator(card(order_id)).wait_for(state="detached", timeout=TIMEOUT_MS)
    await board.page.locator(f'[data-token="{token}"]').wait_for(state="detached", timeout=TIMEOUT_MS)
    no_errors(kds, expo, board)


async def test_two_station_tabs_in_one_browser_keep_their_own_device_across_reloads(
    hub: RunningHub, browser: Any
) -> None:
    """A grill tab and a fry tab in one browser: each reload stays itself; plain /kds takes the last device opened."""
    width, height = SIZES["/kds"]
    context = await browser.new_context(viewport={"width": width, "height": height})
    grill = await open_screen(browser, kds_url(hub, "grill"), context=context)
    await grill.live()
    fry = await open_screen(browser, kds_url(hub, "fry"), context=context)
    await fry.live()
    for tab, title in ((grill, "GRILL"), (fry, "FRY"), (grill, "GRILL")):
        await tab.page.reload()
        await tab.live()
        assert await tab.page.locator("#title").inner_text() == title
    assert "token=" not in grill.page.url and "device=kds-grill" in grill.page.url  # the address names no secret
    restored = await open_screen(browser, grill.page.url, context=context)  # a restored tab, or a bookmark
    await restored.live()
    assert await restored.page.locator("#title").inner_text() == "GRILL"
    kiosk = await open_screen(browser, f"{hub.url}/kds", context=context)  # a kiosk starting on its home page
    await kiosk.live()
    assert await kiosk.page.locator("#title").inner_text() == "GRILL"
    no_errors(grill, fry, restored, kiosk)


async def test_every_page_opened_with_another_roles_token_says_plainly_which_token_it_needs(
    hub: RunningHub, browser: Any
) -> None:
    """/kds, /expo, /board and /cashier with a token of the wrong role say so in words, never LIVE, nothing shown."""
    waiter, kitchen = hub.token(Role.WAITER), hub.token(Role.KITCHEN, stations=("grill",), device="kds-grill")
    cases = [
        ("kds", waiter, "This is a waiter's token; the kitchen screen needs a kitchen token."),
        ("expo", kitchen, "This is a kitchen token; the expo screen needs an expo token."),
        ("board", waiter, "This is a waiter's token; the order board needs a display token."),
        ("cashier", kitchen, "This is a kitchen token; the cashier screen needs a cashier's token."),
    ]
    for page, token, said in cases:
        screen = await open_screen(browser, f"{hub.url}/{page}?token={token}")
        blocked = screen.page.locator('#blocked[data-kind="role"]')
        await blocked.wait_for(timeout=TIMEOUT_MS)
        assert await blocked.locator(".why").inner_text() == said
        assert f"/{page}?token=" in await blocked.locator(".fix").inner_text()  # and what to do about it
        assert await screen.page.locator("body").get_attribute("data-conn") == "offline"
        assert "LIVE" not in await screen.page.locator("#conn").inner_text()
        assert not await screen.page.locator("main").is_visible()
        assert not await screen.page.locator("#figures").is_visible()  # no zero figures on the till
        await screenshot(screen, f"{page}-wrong-token")
        no_errors(screen)
    phone = await open_screen(browser, f"{hub.url}/kds?token={waiter}", size=PHONE)
    await phone.page.locator('#blocked[data-kind="role"]').wait_for(timeout=TIMEOUT_MS)
    await screenshot(phone, "kds-wrong-token-phone")


async def test_a_refused_or_expired_token_is_said_plainly(hub: RunningHub, browser: Any) -> None:
    """A mistyped token and an expired one each stop the screen with a sentence saying which, never LIVE."""
    expired = mint(SECRET, hub.rid, Role.EXPO, device="expo-1", ttl=-60)
    for token, kind, words in (("not-a-token", "refused", "does not accept"), (expired, "expired", "expired on")):
        screen = await open_screen(browser, f"{hub.url}/expo?token={token}")
        blocked = screen.page.locator(f'#blocked[data-kind="{kind}"]')
        await blocked.wait_for(timeout=TIMEOUT_MS)
        assert words in await blocked.locator(".why").inner_text()
        assert await screen.page.locator("body").get_attribute("data-conn") == "offline"
        await screenshot(screen, f"expo-token-{kind}")
        no_errors(screen)


async def test_expo_offers_no_recall_on_a_settled_order_and_a_refusal_reads_as_plain_words(
    hub: RunningHub, browser: Any
) -> None:
    """Once a dine-in order is paid (closed) expo marks it PAID with no RECALL; the KDS's refused RECALL says why."""
    kds, expo = await screens(browser, kds_url(hub, "grill"), expo_url(hub))
    async with hub.http(Role.WAITER) as waiter, hub.http(Role.EXPO) as runner, hub.http(Role.CASHIER) as till:
        order_id, answer = await fired(waiter, "burger", type="DINE_IN", table_id="T4", guests=2)
        number = answer["result"]["order"]["number"]
        await command(runner, "order.bump", {"order_id": order_id})
        await expo.page.locator(f"#done {card(order_id)} button.recall").wait_for(timeout=TIMEOUT_MS)
        await kds.page.locator(f"#bumped {card(order_id)} button.recall").wait_for(timeout=TIMEOUT_MS)
        due = (await command(till, "bill.preview", {"order_ids": [order_id]}))["result"]["due"]
        await command(till, "order.pay", {"order_ids": [order_id], "tenders": [{"method": "CASH", "amount": due}]})
    paid = expo.page.locator(f'#done {card(order_id)}[data-closed="true"]')
    await paid.wait_for(timeout=TIMEOUT_MS)
    assert await paid.locator(".badge.paid").inner_text() == "PAID"
    assert await paid.locator("button").count() == 0
    await screenshot(expo, "expo-paid")

    # The kitchen is not told of payments: its RECALL is refused, and the refusal is said in words.
    await kds.page.locator(f"#bumped {card(order_id)} button.recall").click()
    refusal = kds.page.locator('#toasts .toast.error[data-code="INVALID_STATE"]')
    await refusal.wait_for(timeout=TIMEOUT_MS)
    assert await refusal.inner_text() == f"Not done: order #{number} is closed (already paid)."
    no_errors(kds, expo)


async def test_a_new_expo_gets_the_standing_alerts_in_its_snapshot_and_shows_them_until_the_station_is_back(
    hub: RunningHub, browser: Any
) -> None:
    """A STATION_OFFLINE alert is in a new expo's snapshot and on a freshly opened /expo; a fry screen ends it."""
    async with hub.http(Role.WAITER) as waiter:
        order_id, _ = await fired(waiter, "calamari")  # fry has no screen
    reader = await hub.client(Role.EXPO)
    (alert,) = (await reader.subscribe("expo"))["snapshot"]["expo"]["alerts"]
    assert (alert["kind"], alert["order_id"], alert["station"]) == ("STATION_OFFLINE", order_id, "fry")
    manager = await hub.client(Role.MANAGER)
    assert (await manager.subscribe("manager"))["snapshot"]["manager"]["alerts"] == [alert]

    (expo,) = await screens(browser, expo_url(hub))
    shown = expo.page.locator(f'#alerts li[data-alert-id="{alert["id"]}"]')
    await shown.wait_for(timeout=TIMEOUT_MS)
    assert alert["message"] in await shown.inner_text()
    await screenshot(expo, "expo-alert-from-snapshot")

    (fry,) = await screens(browser, kds_url(hub, "fry"))  # the station is back: its screen acks the ticket
    await fry.page.locator(f"#queue {card(order_id)}").wait_for(timeout=TIMEOUT_MS)
    await shown.wait_for(state="detached", timeout=TIMEOUT_MS)
    assert (await (await hub.client(Role.EXPO)).subscribe("expo"))["snapshot"]["expo"]["alerts"] == []
    no_errors(expo, fry)
