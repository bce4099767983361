"""The simulator's day plan, without servers: seeded, shaped like the day part, and valid against the menu."""

from __future__ import annotations

import random
import statistics

import pytest

from fireflow.clients.simulator import (
    DAY_PARTS,
    DEMO_KITCHEN,
    Kind,
    KitchenModel,
    Report,
    Slowdown,
    plan_service,
    staffed_for,
)
from fireflow.clients.simulator.cooks import late_times
from fireflow.clients.simulator.plan import arrival_times
from fireflow.clients.simulator.service import LineRecord, OrderRecord
from fireflow.hub.run.demo import demo_setup

MENU = [item.model_dump(mode="json") for item in demo_setup().menu]
BY_ID = {item["id"]: item for item in MENU}


def test_the_same_seed_plans_the_same_day_and_another_seed_another() -> None:
    one = plan_service(MENU, orders=200, seed=3)
    assert one == plan_service(MENU, orders=200, seed=3)
    assert one != plan_service(MENU, orders=200, seed=4)


def test_arrivals_crowd_the_peak_and_stay_within_opening_hours() -> None:
    part = DAY_PARTS["dinner"]  # 18:30 to 23:00, peak at 20:30
    times = arrival_times(part, 2000, random.Random(1))
    assert len(times) == 2000 and times == sorted(times)
    assert 0 <= times[0] and times[-1] <= part.seconds
    hour = [t / 3600 + part.opens for t in times]
    at_peak = sum(1 for h in hour if 20.0 <= h < 21.0)
    first_hour = sum(1 for h in hour if h < 19.5)
    assert at_peak > 2 * first_hour
    assert abs(statistics.median(hour) - 20.5) < 0.4


def test_a_whole_day_has_two_rushes() -> None:
    part = DAY_PARTS["day"]
    hour = [t / 3600 + part.opens for t in arrival_times(part, 3000, random.Random(2))]
    lunch, afternoon, dinner = (sum(1 for h in hour if lo <= h < hi) for lo, hi in ((12.5, 13.5), (16, 17), (20, 21)))
    assert lunch > 2 * afternoon and dinner > 2 * afternoon


def test_the_mix_of_orders_follows_the_shares_asked() -> None:
    plan = plan_service(MENU, orders=2000, seed=5, mix={Kind.DINE_IN: 0.6, Kind.TAKEAWAY: 0.4})
    kinds = plan.kinds()
    assert kinds[Kind.DELIVERY] == 0
    assert 0.55 < kinds[Kind.DINE_IN] / 2000 < 0.65
    assert all(o.guests >= 1 for o in plan.orders)
    assert all(o.tender == "UPI" for o in plan_service(MENU, orders=300, seed=5).orders if o.kind is Kind.DELIVERY)


def test_every_planned_line_is_one_the_menu_takes() -> None:
    for order in plan_service(MENU, orders=500, seed=9).orders:
        assert order.lines, order
        for line in order.lines:
            item = BY_ID[line.menu_item_id]
            groups = {group["id"]: group for group in item.get("modifiers", ())}
            for group in groups.values():
                if group["required"]:
                    assert line.modifiers.get(group["id"]), (line, group["id"])
            for group_id, options in line.modifiers.items():
                group = groups[group_id]
                assert 1 <= len(options) <= group["max_choices"] and len(set(options)) == len(options)
                assert set(options) <= {option["id"] for option in group["options"]}
            assert line.command("o1")["menu_item_id"] == line.menu_item_id


def test_a_bad_plan_request_is_refused_plainly() -> None:
    with pytest.raises(ValueError, match="at least 0"):
        plan_service(MENU, orders=-1)
    with pytest.raises(ValueError, match="no items"):
        plan_service([], orders=10)
    with pytest.raises(ValueError, match="no kind"):
        plan_service(MENU, orders=10, mix={Kind.DINE_IN: 0})


def test_a_planted_slowdown_stretches_only_its_station_and_stretch() -> None:
    slow = DEMO_KITCHEN.with_slowdown(Slowdown("grill", 600, 1200, 2.0))

    def median(model: KitchenModel, station: str, at: float) -> float:
        rng = random.Random(1)
        return statistics.median(model.prep_seconds(station, "burger", 1, at, rng) for _ in range(400))

    assert median(slow, "grill", 900) == pytest.approx(2 * median(DEMO_KITCHEN, "grill", 900))
    assert median(slow, "grill", 1300) == pytest.approx(median(DEMO_KITCHEN, "grill", 1300))
    assert median(slow, "fry", 900) == pytest.approx(median(DEMO_KITCHEN, "fry", 900))
    assert 250 < median(DEMO_KITCHEN, "grill", 0) < 500  # about the grill's 6 minutes


def test_a_kitchen_is_staffed_for_its_busiest_half_hour_and_never_below_its_own() -> None:
    big = plan_service(MENU, orders=600, part=DAY_PARTS["day"], seed=1)
    staffed = staffed_for(DEMO_KITCHEN, big, MENU)
    assert staffed.cooks["grill"] > DEMO_KITCHEN.cooks["grill"]  # 600 orders need a longer grill line
    assert staffed.medians == DEMO_KITCHEN.medians and staffed.slowdowns == ()
    small = plan_service(MENU, orders=5, part=DAY_PARTS["dinner"], seed=1)
    assert staffed_for(DEMO_KITCHEN, small, MENU).cooks == dict(DEMO_KITCHEN.cooks)


def test_late_times_fit_the_kitchens_pace_past_its_slowest_items_tail() -> None:
    """The grill's slowest item (ribeye, 1.4 x 6 min) at its 97.5th percentile, and two minutes' wait: 19 min."""
    late = late_times(DEMO_KITCHEN, MENU)
    assert late == {"grill": 1140, "fry": 660, "cold": 480, "bar": 360}
    assert all(seconds % 60 == 0 for seconds in late.values())  # whole minutes, as a kitchen sets them
    slower = KitchenModel({**DEMO_KITCHEN.medians, "grill": 720.0}, DEMO_KITCHEN.cooks, DEMO_KITCHEN.item_factors)
    assert late_times(slower, MENU)["grill"] > late["grill"]


def test_alerts_are_scored_true_by_the_late_tickets_after_them_and_a_slowdown_by_its_first_of_each() -> None:
    """Grill late after 10 min; a slowdown from 60 min. Tickets turn late at 64, 74 and 90 min, one at 55 before
    it; alerts at 50 (two late within 15 min after: true), 62 (true) and 100 (none after: false). The slowdown's
    first alert counts from 15 min before its start, its first late ticket from its start."""
    plan = plan_service(MENU, orders=4)
    report = Report(plan, speed=1.0, late_after={"grill": 600.0})
    report.slowdowns = (Slowdown("grill", 3600.0, 7200.0, 2.0),)
    for n, late_at in enumerate((55, 64, 74, 90)):
        fired = (late_at - 10) * 60.0
        report.orders.append(OrderRecord(n, Kind.DINE_IN, order_id=f"o{n}", fired=fired))
        report.lines.append(LineRecord(f"o{n}", "L1", "grill", "burger", 1, fired, fired, fired + 660.0))
    report.lines.append(LineRecord("o0", "L2", "fry", "fries", 1, 0.0, 0.0, 3000.0))  # no late time: never late
    report.alerts = [(50 * 60.0, "grill"), (62 * 60.0, "grill"), (100 * 60.0, "grill")]
    scores = report.alert_scores()
    assert (scores["alerts"], scores["true"], scores["false"], scores["late"]) == (3, 2, 1, 4)
    assert scores["leads"] == [(report.slowdowns[0], 50 * 60.0, 64 * 60.0)]
    assert any(
        "lead time +14.0 min (first alert at -10.0 min, first late ticket at +4.0 min)" in line
        for line in report.summary()
    )
