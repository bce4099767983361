"""How much slower (or faster) a station is working right now than its learned prep times say.

The learned model (``hub/forecast/prep_times.py``) only learns from lines once they are done, so when a
station slows down all at once (a cook off the line, a grill losing heat) it learns of it one slow prep
time late, and by then the queue has turned tickets late. The lines in hand say it sooner: a line
started eight minutes ago that was expected to take five has taken at least eight, whenever it ends.

So the pace is estimated from every line a station started lately, done or not. All of them: the lines
in hand at any moment are the slow ones more often than not, so on their own they read any station as
slow (about 1.7 times on a log-normal spread of 0.35). The log of each line's time over its expected time
is taken as normal around the station's log pace, with the station's spread (the same log-normal the
bottleneck chances use). A done line's ratio is an observation; a line still in hand says only "at least
this much" (a right-censored observation). The estimate is the most likely log pace given those and a
prior that the model is right (centred on 0), so a handful of slow plates move it little and a station's
worth of them move it much. A line in hand for over ``FORGOTTEN`` times its expected time is taken as a
bump forgotten, not a pace, and left out.

Pure: the lines and their expected times come in; scipy finds the maximum (one bounded scalar search).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_ndtr

__all__ = ["FORGOTTEN", "MIN_LINES", "PRIOR_SIGMA", "Timed", "pace", "started_lately"]

PRIOR_SIGMA = 0.25  # the log pace before any line is seen: about as often within ±28 % of the model as not far off
FORGOTTEN = 3.0  # a line in hand this many times its expected time is a bump forgotten, not the station's pace
MIN_LINES = 4  # fewer lines started lately than this say nothing: the model's word stands (pace 1)
_BOUNDS = (math.log(0.25), math.log(4.0))  # a station is not read as over four times slower or faster


@dataclass(frozen=True, slots=True)
class Timed:
    """One line against what was expected of it: ``took_s`` so far when not ``done`` (still in hand)."""

    expected_s: float
    took_s: float
    done: bool
    started_at: int = 0  # ms


def started_lately(lines: Iterable[Timed], since_ms: int, at_least: int) -> list[Timed]:
    """The lines started since ``since_ms``, or the latest ``at_least`` started when fewer were: chosen by their
    start alone (never by how long they took, which would bias the pace), and enough of them for a station
    with few hands whose lines in hand have all been on for a while (a grill stuck says so too)."""
    latest = sorted(lines, key=lambda line: line.started_at, reverse=True)
    recent = [line for line in latest if line.started_at >= since_ms]
    return recent if len(recent) >= at_least else latest[:at_least]


def pace(lines: Iterable[Timed], sigma: float) -> float:
    """The factor a station's lines are taking over their expected times lately (1.0: as expected); ``sigma``:
    the station's log-normal spread of a line's time about its expected time."""
    done: list[float] = []
    in_hand: list[float] = []
    for line in lines:
        if line.expected_s <= 0 or line.took_s <= 0:
            continue
        ratio = line.took_s / line.expected_s
        if line.done:
            done.append(math.log(ratio))
        elif ratio <= FORGOTTEN:
            in_hand.append(math.log(ratio))
    if len(done) + len(in_hand) < MIN_LINES:
        return 1.0
    seen = np.asarray(done)
    lower = np.asarray(in_hand)
    s = max(sigma, 0.05)

    def cost(mu: float) -> float:
        """Minus the log posterior of log pace ``mu`` (constants dropped)."""
        fit = float(np.sum((seen - mu) ** 2)) / (2 * s * s)
        survive = -float(np.sum(log_ndtr((mu - lower) / s)))  # each in hand lasts at least as long as it has
        return fit + survive + mu * mu / (2 * PRIOR_SIGMA * PRIOR_SIGMA)

    found = minimize_scalar(cost, bounds=_BOUNDS, method="bounded", options={"xatol": 1e-3})
    return math.exp(float(found.x))
