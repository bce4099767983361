"""Snapshots: what a channel shows right now, projected from the live state.

A subscriber that cannot be given the exact missed events gets this instead,
so a screen always starts from the whole truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fireflow.hub.domain.alerts import active_alerts
from fireflow.hub.domain.delivery import amount_due, rider_orders
from fireflow.hub.domain.eta import Track
from fireflow.hub.domain.printer_health import health_of
from fireflow.hub.domain.printing import manual_alerts
from fireflow.hub.domain.priority import queue_key
from fireflow.hub.domain.tickets import EXPO, ON_SCREEN, card
from fireflow.schema.records import (
    Area,
    DeliveryStatus,
    KitchenSettings,
    Menu,
    Order,
    OrderStatus,
    OrderType,
    PrinterHealth,
    PrintJob,
    PrintJobState,
    Restaurant,
    Stock,
    Table,
)
from fireflow.schema.setup import StaffMember

__all__ = ["LiveState", "all_day", "channel_view", "menu_view", "needs"]

_OPEN = frozenset({OrderStatus.ACTIVE, OrderStatus.READY})


@dataclass(frozen=True, slots=True)
class LiveState:
    """The part of a restaurant's live state the requested channels need, read at one offset."""

    now: int
    orders: Sequence[Order] = ()
    tables: Sequence[Table] = ()
    menu: Menu | None = None
    stock: Sequence[Stock] = ()
    kitchen: KitchenSettings = field(default_factory=KitchenSettings)
    areas: Sequence[Area] = ()
    restaurant: Restaurant | None = None
    staff: Sequence[StaffMember] = ()
    print_jobs: Sequence[PrintJob] = ()
    manual_jobs: Sequence[PrintJob] = ()  # the jobs on the manual list (fireflow.hub.domain.printing)
    printer_health: Sequence[PrinterHealth] = ()  # what the print agents last said of the printers
    riders: Sequence[Track] = ()  # riders' latest fixes and trails (not events: hub/live/positions.py)


def needs(channel: str) -> frozenset[str]:
    """Which parts of the live state a channel's snapshot reads besides open orders."""
    kind = channel.partition(":")[0]
    return frozenset(
        {
            "tables": {"tables"},
            "menu": {"menu", "stock"},
            "manager": {"staff", "print_manual", "printer_health"},
            "expo": {"print_manual", "printer_health"},
            "kitchen": {"print_manual"},
            "printing": {"print_jobs", "printer_health"},
        }.get(kind, set())
    )


def _dump(orders: Sequence[Order]) -> list[dict[str, Any]]:
    return [o.model_dump(mode="json") for o in sorted(orders, key=lambda o: (o.created_at, o.number))]


def _dump_in_order(orders: Sequence[Order]) -> list[dict[str, Any]]:
    return [o.model_dump(mode="json") for o in orders]


def _dispatch(state: LiveState, open_orders: Sequence[Order]) -> dict[str, Any]:
    """Every open DELIVERY order (its ``delivery`` says where it is), each rider's orders in batch order, and
    every rider's latest fix with its trail (``positions``: riders whose fixes have not expired).

    ``due``: what a rider would collect for each order waiting for one (0 when prepaid), as a dispatcher
    may not preview bills. ``at`` is the hub's clock: ages (``created_at``, ``ready_at``) are counted from it.
    """
    deliveries = [o for o in open_orders if o.type is OrderType.DELIVERY]
    riders = sorted({o.delivery.rider for o in deliveries if o.delivery is not None})
    held = [{"rider": r, "order_ids": [o.id for o in rider_orders(deliveries, r)]} for r in riders]
    positions = [_position(t) for t in state.riders]
    restaurant = state.restaurant
    due = {
        o.id: amount_due(o, restaurant.billing, restaurant.currency) if restaurant else None
        for o in deliveries
        if o.delivery is None or o.delivery.status is DeliveryStatus.RETURNED
    }
    return {
        "orders": _dump(deliveries),
        "due": due,
        "riders": [h for h in held if h["order_ids"]],
        "positions": positions,
        "origin": state.restaurant.location.model_dump() if state.restaurant and state.restaurant.location else None,
        "at": state.now,
    }


def _position(track: Track) -> dict[str, Any]:
    """A rider's latest fix as the positions frame has it, with its trail (newest first: ``[lat, lon, at]``)."""
    fix = track.latest
    trail = [[f.lat, f.lon, f.at] for f in track.trail]
    return {
        "rider": track.rider,
        "lat": fix.lat,
        "lon": fix.lon,
        "accuracy": fix.accuracy,
        "at": fix.at,
        "speed": track.speed,
        "trail": trail,
    }


def _cards(state: LiveState, station: str) -> dict[str, Any]:
    """The station's cards: orders with lines still to make there, or bumped there within the recall window."""
    window = state.kitchen.recall_window_s * 1000
    cards = []
    for order in state.orders:
        if order.status not in _OPEN or not order.fired_at:
            continue
        ticket = card(order, station, state.now)
        lines = [
            line
            for line in ticket.lines
            if line.status in ON_SCREEN or (line.done_at is not None and state.now - line.done_at <= window)
        ]
        if lines:
            cards.append(ticket)
    cards.sort(key=lambda t: queue_key(t.priority, t.order_fired_at, t.order_number))
    return {
        "station": state.kitchen.station(station).model_dump(mode="json"),
        "recall_window_s": state.kitchen.recall_window_s,
        "tickets": [t.model_dump(mode="json") for t in cards],
    }


def all_day(orders: Sequence[Order], station: str) -> dict[str, int]:
    """Per menu item, the quantity still to make at ``station`` (``*``: everywhere)."""
    counts: dict[str, int] = {}
    for order in orders:
        if order.status not in _OPEN:
            continue
        for line in order.items:
            if line.sent and line.requires_prep and line.status in ON_SCREEN and station in (EXPO, line.station):
                counts[line.name] = counts.get(line.name, 0) + line.sent
    return dict(sorted(counts.items()))


def menu_view(menu: Menu | None, stock: Sequence[Stock]) -> dict[str, Any]:
    by_id = {s.menu_item_id: s for s in stock}
    items = []
    for item in menu.items if menu else ():
        s = by_id.get(item.id)
        items.append(
            item.model_dump(mode="json")
            | {
                "sellable": item.available and (s is None or s.sellable),
                "out": bool(s and s.out),
                "remaining": s.available if s else None,
            }
        )
    if menu is None:
        return {"items": items, "categories": [], "stations": [], "version": 0}
    categories = [c.model_dump(mode="json") for c in menu.categories]
    return {"items": items, "categories": categories, "stations": list(menu.stations), "version": menu.version}


def _alerts(state: LiveState) -> list[dict[str, Any]]:
    """The alerts still standing (fireflow.hub.domain.alerts, .printing): a screen starting from a snapshot sees them."""
    standing = sorted((*active_alerts(state.orders), *manual_alerts(state.manual_jobs)), key=lambda a: (a.at, a.id))
    return [a.model_dump(mode="json") for a in standing]


def _manual(state: LiveState, station: str | None = None) -> list[dict[str, Any]]:
    """The manual list: jobs no printer could print (or unconfirmed) that nobody has handled yet, oldest first."""
    jobs = sorted((j for j in state.manual_jobs if station is None or j.station == station), key=_job_order)
    return [j.model_dump(mode="json") for j in jobs]


def _job_order(job: PrintJob) -> tuple[int, str]:
    return job.created_at, job.id


def _health(state: LiveState) -> dict[str, Any]:
    """Every printer of the setup with its state as last told (fireflow.hub.domain.printer_health)."""
    printers = state.restaurant.printers if state.restaurant else ()
    health = health_of(printers, {h.printer: h for h in state.printer_health})
    return {"printer_health": [h.model_dump(mode="json") for h in health]}


def _by_id(person: StaffMember) -> str:
    return person.id


def channel_view(channel: str, state: LiveState) -> dict[str, Any]:
    """The snapshot of ``channel`` given the restaurant's live state."""
    kind, _, param = channel.partition(":")
    open_orders = [o for o in state.orders if o.status in _OPEN]
    if kind == "kitchen":  # with the station's tickets no printer could print: flagged on its screens
        return _cards(state, param) | {"manual": _manual(state, param)}
    if kind == "expo":
        return _cards(state, EXPO) | {"alerts": _alerts(state), "manual": _manual(state)} | _health(state)
    if kind == "manager":
        restaurant = state.restaurant.model_dump(mode="json") if state.restaurant else None
        staff = [s.model_dump(mode="json", exclude={"pin", "pin_hash"}) for s in sorted(state.staff, key=_by_id)]
        view = {"alerts": _alerts(state), "manual": _manual(state), "restaurant": restaurant, "staff": staff}
        return view | _health(state)
    if kind == "cashier":  # with the desks: which till prints its receipts where (print.receipt)
        desks = state.restaurant.desks if state.restaurant else ()
        return {"orders": _dump(open_orders), "desks": [d.model_dump(mode="json") for d in desks]}
    if kind == "orders":
        return {"orders": _dump(open_orders)}
    if kind == "waiter":
        return {"orders": _dump([o for o in open_orders if o.opened_by == param])}
    if kind == "order":
        found = next((o for o in state.orders if o.id == param), None)
        return {"order": found.model_dump(mode="json") if found else None}
    if kind == "tables":
        tables = [t.model_dump(mode="json") for t in sorted(state.tables, key=lambda t: t.id)]
        return {"tables": tables, "areas": [a.model_dump(mode="json") for a in state.areas]}
    if kind == "printing":  # what is still to print or to look at: every job but those printed
        jobs = sorted((j for j in state.print_jobs if j.state is not PrintJobState.PRINTED), key=_job_order)
        printers = state.restaurant.printers if state.restaurant else ()
        return {
            "jobs": [j.model_dump(mode="json") for j in jobs],
            "printers": [p.model_dump(mode="json") for p in printers],
        } | _health(state)
    if kind == "menu":  # with the currency, so an order-taking screen prices the menu before any event
        money = state.restaurant or Restaurant(id="", name="")
        return menu_view(state.menu, state.stock) | {"currency": money.currency, "minor_digits": money.minor_digits}
    if kind == "dispatch":
        return _dispatch(state, open_orders)
    if kind == "rider":  # only this rider's: privacy (hub/domain/actors.py lets a rider read no other channel)
        currency = state.restaurant.currency if state.restaurant else "INR"  # a rider reads no menu: amounts' currency
        return {"orders": _dump_in_order(rider_orders(open_orders, param)), "currency": currency}
    if kind == "board":
        takeaway = [o for o in open_orders if o.type is OrderType.TAKEAWAY and o.token is not None]
        preparing = [o for o in takeaway if o.status is OrderStatus.ACTIVE]
        return {
            "preparing": sorted(o.token or 0 for o in preparing),
            "ready": sorted(o.token or 0 for o in takeaway if o.status is OrderStatus.READY),
            "estimates": {str(o.token): o.predicted_ready_at for o in preparing if o.predicted_ready_at},
        }
    return {}
