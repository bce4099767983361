"""Predicted ready times without servers: the queue at each station, its hands, rush, lines in hand and done."""

from __future__ import annotations

from fireflow.hub.domain import kitchen as k
from fireflow.hub.domain.ready_times import OVERDUE_SHARE, AtPass, Expect, Prediction, bottlenecks
from fireflow.hub.domain.ready_times import moved as worth_telling
from fireflow.hub.domain.ready_times import predict as predict_at_pass
from fireflow.schema import commands as c
from fireflow.schema.records import ItemStatus, Order
from tests.domain_support import EXPO, NOW, fire, with_items

FIRED = NOW + 1
MINUTES = {"grill": 300.0, "fry": 120.0, "cold": 60.0, "bar": 30.0}


def expect(station: str, menu_item_id: str, quantity: int) -> float:
    return MINUTES[station] * quantity


def predict(orders: list[Order], now_ms: int, expect: Expect, capacity: dict[str, int]) -> dict[str, Prediction]:
    return predict_at_pass([AtPass.of(order) for order in orders], now_ms, expect, capacity)


def fired(n: int, *menu_ids: str, rush: bool = False) -> Order:
    order = fire(with_items(*menu_ids)).orders[0]
    return order.model_copy(update={"id": f"demo.o{n}", "number": n, "rush": rush})


def moved(order: Order, line: str, move: k.ItemMove, now: int) -> Order:
    cmd = c.ItemStatusCommand(order_id=order.id, line_id=line)
    return k.set_item_status(order, cmd, move, EXPO, now, recall_window_ms=600_000).orders[0]


def test_one_line_is_ready_after_its_time_at_the_station() -> None:
    found = predict([fired(1, "burger")], FIRED, expect, {"grill": 1})
    assert found["demo.o1"].ready_at == FIRED + 300_000
    assert found["demo.o1"].stations == {"grill": FIRED + 300_000}


def test_the_queue_ahead_is_made_first_by_the_stations_hands() -> None:
    orders = [fired(n, "burger") for n in (1, 2, 3)]
    found = predict(orders, FIRED, expect, {"grill": 2})
    assert [found[o.id].ready_at - FIRED for o in orders] == [300_000, 300_000, 600_000]
    one_hand = predict(orders, FIRED, expect, {"grill": 1})
    assert [one_hand[o.id].ready_at - FIRED for o in orders] == [300_000, 600_000, 900_000]


def test_a_rushed_order_jumps_the_queue() -> None:
    orders = [fired(1, "burger"), fired(2, "burger"), fired(3, "burger", rush=True)]
    found = predict(orders, FIRED, expect, {"grill": 1})
    assert found["demo.o3"].ready_at == FIRED + 300_000
    assert found["demo.o1"].ready_at == FIRED + 600_000 and found["demo.o2"].ready_at == FIRED + 900_000


def test_an_order_is_ready_when_its_slowest_station_is() -> None:
    found = predict([fired(1, "burger", "fries", "caesar")], FIRED, expect, {})
    assert found["demo.o1"].stations == {"grill": FIRED + 300_000, "fry": FIRED + 120_000, "cold": FIRED + 60_000}
    assert found["demo.o1"].ready_at == FIRED + 300_000


def test_a_line_in_hand_ends_its_time_after_it_started_or_soon_when_over() -> None:
    started = moved(fired(1, "burger"), "L1", k.ItemMove.START, FIRED + 1_000)
    assert started.items[0].started_at == FIRED + 1_000
    now = FIRED + 101_000  # 100 s into its 300
    assert predict([started], now, expect, {"grill": 1})["demo.o1"].ready_at == FIRED + 301_000
    late = FIRED + 400_000  # over its time: not done yet, so a little longer
    assert predict([started], late, expect, {"grill": 1})["demo.o1"].ready_at == late + OVERDUE_SHARE * 300_000
    # the line in hand holds the only hand: the next order waits for it
    behind = predict([started, fired(2, "burger")], now, expect, {"grill": 1})
    assert behind["demo.o2"].ready_at == FIRED + 301_000 + 300_000


def test_done_lines_are_kept_as_their_stations_finish_and_a_finished_order_gets_none() -> None:
    order = moved(fired(1, "burger", "fries"), "L2", k.ItemMove.DONE, FIRED + 50_000)
    found = predict([order], FIRED + 60_000, expect, {"grill": 1})["demo.o1"]
    assert found.stations == {"fry": FIRED + 50_000, "grill": FIRED + 60_000 + 300_000}
    assert found.ready_at == FIRED + 360_000
    everything = moved(order, "L1", k.ItemMove.DONE, FIRED + 70_000)
    assert predict([everything], FIRED + 80_000, expect, {}) == {}


def test_lines_not_made_in_the_kitchen_or_not_fired_do_not_count() -> None:
    drinks = fired(1, "water", "soda")  # need no preparation: ready at fire
    assert predict([drinks], FIRED, expect, {}) == {}
    unfired = with_items("burger").model_copy(update={"id": "demo.o2", "number": 2})
    assert predict([unfired], FIRED, expect, {}) == {}
    recalled = moved(moved(fired(3, "burger"), "L1", k.ItemMove.DONE, FIRED + 5), "L1", k.ItemMove.RECALL, FIRED + 9)
    assert recalled.items[0].status is ItemStatus.PREPARING and recalled.items[0].started_at == FIRED + 9


def test_a_prediction_is_told_again_when_it_moves_by_a_minute_and_a_tenth_of_the_wait() -> None:
    told = Prediction("o", FIRED + 300_000, {"grill": FIRED + 300_000})
    assert worth_telling(told, None, FIRED)
    assert not worth_telling(Prediction("o", FIRED + 350_000, {"grill": FIRED + 350_000}), told, FIRED)
    assert worth_telling(Prediction("o", FIRED + 361_000, {"grill": FIRED + 361_000}), told, FIRED)
    assert worth_telling(Prediction("o", FIRED + 300_000, {"grill": 1, "fry": 2}), told, FIRED)  # another station now
    hours_out = Prediction("o", FIRED + 7_200_000, {"grill": FIRED + 7_200_000})
    assert not worth_telling(Prediction("o", FIRED + 7_300_000, {"grill": FIRED + 7_300_000}), hours_out, FIRED)
    assert worth_telling(Prediction("o", FIRED + 8_000_000, {"grill": FIRED + 8_000_000}), hours_out, FIRED)


def test_a_station_predicted_to_run_two_tickets_late_soon_is_a_bottleneck() -> None:
    orders = [AtPass.of(fired(n, "burger")) for n in range(1, 7)]
    found = predict_at_pass(orders, FIRED, expect, {"grill": 2})  # done at +5, +5, +10, +10, +15, +15 min
    # late after 12 min: orders 5 and 6 will be, within the next 12 min (what the grill can still catch up on)
    (grill,) = bottlenecks(orders, found, FIRED, {"grill": 720}, {"grill": 2}, {"grill": 300.0})
    assert grill.station == "grill" and grill.order_ids == ("demo.o5", "demo.o6")
    assert grill.message == (
        "grill: 2 tickets will be late within 12 min (the first in 12 min); 6 lines waiting, 2 made at once, "
        "each taking about 5 min"
    )
    # late after 16 min: none will be; one ticket predicted late is not a bottleneck
    assert bottlenecks(orders, found, FIRED, {"grill": 960}, {"grill": 2}, {}) == []
    assert bottlenecks(orders[:5], found, FIRED, {"grill": 720}, {"grill": 2}, {}) == []
    # tickets already late are the screens' to show; a station with no late time set is never flagged
    assert bottlenecks(orders, found, FIRED + 800_000, {"grill": 720}, {"grill": 2}, {}) == []
    assert bottlenecks(orders, found, FIRED, {}, {"grill": 2}, {}) == []
    # a station late after 100 s says it in seconds
    (bar,) = bottlenecks(orders, found, FIRED + 1, {"grill": 100}, {"grill": 2}, {})
    assert "within 100 s" in bar.message


def test_a_few_slow_plates_among_many_are_no_bottleneck_most_of_them_are() -> None:
    """Ten grill tickets on time: two predicted late is the everyday tail (under a quarter); five is the pace."""
    orders = [AtPass.of(fired(n, "burger")) for n in range(1, 11)]

    found = predict_at_pass(orders, FIRED, expect, {"grill": 10})  # all in hand at once: done at +5 min
    late = dict(found)
    for n in (9, 10):  # two of ten predicted past their late time (12 min)
        late[f"demo.o{n}"] = Prediction(f"demo.o{n}", FIRED + 900_000, {"grill": FIRED + 900_000})
    assert bottlenecks(orders, late, FIRED, {"grill": 720}, {"grill": 10}, {}) == []
    for n in (6, 7, 8):  # five of ten
        late[f"demo.o{n}"] = Prediction(f"demo.o{n}", FIRED + 900_000, {"grill": FIRED + 900_000})
    (grill,) = bottlenecks(orders, late, FIRED, {"grill": 720}, {"grill": 10}, {})
    assert set(grill.order_ids) == {f"demo.o{n}" for n in (6, 7, 8, 9, 10)}


def test_a_slowed_station_alerts_on_the_chances_of_its_tickets_before_any_is_expected_late() -> None:
    """Twelve grill tickets expected at 16 of their 19 late minutes: none late by its expected time, but with the
    grill's spread each has about a one in three chance; four or so expected late is a bottleneck. The same
    times with a tight spread, or on a grill whose lines keep to their times, are not."""
    orders = [AtPass.of(fired(n, "burger")) for n in range(1, 13)]
    found = predict_at_pass(orders, FIRED, lambda s, i, q: 960.0, {"grill": 12})  # all in hand: done at +16 min
    assert all(p.ready_at < FIRED + 1_140_000 for p in found.values())  # each expected before its late time
    (grill,) = bottlenecks(orders, found, FIRED, {"grill": 1140}, {"grill": 12}, {}, spread={"grill": 0.35})
    assert grill.message.startswith("grill: 4 tickets will be late within 19 min")
    assert len(grill.order_ids) == 4
    assert bottlenecks(orders, found, FIRED, {"grill": 1140}, {"grill": 12}, {}, spread={"grill": 0.1}) == []
    everyday = predict_at_pass(orders, FIRED, lambda s, i, q: 480.0, {"grill": 12})  # 8 of 19 min: the usual
    assert bottlenecks(orders, everyday, FIRED, {"grill": 1140}, {"grill": 12}, {}, spread={"grill": 0.35}) == []


def test_an_order_read_straight_from_its_json_is_the_same_at_the_pass_as_the_record() -> None:
    """What the predictor reads from Redis without building the record: every field alike, for orders fired,
    started, done, rushed, promised and not yet fired (and a line that needs no cooking is left out alike)."""
    first = fired(1, "burger", "fries", "water", rush=True)
    started = moved(first, "L1", "start", FIRED + 5_000)
    done = moved(started, "L2", "done", FIRED + 9_000)
    promised = fired(2, "burger").model_copy(update={"promised_at": FIRED + 900_000, "rush_stations": ("grill",)})
    for order in (first, started, done, promised, with_items("burger")):
        assert AtPass.of_json(order.model_dump_json()) == AtPass.of(order)
    assert [line.station for line in AtPass.of_json(done.model_dump_json()).lines] == ["grill", "fry"]
