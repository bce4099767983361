"""When each fired order will be ready: the queue ahead of it at each station, made at the station's pace.

A station makes ``capacity`` lines at once. The lines in hand (PREPARING) end at their start plus
their expected time, or a little after now if they are already over it; the waiting lines (PENDING)
are taken in the kitchen screen's order (``hub/domain/priority.py``: rush, then due time), each by the first hand
free. An order is ready when the last of its lines is. What a station has finished (DONE, SKIPPED)
is kept as the time it finished, so a prediction can be scored against it per station.

Pure: the expected time of a line comes in as a function (``Expect``: what the learned model says
for that station, item and quantity at that hour), and nothing here reads a clock.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import orjson

from fireflow.hub.domain.decision import Decision, Event
from fireflow.hub.domain.orders import ALERT_CHANNELS, front_channels, touch
from fireflow.hub.domain.priority import due_at
from fireflow.schema import commands as c
from fireflow.schema import events as e
from fireflow.schema.base import OrderType, trusted
from fireflow.schema.records import Alert, AlertKind, ItemStatus, Order, OrderItem, OrderStatus

__all__ = [
    "BOTTLENECK_SHARE",
    "BOTTLENECK_TICKETS",
    "DEFAULT_SPREAD",
    "MOVED_MS",
    "OVERDUE_SHARE",
    "AtPass",
    "Bottleneck",
    "Expect",
    "PassLine",
    "Prediction",
    "bottleneck_alert",
    "bottlenecks",
    "moved",
    "predict",
    "told",
]

Expect = Callable[[str, str, int], float]  # (station, menu_item_id, quantity) -> seconds of the station's time
OVERDUE_SHARE = 0.1  # a line over its expected time is taken to need this share of it more, not to be done already
MOVED_MS = 60_000  # a prediction is told again when it moves by this much (or its stations change) ...
MOVED_SHARE = 0.1  # ... and by this share of the time still to wait
OWN_RESULT_TTL_S = 300  # the predictor's commands are its own, never retried after that: their answers go soon
_WAITING = (ItemStatus.PENDING,)
_FINISHED = (ItemStatus.DONE, ItemStatus.SKIPPED, ItemStatus.SERVED)
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class Prediction:
    """When an order is expected ready (ms), and when each of its stations is expected to finish its lines."""

    order_id: str
    ready_at: int
    stations: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class PassLine:
    """What the pass needs of a fired line that is made in the kitchen."""

    id: str
    station: str
    menu_item_id: str
    quantity: int
    status: ItemStatus
    fired_at: int | None
    started_at: int | None
    done_at: int | None


@dataclass(frozen=True, slots=True)
class AtPass:
    """An order as the pass sees it: a few fields, kept for every open order by the predictor (not the whole Order)."""

    id: str
    number: int
    created_at: int
    status: OrderStatus
    fired_at: int | None
    rush: bool
    rush_stations: tuple[str, ...]
    lines: tuple[PassLine, ...]
    type: OrderType = OrderType.DINE_IN
    promised_at: int | None = None

    @classmethod
    def of(cls, order: Order) -> AtPass:
        lines = tuple(
            PassLine(i.id, i.station, i.menu_item_id, i.quantity, i.status, i.fired_at, i.started_at, i.done_at)
            for i in order.items
            if _counted(i)
        )
        return cls(
            order.id,
            order.number,
            order.created_at,
            order.status,
            order.fired_at,
            order.rush,
            order.rush_stations,
            lines,
            order.type,
            order.promised_at,
        )

    @classmethod
    def of_json(cls, raw: bytes | str) -> AtPass:
        """The same as ``of`` the Order this JSON is, read straight from it: the predictor reads every open order a
        commit changed, and building the whole record (its validation) for these few fields cost more than the
        rest of a look. Only the hub's own stored orders come here; a field an older hub did not write takes its
        default, as the record would."""
        order = orjson.loads(raw)
        lines = tuple(
            PassLine(
                i["id"],
                i["station"],
                i["menu_item_id"],
                i["quantity"],
                ItemStatus(i.get("status", ItemStatus.PENDING)),
                i.get("fired_at"),
                i.get("started_at"),
                i.get("done_at"),
            )
            for i in order.get("items", ())
            if i["requires_prep"] and i.get("fired", False) and i.get("sent", 0) > 0
        )
        return cls(
            order["id"],
            order["number"],
            order.get("created_at", 0),
            OrderStatus(order.get("status", OrderStatus.ACTIVE)),
            order.get("fired_at"),
            order.get("rush", False),
            tuple(order.get("rush_stations", ())),
            lines,
            OrderType(order["type"]),
            order.get("promised_at"),
        )

    def is_rush(self, station: str) -> bool:
        return self.rush or station in self.rush_stations


def _counted(line: OrderItem) -> bool:
    return line.requires_prep and line.fired and line.sent > 0


def predict(
    orders: Iterable[AtPass], now_ms: int, expect: Expect, capacity: Mapping[str, int], *, default_capacity: int = 2
) -> dict[str, Prediction]:
    """Predictions for every ACTIVE order with a fired line still to make; ``capacity``: lines at once per station."""
    active = [o for o in orders if o.status is OrderStatus.ACTIVE and o.fired_at is not None]
    # a waiting line's place: rush first, due, fired, the order's number and id, then the line's place in the
    # order (a whole key, so the queue sorts as plain tuples: the predictor sorts every station's on every look)
    queues: dict[str, list[tuple[bool, int, int, int, str, int, PassLine]]] = {}
    in_hand: dict[str, list[tuple[float, str]]] = {}
    finished: dict[str, dict[str, int]] = {}
    for order in active:
        for n, line in enumerate(order.lines):
            status = line.status
            if status in _FINISHED:
                done = line.done_at if line.done_at is not None else now_ms
                station_done = finished.setdefault(order.id, {})
                station_done[line.station] = max(station_done.get(line.station, 0), done)
            elif status is ItemStatus.PREPARING:
                seconds = expect(line.station, line.menu_item_id, line.quantity)
                started = line.started_at if line.started_at is not None else now_ms - seconds * 500  # half made
                end = max(started + seconds * 1000, now_ms + OVERDUE_SHARE * seconds * 1000)
                in_hand.setdefault(line.station, []).append((end, order.id))
            elif status in _WAITING:
                fired = line.fired_at if line.fired_at is not None else order.fired_at or now_ms
                due = due_at(order.type, fired, order.promised_at)
                key = (not order.is_rush(line.station), due, fired, order.number, order.id, n, line)
                queues.setdefault(line.station, []).append(key)
    ends: dict[str, dict[str, float]] = {}
    for station in sorted(set(queues) | set(in_hand)):
        hands = max(1, int(capacity.get(station, default_capacity)))
        busy = sorted(end for end, _ in in_hand.get(station, []))
        for end, order_id in in_hand.get(station, []):
            station_ends = ends.setdefault(order_id, {})
            station_ends[station] = max(station_ends.get(station, 0.0), end)
        # More lines in hand than its usual hands: the station has that many today.
        free = busy + [float(now_ms)] * max(hands - len(busy), 0)
        heapq.heapify(free)
        for key in sorted(queues.get(station, ())):
            line = key[6]
            end = free[0] + expect(station, line.menu_item_id, line.quantity) * 1000  # the first hand free takes it
            heapq.heapreplace(free, end)
            station_ends = ends.setdefault(key[4], {})
            if end > station_ends.get(station, 0.0):
                station_ends[station] = end
    predictions: dict[str, Prediction] = {}
    for order in active:
        pending = ends.get(order.id)
        if not pending:
            continue  # nothing left to make: it is ready, or about to be told so
        stations = {s: int(t) for s, t in (finished.get(order.id, {}) | pending).items()}
        predictions[order.id] = Prediction(order.id, max(int(t) for t in pending.values()), stations)
    return predictions


def moved(new: Prediction, told_before: Prediction | None, now_ms: int) -> bool:
    """Whether ``new`` is worth telling: the first for its order, or a minute or more from the last told, and a
    tenth or more of the time still to wait (an order two hours out is not told again every minute it slips)."""
    if told_before is None or set(new.stations) != set(told_before.stations):
        return True
    return abs(new.ready_at - told_before.ready_at) >= max(MOVED_MS, MOVED_SHARE * (new.ready_at - now_ms))


def told(orders: Iterable[Order], cmd: c.PredictReady, now: int) -> Decision:
    """ORDER_PREDICTED for each prediction whose order is still being made; the others are passed over.

    Predictions change no order's version (so no waiter's edit is refused for one): the order keeps the
    latest as ``predicted_ready_at`` (a bookkeeping write, so a screen that connects later finds it in
    its snapshot), and the events go to the order's own channels, the cashier and, for a takeaway, the
    public board.
    """
    by_id = {order.id: order for order in orders}
    events: list[Event] = []
    kept: list[Order] = []
    for prediction in cmd.predictions:
        order = by_id.get(prediction.order_id)
        if order is None or order.status is not OrderStatus.ACTIVE or order.fired_at is None:
            continue
        channels = front_channels(order, "cashier")
        data = trusted(e.OrderPredicted)(
            order_id=order.id,
            order_number=order.number,
            order_type=order.type,
            token=order.token,
            ready_at=prediction.ready_at,
            stations=dict(prediction.stations),
            at=now,
        )
        events.append(Event("ORDER_PREDICTED", channels, data))
        kept.append(touch(order, predicted_ready_at=prediction.ready_at))
    return Decision(
        result={"told": len(events)},
        orders=tuple(kept),
        events=tuple(events),
        result_ttl=OWN_RESULT_TTL_S,
        noted=False,  # the predictor knows what it told: these orders are nothing new to read
    )


BOTTLENECK_TICKETS = 2  # a bottleneck is this many tickets at one station predicted to turn late soon: within
# the station's late time from now (what a cook can still catch up on: 12 minutes at a grill late after 12) ...
BOTTLENECK_SHARE = 0.25  # ... and this share of its tickets not late yet: a few slow plates among many is the
# everyday tail of any kitchen (bench service, no slowdown: 102 alerts a day without this), not its queue or pace
DEFAULT_SPREAD = 0.3  # a station's log-normal sigma before its own is learned ...
MIN_SPREAD = 0.05  # ... and never below this (a kitchen is never that regular)
LIKELY = 0.5  # a ticket this likely to turn late is named in the alert
SLOWER_SAID = 1.2  # a station this much slower than learned lately says so in its alert (``hub/domain/pace.py``)


@dataclass(frozen=True, slots=True)
class Bottleneck:
    """A station whose queue and pace predict late tickets soon: which, and why, in words for expo."""

    station: str
    order_ids: tuple[str, ...]  # predicted late there, soonest late first
    message: str


def bottlenecks(
    orders: Iterable[AtPass],
    predictions: Mapping[str, Prediction],
    now_ms: int,
    late_after_s: Mapping[str, int],
    capacity: Mapping[str, int],
    pace_s: Mapping[str, float],
    *,
    spread: Mapping[str, float] | None = None,
    slower: Mapping[str, float] | None = None,
    default_capacity: int = 2,
) -> list[Bottleneck]:
    """Stations where ``BOTTLENECK_TICKETS`` or more of the tickets not late yet, and ``BOTTLENECK_SHARE`` of them,
    are likely to turn late: the chances of each, from its predicted time and the station's ``spread``
    (the log-normal sigma of its lines against what was expected; ``DEFAULT_SPREAD`` until learned), added up.

    A station's part of an order is late once it is still being made ``late_after_s`` after its lines were
    fired (the screens turn the ticket red then). Tickets already late are what the screens show; this
    is about the ones that are not yet, while something can still be done (a cook moved, an item 86'd).
    Chances, not the expected times alone: a station slowed down turns most of its tickets late through
    the slow end of its times well before a queue says so, and a kitchen's everyday slow plate is one
    ticket's small chance among many.
    """
    spread = spread or {}
    slower = slower or {}
    likely: dict[str, float] = {}  # per station: tickets expected to turn late (their chances added up)
    soon: dict[str, list[tuple[float, int, str]]] = {}
    on_time: dict[str, int] = {}  # per station: tickets being made that are not late yet
    waiting: dict[str, int] = {}
    scales: dict[str, float] = {}  # per station: its spread (at least ``MIN_SPREAD``) times the square root of two
    for order in orders:
        prediction = predictions.get(order.id)
        if prediction is None:
            continue
        # One pass over the lines (the predictor runs this over every open order on every look): per station,
        # its first fire, and whether anything of it is still being made.
        first_fired: dict[str, int] = {}
        making: list[str] = []
        for line in order.lines:
            station, status = line.station, line.status
            if status in _WAITING:
                waiting[station] = waiting.get(station, 0) + 1
            if (status in _WAITING or status is ItemStatus.PREPARING) and station not in making:
                making.append(station)
            if line.fired_at is not None and line.fired_at < first_fired.get(station, line.fired_at + 1):
                first_fired[station] = line.fired_at
        for station in making:
            fired = first_fired.get(station)
            if fired is None or station not in late_after_s:
                continue
            late_ms = late_after_s[station] * 1000
            late_at = fired + late_ms
            if now_ms >= late_at:
                continue
            on_time[station] = on_time.get(station, 0) + 1
            scale = scales.get(station)
            if scale is None:
                scale = scales[station] = max(spread.get(station, DEFAULT_SPREAD), MIN_SPREAD) * _SQRT2
            # How likely its part, expected to take ``duration_ms`` from its fire, is to take over ``late_ms``: its
            # time log-normal around the expected, with the station's spread (the standard normal's cdf as
            # ``statistics.NormalDist().cdf`` computes it, written out: asked of every ticket on every look).
            duration_ms = prediction.stations.get(station, 0) - fired
            chance = 0.0 if duration_ms <= 0 else 0.5 - 0.5 * math.erf(math.log(late_ms / duration_ms) / scale)
            likely[station] = likely.get(station, 0.0) + chance
            soon.setdefault(station, []).append((-chance, late_at, order.id))
    found = []
    for station, expected in sorted(likely.items()):
        if expected < BOTTLENECK_TICKETS or expected < BOTTLENECK_SHARE * on_time[station]:
            continue
        # named: those more likely late than not, else the likeliest as many as are expected late
        ranked = sorted(soon[station])
        named = [t for t in ranked if -t[0] >= LIKELY] or ranked[: max(BOTTLENECK_TICKETS, round(expected))]
        late = sorted((late_at, order_id) for _, late_at, order_id in named)
        hands = max(1, int(capacity.get(station, default_capacity)))
        pace = f", each taking about {_minutes(pace_s[station])}" if station in pace_s else ""
        if slower.get(station, 1.0) >= SLOWER_SAID:
            pace += f"; lines taking {slower[station]:.1f}x their usual time lately"
        message = (
            f"{station}: {round(expected)} tickets will be late within {_minutes(late_after_s[station])} (the first "
            f"in {_minutes((late[0][0] - now_ms) // 1000)}); {waiting.get(station, 0)} lines waiting, {hands} made "
            f"at once{pace}"
        )
        found.append(Bottleneck(station, tuple(order_id for _, order_id in late), message))
    return found


def _minutes(seconds: float) -> str:
    """Minutes as a cook says them ("9 min"); under two minutes in seconds ("40 s")."""
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def bottleneck_alert(cmd: c.FlagBottleneck, now: int) -> Decision:
    """KITCHEN_ALERT STATION_BOTTLENECK to expo and the manager: raised once while it lasts (the predictor's)."""
    alert = Alert(
        id=f"bottleneck:{cmd.station}:{now}",
        kind=AlertKind.STATION_BOTTLENECK,
        station=cmd.station,
        order_id=cmd.order_ids[0],
        at=now,
        message=cmd.message,
    )
    event = Event("KITCHEN_ALERT", ALERT_CHANNELS, e.KitchenAlert(alert=alert))
    return Decision(result={"alert": alert.model_dump(mode="json")}, events=(event,), result_ttl=OWN_RESULT_TTL_S)
