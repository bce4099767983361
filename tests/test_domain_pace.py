"""A station's pace against its learned times, without servers: lines done and lines still in hand."""

from __future__ import annotations

import math
import random

import pytest

from fireflow.hub.domain.pace import FORGOTTEN, MIN_LINES, Timed, pace, started_lately
from fireflow.hub.domain.ready_times import AtPass, bottlenecks, predict
from fireflow.schema.records import ItemStatus
from tests.domain_support import NOW, fire, with_items

EXPECTED_S = 450.0
SPREAD = 0.35
WINDOW_S = 19 * 60


def a_window(factor: float, lines: int, seed: int, *, changed_at_s: float = 0.0) -> list[Timed]:
    """Lines started at random over the last ``WINDOW_S``, each taking its log-normal time; those started after
    ``changed_at_s`` into the window at ``factor`` times the expected, those before at the expected."""
    rng = random.Random(seed)
    found = []
    for _ in range(lines):
        start = rng.uniform(0, WINDOW_S)
        took = EXPECTED_S * (factor if start >= changed_at_s else 1.0) * math.exp(rng.gauss(0, SPREAD))
        found.append(Timed(EXPECTED_S, min(took, WINDOW_S - start), took <= WINDOW_S - start))
    return found


@pytest.mark.parametrize("factor", [1.0, 1.4, 2.0])
def test_the_pace_of_lines_started_lately_done_or_not_is_their_factor(factor: float) -> None:
    found = [pace(a_window(factor, 150, seed), SPREAD) for seed in range(6)]
    assert all(abs(math.log(f / factor)) < 0.12 for f in found), found


def test_lines_in_hand_alone_say_a_station_is_slow_before_any_is_done() -> None:
    """Twelve lines started four to eight minutes ago, expected at 3 min, none done: the grill is at least twice
    as slow, said before the first of them ends. The same lines within their time say little (only the prior holds
    the pace down: lines in hand can say "slower", never "faster")."""
    over = [Timed(180, 240 + 20 * n, False) for n in range(12)]
    assert pace(over, SPREAD) > 1.8
    within = [Timed(180, 10 + 10 * n, False) for n in range(12)]
    assert 1.0 <= pace(within, SPREAD) < 1.15


def test_a_few_slow_plates_move_it_little_and_too_few_not_at_all() -> None:
    assert pace([Timed(300, 900, True)] * (MIN_LINES - 1), SPREAD) == 1.0
    on_time = [Timed(300, 300, True)] * 20
    assert pace(on_time + [Timed(300, 600, True)] * 2, SPREAD) < 1.1
    assert pace([Timed(300, 600, True)] * MIN_LINES, SPREAD) < 1.8  # the prior: four lines are not the station


def test_a_bump_forgotten_is_not_the_stations_pace() -> None:
    on_time = [Timed(300, 300, True)] * 10
    forgotten = Timed(300, 300 * FORGOTTEN + 1, False)
    assert pace([*on_time, forgotten], SPREAD) == pytest.approx(1.0, abs=0.01)


def test_a_faster_station_reads_under_one() -> None:
    assert pace(a_window(0.6, 150, 7), SPREAD) < 0.7


def test_a_sudden_slowdown_shows_in_the_lines_in_hand_before_the_lines_done_do() -> None:
    """The grill doubled its times 11 min ago, one and a half of its expected times: of the lines started since,
    hardly any is done, but those in hand have run over, so the pace has moved well off 1."""
    lines = a_window(2.0, 200, 3, changed_at_s=WINDOW_S - 1.5 * EXPECTED_S)
    done_since = [t for t in lines if t.done and t.took_s > 2 * EXPECTED_S]
    assert len(done_since) <= 2
    assert pace(lines, SPREAD) > 1.2


def test_a_grill_whose_lines_in_hand_run_over_is_a_bottleneck_before_any_ticket_is_late() -> None:
    """Twelve grill lines started 6 min ago at 4 min each and twelve waiting behind them; late after 12 min. At the
    learned times none is late and the station keeps up (done by +10.4 min); at the pace the lines in hand say,
    the twelve waiting will be late, and the alert says why."""
    started = NOW - 360_000
    orders = []
    for n in range(24):
        order = fire(with_items("burger")).orders[0]
        in_hand = {"status": ItemStatus.PREPARING, "started_at": started} if n < 12 else {}
        lines = tuple(line.model_copy(update={"fired_at": started, **in_hand}) for line in order.items)
        orders.append(
            AtPass.of(order.model_copy(update={"id": f"o{n}", "number": n + 1, "fired_at": started, "items": lines}))
        )

    def learned(station: str, item: str, quantity: int) -> float:
        return 240.0

    factor = pace([Timed(240, 360, False)] * 12, SPREAD)
    assert factor > 1.6

    def paced(station: str, item: str, quantity: int) -> float:
        return learned(station, item, quantity) * factor

    at_learned = predict(orders, NOW, learned, {"grill": 12})
    assert max(p.ready_at for p in at_learned.values()) < started + 720_000
    assert bottlenecks(orders, at_learned, NOW, {"grill": 720}, {"grill": 12}, {}, spread={"grill": SPREAD}) == []
    at_pace = predict(orders, NOW, paced, {"grill": 12})
    (grill,) = bottlenecks(
        orders, at_pace, NOW, {"grill": 720}, {"grill": 12}, {}, spread={"grill": SPREAD}, slower={"grill": factor}
    )
    assert f"lines taking {factor:.1f}x their usual time lately" in grill.message
    assert all(int(order_id[1:]) >= 12 for order_id in grill.order_ids)  # the ones waiting


def test_the_lines_read_are_chosen_by_their_start_and_enough_of_them() -> None:
    """Those started in the window, however long they took; when few started in it (a station of few hands, its
    lines in hand on for a while), the latest few started, so a grill stuck still reads slow."""
    lines = [Timed(300, took, done, started_at=at) for at, took, done in [(100, 50, True), (90, 900, False)]]
    lines += [Timed(300, 400, True, started_at=at) for at in range(10, 60, 10)]
    assert started_lately(lines, 80, 2) == lines[:2]
    assert [line.started_at for line in started_lately(lines, 80, 4)] == [100, 90, 50, 40]
    stuck = [Timed(180, 400, False, started_at=at) for at in range(4)]
    assert pace(started_lately(stuck, 1_000_000, 12), SPREAD) > 1.8
