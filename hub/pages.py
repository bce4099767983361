"""Static pages served by the hub (the browser client and screens), no build step."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["page_routes"]

WEB = Path(__file__).resolve().parent.parent / "clients" / "web"


async def index(request: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><title>Fireflow Hub</title><h1>Fireflow Hub</h1>"
        "<p>WebSocket: <code>/ws</code> (protocol in schema/PROTOCOL.md). HTTP: <code>/api/v1</code>.</p>"
    )


def page_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/", index)]
    if WEB.is_dir():
        routes.append(Mount("/static", StaticFiles(directory=WEB), name="static"))
    return routes
