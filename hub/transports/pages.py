"""Pages served by the hub: the kitchen, expo, customer-board, cashier, order-taking and back-office screens and their JS, no build step.

``/printers`` shows what the demo's emulated printers printed (``fireflow.hub.run.demo_printers``). They
live in the demo's own process, next to this app (``app.state.demo_printers``), so the page reads them
from ``/printers.json`` without a token, as it would read the paper in the tray; a hub started with
``fireflow serve`` has none, and says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["PAGES", "page_routes"]

WEB = Path(__file__).resolve().parents[2] / "clients" / "web"
# The browser client lives once, in the JS package (clients/js, @fireflow/client); the pages import it from here.
CLIENT_JS = Path(__file__).resolve().parents[2] / "clients" / "js" / "src" / "fireflow.js"

# path -> (file in clients/web, what it is)
PAGES = {
    "/kds": ("kds.html", "kitchen display: one station or several (&stations=grill,fry)"),
    "/expo": ("expo.html", "expo: every station's tickets, bump, rush, recall, alerts"),
    "/board": ("board.html", "customer board: takeaway tokens preparing and ready"),
    "/cashier": ("cashier.html", "cashier: table map, bill, discount with PIN, split payment, settle, live figures"),
    "/pos": ("pos.html", "order taking: floor plan, menu with modifiers, courses, fire, takeaway and delivery"),
    "/dispatch": ("dispatch.html", "dispatch: delivery orders waiting, riders and their stops, assign, move, back"),
    "/manager": ("manager.html", "back office: dashboard, alerts, day, invoices, groups, menu, floor, staff, devices"),
    "/rider": (
        "rider.html",
        "rider's phone: stops in order, navigation, picked up / delivered / failed, works offline",
    ),
    "/printers": ("printers.html", "what the demo's emulated printers printed (no token needed)"),
}
# The rider page's installable shell, served from the root so the worker's scope can cover /rider.
APP_FILES = {
    "/rider.webmanifest": ("rider.webmanifest", "application/manifest+json"),
    "/rider-sw.js": ("rider-sw.js", "text/javascript"),
}
NO_PRINTERS = {"emulated": False, "version": 0, "agent": "", "printers": []}


async def index(request: Request) -> HTMLResponse:
    links = "".join(
        f'<li><a href="{path}">{path}</a> — {what}</li>'
        for path, (name, what) in PAGES.items()
        if (WEB / name).is_file()
    )
    return HTMLResponse(
        "<!doctype html><title>Fireflow Hub</title><h1>Fireflow Hub</h1>"
        f"<p>Screens (open with <code>?token=&lt;device token&gt;</code>):</p><ul>{links}</ul>"
        "<p>WebSocket: <code>/ws</code> (protocol in schema/PROTOCOL.md). HTTP: <code>/api/v1</code>.</p>"
    )


def _page(filename: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return FileResponse(WEB / filename, media_type="text/html", headers={"Cache-Control": "no-cache"})

    return page


def _app_file(filename: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def app_file(request: Request) -> Response:
        return FileResponse(WEB / filename, media_type=media_type, headers={"Cache-Control": "no-cache"})

    return app_file


async def _client_js(request: Request) -> Response:
    return FileResponse(CLIENT_JS, media_type="text/javascript")


async def printed(request: Request) -> JSONResponse:
    """The demo's emulated printers and their newest tickets; ``emulated: false`` where none run in this process."""
    printers = getattr(request.app.state, "demo_printers", None)
    body = printers.view() if printers is not None else NO_PRINTERS
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def page_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/", index), Route("/printers.json", printed)]
    if WEB.is_dir():
        routes += [Route(path, _page(filename)) for path, (filename, _) in PAGES.items()]
        routes += [Route(path, _app_file(filename, media)) for path, (filename, media) in APP_FILES.items()]
        routes.append(Route("/static/fireflow.js", _client_js))
        routes.append(Mount("/static", StaticFiles(directory=WEB), name="static"))
    return routes
