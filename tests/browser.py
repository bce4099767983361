"""Browser tests' helpers: Debian's Chromium under Playwright, page errors, screenshots, waiter commands.

Chromium is the system one (``/usr/bin/chromium``, or ``FIREFLOW_CHROMIUM``); Playwright's own
browser downloads are never used. Without either, the browser tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.conftest import ROOT, WAIT

__all__ = [
    "ARTIFACTS",
    "PHONE",
    "SIZES",
    "HubSwitch",
    "Screen",
    "card",
    "chromium",
    "command",
    "fired",
    "in_view",
    "new_order",
    "open_screen",
    "screenshot",
]

ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = WAIT * 1000  # Playwright counts in milliseconds
# The sizes the screens are used at: kitchen and expo screens and the board on 1080p, tills at 1366x768.
SIZES = {
    "/kds": (1920, 1080),
    "/expo": (1920, 1080),
    "/board": (1920, 1080),
    "/cashier": (1366, 768),
    "/pos": (390, 844),
    "/manager": (1366, 768),
}
PHONE = (390, 844)


def _chromium_path() -> str | None:
    for candidate in (os.environ.get("FIREFLOW_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _skip(reason: str) -> NoReturn:
    print(f"browser tests skipped: {reason}")
    pytest.skip(reason)


async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (Debian's), or a skip with the reason when there is none."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _skip("playwright is not installed (pip install -e '.[test]')")
    path = _chromium_path()
    if path is None:
        _skip("no Chromium: install Debian's `chromium` (apt-get install chromium) or set FIREFLOW_CHROMIUM")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Screen:
    """One page in its own browser context (its own localStorage), with the errors it logged."""

    page: Any
    errors: list[str] = field(default_factory=list)

    async def live(self) -> None:
        await self.page.wait_for_selector('body[data-conn="live"]', timeout=TIMEOUT_MS)

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.page.evaluate("() => window.fireflow.hub.stats")
        return stats


def size_of(url: str) -> tuple[int, int]:
    """The size the page at ``url`` is used at (its path in SIZES), else a till's."""
    path = "/" + url.split("://", 1)[-1].partition("/")[2].partition("?")[0]
    return SIZES.get(path, SIZES["/cashier"])


async def open_screen(browser: Any, url: str, *, size: tuple[int, int] | None = None, context: Any = None) -> Screen:
    """Open ``url`` in a new browser context at the page's own size, or as one more tab of ``context``."""
    if context is None:
        width, height = size or size_of(url)
        context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    screen = Screen(page)

    def console(msg: Any) -> None:
        if msg.type == "error":
            screen.errors.append(f"console: {msg.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: screen.errors.append(f"pageerror: {exc}"))
    await page.goto(url)
    return screen


async def screenshot(screen: Screen, name: str) -> Path:
    """Save ``test-artifacts/screenshots/<name>.png`` (``<page>-<what>``): what the screen shows, unscrolled."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await screen.page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


async def command(http: httpx.AsyncClient, type_: str, data: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """Run a command over HTTP (as a waiter terminal or manager would); returns the answer's body."""
    body: dict[str, Any] = {"type": type_, "data": data}
    if id is not None:
        body["id"] = id
    response = await http.post("/api/v1/commands", json=body)
    assert response.status_code == 200, f"{type_} {data}: {response.status_code} {response.text}"
    answer: dict[str, Any] = response.json()
    return answer


async def new_order(http: httpx.AsyncClient, *items: str | tuple[str, int], **open_fields: Any) -> str:
    """Open an order (takeaway unless told) with ``items`` (id, or (id, quantity)); returns its id, unfired."""
    opened = await command(http, "order.open", {"type": "TAKEAWAY", **open_fields})
    order_id: str = opened["result"]["order"]["id"]
    for item in items:
        menu_item_id, quantity = (item, 1) if isinstance(item, str) else item
        await command(
            http, "order.add_item", {"order_id": order_id, "menu_item_id": menu_item_id, "quantity": quantity}
        )
    return order_id


async def fired(
    http: httpx.AsyncClient, *items: str | tuple[str, int], **open_fields: Any
) -> tuple[str, dict[str, Any]]:
    """A new order with ``items``, fired; returns its id and the fire's answer."""
    order_id = await new_order(http, *items, **open_fields)
    return order_id, await command(http, "order.fire", {"order_id": order_id})


class HubSwitch:
    """The hub as the pages of a browser context reach it over /ws: up, or down as a node that went away.

    Down closes every socket it passed (1012, as a node shutting down does) and each new one as it opens, so
    the pages retry on their own until it is up again; the hub itself keeps running for the test's clients.
    """

    def __init__(self) -> None:
        self.up = True
        self.passed: list[Any] = []

    async def attach(self, context: Any) -> None:
        await context.route_web_socket("**/ws", self._route)

    async def _route(self, ws: Any) -> None:
        if not self.up:
            await ws.close(code=1012, reason="hub down")
            return
        ws.connect_to_server()
        self.passed.append(ws)

    async def down(self) -> None:
        self.up = False
        for ws in self.passed:
            await ws.close(code=1012, reason="hub down")
        self.passed.clear()

    def back(self) -> None:
        self.up = True


def card(order_id: str) -> str:
    """The selector of an order's card (in the queue or the bumped strip)."""
    return f'.card[data-order-id="{order_id}"]'


# Whether an element is wholly on screen: inside the viewport and inside every box that clips it.
_IN_VIEW = """(el, ms) => new Promise((resolve) => {
    const inside = (r, b) => r.left >= b.left - 0.5 && r.top >= b.top - 0.5 && r.right <= b.right + 0.5 && r.bottom <= b.bottom + 0.5;
    const seen = () => {
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height) return false;
        if (!inside(r, { left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight })) return false;
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
            if (getComputedStyle(p).overflow !== "visible" && !inside(r, p.getBoundingClientRect())) return false;
        }
        return true;
    };
    const end = performance.now() + ms;
    const check = () => {
        if (seen()) resolve(true);
        else if (!el.isConnected || performance.now() > end) resolve(false);
        else requestAnimationFrame(check);
    };
    check();
})"""


async def in_view(locator: Any) -> bool:
    """Whether the element is, or comes within TIMEOUT_MS, wholly visible without scrolling the page or any
    box it is in. A page just loaded may still be laying out (a list filling in above it) when the element
    first appears; the check follows its frames, and an element drawn again is found again."""
    await locator.wait_for(timeout=TIMEOUT_MS)
    for _ in range(int(TIMEOUT_MS / _IN_VIEW_SLICE_MS)):
        if await locator.evaluate(_IN_VIEW, _IN_VIEW_SLICE_MS):
            return True
    return False


_IN_VIEW_SLICE_MS = 250  # how long one look follows the frames of one element before finding it again
