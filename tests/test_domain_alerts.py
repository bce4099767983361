"""Kitchen alerts in snapshots, without servers: which alerts stand, and that a snapshot shows them as raised."""

from __future__ import annotations

from typing import Any

from fireflow.hub.domain import kitchen as k
from fireflow.hub.domain import orders as d
from fireflow.hub.domain.decision import Decision
from fireflow.hub.domain.views import LiveState, channel_view
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.records import Order, OrderStatus
from tests.domain_support import EXPO, GRILL, NOW, events, fire, tickets, with_items

GRILL_OFFLINE = d.KitchenContext(live_stations=("fry", "cold", "bar"), ack_timeout_ms=30_000)


def raised(decision: Decision) -> list[dict[str, Any]]:
    found = [event.data for event in events(decision, "KITCHEN_ALERT")]
    return [data.alert.model_dump(mode="json") for data in found if isinstance(data, e.KitchenAlert)]


def standing(*orders: Order, channel: str = "expo") -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = channel_view(channel, LiveState(now=NOW + 60_000, orders=orders))["alerts"]
    return alerts


def test_a_station_offline_alert_is_in_the_expo_and_manager_snapshots_until_its_ticket_is_acknowledged() -> None:
    """STATION_OFFLINE stands, exactly as raised, in the expo and manager snapshots until a grill screen acks it."""
    decision = fire(with_items("burger", "fries"), kitchen=GRILL_OFFLINE)
    order = decision.orders[0]
    assert len(raised(decision)) == 1
    assert standing(order) == raised(decision) == standing(order, channel="manager")
    assert "alerts" not in channel_view("kitchen:grill", LiveState(now=NOW, orders=[order]))
    ticket_id = tickets(decision, "kitchen:grill")[0].id
    acked = k.ack_tickets(order, c.AckTickets(order_id=order.id, ticket_ids=[ticket_id]), GRILL, NOW + 5)
    assert standing(acked.orders[0]) == []


def test_an_unacknowledged_ticket_alert_in_the_snapshot_is_the_one_raised_and_replaces_the_offline_one() -> None:
    """TICKET_UNACKED shows in the snapshot with the time and words it was raised with, once per ticket."""
    decision = fire(with_items("burger"), kitchen=GRILL_OFFLINE)
    ticket_id = tickets(decision, "kitchen:grill")[0].id
    late = k.check_ack(decision.orders[0], ticket_id, NOW + 31_500)
    assert [a["kind"] for a in raised(late)] == ["TICKET_UNACKED"]
    assert standing(late.orders[0]) == raised(late)


def test_an_alert_stops_standing_once_nothing_is_left_to_make_or_the_order_is_closed() -> None:
    """Bumping what the alert was about, or the order leaving (settled, cancelled), ends it; other orders' stay."""
    first = fire(with_items("burger"), kitchen=GRILL_OFFLINE).orders[0]
    other = first.model_copy(update={"id": "demo.o2", "number": 2})
    bumped = k.bump_order(first, c.BumpOrder(order_id=first.id), EXPO, NOW + 10).orders[0]
    assert standing(bumped) == []
    closed = first.model_copy(update={"status": OrderStatus.CLOSED})
    assert [a["order_id"] for a in standing(closed, other)] == ["demo.o2"]
