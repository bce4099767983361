"""The back office's Webhooks section (/manager#webhooks) in Debian's Chromium at a manager's 1366x768, against a hub
whose own webhook worker is on and a loopback receiver that checks signatures: a webhook added on the page shows its
secret once, and the receiver gets the next order's events signed with that secret; the page then shows how far it
got, its deliveries by id, FAILING with the error, a refused URL in words; Replay sends the same delivery id again and
Remove empties the list.

Run: ``.venv/bin/python -m pytest tests/test_browser_webhooks.py -q -s`` (``-s`` shows the screenshot paths); the
screenshots go to ``test-artifacts/screenshots/manager-webhooks*.png``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fireflow.hub.domain.actors import Role
from tests.browser import TIMEOUT_MS, chromium, in_view, open_screen, screenshot
from tests.conftest import RunningHub, Servers, seed, serve_in_process, settings_for
from tests.helpers import new_order
from tests.test_webhooks import _alone
from tests.webhook_receiver import Receiver, receiver

LAPTOP = (1366, 768)
WAITED = {"timeout": TIMEOUT_MS}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for browser in chromium():
        yield browser


@pytest.fixture
async def delivering(servers: Servers, redis: Redis, rid: str, engine: AsyncEngine) -> AsyncIterator[RunningHub]:
    """A hub node whose own webhook worker runs (``hub``'s does not), with this test's restaurant the only one
    with live subscriptions in the shared Postgres."""
    await seed(servers, rid)
    await _alone(engine, rid)
    async with serve_in_process(settings_for(servers, webhooks=True), rid) as running:
        yield running


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


def expect(locator: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)


async def test_a_webhook_added_on_the_page_gets_the_next_orders_events_signed_and_the_page_says_so(
    delivering: RunningHub, engine: AsyncEngine, browser: Any, hook: Receiver
) -> None:
    """Add (a bad URL refused in words first), the secret shown once and in view, an order's events delivered and
    verified with it, the webhook ACTIVE with its progress and its deliveries by id; FAILING with the error when
    its receiver fails; Replay sends the first delivery again under its id; Remove (asked twice) empties the list."""
    hub = delivering
    url = f"{hub.url}/manager?token={hub.token(Role.MANAGER, device='manager-1')}#webhooks"
    screen = await open_screen(browser, url, size=LAPTOP)
    await screen.live()
    page = screen.page
    await expect(page.locator("#sec-webhooks")).to_be_visible(**WAITED)
    assert await in_view(page.locator('.m-nav button[data-go="webhooks"]'))  # the nav's last button, unscrolled
    assert "null" not in ((await page.locator("#webhooks .col-head").text_content()) or "")
    await expect(page.locator("#webhooks-list li.none")).to_have_text("No webhooks: add one above.", **WAITED)

    await page.fill("#webhook-url", "ftp://example.com/hook")
    await page.click("#webhook-add")
    await expect(page.locator("#webhook-problem")).to_have_text(
        "The URL: the URL must start with http:// or https://.", **WAITED
    )
    await page.fill("#webhook-url", hook.url("browser"))
    await page.locator(".wh-pick summary").click()
    for wanted in ("ORDER_OPENED", "ORDER_UPDATED"):
        await page.locator(f'.wh-types-grid input[value="{wanted}"]').check()
    await page.click("#webhook-add")
    secret_box = page.locator("#webhook-secret-value")
    await expect(secret_box).to_have_text(re.compile(r"^whsec_[0-9a-f]{48}$"), **WAITED)
    assert await in_view(secret_box)
    await expect(page.locator("#webhook-problem")).to_be_hidden()
    hook.secrets["/browser"] = (await secret_box.text_content()) or ""
    item = page.locator("#webhooks-list li.wh-item")
    await expect(item).to_have_count(1, **WAITED)
    await expect(item.locator(".wh-types")).to_have_text("ORDER_OPENED, ORDER_UPDATED")
    await screenshot(screen, "manager-webhooks-added")

    waiter = await hub.client(Role.WAITER)
    order_id = await new_order(waiter, "burger")
    await hook.until(lambda: len(hook.taken("/browser")) >= 2)
    first, second = hook.taken("/browser")[:2]
    assert (first.event_type, second.event_type) == ("ORDER_OPENED", "ORDER_UPDATED")
    assert first.signature_error is None and second.signature_error is None
    assert first.body["data"]["order"]["id"] == order_id

    await page.click("#webhook-secret-done")
    await expect(page.locator("#webhook-secret")).to_have_count(0)
    await page.click("#webhooks-reload")
    await expect(item).to_have_attribute("data-state", "ACTIVE", **WAITED)
    await expect(item.locator(".wh-progress")).to_contain_text(f"delivered up to offset {second.offset}", **WAITED)
    await item.locator("button.wh-log-btn").click()
    delivered = item.locator(".wh-log li.ok")
    await expect(delivered).to_have_count(2, **WAITED)
    assert await delivered.first.get_attribute("data-delivery-id") == second.delivery_id  # newest first
    await expect(delivered.first.locator(".wh-log-status")).to_have_text("200 taken")
    assert await in_view(item.locator("button.wh-remove"))
    await screenshot(screen, "manager-webhooks-delivered")

    webhook_id = await item.get_attribute("data-webhook-id")
    async with engine.begin() as conn:  # as after three refused tries (the backoff is not waited out here)
        await conn.execute(
            text("UPDATE webhooks SET attempts = 3, last_error = 'answered HTTP 500' WHERE id = :id"),
            {"id": int(webhook_id or 0)},
        )
    await page.click("#webhooks-reload")
    await expect(item).to_have_attribute("data-state", "FAILING", **WAITED)
    await expect(page.locator("#webhooks-failing")).to_have_text("1 failing")
    await expect(item.locator(".wh-error")).to_contain_text("answered HTTP 500 (tried 3 times; next try ", **WAITED)
    await screenshot(screen, "manager-webhooks-failing")

    await item.locator(".wh-replay-from").fill(str(first.offset))
    await item.locator("button.wh-replay").click()
    await hook.until(lambda: len(hook.taken("/browser")) >= 3)
    assert hook.taken("/browser")[2].delivery_id == first.delivery_id
    assert hook.taken("/browser")[2].signature_error is None

    remove = item.locator("button.wh-remove")
    await remove.click()
    await expect(remove).to_have_text("Really remove?")
    await remove.click()
    await expect(page.locator("#webhooks-list li.none")).to_have_text("No webhooks: add one above.", **WAITED)
    assert screen.errors == []
