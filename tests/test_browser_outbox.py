"""The back office's "Sent out" panel (/manager, the Alerts section) in Debian's Chromium at a manager's 1366x768:
the outbox's counts over both targets (ERPNext, the invoice archive), each row naming its target, a failed push
said in ERPNext's words with its tries and a Retry in view, the pending, the logged-only and the archived ones;
Retry sends outbox.retry and the refreshed list (and Postgres) has it pending; a refusal is plain.

Run: ``.venv/bin/python -m pytest tests/test_browser_outbox.py -q -s`` (``-s`` shows the screenshot paths); the
screenshots go to ``test-artifacts/screenshots/manager-outbox*.png`` and ``/tmp/manager-outbox.png``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.clients.erpnext.emulator import serve_emulator
from fireflow.hub.domain.actors import Role
from fireflow.hub.integrations.object_store import LocalStore
from fireflow.hub.workers.outbox import OutboxDrain
from fireflow.hub.workers.outbox_archive import ArchiveTarget
from fireflow.hub.workers.outbox_erpnext import ErpNextTarget
from fireflow.schema.tables import OutboxRow
from tests.browser import TIMEOUT_MS, Screen, chromium, in_view, open_screen, screenshot
from tests.conftest import RunningHub
from tests.test_outbox import KEY, SECRET, _alone, _refused, _rows, _settled, _until_done

LAPTOP = (1366, 768)
# The nav's Alerts badge is the standing kitchen alerts, the findings that need someone, and ``failed`` sends.
BADGE_IS = """(failed) => {
  const f = window.fireflow, others = f.alerts.standing().length + f.sweeps.needsYou().length;
  const n = others + failed;
  return f.outbox.failedCount() === failed && document.getElementById("nav-alerts").textContent === (n ? String(n) : "");
}"""
WAITED = {"timeout": TIMEOUT_MS}  # each expectation waits as long as the other browser tests do


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


def expect(locator: Any) -> Any:
    """Playwright's expect, imported once the browser fixture has found Playwright (else the test is skipped)."""
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)


async def _manager_page(browser: Any, hub: RunningHub) -> Screen:
    url = f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    return screen


async def _failed(hub: RunningHub, engine: AsyncEngine) -> Any:
    """A sale pushed to a loopback ERPNext with a wrong API secret: FAILED at once (401), its outbox row."""
    paid = await _settled(hub)
    await _alone(engine, hub.rid)
    async with serve_emulator(KEY, SECRET) as erp:
        row = await _refused(engine, erp.url, paid["invoice_id"])
    assert row.status == "FAILED" and "401 AuthenticationError" in (row.last_error or "")
    return row


async def _status(engine: AsyncEngine, outbox_id: int) -> str | None:
    async with engine.connect() as conn:
        status: str | None = (
            await conn.execute(select(OutboxRow.status).where(OutboxRow.id == outbox_id))
        ).scalar_one_or_none()
    return status


async def _archive(hub: RunningHub, engine: AsyncEngine, invoice_id: str, folder: Path) -> Any:
    """The invoice's archive row drained to a local directory until DONE: the row."""
    target = ArchiveTarget(LocalStore(folder), hub.hub.invoice_links, hub.hub.store.restaurant)
    drain = OutboxDrain(engine, [target])
    while True:
        await drain.drain()
        (row,) = await _rows(engine, invoice_id, "archive")
        if row.status == "DONE":
            return row


async def test_the_panel_says_what_went_out_where_and_retry_sends_a_failed_one_again(
    hub: RunningHub, engine: AsyncEngine, browser: Any, tmp_path: Path
) -> None:
    """Each sale has a row for ERPNext and one for the archive: one sale logged-only and archived, one failed (401)
    with its archive row pending, one pending twice. The counts of all six, each row's target, the error and tries
    with Retry in view once the panel is, "logged here", "archived as"; Retry makes the failed one pending on the
    page and in Postgres."""
    logged = await _settled(hub)
    await _alone(engine, hub.rid)
    (done,) = await _until_done(OutboxDrain(engine, [ErpNextTarget(None)]), engine, logged["invoice_id"], 1)
    assert done.status == "DONE" and done.last_error == "ERPNEXT_URL is not set: not sent"
    archived = await _archive(hub, engine, logged["invoice_id"], tmp_path)
    failed = await _failed(hub, engine)
    waiting = await _settled(hub)
    (pending,) = await _rows(engine, waiting["invoice_id"])
    assert pending.status == "PENDING"

    screen = await _manager_page(browser, hub)
    page = screen.page
    await expect(page.locator("#sec-alerts")).to_be_visible(**WAITED)
    assert await in_view(page.locator("#alerts-list li").first)  # the section's own main content stays first
    await expect(page.locator("#outbox h2")).to_have_text("Sent out: ERPNext, invoice archive", **WAITED)
    await expect(page.locator("#outbox-count-FAILED")).to_have_text("1 failed", **WAITED)
    await expect(page.locator("#outbox-count-PENDING")).to_have_text("3 pending", **WAITED)
    await expect(page.locator("#outbox-count-DONE")).to_have_text("2 done", **WAITED)
    await expect(page.locator("#outbox-problem")).to_have_count(0)  # read fine: no problem line
    items = page.locator("#outbox-list li.ob-item")
    await expect(items).to_have_count(6, **WAITED)
    shown = [(await items.nth(i).get_attribute("data-status"), await items.nth(i).get_attribute("data-target"))
             for i in range(6)]  # fmt: skip
    assert [status for status, _ in shown] == ["FAILED", "PENDING", "PENDING", "PENDING", "DONE", "DONE"]
    assert sorted(target for _, target in shown) == ["archive"] * 3 + ["erpnext"] * 3
    targets = await page.locator("#outbox-list li.ob-item").evaluate_all(
        "(els) => els.map((el) => [el.dataset.target, el.querySelector('.ob-target').textContent])"
    )
    assert {tuple(t) for t in targets} == {("erpnext", "ERPNext"), ("archive", "Invoice archive")}

    bad = page.locator(f'#outbox-list li[data-outbox-id="{failed.id}"]')
    await expect(bad.locator(".ob-what")).to_have_text(f"ERPNext Sale of invoice {failed.reference}", **WAITED)
    await expect(bad.locator(".ob-error")).to_have_text(failed.last_error, **WAITED)
    await expect(bad.locator(".ob-tries")).to_contain_text("tried 1 time", **WAITED)
    retry = bad.locator("button.ob-retry")
    await expect(retry).to_have_text("Retry", **WAITED)
    await page.locator("#outbox").scroll_into_view_if_needed()
    assert await in_view(retry), "a failed item's Retry needs a scroll once the panel is in view"
    assert await in_view(page.locator("#outbox-count-FAILED"))
    sizes = await page.locator("#outbox-list li .ob-what").evaluate_all(
        "(els) => els.map((el) => parseFloat(getComputedStyle(el).fontSize))"
    )
    assert min(sizes) >= 20, sizes  # the page's list size (1.05rem of 20px), readable at arm's length

    waits = page.locator(f'#outbox-list li[data-outbox-id="{pending.id}"]')
    await expect(waits.locator(".ob-next")).to_have_text(re.compile(r"^next try \d\d:\d\d$"), **WAITED)
    there = page.locator(f'#outbox-list li[data-outbox-id="{done.id}"]')
    await expect(there.locator(".ob-done")).to_have_text("logged here (ERPNext not set up)", **WAITED)
    kept = page.locator(f'#outbox-list li[data-outbox-id="{archived.id}"]')
    await expect(kept.locator(".ob-what")).to_have_text(f"Invoice archive Sale of invoice {archived.reference}")
    await expect(kept.locator(".ob-done")).to_have_text(f"archived as {archived.remote_id}", **WAITED)
    assert archived.remote_id.startswith(f"{hub.rid}/invoices/") and archived.remote_id.endswith(".pdf")
    await screenshot(screen, "manager-outbox")
    # the failed send counts in the nav's Alerts badge, beside the kitchen's alerts and the sweeps' findings
    await page.wait_for_function(BADGE_IS, arg=1, timeout=TIMEOUT_MS)

    await retry.click()
    await expect(page.locator(f'#outbox-list li[data-outbox-id="{failed.id}"][data-status="PENDING"]')).to_have_count(
        1, **WAITED
    )
    await expect(page.locator("#outbox-count-FAILED")).to_have_text("0 failed", **WAITED)
    await expect(page.locator("#outbox-count-PENDING")).to_have_text("4 pending", **WAITED)
    await expect(page.locator(f'#outbox-list li[data-outbox-id="{failed.id}"] .ob-next')).to_contain_text(
        "next try", **WAITED
    )
    assert await _status(engine, failed.id) == "PENDING"
    await page.wait_for_function(BADGE_IS, arg=0, timeout=TIMEOUT_MS)  # retried: no longer counted
    await there.locator("button.ob-invoice").click()  # the invoice it is about, whole, in the Invoices section
    await expect(page.locator("#sec-invoices")).to_be_visible(**WAITED)
    await expect(page.locator(f'#inv-total[data-minor="{logged["total"]}"]')).to_have_count(1, **WAITED)
    assert screen.errors == [], screen.errors


async def test_a_retry_refused_and_a_list_not_read_are_said_plainly(
    hub: RunningHub, engine: AsyncEngine, browser: Any
) -> None:
    """A failed item sent meanwhile (DONE in Postgres) is refused on Retry: "Already sent" on it and in a notice, and
    the list shows it done; a read with no answer says so in one line and keeps the list."""
    failed = await _failed(hub, engine)
    screen = await _manager_page(browser, hub)
    page = screen.page
    bad = page.locator(f'#outbox-list li[data-outbox-id="{failed.id}"]')
    await expect(bad.locator("button.ob-retry")).to_be_visible(**WAITED)

    # a read just answered: the next refresh is 10 s away, so the list on screen is the one the click acts on
    async with page.expect_response(lambda response: "/api/v1/outbox" in response.url):
        await page.click("#outbox-reload")
    await expect(bad.locator("button.ob-retry")).to_be_enabled(**WAITED)
    async with engine.begin() as conn:  # sent by another node meanwhile
        await conn.execute(
            text("UPDATE outbox SET status = 'DONE', remote_id = 'ACC-SINV-0001', done_at = now() WHERE id = :id"),
            {"id": failed.id},
        )
    await bad.locator("button.ob-retry").click()
    await expect(bad.locator(".ob-said")).to_have_text("Already sent: ERPNext has it, nothing to retry.", **WAITED)
    await expect(page.locator('#toasts .toast.error[data-code="INVALID_STATE"]')).to_contain_text(
        "Already sent", **WAITED
    )
    await expect(bad).to_have_attribute("data-status", "DONE", **WAITED)
    await expect(bad.locator(".ob-done")).to_have_text("in ERPNext as ACC-SINV-0001", **WAITED)
    await expect(page.locator("#outbox-count-FAILED")).to_have_text("0 failed", **WAITED)
    assert await _status(engine, failed.id) == "DONE"
    await page.locator("#outbox").scroll_into_view_if_needed()
    await screenshot(screen, "manager-outbox-refused")

    await page.route("**/api/v1/outbox*", lambda route: route.abort())  # the hub out of reach
    await page.click("#outbox-reload")
    problem = page.locator("#outbox-problem")
    await expect(problem).to_contain_text("could not be read", **WAITED)
    await expect(problem).to_contain_text("no answer from the hub", **WAITED)
    await expect(bad).to_have_attribute("data-status", "DONE", **WAITED)  # the last list is kept
    assert await in_view(problem)
    await screenshot(screen, "manager-outbox-unread")
    assert [e for e in screen.errors if "net::ERR_FAILED" not in e] == [], screen.errors
