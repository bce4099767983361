"""Printer health on expo and the back office in a real browser (Debian's Chromium under Playwright).

A real print agent reads the loopback printer; the printer runs out of paper: expo at 1920x1080 and the
back office at 1366x768 say "Grill printer: out of paper since HH:MM" in plain words, in view without
scrolling, live from PRINTER_STATUS and again after a reload (the snapshot); paper back: "ready".
Waits are on what the pages show, never on sleeps.

Run: ``.venv/bin/python -m pytest tests/test_browser_printer_health.py -q -s`` (``-s`` shows the screenshot
paths); the screenshots go to ``test-artifacts/screenshots/<page>-printer-*.png``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.printers.agent import PrintAgent
from fireflow.clients.printers.emulator import PrinterEmulator
from fireflow.hub.domain.actors import Role
from tests.browser import SIZES, TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import WAIT, RunningHub

OUT_OF_PAPER = re.compile(r"^Grill printer: out of paper since \d\d:\d\d$")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def _line(screen: Screen, state: str) -> Any:
    """The strip's line of the kitchen printer once it shows ``state``."""
    line = screen.page.locator(f'#printer-health li[data-printer="kitchen"][data-state="{state}"]')
    await line.wait_for(timeout=TIMEOUT_MS)
    return line


async def test_expo_and_the_back_office_say_a_printer_is_out_of_paper(hub: RunningHub, browser: Any) -> None:
    """Out of paper: in plain words on expo (1920x1080) and the back office (1366x768), in view unscrolled, live and
    after a reload; paper back: the line says ready, small."""
    async with await PrinterEmulator.start() as printer:
        async with hub.http(Role.MANAGER) as http:
            body = {"printer": {"id": "kitchen", "name": "Grill", "host": "127.0.0.1", "port": printer.port}}
            assert (await http.put("/api/v1/setup/printers", json=body)).status_code == 200
        expo = await open_screen(browser, f"{hub.url}/expo?token={hub.token(Role.EXPO, device='expo-1')}")
        manager = await open_screen(browser, f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}")
        for screen in (expo, manager):
            await screen.live()
            assert await (await _line(screen, "UNKNOWN")).inner_text() == (
                "Grill printer: not known: no print agent has reported it yet"
            )
        agent = PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device="print-agent-1"), status_every=0.05)
        task = asyncio.create_task(agent.run())
        try:
            for screen in (expo, manager):
                assert await (await _line(screen, "ONLINE")).inner_text() == "Grill printer: ready"
            printer.paper_out = True
            for screen in (expo, manager):
                line = await _line(screen, "PAPER_OUT")
                assert OUT_OF_PAPER.match(await line.inner_text()), await line.inner_text()
                assert await in_view(line)
            assert await expo.page.evaluate("() => [window.innerWidth, window.innerHeight]") == list(SIZES["/expo"])
            await screenshot(expo, "expo-printer-out-of-paper")
            await screenshot(manager, "manager-printer-out-of-paper")
            await expo.page.reload()
            await expo.live()
            line = await _line(expo, "PAPER_OUT")  # from the snapshot
            assert OUT_OF_PAPER.match(await line.inner_text()) and await in_view(line)
            printer.paper_out = False
            for screen in (expo, manager):
                assert await (await _line(screen, "ONLINE")).inner_text() == "Grill printer: ready"
                assert await screen.page.locator("#printer-health li.bad").count() == 0
        finally:
            await agent.stop()
            await asyncio.wait_for(task, WAIT)
        assert expo.errors == [] and manager.errors == []
