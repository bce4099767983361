"""PRINT RECEIPT on the cashier page in a real browser (Debian's Chromium), printed by a real agent on the emulator.

Run: ``.venv/bin/python -m pytest tests/test_browser_print_receipt.py -q -s``; the screenshot goes to
``test-artifacts/screenshots/cashier-print-receipt.png``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fireflow.clients.printers.agent import Outcome, PrintAgent
from fireflow.clients.printers.emulator import PrinterEmulator
from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, chromium, command, new_order, open_screen, screenshot
from tests.conftest import WAIT, RunningHub


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


async def test_a_paid_order_prints_its_receipt_from_a_till_with_a_desk_printer(hub: RunningHub, browser: Any) -> None:
    """No desk: no button. The manager gives the till a desk: PRINT RECEIPT appears, prints once; pressed again,
    the page says plainly that it was printed and how to get a copy."""
    async with await PrinterEmulator.start() as printer:
        async with hub.http(Role.MANAGER) as manager:
            desk_printer = {"id": "desk", "name": "Front desk", "host": "127.0.0.1", "port": printer.port}
            assert (await manager.put("/api/v1/setup/printers", json={"printer": desk_printer})).status_code == 200
        screen = await open_screen(browser, f"{hub.url}/cashier?token={hub.token(Role.CASHIER, device='cashier-1')}")
        await screen.live()
        page = screen.page
        async with hub.http(Role.WAITER) as waiter:
            order_id = await new_order(waiter, "burger", customer_name="Asha")
            await command(waiter, "order.fire", {"order_id": order_id})
        entry = page.locator(f'#to-go .togo[data-order-id="{order_id}"]')
        await entry.click()
        await page.locator("#bill-total").wait_for(timeout=TIMEOUT_MS)
        await page.locator("#d-pay button.add-card").click()
        await page.locator("#settle").click()
        await page.locator("#receipt").wait_for(timeout=TIMEOUT_MS)
        assert await page.locator("#print-receipt").count() == 0  # this till has no desk printer yet

        async with hub.http(Role.MANAGER) as manager:
            desk = {"id": "cashier-1", "name": "Front", "printer": "desk"}
            assert (await manager.put("/api/v1/setup/desks", json={"desk": desk})).status_code == 200
        button = page.locator("#print-receipt")
        await button.wait_for(timeout=TIMEOUT_MS)  # PROFILE_CHANGED told the page
        agent = PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device="print-agent-1"))
        running = asyncio.create_task(agent.run())
        try:
            await asyncio.wait_for(agent.ready.wait(), WAIT)
            await button.click()
            await page.locator("#toasts .toast.info", has_text="Receipt sent to printer desk").wait_for(
                timeout=TIMEOUT_MS
            )
            (paper,) = await printer.wait_for(1, WAIT)
            assert "INVOICE 1" in paper.text and "Classic Burger" in paper.text
            (done,) = await agent.results_when(1, WAIT)  # the paper can be out before the agent records it
            assert done.outcome is Outcome.PRINTED
            await button.click()  # again: refused, in words
            said = page.locator("#toasts .toast.error")
            await said.wait_for(timeout=TIMEOUT_MS)
            text = await said.inner_text()
            assert "was printed already" in text and "print.reprint" in text and "REPRINT" in text, text
            assert await said.get_attribute("data-code") == "INVALID_STATE"
            await screenshot(screen, "cashier-print-receipt")
        finally:
            await agent.stop()
            await asyncio.wait_for(running, WAIT)
        assert len(printer.printed) == 1
        assert screen.errors == [], screen.errors


async def test_the_manager_prints_the_z_report_on_a_printer_from_the_day(hub: RunningHub, browser: Any) -> None:
    """The day section offers PRINT Z-REPORT once the restaurant has a printer; the agent prints the day's figures."""
    async with await PrinterEmulator.start() as printer:
        screen = await open_screen(browser, f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}")
        await screen.live()
        page = screen.page
        await page.click('[data-go="day"]')
        await page.locator("#sec-day:not([hidden])").wait_for(timeout=TIMEOUT_MS)
        assert await page.locator("#z-print-box").is_hidden()  # no printer in the setup yet
        async with hub.http(Role.MANAGER) as manager:
            office = {"id": "office", "name": "Office", "host": "127.0.0.1", "port": printer.port}
            assert (await manager.put("/api/v1/setup/printers", json={"printer": office})).status_code == 200
        await page.locator("#z-print-box:not([hidden])").wait_for(timeout=TIMEOUT_MS)
        assert await page.locator("#z-printer").input_value() == "office"
        agent = PrintAgent(hub.ws_url, hub.token(Role.PRINTER, device="print-agent-1"))
        running = asyncio.create_task(agent.run())
        try:
            await asyncio.wait_for(agent.ready.wait(), WAIT)
            await page.click("#z-print")
            await page.locator("#toasts .toast.info", has_text="Z-report sent to printer office").wait_for(
                timeout=TIMEOUT_MS
            )
            (paper,) = await printer.wait_for(1, WAIT)
        finally:
            await agent.stop()
            await asyncio.wait_for(running, WAIT)
        assert "Z-REPORT" in paper.text and "Invoices: 0" in paper.text
        await screenshot(screen, "manager-print-z-report")
        assert screen.errors == [], screen.errors
