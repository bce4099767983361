"""What a line takes at its station, learned online from the kitchen's own item.start and item.done.

One model per restaurant (river: a linear model over one-hot station, item, hour of the day and
station-at-that-hour, on the log of the seconds, with the target standardised), taught each line as
it is finished. Learning the log suits prep times (a long tail of slow plates) and lets the hour
shift a station's pace as a factor (dinner's grill is slower than lunch's). Until an item has been
seen a few times the station's typical time stands in; until the station has, its warning time does.

How far its lines stray from what was expected is kept per station too (the spread of the log of
took/expected): the bottleneck alert reads from it how likely a ticket is to turn late, not only
whether its expected time does.

A station's hands (how many lines it makes at once) are read from the kitchen too: the most lines
it has had in hand at once over its recent looks (river's rolling maximum).

What was learned outlives the node that learned it: ``dumps`` and ``loads`` keep it as a pickle (river's
models have no other form) signed with the hub's secret, so the next node to predict starts from it,
and a blob it did not sign (or that a newer hub wrote in another shape) is ignored, never unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import pickle
from dataclasses import dataclass, field
from typing import Any

from river import compose, linear_model, optim, preprocessing, stats

__all__ = ["MIN_SEEN", "PrepTimes"]

logger = logging.getLogger(__name__)

MIN_SEEN = 3  # lines of an item (or a station) seen before the model's word is taken for it
HANDS_WINDOW = 240  # looks at a station over which its most lines in hand count as its hands
SHORTEST_S, LONGEST_S = 0.1, 4 * 3600.0  # what an expected time is kept within
# A line done in under this share of what was expected (or over this many times it) was not timed: a start
# pressed just before done, or forgotten for hours. Relative, so a kitchen of any pace (a simulated one
# played fast too) is learned alike.
MISTIMED_UNDER, MISTIMED_OVER = 0.05, 20.0


def _model() -> Any:
    linear = linear_model.LinearRegression(optimizer=optim.SGD(0.01), intercept_lr=0.01, l2=0.0)
    pipeline: Any = compose.Pipeline(preprocessing.OneHotEncoder(), linear)  # a regressor; river types it loosely
    return preprocessing.TargetStandardScaler(regressor=pipeline)


def _features(station: str, menu_item_id: str, hour: int) -> dict[str, str]:
    return {"station": station, "item": f"{station}/{menu_item_id}", "hour": str(hour), "at": f"{station}@{hour}"}


def _portions(quantity: int) -> float:
    """How much longer more portions take than one: a second adds half a first (they cook side by side)."""
    return 1 + 0.5 * max(quantity - 1, 0)


@dataclass
class PrepTimes:
    """One restaurant's learned prep times and station hands; ``fallback``: seconds per station before any."""

    fallback: dict[str, float] = field(default_factory=dict)
    default_s: float = 300.0
    model: Any = field(default_factory=_model)
    seen_items: dict[tuple[str, str], int] = field(default_factory=dict)
    seen_stations: dict[str, int] = field(default_factory=dict)
    station_mean: dict[str, Any] = field(default_factory=dict)  # river stats.Mean of each station's seconds
    in_hand: dict[str, Any] = field(default_factory=dict)  # river stats.RollingMax of lines in hand at once
    residuals: dict[str, Any] = field(default_factory=dict)  # river stats.Var of log(took / expected) per station

    learned: int = 0  # lines learned, ever: what a saved copy is compared by

    def dumps(self, secret: str) -> bytes:
        """What was learned, signed: the fallbacks are not kept (they follow the settings)."""
        body = pickle.dumps(
            (
                self.model,
                self.seen_items,
                self.seen_stations,
                self.station_mean,
                self.in_hand,
                self.residuals,
                self.learned,
            )
        )
        return hmac.new(secret.encode(), body, hashlib.sha256).digest() + body

    @classmethod
    def loads(cls, data: bytes, secret: str) -> PrepTimes | None:
        """A copy ``dumps`` made with ``secret``; None for anything else (unsigned, altered, another shape)."""
        mac, body = data[:32], data[32:]
        if not hmac.compare_digest(mac, hmac.new(secret.encode(), body, hashlib.sha256).digest()):
            logger.warning("a saved prep-time model is not signed with this hub's secret: learning afresh")
            return None
        try:
            model, items, stations, means, hands, residuals, learned = pickle.loads(body)  # signed by a hub
        except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError, EOFError) as exc:
            logger.warning("a saved prep-time model could not be read (%s): learning afresh", exc)
            return None
        return cls(
            model=model,
            seen_items=items,
            seen_stations=stations,
            station_mean=means,
            in_hand=hands,
            residuals=residuals,
            learned=learned,
        )

    def learn(self, station: str, menu_item_id: str, quantity: int, hour: int, seconds: float) -> None:
        """A line was made in ``seconds`` (from its start to done) at ``hour`` of the restaurant's day."""
        expected = self.expect(station, menu_item_id, quantity, hour)
        if not MISTIMED_UNDER * expected <= seconds <= min(MISTIMED_OVER * expected, LONGEST_S):
            return
        self.residuals.setdefault(station, stats.Var()).update(math.log(seconds / expected))
        one = seconds / _portions(quantity)
        self.model.learn_one(_features(station, menu_item_id, hour), math.log(one))
        self.seen_items[(station, menu_item_id)] = self.seen_items.get((station, menu_item_id), 0) + 1
        self.seen_stations[station] = self.seen_stations.get(station, 0) + 1
        self.station_mean.setdefault(station, stats.Mean()).update(one)
        self.learned += 1

    def expect(self, station: str, menu_item_id: str, quantity: int, hour: int) -> float:
        """Seconds the line should take once started."""
        if self.seen_items.get((station, menu_item_id), 0) >= MIN_SEEN or self.seen_stations.get(station, 0) >= (
            3 * MIN_SEEN
        ):
            one = math.exp(self.model.predict_one(_features(station, menu_item_id, hour)))
        elif self.seen_stations.get(station, 0) >= MIN_SEEN:
            one = float(self.station_mean[station].get())
        else:
            one = self.fallback_s(station)
        return min(max(one, SHORTEST_S), LONGEST_S) * _portions(quantity)

    def fallback_s(self, station: str) -> float:
        """A line's seconds at ``station`` before anything is learned there."""
        return float(self.fallback.get(station, self.default_s))

    def spread(self) -> dict[str, float]:
        """Per station, how far a line's time strays from what was expected: the standard deviation of the log
        of their ratio (a log-normal's sigma), once a station has some lines behind it."""
        return {
            station: math.sqrt(max(float(var.get()), 0.0))
            for station, var in self.residuals.items()
            if var.mean.n >= 3 * MIN_SEEN
        }

    def pace(self) -> dict[str, float]:
        """Each station's mean seconds a line (one portion) took, over what was learned."""
        return {station: float(mean.get()) for station, mean in self.station_mean.items()}

    def saw_in_hand(self, station: str, lines: int) -> None:
        """One look at the station: ``lines`` were in hand (PREPARING) at once."""
        self.in_hand.setdefault(station, stats.RollingMax(HANDS_WINDOW)).update(lines)

    def hands(self) -> dict[str, int]:
        """Lines each station makes at once, as seen; stations never seen with a line in hand are left out."""
        return {station: int(most.get()) for station, most in self.in_hand.items() if (most.get() or 0) >= 1}
