"""The anomalies, without servers: planted outliers are found and said with their figures; ordinary days are quiet."""

from __future__ import annotations

import random
from datetime import date, timedelta

from fireflow.hub.forecast.anomalies import (
    MIN_DURATIONS,
    MIN_WEEKS,
    Duration,
    Kind,
    Severity,
    StaffDay,
    money_words,
    robust,
    slow_orders,
    staff_outliers,
    takings_below_curve,
)

TUESDAY = date(2026, 12, 1)
NAMES = {"pos-asha": "Asha", "pos-ravi": "Ravi"}


def _history(weeks: int, lunch: int = 765_000, seed: int = 7) -> dict[date, dict[int, int]]:
    """Earlier Tuesdays: about ₹7,650 at 12:00, ₹3,000 at 13:00, nothing at 03:00; one odd week at half."""
    rng = random.Random(seed)
    found = {}
    for week in range(1, weeks + 1):
        odd = 0.5 if week == 2 else 1.0
        found[TUESDAY - timedelta(weeks=week)] = {
            12: round(lunch * odd + rng.randint(-60_000, 60_000)),
            13: 300_000 + rng.randint(-30_000, 30_000),
        }
    found[TUESDAY - timedelta(days=1)] = {12: 50}  # a Monday: never a Tuesday's measure
    return found


def test_takings_far_below_the_usual_tuesday_hour_are_said_with_figures() -> None:
    """An hour 45% under the usual Tuesday is raised with the takings, the usual, its spread and the weeks."""
    found = takings_below_curve(TUESDAY, {12: 421_000, 13: 300_000}, _history(6), range(14), "INR")
    assert [a.kind for a in found.anomalies] == [Kind.TAKINGS_BELOW_CURVE]
    lunch = found.anomalies[0]
    assert lunch.subject == "12:00\u201313:00" and lunch.severity is Severity.MEDIUM
    assert lunch.message.startswith("Takings 12:00\u201313:00 are ₹4,210, about ")
    assert "below a usual Tuesday at this hour (₹7," in lunch.message and "from 6 weeks)" in lunch.message
    assert lunch.figures["takings"] == 421_000 and lunch.figures["weeks"] == 6
    assert 40 <= lunch.figures["below_pct"] <= 50 and 700_000 <= lunch.figures["usual"] <= 820_000
    assert found.notes == ()


def test_an_ordinary_day_and_an_unfinished_hour_raise_nothing() -> None:
    """Takings near the usual, or an hour not yet judged, raise nothing; one odd week does not move the usual."""
    ordinary = takings_below_curve(TUESDAY, {12: 740_000, 13: 290_000}, _history(6), range(14), "INR")
    assert ordinary.anomalies == ()
    unfinished = takings_below_curve(TUESDAY, {12: 10_000}, _history(6), range(12), "INR")
    assert unfinished.anomalies == ()


def test_too_little_history_gives_no_takings_judgement_and_says_why() -> None:
    """Under MIN_WEEKS earlier Tuesdays nothing is judged, and a note says how many there were."""
    found = takings_below_curve(TUESDAY, {12: 0}, _history(MIN_WEEKS - 1), range(24), "INR")
    assert found.anomalies == ()
    assert found.notes == (f"Takings not judged: {MIN_WEEKS - 1} earlier Tuesdays on the books, {MIN_WEEKS} needed",)


def test_an_empty_hour_against_a_busy_usual_is_high() -> None:
    """No takings at all where there usually are is HIGH; an hour usually empty is never judged."""
    found = takings_below_curve(TUESDAY, {13: 300_000}, _history(8), range(24), "INR")
    assert [(a.subject, a.severity) for a in found.anomalies] == [("12:00\u201313:00", Severity.HIGH)]
    assert "about 100% below" in found.anomalies[0].message


def _durations(subject: str, count: int, usual: float, seed: int = 3) -> list[Duration]:
    rng = random.Random(seed)
    return [Duration(subject, usual + rng.uniform(-90, 90), f"o{i}", i) for i in range(count)]


def test_slow_orders_at_a_station_are_found_with_the_slowest() -> None:
    """Three of twenty grill orders at 35-40 min against a usual 12 are raised, slowest named by number."""
    history = _durations("grill", 200, 720) + _durations("order", 200, 900)
    slow = [Duration("grill", 2100, "slow-a", 41), Duration("grill", 2400, "slow-b", 42)]
    today = [*_durations("grill", 17, 720, seed=9), *slow, Duration("grill", 2200, "slow-c", 43)]
    today += _durations("order", 20, 900, seed=9)
    found = slow_orders(history, today)
    assert [(a.kind, a.subject) for a in found.anomalies] == [(Kind.SLOW_ORDERS, "grill")]
    grill = found.anomalies[0]
    assert grill.message.startswith("3 of 20 orders at the grill station took much longer than usual today")
    assert "the slowest took 40 min (#42)" in grill.message and "A usual one takes 12 min" in grill.message
    assert grill.figures["slowest_order_id"] == "slow-b" and grill.figures["history"] == 200
    assert grill.severity is Severity.HIGH  # 40 min is over twice the limit


def test_orders_still_waiting_are_said_to_be_waiting() -> None:
    """Orders not ready yet that have waited past the limit are slow, the slowest said to be still waiting."""
    history = _durations("order", 100, 900)
    today = [*_durations("order", 8, 900, seed=9), Duration("order", 3000, "w1", 7, waiting=True)]
    today.append(Duration("order", 1800, "w2", 8, waiting=True))
    found = slow_orders(history, today)
    assert [a.subject for a in found.anomalies] == ["order"]
    assert "; the slowest (#7) is still waiting after 50 min." in found.anomalies[0].message
    assert found.anomalies[0].figures["waiting"] == 2


def test_one_slow_plate_or_an_ordinary_day_is_quiet_and_a_new_station_is_not_judged() -> None:
    """A single slow order is not raised; a station with too little history gets a note, not a guess."""
    history = _durations("grill", 200, 720) + _durations("bar", MIN_DURATIONS - 1, 120)
    today = [*_durations("grill", 19, 720, seed=9), Duration("grill", 2400, "slow", 42)]
    today += [Duration("bar", 2000, "b1", 1), Duration("bar", 2000, "b2", 2)]
    found = slow_orders(history, today)
    assert found.anomalies == ()
    assert found.notes == (f"Pace at the bar station not judged: {MIN_DURATIONS - 1} earlier orders, 30 needed",)


def _staff_history(days: int) -> list[StaffDay]:
    rng = random.Random(5)
    found = []
    for back in range(1, days + 1):
        for who in ("pos-asha", "pos-ravi", "pos-mina"):
            given = rng.choice((1, 2, 2, 2, 3))
            found.append(StaffDay(who, TUESDAY - timedelta(days=back), discounts=given, discount_amount=given * 150_00))
    return found


def test_a_waiter_giving_many_more_discounts_than_peers_is_raised_in_words() -> None:
    """Asha's nine discounts against a usual two are raised with her name, the amount and the usual."""
    today = [
        StaffDay("pos-asha", TUESDAY, discounts=9, discount_amount=1_350_00),
        StaffDay("pos-ravi", TUESDAY, discounts=2, discount_amount=300_00),
        StaffDay("pos-mina", TUESDAY, voids=1, void_amount=500_00),
    ]
    found = staff_outliers(TUESDAY, _staff_history(20), today, NAMES, "INR", when="today")
    assert [(a.kind, a.subject) for a in found.anomalies] == [(Kind.STAFF_DISCOUNTS, "pos-asha")]
    asha = found.anomalies[0]
    assert asha.message == (
        "Asha gave 9 discounts today (₹1,350), against 2 on a colleague's typical day (from 42 days of colleagues); "
        "worth a look"
    )
    assert (asha.figures["count"], asha.figures["amount"], asha.figures["usual"]) == (9, 1_350_00, 2)


def test_refunds_and_voids_stand_out_against_peers_who_give_none() -> None:
    """Peers who give no refunds or voids make three of either an outlier; the device id stands in for a name."""
    today = [
        StaffDay("pos-x", TUESDAY, refunds=4, refund_amount=2_000_00, voids=3, void_amount=900_00),
        StaffDay("pos-ravi", TUESDAY),
    ]
    history = [StaffDay("pos-ravi", TUESDAY - timedelta(days=d)) for d in range(1, 15)]
    found = staff_outliers(TUESDAY, history, today, NAMES, "INR")
    assert [a.kind for a in found.anomalies] == [Kind.STAFF_REFUNDS, Kind.STAFF_VOIDS]
    assert found.anomalies[0].message.startswith("pos-x gave 4 refunds on 2026-12-01 (₹2,000), against 0")
    assert found.anomalies[1].message.startswith("pos-x made 3 voids on 2026-12-01 (₹900)")


def test_an_ordinary_staff_day_and_too_few_peers() -> None:
    """Everyone near the usual raises nothing; too few peers gives a note instead of a judgement."""
    today = [StaffDay("pos-asha", TUESDAY, discounts=3), StaffDay("pos-ravi", TUESDAY, discounts=2)]
    assert staff_outliers(TUESDAY, _staff_history(20), today, NAMES, "INR").anomalies == ()
    lonely = staff_outliers(TUESDAY, [], [StaffDay("pos-asha", TUESDAY, discounts=9)], NAMES, "INR")
    assert lonely.anomalies == ()
    assert lonely.notes == ("Asha's 9 discounts not compared: 0 days of colleagues, 10 needed",)


def test_robust_figures_and_money_words() -> None:
    """The median and scaled MAD ignore one wild value; money is whole major units with the symbol."""
    middle, spread = robust([10, 11, 9, 10, 1000])
    assert middle == 10 and abs(spread - 1.4826) < 1e-9
    assert money_words(421_049, "INR") == "₹4,210" and money_words(1500, "JPY") == "¥1,500"
    assert money_words(123_456, "KWD") == "KWD 123"
