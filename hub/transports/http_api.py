"""The HTTP transport: the same commands and reads as the WebSocket, for integrations.

``POST /api/v1/commands`` takes any command; the REST-shaped routes are thin
aliases that build the same command, declared with the command in
``fireflow.hub.commands.registry``. ``Idempotency-Key`` is the command id. Reads are
declared once in ``READS``; both feed the OpenAPI document.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from fireflow.hub.books import history
from fireflow.hub.books.groups import Groups
from fireflow.hub.books.outbox import STATUSES as OUTBOX_STATUSES
from fireflow.hub.books.outbox import outbox_page
from fireflow.hub.books.reports import z_report_html
from fireflow.hub.books.webhooks import deliveries as webhook_deliveries
from fireflow.hub.books.webhooks import webhooks as webhook_list
from fireflow.hub.commands.batch_suggestions import Suggestions
from fireflow.hub.commands.bus import validation_details
from fireflow.hub.commands.registry import PUBLIC, REGISTRY
from fireflow.hub.commands.tenancy import tenant_violation
from fireflow.hub.domain import groups
from fireflow.hub.domain.actors import Actor, Role, can_read
from fireflow.hub.domain.billing import compute_bill
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.orders import business_day, check_tenant
from fireflow.hub.domain.privacy import shown_to
from fireflow.hub.domain.views import all_day, menu_view
from fireflow.hub.forecast.accuracy import prediction_accuracy
from fireflow.hub.forecast.dashboard import read_dashboard
from fireflow.hub.forecast.history import anomalies_of, forecast_of
from fireflow.hub.logs import log_context
from fireflow.hub.metrics import CONTENT_TYPE
from fireflow.hub.transports.errors import to_wire
from fireflow.hub.transports.invoice_links import staff_link
from fireflow.hub.transports.limits import Buckets
from fireflow.hub.transports.tokens import mint
from fireflow.hub.transports.tokens import read as read_token
from fireflow.hub.workers.sweeps import standing_findings
from fireflow.schema import generate
from fireflow.schema.http import API_PREFIX, STATUS, CommandRequest, Operation, openapi
from fireflow.schema.protocol import CommandId, ErrorCode
from fireflow.schema.records import Restaurant

if TYPE_CHECKING:
    from fireflow.hub.run.app import Hub

__all__ = ["READS", "openapi_document", "operations", "routes"]

logger = logging.getLogger(__name__)


_COMMAND_ID: TypeAdapter[str] = TypeAdapter(CommandId)


ID_RULE = "a command id is 1 to 64 of A-Za-z0-9_.:-"


def _check_command_id(command_id: str) -> None:
    """The same rule as a WebSocket cmd id: 1 to 64 of A-Za-z0-9_.:- (an Idempotency-Key header is free text)."""
    try:
        _COMMAND_ID.validate_python(command_id)
    except ValidationError as exc:
        details = {"errors": [{"loc": ["id"], "msg": e["msg"]} for e in exc.errors(include_input=False)]}
        raise DomainError(ErrorCode.INVALID_FRAME, ID_RULE, details) from None


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
    response = _json(body, STATUS[exc.code])
    if exc.code is ErrorCode.RATE_LIMITED and exc.details and "retry_after_s" in exc.details:
        response.headers["Retry-After"] = Buckets.retry_after(float(exc.details["retry_after_s"]))
    return response


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def _actor(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    if not header and request.url.path.endswith(".html"):
        header = "Bearer " + request.query_params.get("token", "")  # printable pages opened in a browser
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "send Authorization: Bearer <device token>")
    hub = _hub(request)
    claims = read_token(hub.secrets, token.strip())
    actor = claims.actor
    wait = hub.http_limits.take((actor.restaurant_id, actor.device_id))
    if wait is not None:
        details = {"retry_after_s": round(wait, 3)}
        raise DomainError(
            ErrorCode.RATE_LIMITED, "too many requests from this device; slow down", details, retryable=True
        )
    try:
        await hub.devices.check(actor, claims.generation)
    except (RedisError, OSError):
        raise DomainError(ErrorCode.UNAVAILABLE, "live state is unavailable; retry", None) from None
    return actor


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
        actor = await _actor(request)
    except DomainError as exc:
        return _error(exc, command_id)
    # The bus names the command on its own lines; this also covers the lines of its failure's translation.
    with log_context(restaurant=actor.restaurant_id, device=actor.device_id, command_id=command_id[:64]):
        try:
            _check_command_id(command_id)
            stored = await _hub(request).bus.execute(actor, command_id, command_type, data)
        except Exception as exc:
            return _error(to_wire(exc, command_type), command_id)
    return _json({"id": command_id, "offset": stored.offset, "result": stored.answer_to(actor)})


def _whole(text: str) -> bool:
    """A path's id that spells a number a BIGINT holds; longer is left as text, for the payload to refuse in words."""
    return text.isascii() and text.isdigit() and len(text) < 19


def _command_route(
    command_type: str, payload: type[BaseModel], *path_fields: str
) -> Callable[[Request], Awaitable[Response]]:
    """A command's own REST route. A path's id is text; one the payload holds as a number (``/outbox/5/retry``)
    is given as one when it is all digits, so the strict payload takes it (any other text is refused there)."""
    numbers = {name for name in path_fields if payload.model_fields[name].annotation in (int, "int")}

    async def endpoint(request: Request) -> Response:
        try:
            data = await _body(request)
        except DomainError as exc:
            return _error(exc)
        for name in path_fields:
            value = request.path_params[name]
            data[name] = int(value) if name in numbers and _whole(value) else value
        return await _run(request, command_type, data)

    return endpoint


async def commands(request: Request) -> Response:
    try:
        body = await _body(request)
    except DomainError as exc:
        return _error(exc)
    try:
        sent = CommandRequest.model_validate(body)
    except ValidationError as exc:
        cid = body.get("id") if isinstance(body.get("id"), str) else None
        return _error(_invalid_request(exc), cid)
    return await _run(request, sent.type, sent.data, sent.id)


def _invalid_request(exc: ValidationError) -> DomainError:
    """The body's first fault in words, all of them in ``details`` (as a WebSocket frame's are)."""
    first = exc.errors(include_input=False)[0]
    if first["type"] == "extra_forbidden":  # an unknown field is named: most often a misspelt "id"
        message = f"unknown field {first['loc'][0]!r}: expected {{type, data, id?}}"
    elif first["loc"][:1] == ("id",):
        message = ID_RULE
    else:
        message = "expected {type: str, data: object, id?: str}"
    return DomainError(ErrorCode.INVALID_FRAME, message, validation_details(exc))


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


async def _orders(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "orders")
    return {"orders": [o.model_dump(mode="json") for o in await hub.store.open_orders(actor.restaurant_id)]}


async def _order(hub: Hub, actor: Actor, request: Request) -> Any:
    order_id = request.path_params["order_id"]
    can_read(actor, f"order:{order_id}")
    check_tenant(actor, order_id)
    order = await hub.store.order(actor.restaurant_id, order_id)
    if order is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no order {order_id!r}")
    return {"order": order.model_dump(mode="json")}


async def _tables(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "tables")
    return {"tables": [t.model_dump(mode="json") for t in await hub.store.tables(actor.restaurant_id)]}


async def _all_day(hub: Hub, actor: Actor, request: Request) -> Any:
    station = request.path_params["station"]
    can_read(actor, "expo" if station == "*" else f"kitchen:{station}")
    return {"station": station, "counts": all_day(await hub.store.open_orders(actor.restaurant_id), station)}


async def _prep(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "expo")
    return {"prep": [dataclasses.asdict(s) for s in await hub.store.prep_stats(actor.restaurant_id)]}


async def _predictions(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "manager")
    return {"stations": await prediction_accuracy(hub.redis, actor.restaurant_id)}


async def _dashboard(hub: Hub, actor: Actor, request: Request) -> Any:
    """The manager's Dashboard (hub/forecast/dashboard.py): the takings of ``?day=``, the kitchen as it is now."""
    can_read(actor, "manager")
    restaurant, day = await _report_day(hub, actor.restaurant_id, request)
    if restaurant is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no such restaurant")
    now_ms = int(time.time() * 1000)
    return await read_dashboard(hub.redis, hub.store, hub.engine, restaurant, date.fromisoformat(day), now_ms)


async def _day(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "cashier")
    if hub.settler.books is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured")
    restaurant, day = await _report_day(hub, actor.restaurant_id, request)
    figures = await hub.settler.books.day_figures(actor.restaurant_id, date.fromisoformat(day))
    return {
        "day": day,
        "currency": restaurant.currency if restaurant else "",
        "average_bill": figures.average_bill,
        **{k: v for k, v in dataclasses.asdict(figures).items() if k not in ("day", "postings")},  # the day: asked
    }


async def _z(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "cashier")
    restaurant, day = await _report_day(hub, actor.restaurant_id, request)
    if hub.bus.money is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured")
    report = await hub.bus.money.z_report(actor.restaurant_id, day)
    if request.url.path.endswith(".html"):
        name, digits = (restaurant.name, restaurant.minor_digits) if restaurant else (actor.restaurant_id, None)
        return HTMLResponse(z_report_html(report, name, digits))
    return report.model_dump(mode="json")


async def _riders(hub: Hub, actor: Actor, request: Request) -> Any:
    """The riders (paired, not revoked, or holding cash) and the cash each holds, as the books have it."""
    try:
        can_read(actor, "dispatch")
    except DomainError:
        can_read(actor, "cashier")
    if hub.bus.money is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured")
    rid = actor.restaurant_id
    holds = await hub.bus.money.riders(rid)
    devices = {d.id: d for d in await hub.devices.all(rid) if d.role == Role.RIDER.value}
    shown = sorted({*(i for i, d in devices.items() if d.revoked_at is None), *(r for r, v in holds.items() if v)})
    restaurant = await hub.store.restaurant(rid)
    return {
        "currency": restaurant.currency if restaurant else "",
        "riders": [
            {"rider": r, "name": devices[r].name if r in devices else r, "holds": holds.get(r, 0)} for r in shown
        ],
    }


_SUGGESTIONS = Suggestions()


async def _suggestions(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "dispatch")
    return await _SUGGESTIONS.of(hub.store, actor.restaurant_id)


async def _stock(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "menu")
    rid = actor.restaurant_id
    return menu_view(await hub.store.menu(rid), list((await hub.store.stock(rid)).values()))


async def _menu(hub: Hub, actor: Actor, request: Request) -> Any:
    menu = await hub.store.menu(actor.restaurant_id)
    return {"menu": menu.model_dump(mode="json") if menu else None}


def _engine(hub: Hub) -> AsyncEngine:
    if hub.engine is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured")
    return hub.engine


async def _invoices(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "cashier")
    query = history.query_from(dict(request.query_params))
    return await history.invoice_page(_engine(hub), actor.restaurant_id, query)


async def _invoice(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "cashier")
    invoice_id = request.path_params["invoice_id"]
    check_tenant(actor, invoice_id)
    found = await history.invoice_detail(_engine(hub), actor.restaurant_id, invoice_id)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no invoice {invoice_id!r}")
    return {"invoice": found}


async def _groups(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "cashier")
    invoiced = {"yes": True, "no": False}.get(request.query_params.get("invoiced", ""))
    text = (request.query_params.get("q") or "")[:80] or None
    return {"groups": await Groups(_engine(hub)).find(actor.restaurant_id, text, invoiced)}


async def _group(hub: Hub, actor: Actor, request: Request) -> Any:
    """A saved group and its preview: what its invoice would cover now, what is left out and why, warnings."""
    can_read(actor, "cashier")
    group_id = request.path_params["group_id"]
    check_tenant(actor, group_id)
    rid = actor.restaurant_id
    found = await Groups(_engine(hub)).get(rid, group_id)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no group {group_id!r}")
    orders = {order_id: await hub.store.order(rid, order_id) for order_id in found["order_ids"]}
    sorted_out = groups.sort_out(found["order_ids"], orders)
    restaurant = await hub.store.restaurant(rid) or Restaurant(id=rid, name=rid)
    warned = groups.warnings(found, sorted_out.included)
    bill = None
    if sorted_out.included and not warned["mixed_customers"]:
        bill = compute_bill(sorted_out.included, restaurant.billing, restaurant.currency).model_dump(mode="json")
    included = [
        {"order_id": o.id, "number": o.number, "type": o.type.value, "table_id": o.table_id,
         "customer_name": o.customer_name, "total": sum(i.total for i in o.items), "paid": o.paid}
        for o in sorted_out.included
    ]  # fmt: skip
    return {"group": found, "included": included, "excluded": list(sorted_out.excluded), "bill": bill} | {
        "warnings": warned
    }


async def _order_history(hub: Hub, actor: Actor, request: Request) -> Any:
    order_id = request.path_params["order_id"]
    check_tenant(actor, order_id)
    can_read(actor, f"order:{order_id}")
    events = await history.order_history(_engine(hub), actor.restaurant_id, order_id)
    if not events and await hub.store.order(actor.restaurant_id, order_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no order {order_id!r}")
    return {"order_id": order_id, "events": events}


async def _customers(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "orders")
    if hub.bus.customers is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "no books (Postgres) configured for the customer book")
    phone, text = request.query_params.get("phone"), request.query_params.get("q")
    return {"customers": await hub.bus.customers.lookup(actor.restaurant_id, phone, (text or "")[:80] or None)}


async def _devices(hub: Hub, actor: Actor, request: Request) -> Any:
    """The paired and revoked devices, each with when it was last seen and whether a socket of it is open."""
    can_read(actor, "manager")
    rid = actor.restaurant_id
    seen = await hub.devices.last_seen(rid)
    live_after = int((time.time() - 2.5 * hub.settings.heartbeat) * 1000)
    known = {d.id: d.model_dump(mode="json") for d in await hub.devices.all(rid)}
    for device_id in seen.keys() - known.keys():  # a device with a minted token, never paired
        known[device_id] = {"id": device_id, "role": None, "paired": False}
    found = []
    for device_id, device in sorted(known.items()):
        at = seen.get(device_id)
        device["last_seen"] = abs(at) if at is not None else None
        device["live"] = at is not None and at > live_after
        found.append(device)
    return {"devices": found}


async def _outcome(hub: Hub, actor: Actor, request: Request) -> Any:
    _check_command_id(request.path_params["command_id"])  # an id no command can have is a mistake, not a 404
    stored = await hub.bus.outcome(actor, request.path_params["command_id"])
    return {"id": request.path_params["command_id"], "offset": stored.offset, "result": stored.result}


async def _restaurant_zone(hub: Hub, rid: str) -> tuple[Restaurant, ZoneInfo]:
    """The restaurant (a default one if never set up) and its timezone, UTC if the name is unknown here."""
    return await hub.store.restaurant(rid) or Restaurant(id=rid, name=rid), await hub.store.zone(rid)


async def _anomalies(hub: Hub, actor: Actor, request: Request) -> Any:
    """What looks wrong on ``?day=`` (hub/forecast/anomalies.py), with notes on what too little history left
    unjudged."""
    can_read(actor, "manager")
    engine = _engine(hub)
    _, day = await _report_day(hub, actor.restaurant_id, request)
    restaurant, zone = await _restaurant_zone(hub, actor.restaurant_id)
    names = {d.id: d.name or d.id for d in await hub.devices.all(actor.restaurant_id)}
    findings, history_days = await anomalies_of(
        engine,
        actor.restaurant_id,
        date.fromisoformat(day),
        datetime.now(UTC),
        zone,
        restaurant.currency,
        restaurant.minor_digits,
        names,
    )
    return {
        "day": day,
        "anomalies": [a.as_json() for a in findings.anomalies],
        "notes": list(findings.notes),
        "history_days": history_days,
    }


FORECAST_DAYS = (1, 7)  # the days a forecast may cover (?days=), 3 when not given


async def _forecast(hub: Hub, actor: Actor, request: Request) -> Any:
    """Orders per hour for the coming ``?days=`` and cooks per station (hub/forecast/demand.py)."""
    can_read(actor, "manager")
    engine = _engine(hub)
    days = _days(request, *FORECAST_DAYS, default=3)
    _, zone = await _restaurant_zone(hub, actor.restaurant_id)
    return await forecast_of(engine, actor.restaurant_id, datetime.now(UTC), zone, days)


def _days(request: Request, low: int, high: int, *, default: int) -> int:
    """``?days=``: a whole number from ``low`` to ``high``."""
    raw = request.query_params.get("days") or str(default)
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise DomainError(ErrorCode.INVALID_FRAME, f"days is a whole number from {low} to {high}")
    return int(raw)


async def _findings(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "manager")
    return {"findings": [f.model_dump(mode="json") for f in await standing_findings(hub.redis, actor.restaurant_id)]}


async def _outbox(hub: Hub, actor: Actor, request: Request) -> Any:
    """What the hub pushed or is pushing to ERPNext (the outbox), latest first (hub/books/outbox.py)."""
    can_read(actor, "manager")
    status = request.query_params.get("status") or None
    if status is not None and status not in OUTBOX_STATUSES:
        raise DomainError(ErrorCode.INVALID_FRAME, f"status is one of {', '.join(OUTBOX_STATUSES)}")
    return await outbox_page(_engine(hub), actor.restaurant_id, status)


async def _webhooks(hub: Hub, actor: Actor, request: Request) -> Any:
    """The restaurant's webhooks: state, cursor, last error (hub/books/webhooks.py); never their secrets."""
    can_read(actor, "manager")
    return await webhook_list(_engine(hub), actor.restaurant_id)


async def _webhook_deliveries(hub: Hub, actor: Actor, request: Request) -> Any:
    can_read(actor, "manager")
    raw = request.path_params["webhook_id"]
    if not _whole(raw):
        raise DomainError(ErrorCode.NOT_FOUND, f"no webhook {raw[:40]!r} in this restaurant")
    return await webhook_deliveries(_engine(hub), actor.restaurant_id, int(raw))


RECOMMENDATION_DAYS = (1, 90)


async def _recommendations(hub: Hub, actor: Actor, request: Request) -> Any:
    """Advice given over the last ``?days=`` and whether staff took it (hub/books/recommendations.py)."""
    can_read(actor, "manager")
    _engine(hub)
    assert hub.recommendations is not None  # there with the books
    days = _days(request, *RECOMMENDATION_DAYS, default=7)
    since = int(time.time() * 1000) - days * 86_400_000
    return {"days": days, **await hub.recommendations.read(actor.restaurant_id, since)}


ReadFn = Callable[["Hub", Actor, Request], Awaitable[Any]]


@dataclass(frozen=True)
class Read:
    """A GET route. Reads follow the WebSocket channel rules: what a role may not subscribe to, it may not GET."""

    path: str
    fn: ReadFn
    summary: str
    query: tuple[tuple[str, str], ...] = ()
    html: bool = False


_DAY = (("day", "YYYY-MM-DD; today in the restaurant's timezone when left out"),)
READS: tuple[Read, ...] = (
    Read("/orders", _orders, "The open orders"),
    Read("/orders/{order_id}", _order, "One order"),
    Read("/tables", _tables, "The tables and who sits there"),
    Read("/stations/{station}/all-day", _all_day, "All-day counts of a station (* for every station)"),
    Read("/stats/prep", _prep, "Recorded prep times per station and item, over the last seven days"),
    Read(
        "/stats/predictions",
        _predictions,
        "How far off the predicted ready times were per station (latest 2000 each), next to the naive guess's",
    ),
    Read(
        "/stats/anomalies",
        _anomalies,
        "What looks wrong on a day, in words: slow orders, takings below the usual curve, staff discount, refund "
        "and void outliers (managers)",
        _DAY,
    ),
    Read(
        "/stats/forecast",
        _forecast,
        "Orders per hour for the coming days with an interval, each day's peak, and cooks per station (managers)",
        (("days", "1 to 7 (default 3)"),),
    ),
    Read(
        "/sweeps/findings",
        _findings,
        "What the self-healing sweeps reported that still stood at their last look, newest first (managers)",
    ),
    Read(
        "/outbox",
        _outbox,
        "What went or is going to ERPNext (each sale, refund and void): pending, failed with the error, done; "
        "latest 200 and counts by status (managers)",
        (("status", "PENDING, FAILED or DONE; all when left out"),),
    ),
    Read("/webhooks", _webhooks, "The webhooks: URL, event types, state, cursor and last error (managers)"),
    Read(
        "/webhooks/{webhook_id}/deliveries",
        _webhook_deliveries,
        "One webhook and its latest 50 delivery attempts, newest first: delivery id, offset, HTTP status, error",
    ),
    Read(
        "/stats/recommendations",
        _recommendations,
        "Advice the hub gave staff (settle-now guidance, sweeps' findings) and how often they took it (managers)",
        (("days", "1 to 90 (default 7)"),),
    ),
    Read(
        "/stats/dashboard",
        _dashboard,
        "The manager's dashboard: prep times, queues now, predicted against actual ready times, takings by hour",
        _DAY,
    ),
    Read("/reports/day", _day, "The day's live figures, from the ledger", _DAY),
    Read("/reports/z", _z, "The Z-report", _DAY),
    Read("/reports/z.html", _z, "The Z-report, printable (token also as ?token=)", _DAY, html=True),
    Read("/riders", _riders, "The riders and the cash each holds (floats and cash on delivery, less handovers)"),
    Read("/deliveries/suggestions", _suggestions, "Suggested batches of the ready delivery orders, with the reasons"),
    Read("/menu", _menu, "The menu"),
    Read("/menu/stock", _stock, "The menu with 86s and portion counts"),
    Read(
        "/invoices",
        _invoices,
        "Invoices, newest first: filtered, sorted and paged",
        (
            ("from", "first business day, YYYY-MM-DD"),
            ("to", "last business day, YYYY-MM-DD"),
            ("status", "ISSUED, VOIDED or REFUNDED"),
            ("customer", "part of the customer's name, any case"),
            ("number", "one invoice number"),
            ("sort", "number, created_at, total or business_day; - first for descending (default -number)"),
            ("page", "1 and up (default 1)"),
            ("per_page", f"1 to {history.MAX_PER_PAGE} (default 50)"),
        ),
    ),
    Read(
        "/orders/{order_id}/history",
        _order_history,
        "Every event about an order, with the device that caused it (as stored; the last second may be missing)",
    ),
    Read("/invoices/{invoice_id}", _invoice, "One invoice whole: figures, bill, lines, orders and payments"),
    Read(
        "/invoices/{invoice_id}/link",
        staff_link,
        "A fresh signed link for the customer to the archived invoice (PDF and JSON) and when it expires",
    ),
    Read(
        "/customers",
        _customers,
        "Customers by phone (its digits), or whose name or number contains q; newest first, 20 at most",
        (("phone", "a phone number, any punctuation"), ("q", "part of a name or number")),
    ),
    Read(
        "/groups",
        _groups,
        "Saved group bills, newest first (50 at most)",
        (("q", "part of the title, customer or a reference"), ("invoiced", "yes or no")),
    ),
    Read("/groups/{group_id}", _group, "A saved group bill with its preview: orders in, orders left out and why"),
    Read("/devices", _devices, "The devices: role, stations, revoked or not, last seen and live"),
    Read("/commands/{command_id}", _outcome, "What a command id got: its first answer, or 404 if it never took effect"),
)


def _reader(read: Read) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            actor = await _actor(request)
        except DomainError as exc:
            return _error(exc)
        hub = _hub(request)
        with log_context(restaurant=actor.restaurant_id, device=actor.device_id):
            try:
                body = await read.fn(hub, actor, request)
            except DomainError as exc:
                if exc.code is ErrorCode.WRONG_TENANT:
                    tenant_violation(hub.audit, logger, actor, "read", request.url.path, dict(request.path_params))
                return _error(exc)
            except Exception as exc:
                return _error(to_wire(exc, request.url.path))
        if isinstance(body, Response):
            return body
        return _json(shown_to(actor, body))  # hub/domain/privacy.py

    return endpoint


async def pair(request: Request) -> Response:
    """A device trades its pairing code for its token (no token needed: the code is the proof, used once)."""
    hub = _hub(request)
    try:
        body = await _body(request)
        code = body.get("code")
        if not isinstance(code, str) or not 4 <= len(code) <= 16:
            raise DomainError(ErrorCode.INVALID_COMMAND, 'send {"code": "<the pairing code>"}')
        address = request.client.host if request.client else "?"
        paired = await hub.devices.redeem(code, address)
    except DomainError as exc:
        return _error(exc)
    except Exception as exc:
        return _error(to_wire(exc, "pair"))
    device = paired.device
    ttl = hub.settings.token_ttl
    token = mint(
        hub.settings.secret,
        paired.restaurant_id,
        device.role or "DISPLAY",
        device=device.id,
        stations=device.stations,
        ttl=ttl,
        generation=device.generation,
    )
    return _json(
        {
            "token": token,
            "restaurant": paired.restaurant_id,
            "device": device.id,
            "role": device.role,
            "stations": list(device.stations),
            "expires_at": int((time.time() + ttl) * 1000),
        }
    )


async def healthz(request: Request) -> Response:
    return _json({"ok": True})


async def readyz(request: Request) -> Response:
    found = await _hub(request).readiness()
    return _json(found.body(), 200 if found.ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text format, no auth (like /healthz): serve it only where your scraper can reach it."""
    return Response(await _hub(request).scrape(), media_type=CONTENT_TYPE)


def operations() -> list[Operation]:
    """Every route under /api/v1 as the OpenAPI document describes it: commands from the registry, then reads."""
    ops = [
        Operation(
            "POST",
            "/commands",
            "Run any command: {type, data, id?}",
            "command",
            body=CommandRequest,
            tags=("commands",),
        )
    ]
    for spec in REGISTRY:
        if spec.http is None:
            continue
        ops.append(
            Operation(
                spec.http.method,
                spec.http.path,
                spec.summary,
                spec.name,
                roles=tuple(sorted(role.value for role in spec.roles)),
                command=spec.name,
                body=spec.payload,
                tags=(spec.name.partition(".")[0],),
            )
        )
    ops.append(
        Operation("POST", "/pair", "Trade a pairing code for the device's token (no token)", "pair", tags=("devices",))
    )
    for read in READS:
        ops.append(
            Operation(
                "GET", read.path, read.summary, "get" + read.path, query=read.query, tags=("reads",), html=read.html
            )
        )
    return ops


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of this API, built from the registry, ``READS`` and the payload models."""
    schemas = generate.definitions(generate.COMPONENTS, PUBLIC)

    def schema_of(model: type[BaseModel]) -> dict[str, Any]:
        schema = TypeAdapter(model).json_schema(ref_template=generate.COMPONENTS)
        schema.pop("$defs", None)  # each is in the components already
        return schema

    return openapi(operations(), schemas, schema_of)


@functools.cache
def _openapi_bytes() -> bytes:
    return orjson.dumps(openapi_document())


async def openapi_json(request: Request) -> Response:
    return Response(_openapi_bytes(), media_type="application/json")


def routes() -> list[Route]:
    prefix = API_PREFIX
    found: list[Route] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics, methods=["GET"]),
        Route(f"{prefix}/openapi.json", openapi_json, methods=["GET"]),
        Route(f"{prefix}/commands", commands, methods=["POST"]),
        Route(f"{prefix}/pair", pair, methods=["POST"]),
    ]
    found += [Route(prefix + read.path, _reader(read), methods=["GET"]) for read in READS]
    found += [
        Route(
            prefix + spec.http.path,
            _command_route(spec.name, spec.payload, *spec.http.fields),
            methods=[spec.http.method],
        )
        for spec in REGISTRY
        if spec.http is not None
    ]
    return found
