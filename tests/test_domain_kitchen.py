"""Kitchen rules without servers: delta and void tickets, courses, rush, recall, notes, acknowledgements, alerts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fireflow.hub.domain import kitchen as k
from fireflow.hub.domain import orders as d
from fireflow.hub.domain.actors import Actor, Role
from fireflow.hub.domain.decision import Decision, Due, DueKind
from fireflow.hub.domain.errors import DomainError
from fireflow.schema import commands as c
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import AlertKind, ItemStatus, Order, OrderStatus, TicketChange
from tests.domain_support import (
    EXPO,
    GRILL,
    MENU,
    NOW,
    WAITER,
    add,
    change,
    events,
    fire,
    lines_of,
    opened,
    remove,
    tickets,
    types,
    with_items,
)

WINDOW = 600_000
BAR = Actor("demo", Role.KITCHEN, "kds-bar", ("bar",))


def done(order: Order, line: str, now: int = NOW + 10, actor: Actor = EXPO) -> Decision:
    cmd = c.ItemStatusCommand(order_id=order.id, line_id=line)
    return k.set_item_status(order, cmd, k.ItemMove.DONE, actor, now, recall_window_ms=WINDOW)


def recall_item(order: Order, line: str, now: int) -> Decision:
    cmd = c.ItemStatusCommand(order_id=order.id, line_id=line)
    return k.set_item_status(order, cmd, k.ItemMove.RECALL, GRILL, now, recall_window_ms=WINDOW)


# -- changes after fire never duplicate ------------------------------------------------------------


def test_firing_again_sends_only_new_lines_and_added_quantities() -> None:
    """After a fire, a new line goes as NEW and a raised quantity as ADDED with only the extra."""
    order = fire(with_items("burger", "fries")).orders[0]
    order = change(order, "L1", 3).orders[0]  # burger 1 -> 3
    order = add(order, "paneer-tikka").orders[0]  # L3
    decision = fire(order)
    (grill,) = tickets(decision, "kitchen:grill")
    assert lines_of(grill) == [("L1", "ADDED", 2, 3), ("L3", "NEW", 1, 1)]
    assert tickets(decision, "kitchen:fry") == []  # nothing new for fries: no ticket at all
    assert [line.sent for line in decision.orders[0].items] == [3, 1, 1]


def test_a_second_fire_of_the_same_thing_sends_nothing() -> None:
    """Double tap, retry or a second terminal: the second fire finds nothing unsent and is refused."""
    order = fire(with_items("burger")).orders[0]
    with pytest.raises(DomainError) as err:
        fire(order)
    assert err.value.code is ErrorCode.NOTHING_TO_FIRE


def test_reducing_a_fired_line_voids_the_difference_at_its_station() -> None:
    """3 burgers sent, lowered to 1: the grill and expo get a VOID ticket for 2, nothing is re-sent."""
    order = fire(with_items("burger")).orders[0]
    order = change(order, "L1", 3).orders[0]
    order = fire(order).orders[0]
    decision = change(order, "L1", 1)
    (void,) = tickets(decision, "kitchen:grill", "TICKET_VOID")
    assert void.kind.value == "VOID" and lines_of(void) == [("L1", "VOID", 2, 1)]
    assert len(tickets(decision, "expo", "TICKET_VOID")) == 1
    assert tickets(decision, "kitchen:grill") == []
    assert decision.orders[0].items[0].sent == 1


def test_lowering_only_the_unsent_part_tells_the_kitchen_nothing() -> None:
    """1 sent, raised to 4, lowered to 2 before firing again: no VOID; the next fire sends +1."""
    order = fire(with_items("burger")).orders[0]
    order = change(order, "L1", 4).orders[0]
    decision = change(order, "L1", 2)
    assert not events(decision, "TICKET_VOID")
    (grill,) = tickets(fire(decision.orders[0]), "kitchen:grill")
    assert lines_of(grill) == [("L1", "ADDED", 1, 2)]


def test_removing_a_fired_line_voids_all_of_it() -> None:
    """A removed line that was sent becomes a VOID of everything sent, with nothing left."""
    order = fire(with_items("burger", "fries")).orders[0]
    decision = remove(order, "L2")
    (void,) = tickets(decision, "kitchen:fry", "TICKET_VOID")
    assert lines_of(void) == [("L2", "VOID", 1, 0)]
    assert [i.id for i in decision.orders[0].items] == ["L1"]


def test_removing_the_last_unfinished_line_makes_the_order_ready() -> None:
    """Voiding what was still cooking when the rest is done leaves a READY order."""
    order = fire(with_items("burger", "fries")).orders[0]
    order = done(order, "L1").orders[0]
    decision = remove(order, "L2")
    assert decision.orders[0].status is OrderStatus.READY
    assert "ORDER_READY" in types(decision)


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "change", "remove", "fire", "fire_course", "hold", "done"]),
        st.sampled_from(["burger", "fries", "mojito", "water", "caesar"]),
        st.integers(min_value=1, max_value=6),
        st.integers(min_value=1, max_value=4),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(ACTIONS)
def test_what_each_station_was_told_always_equals_what_was_sent(actions: list[tuple[str, str, int, int]]) -> None:
    """Over any command sequence, NEW + ADDED - VOID per line at its station equals the line's sent quantity."""
    order = with_items()
    told: dict[str, int] = {}  # line id -> net quantity the station was told to make
    station_of: dict[str, str] = {}
    for action, menu_id, n, qty in actions:
        line = f"L{n}"
        try:
            if action == "add":
                decision = add(order, menu_id, qty, course=1 + qty % 2)
            elif action == "change":
                decision = change(order, line, qty)
            elif action == "remove":
                decision = remove(order, line)
            elif action == "fire":
                decision = fire(order)
            elif action == "fire_course":
                decision = fire(order, course=1 + qty % 2)
            elif action == "hold":
                decision = d.hold_course(order, c.HoldCourse(order_id=order.id, course=1 + qty % 2), NOW)
            else:
                decision = done(order, line)
        except DomainError:
            continue
        order = decision.orders[0]
        for event in decision.events:
            if event.type in ("NEW_KITCHEN_ORDER", "TICKET_VOID") and event.channels != ("expo",):
                ticket = event.data.ticket  # type: ignore[attr-defined]
                for tl in ticket.lines:
                    assert tl.station == ticket.station
                    if tl.change is TicketChange.HELD:
                        continue
                    sign = -1 if tl.change is TicketChange.VOID else 1
                    told[tl.line_id] = told.get(tl.line_id, 0) + sign * tl.quantity
                    station_of[tl.line_id] = tl.station
        present = {i.id: i for i in order.items}
        for line_id, quantity in told.items():
            expected = present[line_id].sent if line_id in present else 0
            assert quantity == expected, (line_id, quantity, expected)
        for item in order.items:
            if item.requires_prep:
                assert told.get(item.id, 0) == item.sent


# -- courses, hold and rush --------------------------------------------------------------------------


def test_a_held_course_waits_and_is_shown_pending_then_fires_on_command() -> None:
    """Course 2 held: a fire sends course 1 with course 2 listed as HELD; 'fire course 2' sends it."""
    order = with_items()
    order = add(order, "burger").orders[0]  # L1 course 1
    order = add(order, "paneer-tikka", course=2).orders[0]  # L2 grill, course 2
    order = add(order, "caesar", course=2).orders[0]  # L3 cold, course 2
    order = d.hold_course(order, c.HoldCourse(order_id=order.id, course=2), NOW).orders[0]
    first = fire(order)
    (grill,) = tickets(first, "kitchen:grill")
    assert lines_of(grill) == [("L1", "NEW", 1, 1), ("L2", "HELD", 1, 1)]
    assert tickets(first, "kitchen:cold") == []  # nothing to start at cold yet
    assert [tl.change.value for tl in tickets(first, "expo")[0].lines] == ["NEW", "HELD", "HELD"]
    order = first.orders[0]
    assert order.held_courses == (2,) and order.status is OrderStatus.ACTIVE
    with pytest.raises(DomainError) as err:
        fire(order)
    assert err.value.code is ErrorCode.NOTHING_TO_FIRE and "held" in err.value.message
    second = fire(order, course=2)
    assert lines_of(tickets(second, "kitchen:grill")[0]) == [("L2", "NEW", 1, 1)]
    assert lines_of(tickets(second, "kitchen:cold")[0]) == [("L3", "NEW", 1, 1)]
    assert second.orders[0].held_courses == ()


def test_holding_a_course_already_fired_is_refused() -> None:
    """A course whose lines were all sent cannot be held any more."""
    order = fire(with_items("burger")).orders[0]
    with pytest.raises(DomainError) as err:
        d.hold_course(order, c.HoldCourse(order_id=order.id, course=1), NOW)
    assert err.value.code is ErrorCode.INVALID_STATE


def test_rush_marks_tickets_and_one_station_can_be_rushed_alone() -> None:
    """A rush fire marks every ticket; a station rush updates only that station's card (and expo's)."""
    rushed = fire(with_items("burger", "fries"), rush=True)
    assert all(t.rush for ch in ("kitchen:grill", "kitchen:fry", "expo") for t in tickets(rushed, ch))
    order = fire(with_items("burger", "fries")).orders[0]
    decision = d.rush_order(order, GRILL, c.RushOrder(order_id=order.id, station="grill"), NOW + 5)
    cards = {e.channels: e.data.ticket for e in events(decision, "TICKET_UPDATED")}  # type: ignore[attr-defined]
    assert set(cards) == {("kitchen:grill",), ("expo",)}
    assert cards[("kitchen:grill",)].rush
    assert decision.orders[0].is_rush("grill") and not decision.orders[0].is_rush("fry")
    assert "ORDER_RUSHED" in types(decision)
    with pytest.raises(DomainError) as err:
        d.rush_order(order, GRILL, c.RushOrder(order_id=order.id, station="fry"), NOW + 5)
    assert err.value.code is ErrorCode.FORBIDDEN


# -- bump and recall -------------------------------------------------------------------------------


def test_bump_finishes_the_station_or_the_whole_order() -> None:
    """A grill bump finishes only grill lines; an expo bump finishes everything and makes the order READY."""
    order = fire(with_items("burger", "fries")).orders[0]
    grill_bump = k.bump_order(order, c.BumpOrder(order_id=order.id), GRILL, NOW + 9)
    assert [i.status for i in grill_bump.orders[0].items] == [ItemStatus.DONE, ItemStatus.PENDING]
    whole = k.bump_order(order, c.BumpOrder(order_id=order.id), EXPO, NOW + 9)
    assert whole.orders[0].status is OrderStatus.READY
    assert types(whole).count("ITEM_STATUS_CHANGED") == 2 and "ORDER_READY" in types(whole)
    assert [(p.station, p.ms) for p in whole.prep] == [("grill", 8), ("fry", 8)]
    with pytest.raises(DomainError) as err:
        k.bump_order(whole.orders[0], c.BumpOrder(order_id=order.id), EXPO, NOW + 10)
    assert err.value.code is ErrorCode.INVALID_STATE


def test_recall_within_the_window_reopens_the_item_and_the_order() -> None:
    """A bumped item recalled in time is PREPARING again; its READY order is ACTIVE with ORDER_RECALLED."""
    order = fire(with_items("burger")).orders[0]
    order = done(order, "L1", NOW + 100).orders[0]
    assert order.status is OrderStatus.READY
    decision = recall_item(order, "L1", NOW + 100 + WINDOW)
    recalled = decision.orders[0]
    assert recalled.items[0].status is ItemStatus.PREPARING and recalled.status is OrderStatus.ACTIVE
    assert {"ITEM_STATUS_CHANGED", "ORDER_RECALLED", "TICKET_UPDATED"} <= set(types(decision))
    # The public board hears only that the token is being prepared again, not the order.
    assert "board" not in events(decision, "ORDER_RECALLED")[0].channels
    assert [e.channels for e in events(decision, "TOKEN_PREPARING")] == [("board",)]
    with pytest.raises(DomainError) as err:
        recall_item(order, "L1", NOW + 101 + WINDOW)
    assert err.value.code is ErrorCode.RECALL_EXPIRED


def test_recalling_a_whole_order_brings_back_what_was_bumped() -> None:
    """order.recall turns a READY order ACTIVE and its bumped lines PREPARING; too late is RECALL_EXPIRED."""
    order = fire(with_items("burger", "fries", "water")).orders[0]
    order = k.bump_order(order, c.BumpOrder(order_id=order.id), EXPO, NOW + 50).orders[0]
    decision = k.recall_order(order, c.RecallOrder(order_id=order.id), EXPO, NOW + 60, recall_window_ms=WINDOW)
    assert [i.status for i in decision.orders[0].items] == [ItemStatus.PREPARING, ItemStatus.PREPARING, ItemStatus.DONE]
    assert decision.orders[0].status is OrderStatus.ACTIVE
    with pytest.raises(DomainError) as err:
        k.recall_order(order, c.RecallOrder(order_id=order.id), EXPO, NOW + 51 + WINDOW, recall_window_ms=WINDOW)
    assert err.value.code is ErrorCode.RECALL_EXPIRED


# -- notes ---------------------------------------------------------------------------------------


def test_notes_reach_the_ticket_internal_and_customer_visible() -> None:
    """Line instructions and order notes are on the ticket; notes added later update the stations' cards."""
    order = opened(notes="birthday table").orders[0]
    order = add(order, "burger", notes="no onions").orders[0]
    decision = fire(order)
    (grill,) = tickets(decision, "kitchen:grill")
    assert grill.lines[0].notes == "no onions" and [n.text for n in grill.notes] == ["birthday table"]
    order = decision.orders[0]
    note = d.add_note(order, WAITER, c.AddNote(order_id=order.id, text="allergy: nuts", internal=False), NOW + 3)
    (added,) = events(note, "ORDER_NOTE_ADDED")
    assert added.data.note.internal is False  # type: ignore[attr-defined]
    (card,) = [e.data.ticket for e in events(note, "TICKET_UPDATED", "kitchen:grill")]  # type: ignore[attr-defined]
    assert [(n.text, n.internal) for n in card.notes] == [("birthday table", True), ("allergy: nuts", False)]


# -- acknowledgements and alerts -----------------------------------------------------------------


def test_each_station_ticket_starts_an_ack_timer_that_an_ack_stops() -> None:
    """A FIRE ticket per station is due for acknowledgement; the first ack stops it, a second changes nothing."""
    decision = fire(with_items("burger", "mojito"))
    order = decision.orders[0]
    grill, bar = tickets(decision, "kitchen:grill")[0], tickets(decision, "kitchen:bar")[0]
    assert set(decision.due) == {Due(DueKind.ACK, grill.id, NOW + 30_001), Due(DueKind.ACK, bar.id, NOW + 30_001)}
    acked = k.ack_tickets(order, c.AckTickets(order_id=order.id, ticket_ids=[grill.id]), GRILL, NOW + 2)
    assert acked.due == (Due(DueKind.ACK, grill.id, None),)
    assert events(acked, "TICKET_ACKED", "expo")
    again = k.ack_tickets(acked.orders[0], c.AckTickets(order_id=order.id, ticket_ids=[grill.id]), GRILL, NOW + 3)
    assert again.orders == () and again.events == ()
    with pytest.raises(DomainError) as err:
        k.ack_tickets(order, c.AckTickets(order_id=order.id, ticket_ids=[bar.id]), GRILL, NOW + 2)
    assert err.value.code is ErrorCode.FORBIDDEN
    assert k.ack_tickets(order, c.AckTickets(order_id=order.id, ticket_ids=[bar.id]), BAR, NOW + 2).orders


def test_an_unacknowledged_ticket_alerts_expo_and_managers_once() -> None:
    """When the timer runs out with no screen having shown the ticket, KITCHEN_ALERT goes out, once."""
    decision = fire(with_items("burger"))
    order = decision.orders[0]
    ticket_id = tickets(decision, "kitchen:grill")[0].id
    alert = k.check_ack(order, ticket_id, NOW + 31_001)
    (event,) = events(alert, "KITCHEN_ALERT")
    assert set(event.channels) == {"expo", "manager"}
    assert event.data.alert.kind is AlertKind.TICKET_UNACKED  # type: ignore[attr-defined]
    assert k.check_ack(alert.orders[0], ticket_id, NOW + 40_000).events == ()
    acked = k.ack_tickets(order, c.AckTickets(order_id=order.id, ticket_ids=[ticket_id]), GRILL, NOW + 2).orders[0]
    quiet = k.check_ack(acked, ticket_id, NOW + 31_001)
    assert quiet.events == () and quiet.due == (Due(DueKind.ACK, ticket_id, None),)


def test_firing_to_a_station_with_no_live_screen_alerts_at_once() -> None:
    """Only the stations without a live screen get a STATION_OFFLINE alert, in the same commit as the fire."""
    decision = fire(with_items("burger", "fries"), kitchen=d.KitchenContext(live_stations=("fry",)))
    alerts = [e.data.alert for e in events(decision, "KITCHEN_ALERT")]  # type: ignore[attr-defined]
    assert [(a.kind, a.station) for a in alerts] == [(AlertKind.STATION_OFFLINE, "grill")]


def test_prep_time_is_recorded_from_fire_to_done() -> None:
    """item.done records one fire-to-done sample for the station and menu item."""
    order = fire(with_items("burger"), now=NOW + 1).orders[0]
    decision = done(order, "L1", NOW + 90_001)
    assert [(p.station, p.menu_item_id, p.ms) for p in decision.prep] == [("grill", "burger", 90_000)]
    assert MENU.item("burger") is not None


def test_acknowledgements_do_not_invalidate_the_waiters_version() -> None:
    """An ack or an alert is kitchen bookkeeping: the order's client-visible version stays, its revision moves."""
    decision = fire(with_items("burger"))
    order = decision.orders[0]
    ticket_id = tickets(decision, "kitchen:grill")[0].id
    acked = k.ack_tickets(order, c.AckTickets(order_id=order.id, ticket_ids=[ticket_id]), GRILL, NOW + 2).orders[0]
    assert (acked.version, acked.revision) == (order.version, order.revision + 1)
    add(acked, "fries", version=order.version)  # the waiter's version is still good
