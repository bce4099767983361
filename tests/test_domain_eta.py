"""ETAs without servers: a rider's measured speed, the ETA along its stops, the late alert raised once."""

from __future__ import annotations

import math
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fireflow.hub.domain import eta
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Due, DueKind
from fireflow.hub.domain.delivery import pickup
from fireflow.hub.domain.eta import Fix, Track
from fireflow.hub.domain.geo import distance_m
from fireflow.hub.domain.views import LiveState, channel_view
from fireflow.schema import events as e
from fireflow.schema.base import GeoPoint
from fireflow.schema.billing import BillingSettings
from fireflow.schema.records import AlertKind, Delivery, DeliveryStatus, Order, OrderStatus, OrderType

NOW = 1_700_000_000_000
HOME = GeoPoint(lat=12.9716, lon=77.5946)
NORTH_M = 1 / 111_195  # degrees of latitude per metre


def north(metres: float) -> GeoPoint:
    return GeoPoint(lat=HOME.lat + metres * NORTH_M, lon=HOME.lon)


def ride(speed: float, count: int, *, every_ms: int = 10_000, end: int = NOW) -> tuple[Fix, ...]:
    """``count`` fixes riding north at ``speed`` m/s, the last at ``end``; newest first, as kept."""
    start = end - (count - 1) * every_ms
    fixes = [Fix(north(speed * i * every_ms / 1000).lat, HOME.lon, start + i * every_ms, 5.0) for i in range(count)]
    return tuple(reversed(fixes))


def track(trail: tuple[Fix, ...], rider: str = "rider-1") -> Track:
    return Track(rider, trail[0], trail, None)


def out(n: int = 1, *, metres: float = 3_000, stop: int = 1, promised: int | None = None, **trip: Any) -> Order:
    delivery = Delivery(
        status=trip.pop("status", DeliveryStatus.OUT_FOR_DELIVERY),
        rider=trip.pop("rider", "rider-1"),
        batch="b1",
        stop=stop,
        assigned_at=NOW - 600_000,
        picked_up_at=NOW - 300_000,
        **trip,
    )
    return Order(
        id=f"demo.o{n}",
        number=n,
        type=OrderType.DELIVERY,
        status=OrderStatus.READY,
        location=north(metres),
        promised_at=promised,
        delivery=delivery,
    )


def test_a_steady_rider_is_measured_at_its_speed() -> None:
    """Fixes 10 s apart at 5 m/s measure 5 m/s, whatever order the trail is given in."""
    trail = ride(5.0, 6)
    assert math.isclose(eta.measured_speed(trail), 5.0, rel_tol=0.01)
    assert math.isclose(eta.measured_speed(tuple(reversed(trail))), 5.0, rel_tol=0.01)


def test_too_few_fixes_give_the_default_speed() -> None:
    """No fix, one fix, or one segment: the default city speed."""
    assert eta.measured_speed(()) == eta.DEFAULT_SPEED
    assert eta.measured_speed(ride(9.0, 1)) == eta.DEFAULT_SPEED
    assert eta.measured_speed(ride(9.0, 2)) == eta.DEFAULT_SPEED


def test_the_median_ignores_a_gps_jump_and_a_red_light() -> None:
    """One segment jumping 2 km and one standing still do not move the median of otherwise steady riding."""
    steady = list(reversed(ride(6.0, 10, end=NOW - 10_000)))  # oldest first
    steady[3] = Fix(steady[3].lat + 2_000 * NORTH_M, steady[3].lon, steady[3].at, 5.0)  # two wild segments
    waiting = Fix(steady[-1].lat, steady[-1].lon, NOW, 5.0)  # one standing still
    trail = (*steady, waiting)
    assert math.isclose(eta.measured_speed(trail), 6.0, rel_tol=0.01)


def test_speed_is_clamped_and_vague_or_old_fixes_are_left_out() -> None:
    """A car on a highway counts as MAX_SPEED, a crawl as MIN_SPEED; 500 m-accurate fixes and fixes older than the
    window measure nothing."""
    assert eta.measured_speed(ride(40.0, 5)) == eta.MAX_SPEED
    assert eta.measured_speed(ride(0.2, 5)) == eta.MIN_SPEED
    vague = tuple(Fix(f.lat, f.lon, f.at, 500.0) for f in ride(9.0, 5))
    assert eta.measured_speed(vague) == eta.DEFAULT_SPEED
    old = ride(9.0, 5, end=NOW - 20 * 60_000)
    assert eta.measured_speed((*ride(3.0, 2), *old)) == eta.DEFAULT_SPEED  # one recent segment: too few
    assert math.isclose(eta.measured_speed((*ride(3.0, 3), *old)), 3.0, rel_tol=0.01)
    assert eta.segment_speed(old[0], old[1]) is None  # newest first: not in time order


@given(st.lists(st.tuples(st.floats(-0.05, 0.05), st.integers(0, 60_000)), max_size=20))
def test_the_measured_speed_is_always_within_bounds(steps: list[tuple[float, int]]) -> None:
    """Any trail, however wild, measures a speed between MIN_SPEED and MAX_SPEED (or the default)."""
    at, trail = NOW, []
    for dlat, dt in steps:
        at += dt
        trail.append(Fix(HOME.lat + dlat, HOME.lon, at, None))
    speed = eta.measured_speed(trail)
    assert eta.MIN_SPEED <= speed <= eta.MAX_SPEED


def test_the_eta_follows_the_stops_with_the_detour_and_the_time_per_stop() -> None:
    """Two stops 1 km then 2 km on, at 5 m/s: 3 km x 1.3 / 5 m/s + one handover."""
    rider = track(ride(5.0, 6))
    stops = [north(1_000), north(3_000)]
    found = eta.estimate(rider, stops, NOW)
    here = rider.latest.point
    metres = distance_m(here, stops[0]) + distance_m(stops[0], stops[1])
    assert math.isclose(found.distance_m, metres)
    assert found.stops_before == 1
    assert found.eta == NOW + round(metres * eta.DETOUR * 1000 / found.speed) + eta.STOP_MS


def test_pickup_starts_the_eta_check() -> None:
    """delivery.pickup asks for an ETA check CHECK_EVERY_MS later."""
    assigned = out(status=DeliveryStatus.ASSIGNED)
    rider = Actor("demo", Role.RIDER, "rider-1")
    decided = pickup(assigned, rider, NOW, settings=BillingSettings(), currency="INR")
    assert decided.due == (Due(DueKind.ETA, assigned.id, NOW + eta.CHECK_EVERY_MS),)


def test_the_check_stops_once_the_order_is_no_longer_out() -> None:
    """Delivered, failed, or closed: the due check is dropped and nothing else changes."""
    for order in (
        out(status=DeliveryStatus.DELIVERED),
        out(status=DeliveryStatus.FAILED),
        out().model_copy(update={"status": OrderStatus.CLOSED}),
        out().model_copy(update={"delivery": None}),
    ):
        decided = eta.check(order, [order], track(ride(5.0, 4)), NOW)
        assert decided.due == (Due(DueKind.ETA, order.id, None),)
        assert decided.orders == () and decided.events == ()


def test_without_a_fix_or_a_place_it_only_checks_again() -> None:
    """No fix from the rider yet, or an order without a location: nothing to estimate, again in 30 s."""
    order = out()
    placeless = order.model_copy(update={"location": None})
    for subject, rider in ((order, None), (placeless, track(ride(5.0, 4)))):
        decided = eta.check(subject, [subject], rider, NOW)
        assert decided.due == (Due(DueKind.ETA, order.id, NOW + eta.CHECK_EVERY_MS),)
        assert decided.orders == () and decided.events == ()


def test_a_first_eta_is_stored_and_told_to_dispatch_without_a_version() -> None:
    """The first estimate is stored on the trip (clients' version unchanged) and sent as DELIVERY_ETA to dispatch."""
    order = out(promised=NOW + 3_600_000)
    decided = eta.check(order, [order], track(ride(5.0, 6)), NOW)
    (stored,) = decided.orders
    assert stored.delivery is not None and stored.delivery.eta == decided.result["eta"]
    assert stored.delivery.late_at is None and stored.version == order.version
    (event,) = decided.events
    assert (event.type, event.channels) == ("DELIVERY_ETA", ("dispatch",))
    assert isinstance(event.data, e.DeliveryEta) and event.data.eta == stored.delivery.eta
    assert "Rider Rd" not in str(event.data)


def test_an_eta_moved_by_less_than_a_minute_changes_nothing() -> None:
    """The same estimate 30 s later, give or take seconds: no new ETA, no event; a minute's move is told."""
    order = out()
    first = eta.check(order, [order], track(ride(5.0, 6)), NOW).orders[0]
    later = eta.check(first, [first], track(ride(5.0, 6, end=NOW + 20_000)), NOW + 20_000)
    assert later.orders == () and later.events == ()
    slower = eta.check(first, [first], track(ride(3.0, 6)), NOW)
    assert [ev.type for ev in slower.events] == ["DELIVERY_ETA"]


def test_a_late_delivery_is_alerted_once_with_its_reason() -> None:
    """Promised in 5 minutes, 2.75 km away at 18 km/h: DELIVERY_LATE to dispatch and manager, in words; never again."""
    order = out(n=12, promised=NOW + 5 * 60_000)
    decided = eta.check(order, [order], track(ride(5.0, 6)), NOW, timezone="Asia/Kolkata")
    assert [ev.type for ev in decided.events] == ["DELIVERY_ETA", "DELIVERY_LATE"]
    late = decided.events[1]
    assert late.channels == ("dispatch", "manager") and isinstance(late.data, e.DeliveryLate)
    alert = late.data.alert
    assert alert.kind is AlertKind.DELIVERY_LATE and alert.order_id == order.id and alert.at == NOW
    # NOW is 03:43 in Asia/Kolkata (UTC+5:30), promised 03:48; the rider is 250 m up the road, so 2.75 km
    # x 1.3 at 5 m/s is 12 minutes
    assert alert.message == "order 12: ETA 03:55, promised 03:48; rider rider-1 2.7 km away at 18 km/h"
    (stored,) = decided.orders
    assert stored.delivery is not None and stored.delivery.late_at == NOW
    again = eta.check(stored, [stored], track(ride(2.0, 6)), NOW + 30_000)
    assert [ev.type for ev in again.events] == ["DELIVERY_ETA"]  # later still: told, not alerted again
    assert decided.result["late"] is True and again.result["late"] is True


def test_stops_before_this_one_count_in_batch_order() -> None:
    """Stop 2 of a batch waits for stop 1 (its distance and a handover); stop 1 does not wait for stop 2; another
    rider's order and a delivered one are not on the way."""
    first, second = out(1, metres=1_000, stop=1), out(2, metres=2_000, stop=2)
    others = [
        out(3, metres=9_000, stop=1, rider="rider-2"),
        out(4, metres=9_000, stop=1, status=DeliveryStatus.DELIVERED),
    ]
    rider = track(ride(5.0, 6))
    orders = [second, first, *others]
    one = eta.check(first, orders, rider, NOW).result["eta"]
    two = eta.check(second, orders, rider, NOW).result["eta"]
    alone = eta.check(second, [second], rider, NOW).result["eta"]
    assert one == eta.estimate(rider, [first.location or HOME], NOW).eta
    assert two == eta.estimate(rider, [first.location or HOME, second.location or HOME], NOW).eta
    assert two - alone >= eta.STOP_MS


def test_the_dispatch_snapshot_shows_each_riders_fix_and_trail() -> None:
    """The dispatch view lists every rider's latest fix, speed and trail (newest first), from the live state."""
    trail = ride(5.0, 3)
    state = LiveState(now=NOW, riders=[Track("rider-1", trail[0], trail, 5.0)])
    (shown,) = channel_view("dispatch", state)["positions"]
    assert shown["rider"] == "rider-1" and shown["speed"] == 5.0 and shown["at"] == NOW
    assert shown["trail"] == [[f.lat, f.lon, f.at] for f in trail]
    assert re.fullmatch(r"[\d.]+", str(shown["lat"]))
