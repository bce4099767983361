"""When a delivery should arrive: the rider's measured speed, the ETA per order, and the late alert.

A rider's phone sends fixes (``hub/live/positions.py`` keeps the latest and a short trail); they are
not events. From them:

- speed: the median of the segment speeds over the trail's last ``SPEED_WINDOW_MS`` (fixes less
  accurate than ``MAX_ACCURACY_M`` left out), clamped to ``MIN_SPEED``..``MAX_SPEED``; ``DEFAULT_SPEED``
  with fewer than ``MIN_SEGMENTS`` segments. A median ignores a red light and a GPS jump alike.
- ETA of an order out for delivery: now + the distance from the latest fix through the rider's
  remaining stops (out for delivery, in batch order) up to this order's, times ``DETOUR`` (streets are
  not straight), at that speed, + ``STOP_MS`` per stop before it.

Every ``CHECK_EVERY_MS`` while the order is OUT_FOR_DELIVERY (a due check started at pickup) the hub
runs ``check``: it stores the ETA on the order's ``delivery`` only when it moved by ``ETA_STEP_MS`` or
more (DELIVERY_ETA, to ``dispatch``), and once per trip raises DELIVERY_LATE (to ``dispatch`` and
``manager``) when it passes ``promised_at``. Once the order is delivered, failed or closed the check
stops. Pure: the fixes, the orders and ``now`` are passed in.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fireflow.hub.domain.decision import Decision, Due, DueKind, Event
from fireflow.hub.domain.geo import distance_m
from fireflow.hub.domain.orders import touch
from fireflow.schema import events as e
from fireflow.schema.base import GeoPoint
from fireflow.schema.records import Alert, AlertKind, AlertSeverity, DeliveryStatus, Order, OrderStatus

__all__ = [
    "CHECK_EVERY_MS",
    "DEFAULT_SPEED",
    "DETOUR",
    "ETA_STEP_MS",
    "MAX_SPEED",
    "MIN_SPEED",
    "STOP_MS",
    "Estimate",
    "Fix",
    "Track",
    "check",
    "estimate",
    "first_check",
    "measured_speed",
    "segment_speed",
]

DEFAULT_SPEED = 15 / 3.6  # m/s: a city rider when the trail says too little
MIN_SPEED, MAX_SPEED = 1.5, 20.0  # m/s: walking a bike through a crowd .. 72 km/h
MIN_SEGMENTS = 2
SPEED_WINDOW_MS = 5 * 60_000
MAX_ACCURACY_M = 100.0  # a fix vaguer than this says nothing about speed
DETOUR = 1.3
STOP_MS = 2 * 60_000  # handing over one order
CHECK_EVERY_MS = 30_000
ETA_STEP_MS = 60_000

_OPEN = frozenset({OrderStatus.ACTIVE, OrderStatus.READY})


@dataclass(frozen=True, slots=True)
class Fix:
    """One GPS fix of a rider: where, when it was taken (ms, the phone's clock) and how sure (metres)."""

    lat: float
    lon: float
    at: int
    accuracy: float | None = None

    @property
    def point(self) -> GeoPoint:
        return GeoPoint(lat=self.lat, lon=self.lon)


@dataclass(frozen=True, slots=True)
class Track:
    """What the hub keeps of a rider: the latest fix, the trail (newest first, with the latest) and the speed
    measured from the fix before it when it arrived (m/s; None: unknown)."""

    rider: str
    latest: Fix
    trail: tuple[Fix, ...] = ()
    speed: float | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    eta: int
    distance_m: float  # along the stops from the latest fix, before the detour factor
    speed: float  # m/s
    stops_before: int


def segment_speed(earlier: Fix, later: Fix) -> float | None:
    """m/s from ``earlier`` to ``later``; None when they are not in time order."""
    dt = later.at - earlier.at
    if dt <= 0:
        return None
    return distance_m(earlier.point, later.point) * 1000 / dt


def measured_speed(trail: Sequence[Fix]) -> float:
    """The rider's speed in m/s from its trail (any order): median over the recent segments, clamped."""
    fixes = sorted((f for f in trail if f.accuracy is None or f.accuracy <= MAX_ACCURACY_M), key=lambda f: f.at)
    if not fixes:
        return DEFAULT_SPEED
    since = fixes[-1].at - SPEED_WINDOW_MS
    recent = [f for f in fixes if f.at >= since]
    speeds = [s for a, b in itertools.pairwise(recent) if (s := segment_speed(a, b)) is not None]
    if len(speeds) < MIN_SEGMENTS:
        return DEFAULT_SPEED
    return min(MAX_SPEED, max(MIN_SPEED, statistics.median(speeds)))


def estimate(track: Track, stops: Sequence[GeoPoint], now: int) -> Estimate:
    """Arrival at the last of ``stops`` (in the order the rider goes), from the rider's latest fix."""
    here = track.latest.point
    distance = 0.0
    for stop in stops:
        distance += distance_m(here, stop)
        here = stop
    speed = measured_speed(track.trail or (track.latest,))
    stops_before = max(len(stops) - 1, 0)
    travel_ms = round(distance * DETOUR * 1000 / speed)
    return Estimate(now + travel_ms + stops_before * STOP_MS, distance, speed, stops_before)


def first_check(order: Order, now: int) -> Due:
    """The ETA check an order gets when it goes out (``delivery.pickup``)."""
    return Due(DueKind.ETA, order.id, now + CHECK_EVERY_MS)


def _clock(ms: int, timezone: str) -> str:
    zone = UTC if timezone == "UTC" else ZoneInfo(timezone)
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%H:%M")


def late_alert(order: Order, rider: str, found: Estimate, now: int, timezone: str) -> Alert:
    """The DELIVERY_LATE alert, with the reason in words."""
    promised = order.promised_at or 0
    message = (
        f"order {order.number}: ETA {_clock(found.eta, timezone)}, promised {_clock(promised, timezone)}; "
        f"rider {rider} {found.distance_m / 1000:.1f} km away at {found.speed * 3.6:.0f} km/h"
    )
    return Alert(
        id=f"{order.id}:late",
        kind=AlertKind.DELIVERY_LATE,
        order_id=order.id,
        order_number=order.number,
        severity=AlertSeverity.WARNING,
        at=now,
        message=message,
    )


def _out_with(order: Order, rider: str) -> bool:
    trip = order.delivery
    return trip is not None and trip.rider == rider and trip.status is DeliveryStatus.OUT_FOR_DELIVERY


def _stop_order(order: Order) -> tuple[int, str, int]:
    trip = order.delivery
    assert trip is not None
    return trip.assigned_at, trip.batch, trip.stop


def check(order: Order, orders: Sequence[Order], track: Track | None, now: int, *, timezone: str = "UTC") -> Decision:
    """The ETA check of ``order`` given the restaurant's open ``orders`` and its rider's ``track``.

    Stops (the due check is dropped) unless the order is open and OUT_FOR_DELIVERY; otherwise runs again
    in ``CHECK_EVERY_MS``. Without a fix of the rider or a place for the order there is nothing to
    estimate yet.
    """
    trip = order.delivery
    if order.status not in _OPEN or trip is None or trip.status is not DeliveryStatus.OUT_FOR_DELIVERY:
        return Decision(result={"eta": None, "checking": False}, due=(Due(DueKind.ETA, order.id, None),))
    again = Due(DueKind.ETA, order.id, now + CHECK_EVERY_MS)
    if track is None or order.location is None:
        return Decision(result={"eta": trip.eta, "checking": True}, due=(again,))
    out = sorted((o for o in orders if o.status in _OPEN and _out_with(o, trip.rider)), key=_stop_order)
    ids = [o.id for o in out]
    upto = out[: ids.index(order.id) + 1] if order.id in ids else [order]
    stops = [o.location for o in upto[:-1] if o.location is not None] + [order.location]
    found = estimate(track, stops, now)
    changes: dict[str, int] = {}
    events: list[Event] = []
    info = e.DeliveryEta(
        order_id=order.id,
        order_number=order.number,
        rider=trip.rider,
        eta=found.eta,
        promised_at=order.promised_at,
        distance_m=round(found.distance_m),
        speed=round(found.speed, 2),
    )
    if trip.eta is None or abs(found.eta - trip.eta) >= ETA_STEP_MS:
        changes["eta"] = found.eta
        events.append(Event("DELIVERY_ETA", ("dispatch",), info))
    if order.promised_at is not None and found.eta > order.promised_at and trip.late_at is None:
        changes["eta"] = found.eta
        changes["late_at"] = now
        alert = late_alert(order, trip.rider, found, now, timezone)
        late = e.DeliveryLate(**info.model_dump(), alert=alert)
        events.append(Event("DELIVERY_LATE", ("dispatch", "manager"), late))
    result = {"eta": found.eta, "checking": True, "late": trip.late_at is not None or "late_at" in changes}
    if not changes:
        return Decision(result=result, due=(again,))
    new = touch(order, delivery=trip.model_copy(update=changes))
    return Decision(result=result, orders=(new,), events=tuple(events), due=(again,))
