"""``fireflow bench NAME --runs N``: the medians it prints, and the ratios taken within each run."""

from __future__ import annotations

from fireflow.clients.bench.medians import summary


def test_each_figure_s_median_is_printed_with_every_run_s_value_in_run_order() -> None:
    hub = [
        {"cpu/delivery_us": 181.0, "p99_ms": 5.4},
        {"cpu/delivery_us": 184.4, "p99_ms": 5.9},
        {"cpu/delivery_us": 159.0, "p99_ms": 4.7},
    ]
    assert summary("kitchen", hub, []) == [
        "kitchen[hub] median of 3 runs: cpu/delivery_us=181 (181 184 159) p99_ms=5.4 (5.4 5.9 4.7)"
    ]


def test_the_ratio_is_taken_within_each_run_then_its_median_printed() -> None:
    # the baseline's slow second run goes with the hub's slow second run: the ratio of medians (75000/75000 = 1)
    # would hide that the hub held less than the baseline in two runs of three
    hub = [{"held/s": 50000.0}, {"held/s": 75000.0}, {"held/s": 50000.0}]
    baseline = [{"held/s": 75000.0}, {"held/s": 50000.0}, {"held/s": 75000.0}]
    lines = summary("broadcast", hub, baseline)
    assert lines[1] == "broadcast[baseline] median of 3 runs: held/s=75000 (75000 50000 75000)"
    assert lines[2] == "broadcast: hub/baseline median of 3 runs: held/s=0.667 (0.667 1.5 0.667)"


def test_a_figure_the_baseline_has_as_zero_has_no_ratio() -> None:
    hub = [{"cpu/delivery_us": 200.0, "lost": 3.0}, {"cpu/delivery_us": 180.0, "lost": 0.0}]
    baseline = [{"cpu/delivery_us": 40.0, "lost": 0.0}, {"cpu/delivery_us": 36.0, "lost": 0.0}]
    assert summary("kitchen", hub, baseline)[2] == "kitchen: hub/baseline median of 2 runs: cpu/delivery_us=5 (5 5)"
