"""Which ticket first, without servers: due times by order type and promise, rush on top, courses, the predictor."""

from __future__ import annotations

from fireflow.hub.domain import kitchen as k
from fireflow.hub.domain import orders as d
from fireflow.hub.domain.priority import GRACE_S, ROAD_S, due, queue_key, ticket_priority
from fireflow.hub.domain.ready_times import AtPass, predict
from fireflow.hub.domain.tickets import EXPO, card
from fireflow.schema import commands as c
from fireflow.schema.records import Order, OrderType, PriorityReason
from tests.domain_support import EXPO as EXPO_ACTOR
from tests.domain_support import NOW, add, fire, tickets, with_items

MIN = 60_000


def fired_as(n: int, kind: OrderType, at: int, *menu_ids: str, promised_at: int | None = None) -> Order:
    order = fire(with_items(*menu_ids), now=at).orders[0]
    return order.model_copy(update={"id": f"demo.o{n}", "number": n, "type": kind, "promised_at": promised_at})


def first_at(orders: list[Order], station: str) -> list[int]:
    """Order numbers as a station's queue has them."""
    cards = [card(o, station, NOW) for o in orders]
    return [
        t.order_number for t in sorted(cards, key=lambda t: queue_key(t.priority, t.order_fired_at, t.order_number))
    ]


def test_each_order_type_gets_its_grace_after_the_fire() -> None:
    for kind, reason in [
        (OrderType.DELIVERY, PriorityReason.DELIVERY),
        (OrderType.TAKEAWAY, PriorityReason.TAKEAWAY),
        (OrderType.DINE_IN, PriorityReason.DINE_IN),
    ]:
        found = due(kind, NOW, None)
        assert (found.due_at, found.reason, found.grace_s) == (NOW + GRACE_S[kind] * 1000, reason, GRACE_S[kind])
    assert GRACE_S[OrderType.DELIVERY] < GRACE_S[OrderType.TAKEAWAY] < GRACE_S[OrderType.DINE_IN]


def test_a_promise_sooner_than_the_grace_sets_the_due_time_and_a_later_one_does_not() -> None:
    soon = due(OrderType.TAKEAWAY, NOW, NOW + 8 * MIN)
    assert (soon.due_at, soon.reason) == (NOW + 8 * MIN, PriorityReason.PROMISED)
    late = due(OrderType.TAKEAWAY, NOW, NOW + 40 * MIN)
    assert (late.due_at, late.reason) == (NOW + GRACE_S[OrderType.TAKEAWAY] * 1000, PriorityReason.TAKEAWAY)
    door = due(OrderType.DELIVERY, NOW, NOW + 15 * MIN)  # at the door at +15: out of the kitchen by +5
    assert (door.due_at, door.reason) == (NOW + 15 * MIN - ROAD_S * 1000, PriorityReason.PROMISED)


def test_a_delivery_fired_after_a_dine_in_is_made_first_and_rush_beats_both() -> None:
    dine = fired_as(1, OrderType.DINE_IN, NOW, "burger")
    delivery = fired_as(2, OrderType.DELIVERY, NOW + 2 * MIN, "burger")  # due +12 against the table's +15
    late_delivery = fired_as(3, OrderType.DELIVERY, NOW + 6 * MIN, "burger")  # due +16
    assert first_at([dine, delivery, late_delivery], "grill") == [2, 1, 3]
    rushed = late_delivery.model_copy(update={"rush_stations": ("grill",)})
    assert first_at([dine, delivery, rushed], "grill") == [3, 2, 1]
    top = ticket_priority(rushed, "grill")
    assert top is not None and top.reason is PriorityReason.RUSH
    assert top.due_at == NOW + 16 * MIN  # still known: rushed tickets are taken among themselves by it


def test_equal_due_times_go_oldest_fire_first_then_by_number() -> None:
    a = fired_as(1, OrderType.TAKEAWAY, NOW, "burger", promised_at=NOW + 5 * MIN)
    b = fired_as(2, OrderType.TAKEAWAY, NOW + MIN, "burger", promised_at=NOW + 5 * MIN)
    assert first_at([b, a], "grill") == [1, 2]


def test_a_course_fired_later_is_due_from_its_own_fire_not_the_first() -> None:
    order = add(with_items("burger"), "chicken-wings", course=2).orders[0]
    assert ticket_priority(order, "grill") is None  # nothing fired: no place in any queue yet
    order = d.hold_course(order, c.HoldCourse(order_id=order.id, course=2), NOW).orders[0]
    order = fire(order, now=NOW).orders[0]  # course 1 only
    first = ticket_priority(order, "grill")
    assert first is not None and first.due_at == NOW + 12 * MIN
    burger = next(i for i in order.items if i.menu_item_id == "burger")
    order = k.set_item_status(
        order,
        c.ItemStatusCommand(order_id=order.id, line_id=burger.id),
        k.ItemMove.DONE,
        EXPO_ACTOR,
        NOW + 10 * MIN,
        recall_window_ms=0,
    ).orders[0]
    order = fire(order, now=NOW + 20 * MIN, course=2).orders[0]
    later = ticket_priority(order, "grill")
    assert later is not None and later.due_at == NOW + 32 * MIN  # the wings' fire, not the burger's


def test_tickets_and_cards_carry_the_priority_and_expo_sees_the_oldest_line() -> None:
    decision = fire(with_items("burger", "fries"), now=NOW)
    (grill,) = tickets(decision, "kitchen:grill")
    assert grill.priority is not None and grill.priority.reason is PriorityReason.TAKEAWAY
    assert grill.priority.due_at == NOW + GRACE_S[OrderType.TAKEAWAY] * 1000
    expo = card(decision.orders[0], EXPO, NOW)
    assert expo.priority == grill.priority


def test_the_predictor_takes_waiting_lines_in_the_screens_order() -> None:
    dine = fired_as(1, OrderType.DINE_IN, NOW, "burger")
    delivery = fired_as(2, OrderType.DELIVERY, NOW + 2 * MIN, "burger")
    found = predict([AtPass.of(dine), AtPass.of(delivery)], NOW + 2 * MIN, lambda s, i, q: 300.0, {"grill": 1})
    assert found[delivery.id].ready_at < found[dine.id].ready_at  # one hand: the delivery goes first
    assert found[delivery.id].ready_at == NOW + 2 * MIN + 300_000
