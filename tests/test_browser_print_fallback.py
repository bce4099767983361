"""The fallback chain's screens (seed 004) in a real browser (Debian's Chromium under Playwright).

Both printers of the grill off, a real print agent: the ticket no printer could print is on expo's and
the back office's manual list and flagged on the grill's screen, each at the size it is used at, with
its action in view unscrolled; a press there handles it on every screen, by events. Waits are on what
the pages show and on printed tickets, never on sleeps.

Run: ``.venv/bin/python -m pytest tests/test_browser_print_fallback.py -q -s`` (``-s`` shows the
screenshot paths); the screenshots go to ``test-artifacts/screenshots/<page>-print-*.png``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from fireflow.clients.printers.agent import STATUS_QUERY, PrintAgent
from fireflow.clients.printers.emulator import PrinterEmulator
from fireflow.hub.domain.actors import Role
from tests.browser import SIZES, TIMEOUT_MS, Screen, card, chromium, fired, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub
from tests.helpers import grill_printing_with_backup, running_agent

TIMES = "\u00d7"  # how the screens print "1x"
CRITICAL_WAIT_MS = 4 * TIMEOUT_MS  # print_manual_s (1 s) and the hub's timer, on a slow machine


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


@contextlib.asynccontextmanager
async def _printers_down(
    hub: RunningHub, *, manual_s: int = 120, dropping: bool = False
) -> AsyncIterator[PrinterEmulator]:
    """Both grill printers off (or the kitchen one ``dropping`` the link mid-ticket: never confirmed) and an
    agent serving them; yields the kitchen printer (to turn back on)."""
    async with await PrinterEmulator.start() as kitchen, await PrinterEmulator.start() as pass_:
        await grill_printing_with_backup(hub, kitchen.port, pass_.port, manual_s=manual_s)
        if dropping:
            kitchen.drop_after(len(STATUS_QUERY) + 16)  # the status query, then part of the ticket
        else:
            await kitchen.set_offline(True)
        await pass_.set_offline(True)
        agent = PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device="print-agent-1"))
        async with running_agent(agent, WAIT):
            yield kitchen


async def _burger(hub: RunningHub) -> tuple[str, int, str]:
    """A burger fired to the grill: its order id, its number, and the id of its job on the manual list."""
    async with hub.http(Role.WAITER) as waiter:
        order_id, answer = await fired(waiter, "burger")
    return order_id, answer["result"]["order"]["number"], f"{order_id}:t1@pass"  # the last printer tried


def expo_url(hub: RunningHub, device: str = "expo-1") -> str:
    return f"{hub.url}/expo?token={hub.token(Role.EXPO, device=device)}"


def kds_url(hub: RunningHub, station: str) -> str:
    return f"{hub.url}/kds?token={hub.token(Role.KITCHEN, stations=(station,), device=f'kds-{station}')}"


def manager_url(hub: RunningHub) -> str:
    return f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}"


async def _live(screen: Screen) -> Screen:
    await screen.live()
    return screen


def _no_errors(*screens: Screen) -> None:
    errors = [error for screen in screens for error in screen.errors]
    assert errors == [], errors


async def _job(hub: RunningHub, job_id: str) -> dict[str, Any]:
    """The job as the hub holds it now (the `printing` snapshot keeps every job not printed)."""
    reader = await hub.client(Role.MANAGER, device="manager-9")
    jobs = (await reader.subscribe("printing"))["snapshot"]["printing"]["jobs"]
    found: list[dict[str, Any]] = [j for j in jobs if j["id"] == job_id]
    (job,) = found
    return job


def _entry(screen: Screen, job_id: str) -> Any:
    return screen.page.locator(f'#manual li.manual-job[data-job-id="{job_id}"]')


async def test_expo_lists_a_ticket_no_printer_could_print_and_done_by_hand_takes_it_off(
    hub: RunningHub, browser: Any
) -> None:
    """Both printers off: expo at 1920x1080 shows the alert and the manual-list entry, in words and in view
    unscrolled; "Done by hand" takes both off and the hub records who did it."""
    async with _printers_down(hub):
        expo = await _live(await open_screen(browser, expo_url(hub)))
        _, number, job_id = await _burger(hub)
        entry = _entry(expo, job_id)
        alert = expo.page.locator(f'#alerts li[data-kind="PRINT_MANUAL"][data-alert-id="{job_id}:print_manual"]')
        assert await in_view(entry) and await in_view(alert)
        assert await in_view(entry.locator("button.by-hand")) and await in_view(entry.locator("button.reprint"))
        said = await entry.inner_text()
        assert f"Order {number} — Grill ticket: no printer could print it (offline)" in said
        assert f"1{TIMES} Classic Burger" in said and "waiting 0:" in said
        assert await entry.locator("button.found").count() == 0  # it failed everywhere: nothing may have printed
        assert f"No printer could print order {number}'s grill ticket (offline)" in await alert.inner_text()
        assert await alert.locator("button", has_text="OK").count() == 1  # a warning: OK hides it here
        await screenshot(expo, "expo-print-manual")

        await entry.locator("button.by-hand").click()
        await entry.wait_for(state="detached", timeout=TIMEOUT_MS)
        await alert.wait_for(state="detached", timeout=TIMEOUT_MS)
        assert await expo.page.locator("#manual").is_hidden()
    job = await _job(hub, job_id)
    assert (job["handled"], job["handled_by"]) == ("done by hand", "expo-1")
    _no_errors(expo)


async def test_the_grill_screen_flags_the_ticket_and_got_it_clears_it_there_and_on_expo(
    hub: RunningHub, browser: Any
) -> None:
    """The grill KDS at 1920x1080 flags the unprinted ticket's card, from events and again from its snapshot
    after a reload; "Got it" says it is made from the screen: the flag goes, and expo's entry and alert."""
    async with _printers_down(hub):
        kds = await _live(await open_screen(browser, kds_url(hub, "grill")))
        expo = await _live(await open_screen(browser, expo_url(hub)))
        order_id, _, job_id = await _burger(hub)
        ticket = kds.page.locator(f"#queue {card(order_id)}")
        flag = ticket.locator(".print-flag")
        assert await in_view(flag.locator("button.got-it"))
        assert await flag.locator(".flag-text").inner_text() == "NOT PRINTED — cook from this screen"
        assert "No printer could print this ticket" in await flag.inner_text()
        assert job_id in (await ticket.get_attribute("data-unprinted") or "").split()
        assert "Classic Burger" in await ticket.locator(".line").inner_text()  # the card is what to cook from
        await _entry(expo, job_id).wait_for(timeout=TIMEOUT_MS)
        await screenshot(kds, "kds-print-not-printed")

        await kds.page.reload()  # the flag comes back from the `kitchen:grill` snapshot's `manual`
        await kds.live()
        assert await in_view(flag.locator("button.got-it"))
        await flag.locator("button.got-it").click()
        await flag.wait_for(state="detached", timeout=TIMEOUT_MS)
        await kds.page.locator(f"#queue {card(order_id)}:not(.unprinted)").wait_for(timeout=TIMEOUT_MS)
        await _entry(expo, job_id).wait_for(state="detached", timeout=TIMEOUT_MS)
        await expo.page.locator('#alerts li[data-kind="PRINT_MANUAL"]').wait_for(state="detached", timeout=TIMEOUT_MS)
    job = await _job(hub, job_id)
    assert (job["handled"], job["handled_by"]) == ("done by hand", "kds-grill")
    _no_errors(kds, expo)


async def test_the_back_office_shows_the_list_and_the_critical_alert_and_a_reprint_handles_it(
    hub: RunningHub, browser: Any
) -> None:
    """The back office at a manager's 1366x768: nobody handles the ticket in print_manual_s (1 s), so the
    alert turns CRITICAL (no OK, in place of the warning, kept over a reload) with the entry in view; the
    kitchen printer back, "Reprint" takes both off and the copy prints marked REPRINT."""
    assert SIZES["/manager"] == (1366, 768)
    async with _printers_down(hub, manual_s=1) as kitchen:
        screen = await _live(await open_screen(browser, manager_url(hub)))
        page = screen.page
        _, number, job_id = await _burger(hub)
        entry = page.locator(f'#manual li.manual-job.critical[data-job-id="{job_id}"]')
        critical = page.locator(
            f'#alerts-list li.critical[data-kind="PRINT_UNHANDLED"][data-alert-id="{job_id}:print_unhandled"]'
        )
        await critical.wait_for(timeout=CRITICAL_WAIT_MS)
        for shown in (critical, entry, entry.locator("button.by-hand"), entry.locator("button.reprint")):
            assert await in_view(shown)
        assert f"Nobody has handled order {number}'s grill ticket" in await critical.inner_text()
        assert await critical.get_attribute("data-severity") == "CRITICAL"
        assert await critical.locator("button").count() == 0  # cannot be dismissed while it stands
        assert await page.locator('#alerts-list li[data-kind="PRINT_MANUAL"]').count() == 0  # replaced
        assert await page.locator("#nav-alerts.critical").count() == 1
        assert "it may not be made: act now" in await entry.inner_text()
        await screenshot(screen, "manager-print-critical")

        await page.reload()  # both come back from the `manager` snapshot
        await screen.live()
        assert await in_view(critical) and await in_view(entry)
        await kitchen.set_offline(False)
        await entry.locator("button.reprint").click()
        await entry.wait_for(state="detached", timeout=TIMEOUT_MS)
        await critical.wait_for(state="detached", timeout=TIMEOUT_MS)
        await page.locator("#toasts .toast.info", has_text="reprinting on printer kitchen").wait_for(timeout=TIMEOUT_MS)
        (ticket,) = await kitchen.wait_for(1, WAIT)
    assert "REPRINT" in ticket.text and "1 x Classic Burger" in ticket.text
    assert (await _job(hub, job_id))["handled"] == f"reprinted as {job_id}:r1"
    _no_errors(screen)


async def test_a_ticket_that_may_have_printed_says_so_and_it_printed_takes_it_off(
    hub: RunningHub, browser: Any
) -> None:
    """The kitchen printer drops the link mid-ticket (UNCONFIRMED, never printed again by itself): the grill's
    card and expo's entry say to check the printer, expo offers "It printed", which takes both off."""
    async with _printers_down(hub, dropping=True):
        kds = await _live(await open_screen(browser, kds_url(hub, "grill")))
        expo = await _live(await open_screen(browser, expo_url(hub)))
        order_id, number, _ = await _burger(hub)
        job_id = f"{order_id}:t1"  # not rerouted: the printer may still print what it got
        entry = _entry(expo, job_id)
        assert await in_view(entry.locator("button.found"))
        said = await entry.inner_text()
        assert f"Order {number} — Grill ticket: check the printer: it may have printed" in said
        assert "MAY NOT HAVE PRINTED" in said
        flag = kds.page.locator(f"#queue {card(order_id)} .print-flag")
        assert await in_view(flag.locator("button.got-it"))
        assert "The printer may have printed it: check it before making it twice" in await flag.inner_text()
        await screenshot(expo, "expo-print-unconfirmed")
        await screenshot(kds, "kds-print-unconfirmed")

        await entry.locator("button.found").click()
        await entry.wait_for(state="detached", timeout=TIMEOUT_MS)
        await flag.wait_for(state="detached", timeout=TIMEOUT_MS)
    assert (await _job(hub, job_id))["handled"] == "found printed"
    _no_errors(kds, expo)


def _holding_events(held: list[Callable[[], None]], holding: list[bool]) -> Callable[[Any], None]:
    """A WebSocket route that keeps the hub's events from the page while ``holding[0]`` (answers pass)."""

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_hub(message: str | bytes) -> None:
            is_event = isinstance(message, str) and json.loads(message).get("op") == "event"
            if holding[0] and is_event:
                held.append(lambda: ws.send(message))
            else:
                ws.send(message)

        server.on_message(from_hub)

    return route


async def test_a_ticket_handled_meanwhile_elsewhere_is_refused_in_plain_words(hub: RunningHub, browser: Any) -> None:
    """Expo presses "Done by hand" on a ticket the manager handled a moment before (the event not yet
    there): the refusal says who handled it, in words; the event then takes the entry off."""
    held: list[Callable[[], None]] = []
    holding = [False]
    width, height = SIZES["/expo"]
    context = await browser.new_context(viewport={"width": width, "height": height})
    await context.route_web_socket("**/ws", _holding_events(held, holding))
    async with _printers_down(hub):
        expo = await _live(await open_screen(browser, expo_url(hub), context=context))
        _, number, job_id = await _burger(hub)
        entry = _entry(expo, job_id)
        await entry.wait_for(timeout=TIMEOUT_MS)
        holding[0] = True
        async with hub.http(Role.MANAGER, device="manager-1") as http:
            answer = await http.post(f"/api/v1/print-jobs/{job_id}/handled", json={"how": "BY_HAND"})
            assert answer.status_code == 200, answer.text
        await entry.locator("button.by-hand").click()
        words = "Already handled by manager-1 (done by hand)."
        toast = expo.page.locator('#toasts .toast.error[data-code="INVALID_STATE"]')
        await toast.wait_for(timeout=TIMEOUT_MS)
        assert await toast.inner_text() == f"Order {number} — Grill ticket: {words}"
        assert await entry.locator(".problem").inner_text() == words
        assert await in_view(entry.locator(".problem"))
        await screenshot(expo, "expo-print-refused")
        holding[0] = False
        for send in held:
            send()
        await entry.wait_for(state="detached", timeout=TIMEOUT_MS)
    assert [e for e in expo.errors if "INVALID_STATE" not in e] == []
