"""The HTTP transport: the same commands and reads as the WebSocket, for integrations.

``POST /api/v1/commands`` takes any command; the REST-shaped routes below are
thin aliases that build the same command. ``Idempotency-Key`` is the command id.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from hub.books.reports import z_report_html
from hub.domain.actors import Actor, can_read
from hub.domain.errors import DomainError
from hub.domain.orders import business_day, check_tenant
from hub.domain.views import all_day, menu_view
from hub.transports.tokens import verify
from schema.protocol import CommandId, ErrorCode
from schema.records import Restaurant

if TYPE_CHECKING:
    from hub.run.app import Hub

__all__ = ["routes"]

logger = logging.getLogger(__name__)

STATUS = {
    ErrorCode.BAD_FRAME: 400,
    ErrorCode.INVALID_FRAME: 400,
    ErrorCode.UNKNOWN_OP: 400,
    ErrorCode.UNKNOWN_COMMAND: 400,
    ErrorCode.INVALID_COMMAND: 422,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.WRONG_TENANT: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.VERSION_CONFLICT: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.TABLE_UNAVAILABLE: 409,
    ErrorCode.ITEM_UNAVAILABLE: 409,
    ErrorCode.NOTHING_TO_FIRE: 409,
    ErrorCode.OUT_OF_STOCK: 409,
    ErrorCode.RECALL_EXPIRED: 409,
    ErrorCode.ORDER_LOCKED: 409,
    ErrorCode.ALREADY_SETTLED: 409,
    ErrorCode.ITEMS_NOT_READY: 409,
    ErrorCode.AMOUNT_MISMATCH: 422,
    ErrorCode.PIN_REQUIRED: 403,
    ErrorCode.WRONG_PIN: 403,
    ErrorCode.BILL_LOCKED: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.BUSY: 503,
    ErrorCode.UNAVAILABLE: 503,
}


_COMMAND_ID: TypeAdapter[str] = TypeAdapter(CommandId)


def _check_command_id(command_id: str) -> None:
    """The same rule as a WebSocket cmd id: 1 to 64 of A-Za-z0-9_.:- (an Idempotency-Key header is free text)."""
    try:
        _COMMAND_ID.validate_python(command_id)
    except ValidationError as exc:
        details = {"errors": [{"loc": ["id"], "msg": e["msg"]} for e in exc.errors(include_input=False)]}
        raise DomainError(ErrorCode.INVALID_FRAME, "a command id is 1 to 64 of A-Za-z0-9_.:-", details) from None


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(exc: DomainError, command_id: str | None = None) -> Response:
    body: dict[str, Any] = {
        "code": exc.code.value,
        "message": exc.message,
        "retryable": exc.retryable,
        "id": command_id,
    }
    if exc.details:
        body["details"] = exc.details
    return _json(body, STATUS.get(exc.code, 500))


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _actor(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    if not header and request.url.path.endswith(".html"):
        header = "Bearer " + request.query_params.get("token", "")  # printable pages opened in a browser
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "send Authorization: Bearer <device token>")
    return verify(_hub(request).settings.secret, token.strip())


async def _body(request: Request) -> dict[str, Any]:
    limit = _hub(request).settings.max_frame
    if int(request.headers.get("content-length") or 0) > limit:
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {limit} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {limit} bytes")
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise DomainError(ErrorCode.BAD_FRAME, "body is not JSON") from None
    if not isinstance(body, dict):
        raise DomainError(ErrorCode.BAD_FRAME, "body must be a JSON object")
    return body


async def _run(request: Request, command_type: str, data: dict[str, Any], command_id: str | None = None) -> Response:
    command_id = command_id or request.headers.get("idempotency-key") or f"http-{secrets.token_hex(10)}"
    try:
        actor = _actor(request)
        _check_command_id(command_id)
        stored = await _hub(request).bus.execute(actor, command_id, command_type, data)
    except DomainError as exc:
        return _error(exc, command_id)
    except (RedisError, OSError) as exc:
        logger.warning("HTTP command %s failed on Redis: %s", command_type, exc)
        return _error(DomainError(ErrorCode.UNAVAILABLE, "live state unavailable; retry with the same key"), command_id)
    return _json({"id": command_id, "offset": stored.offset, "result": stored.result})


def _command_route(command_type: str, *path_fields: str) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            data = await _body(request)
        except DomainError as exc:
            return _error(exc)
        data.update({name: request.path_params[name] for name in path_fields})
        return await _run(request, command_type, data)

    return endpoint


async def commands(request: Request) -> Response:
    try:
        body = await _body(request)
    except DomainError as exc:
        return _error(exc)
    command_type, data, command_id = body.get("type"), body.get("data", {}), body.get("id")
    if not isinstance(command_type, str) or not isinstance(data, dict) or not isinstance(command_id, str | None):
        return _error(DomainError(ErrorCode.INVALID_FRAME, "expected {type: str, data: object, id?: str}"))
    return await _run(request, command_type, data, command_id)


async def _report_day(hub: Hub, rid: str, request: Request) -> tuple[Restaurant | None, str]:
    """The business day a report asks for (``?day=YYYY-MM-DD``), by default today in the restaurant's timezone."""
    restaurant = await hub.store.restaurant(rid)
    timezone = restaurant.timezone if restaurant else "UTC"
    day = request.query_params.get("day") or business_day(int(time.time() * 1000), timezone)
    try:
        date.fromisoformat(day)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_FRAME, "day is YYYY-MM-DD") from None
    return restaurant, day


async def _read(request: Request, what: str) -> Response:
    actor: Actor | None = None
    try:
        actor = _actor(request)
        hub = _hub(request)
        rid = actor.restaurant_id
        # Reads follow the WebSocket channel rules: what a role may not subscribe to, it may not GET.
        if what == "orders":
            can_read(actor, "orders")
            body: Any = {"orders": [o.model_dump(mode="json") for o in await hub.store.open_orders(rid)]}
        elif what == "order":
            order_id = request.path_params["order_id"]
            can_read(actor, f"order:{order_id}")
            check_tenant(actor, order_id)
            order = await hub.store.order(rid, order_id)
            if order is None:
                raise DomainError(ErrorCode.NOT_FOUND, f"no order {order_id!r}")
            body = {"order": order.model_dump(mode="json")}
        elif what == "tables":
            can_read(actor, "tables")
            body = {"tables": [t.model_dump(mode="json") for t in await hub.store.tables(rid)]}
        elif what == "all-day":
            station = request.path_params["station"]
            can_read(actor, "expo" if station == "*" else f"kitchen:{station}")
            body = {"station": station, "counts": all_day(await hub.store.open_orders(rid), station)}
        elif what == "prep":
            can_read(actor, "expo")
            stats = await hub.store.prep_stats(rid)
            body = {"prep": [dataclasses.asdict(s) for s in stats]}
        elif what == "day":
            can_read(actor, "cashier")
            if hub.settler.books is None:
                raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured")
            restaurant, day = await _report_day(hub, rid, request)
            figures = await hub.settler.books.day_figures(rid, date.fromisoformat(day))
            body = {
                "day": day,
                "currency": restaurant.currency if restaurant else "",
                "average_bill": figures.average_bill,
                **dataclasses.asdict(figures),
            }
        elif what in ("z", "z.html"):
            can_read(actor, "cashier")
            restaurant, day = await _report_day(hub, rid, request)
            if hub.bus.money is None:
                raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured")
            report = await hub.bus.money.z_report(rid, day)
            if what == "z.html":
                return HTMLResponse(z_report_html(report, restaurant.name if restaurant else rid))
            body = report.model_dump(mode="json")
        elif what == "stock":
            can_read(actor, "menu")
            body = menu_view(await hub.store.menu(rid), list((await hub.store.stock(rid)).values()))
        else:
            menu = await hub.store.menu(rid)
            body = {"menu": menu.model_dump(mode="json") if menu else None}
    except DomainError as exc:
        if exc.code is ErrorCode.WRONG_TENANT and actor is not None:
            logger.warning(
                "tenant violation over HTTP: device %s of %s read %s",
                actor.device_id, actor.restaurant_id, request.url.path,
            )  # fmt: skip
        return _error(exc)
    except (RedisError, OSError, SQLAlchemyError):
        return _error(DomainError(ErrorCode.UNAVAILABLE, "live state or books unavailable"))
    return _json(body)


def _reader(what: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await _read(request, what)

    return endpoint


async def healthz(request: Request) -> Response:
    return _json({"ok": True})


async def readyz(request: Request) -> Response:
    hub = _hub(request)
    checks = await hub.readiness()
    return _json(checks, 200 if all(checks.values()) else 503)


def routes() -> list[Route]:
    p = "/api/v1"
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route(f"{p}/commands", commands, methods=["POST"]),
        Route(f"{p}/orders", _reader("orders"), methods=["GET"]),
        Route(f"{p}/orders", _command_route("order.open"), methods=["POST"]),
        Route(f"{p}/orders/{{order_id}}", _reader("order"), methods=["GET"]),
        Route(f"{p}/orders/{{order_id}}/items", _command_route("order.add_item", "order_id"), methods=["POST"]),
        Route(
            f"{p}/orders/{{order_id}}/items/{{line_id}}",
            _command_route("order.change_item", "order_id", "line_id"),
            methods=["PATCH"],
        ),
        Route(
            f"{p}/orders/{{order_id}}/items/{{line_id}}",
            _command_route("order.remove_item", "order_id", "line_id"),
            methods=["DELETE"],
        ),
        Route(f"{p}/orders/{{order_id}}/fire", _command_route("order.fire", "order_id"), methods=["POST"]),
        Route(f"{p}/orders/{{order_id}}/cancel", _command_route("order.cancel", "order_id"), methods=["POST"]),
        *(
            Route(
                f"{p}/orders/{{order_id}}/items/{{line_id}}/{action}",
                _command_route(f"item.{action}", "order_id", "line_id"),
                methods=["POST"],
            )
            for action in ("start", "done", "serve", "recall")
        ),
        *(
            Route(f"{p}/orders/{{order_id}}/{action}", _command_route(f"order.{action}", "order_id"), methods=["POST"])
            for action in ("hold", "rush", "bump", "recall", "move")
        ),
        Route(f"{p}/orders/{{order_id}}/notes", _command_route("order.note", "order_id"), methods=["POST"]),
        Route(f"{p}/orders/{{order_id}}/ack", _command_route("ticket.ack", "order_id"), methods=["POST"]),
        Route(f"{p}/tables/{{from_table_id}}/merge", _command_route("table.merge", "from_table_id"), methods=["POST"]),
        Route(f"{p}/menu/stock", _reader("stock"), methods=["GET"]),
        Route(f"{p}/menu/{{menu_item_id}}/86", _command_route("stock.out", "menu_item_id"), methods=["POST"]),
        Route(
            f"{p}/menu/{{menu_item_id}}/available", _command_route("stock.available", "menu_item_id"), methods=["POST"]
        ),
        Route(f"{p}/menu/{{menu_item_id}}/stock", _command_route("stock.set", "menu_item_id"), methods=["PUT"]),
        Route(f"{p}/stations/{{station}}/all-day", _reader("all-day"), methods=["GET"]),
        Route(f"{p}/kitchen/settings", _command_route("kitchen.configure"), methods=["PUT"]),
        Route(f"{p}/stats/prep", _reader("prep"), methods=["GET"]),
        Route(f"{p}/reports/day", _reader("day"), methods=["GET"]),
        Route(f"{p}/reports/z", _reader("z"), methods=["GET"]),
        Route(f"{p}/reports/z.html", _reader("z.html"), methods=["GET"]),
        Route(f"{p}/tables", _reader("tables"), methods=["GET"]),
        Route(f"{p}/tables/{{table_id}}/clean", _command_route("table.clean", "table_id"), methods=["POST"]),
        Route(f"{p}/menu", _reader("menu"), methods=["GET"]),
    ]
