"""The predictor: each fired order's ready time, told at fire and whenever it moves, and scored when it is ready.

The live nodes share the restaurants: each predicts for those in its shards (``hub/workers/shares.py``,
leases renewed every tick, and every third of a lease within a long round of looks; another node takes a
node's shards over within ``LEASE_S`` and a tick of its death, at once when it stops). A node looks at a
restaurant of its own when a commit woke it (at most once a tick; it goes on only if an open order changed)
and at every one each ``SWEEP_S`` (time alone moves a prediction: a line over its time), and at once at those
of a shard it has just taken. Each look reads the open orders and

- teaches the restaurant's prep-time model every line finished since (start to done,
  ``hub/forecast/prep_times.py``) and its stations' hands (lines in hand at once);
- predicts every fired order still being made (``hub/domain/ready_times.py``) and tells those
  that moved by a minute or more, as the internal command ``order.predict`` (ORDER_PREDICTED to the
  waiter, the cashier and, for a takeaway, the board);
- scores each order that became ready against its first prediction, per station, next to the
  naive guess (the fire time plus the slowest of its items' mean fire-to-done time): the errors are
  kept in Redis (``Keys.prediction_errors``) with the predicted and actual waits, read by
  ``/api/v1/stats/predictions`` and the manager's dashboard (``/api/v1/stats/dashboard``).

What the model learned lives in the holder's memory and, each minute and when it hands the shard on, in
Redis (``Keys.prep_model``, signed with the hub's secret): the next holder starts from there.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from fireflow.hub.commands.bus import CommandBus
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.pace import Timed, pace, started_lately
from fireflow.hub.domain.ready_times import DEFAULT_SPREAD, AtPass, Prediction, bottlenecks, moved, predict
from fireflow.hub.domain.shares import shard_of
from fireflow.hub.forecast.prep_times import PrepTimes
from fireflow.hub.live.keys import Keys
from fireflow.hub.live.store import Store
from fireflow.hub.supervise import reraise_if_cancelled
from fireflow.hub.workers.shares import Shares
from fireflow.schema.commands import FlagBottleneck, PredictReady, ReadyPrediction
from fireflow.schema.records import ItemStatus, OrderStatus

__all__ = ["PREDICTION_ERRORS_KEPT", "Predictor"]

logger = logging.getLogger(__name__)

LEASE_S = 15.0
SWEEP_S = 15.0
RESTAURANTS_EVERY = 10.0
PREDICTION_ERRORS_KEPT = 2000  # per station: the latest scored predictions
PREDICTION_ERRORS_TTL_S = 14 * 86_400
SAVE_S = 60.0  # what a restaurant's model learned is kept in Redis this often (and when the node stops)
MODEL_TTL_S = 30 * 86_400  # a restaurant closed this long starts learning afresh
RESYNC_S = 30.0  # every open order is read again this often (a write the changed set did not see)
FOLLOW_MS = 120_000  # commits note changed orders this long after the predictor's last look
# A station's pace is read from the lines started within this many of its typical line times: enough for a slow
# line to show it has run over, few enough that the lines from before a change do not drown it (a grill doubled
# ten minutes ago reads 1.8 over 1.25 of its times, 1.1 over its 19 late minutes; steady, its p99 reads 1.16).
PACE_WINDOW = 1.25
PACE_LINES = 12  # ... or from the latest this many lines started, when fewer started within that
FALLBACK_SHARE = 0.6  # before anything is learned, a station's line takes this share of its warning time
_DONE = (ItemStatus.DONE, ItemStatus.SERVED)


def _asked_once(prep: PrepTimes) -> Callable[[str, str, int, int], float]:
    """``prep.expect`` for one look, each station, item, quantity and hour answered once: a look asks it of every
    waiting line and every line done lately, of a few items (a learned model's answer is a model's prediction, 6 µs;
    asked per line, it was a third of ``predict`` over 30 open orders)."""
    answers: dict[tuple[str, str, int, int], float] = {}

    def expect(station: str, menu_item_id: str, quantity: int, hour: int) -> float:
        key = (station, menu_item_id, quantity, hour)
        found = answers.get(key)
        if found is None:
            found = answers[key] = prep.expect(station, menu_item_id, quantity, hour)
        return found

    return expect


@dataclass
class _Kitchen:
    """What the node predicting for it keeps of one restaurant between looks."""

    prep: PrepTimes
    zone: ZoneInfo
    learned: set[tuple[str, str, int]] = field(default_factory=set)  # (order, line, done_at) taught
    told: dict[str, Prediction] = field(default_factory=dict)  # the last prediction told per order
    first: dict[str, tuple[Prediction, dict[str, int]]] = field(default_factory=dict)  # first one, naive one
    naive_ms: dict[tuple[str, str], int] = field(default_factory=dict)  # (station, item) -> mean fire to done
    naive_at: float = -1e9
    parsed: dict[str, tuple[int, AtPass]] = field(default_factory=dict)  # the open orders as last read (hash of JSON)
    synced_at: float = -1e9  # when every open order was last read
    late_after_s: dict[str, int] = field(default_factory=dict)  # per station: when its tickets turn late
    settings_version: int = -1  # of the restaurant's settings these times were taken from
    flagged: set[str] = field(default_factory=set)  # stations with a bottleneck standing (alerted once)
    saved_at: float = field(default_factory=time.monotonic)  # when the model was last kept in Redis ...
    saved_learned: int = 0  # ... and how many lines it had learned then
    # per station: lines done lately (started_at, done_at, item, quantity, hour at start), for its pace
    done_lately: dict[str, list[tuple[int, int, str, int, int]]] = field(default_factory=dict)


class Predictor:
    def __init__(
        self,
        redis: Redis,
        store: Store,
        bus: CommandBus,
        *,
        tick: float = 5.0,
        sweep: float = SWEEP_S,
        secret: str = "",
    ) -> None:
        self.redis = redis
        self.store = store
        self.bus = bus
        self.tick = tick
        self.sweep = sweep
        self.kitchens: dict[str, _Kitchen] = {}
        self.secret = secret  # signs the learned models kept in Redis; none kept without it
        script = resources.files("fireflow.hub.live").joinpath("lua/changed_orders.lua").read_text()
        self._changed = redis.register_script(script)
        self.shares = Shares(redis, "predictor", LEASE_S)
        self._woken: set[str] = set()
        self._rids: list[str] = []
        self._rids_at = -1e9
        self._swept = -1e9
        self.looks: Counter[str] = Counter()  # "whole" looks, and "unchanged": asked by a commit, nothing to do

    def woken(self, rid: str) -> None:
        """A commit of ``rid`` (the fan-out's wake-up): its kitchen may have moved."""
        self._woken.add(rid)

    def missed(self) -> None:
        self._swept = -1e9

    async def run(self) -> None:
        while True:
            reraise_if_cancelled()
            await asyncio.sleep(self.tick)
            try:
                if await self._lead():
                    await self.run_once()
            except (RedisError, OSError) as exc:
                reraise_if_cancelled()
                logger.warning("predictions paused: %s", exc)
            except Exception:
                reraise_if_cancelled()
                logger.exception("predictions failed; trying again next tick")

    async def stop(self) -> None:
        """Keep what was learned, then let the shards go: the other nodes take them over at once, from there."""
        await self._keep(self.shares.held)
        await self.shares.release()

    async def _lead(self) -> bool:
        """Hold this node's share of the restaurants; whether it holds any.

        A shard handed back is kept first; one lost (not renewed in time) is forgotten, as its next holder reads
        what was kept. The restaurants of a shard just taken are all looked at on this tick."""
        await self.shares.hold(self._keep)
        return self._held()

    def _held(self) -> bool:
        """After a turn of the shares: the restaurants handed on forgotten, those of a shard just taken all due a
        look; whether this node holds any."""
        for rid in [rid for rid in self.kitchens if not self.shares.owns(rid)]:
            del self.kitchens[rid]
        if self.shares.taken:
            self._swept = -1e9
        return bool(self.shares.held)

    async def _keep(self, shards: frozenset[int]) -> None:
        """Keep in Redis what was learned of the restaurants in ``shards``, for whoever holds them next."""
        for rid, kitchen in list(self.kitchens.items()):
            if shard_of(rid, self.shares.shards) in shards:
                try:
                    await self._save(rid, kitchen)
                except (RedisError, OSError) as exc:
                    logger.warning("prep-time model of %s not kept: %s", rid, exc)
                    return

    async def run_once(self) -> int:
        """Look at the restaurants due a look; returns how many predictions were told."""
        now = time.monotonic()
        if now - self._rids_at > RESTAURANTS_EVERY:
            self._rids, self._rids_at = await self.store.restaurant_ids(), now
        sweeping = now - self._swept > self.sweep
        if sweeping:
            self._swept = now
            looking = list(self._rids)
            self._woken.clear()
        else:
            looking, self._woken = sorted(self._woken), set()
        looking = [rid for rid in looking if self.shares.owns(rid)]
        told = 0
        for n, rid in enumerate(looking):
            try:
                if await self.shares.renew(self._keep):  # a round that outlasts a third of the lease renews it
                    self._held()
                if not self.shares.owns(rid):
                    continue  # handed on meanwhile: its next holder looks
                told += await self.look(rid, int(time.time() * 1000), changed_only=not sweeping)
            except DomainError as exc:
                logger.warning("predictions for %s not told: %s", rid, exc.message)
            except BaseException:
                self._woken.update(looking[n:])  # not looked at after all: next tick
                raise
        return told

    async def look(self, rid: str, now_ms: int, *, changed_only: bool = False) -> int:
        """One restaurant: learn, predict, tell what moved, score what became ready.

        ``changed_only`` (a look a commit asked for): no further than reading the changed orders when none
        changed. A commit that changed no open order wakes the predictor too, its own tells first of all: each
        told prediction woke it for one more look at the same orders. Time alone moves predictions (a line
        over its time) and a station's pace: the sweep's look at every restaurant each ``SWEEP_S`` sees to those.
        """
        kitchen = await self._kitchen(rid)
        if kitchen is None:
            return 0
        orders, read = await self._open_orders(rid, kitchen)
        if changed_only and not read:
            self.looks["unchanged"] += 1
            return 0
        self.looks["whole"] += 1
        await self._naive(rid, kitchen)
        self._learn(kitchen, orders)
        hour = datetime.fromtimestamp(now_ms / 1000, kitchen.zone).hour
        learned = _asked_once(kitchen.prep)
        paces = self._paces(kitchen, orders, now_ms, hour, learned)

        def expect(station: str, menu_item_id: str, quantity: int) -> float:
            return learned(station, menu_item_id, quantity, hour) * paces.get(station, 1.0)

        predictions = predict(orders, now_ms, expect, kitchen.prep.hands())
        changed = [p for order_id, p in predictions.items() if moved(p, kitchen.told.get(order_id), now_ms)]
        by_id = {order.id: order for order in orders}
        for prediction in predictions.values():
            if prediction.order_id not in kitchen.first:
                kitchen.first[prediction.order_id] = (
                    prediction,
                    self._naive_guess(kitchen, by_id[prediction.order_id]),
                )
        await self._score(rid, kitchen, by_id, now_ms)
        if changed:
            await self._tell(rid, changed, now_ms)
            kitchen.told.update((p.order_id, p) for p in changed)
        await self._flag(rid, kitchen, orders, predictions, now_ms, paces)
        for gone in set(kitchen.told) - set(predictions):
            del kitchen.told[gone]
        kitchen.learned = {seen for seen in kitchen.learned if seen[0] in by_id}
        if time.monotonic() - kitchen.saved_at > SAVE_S:
            await self._save(rid, kitchen)
        return len(changed)

    async def _save(self, rid: str, kitchen: _Kitchen) -> None:
        """Keep the model in Redis when it learned since it was last kept (its next holder starts from it)."""
        kitchen.saved_at = time.monotonic()
        if self.secret and kitchen.prep.learned != kitchen.saved_learned:
            await self.redis.set(Keys(rid).prep_model, kitchen.prep.dumps(self.secret), ex=MODEL_TTL_S)
            kitchen.saved_learned = kitchen.prep.learned

    async def _load(self, rid: str) -> PrepTimes:
        """What an earlier holder of its shard learned of ``rid`` and kept, or a model that has learned nothing yet."""
        if self.secret:
            data = await self.redis.get(Keys(rid).prep_model)
            if isinstance(data, bytes):  # the hub's Redis clients answer bytes
                found = PrepTimes.loads(data, self.secret)
                if found is not None:
                    return found
        return PrepTimes()

    async def _open_orders(self, rid: str, kitchen: _Kitchen) -> tuple[list[AtPass], bool]:
        """The open orders as the pass sees them, and whether any was read: those a commit changed since the
        last look are read again (``lua/changed_orders.lua``: one round trip, a few orders), every one on a first
        look and each ``RESYNC_S``. Each is kept as that much only: thousands of open orders cost the node little
        memory."""
        now = time.monotonic()
        every = now - kitchen.synced_at > RESYNC_S
        keys = Keys(rid)
        ids, jsons = await self._changed(
            keys=[keys.changed_orders, keys.open_orders], args=[FOLLOW_MS, "all" if every else ""]
        )
        before = kitchen.parsed
        if every:
            kitchen.synced_at = now
            kitchen.parsed = {}
        for raw_id, raw in zip(ids, jsons, strict=True):
            order_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            if raw:
                # a resync reads every open order: one whose JSON is as it was at the last read keeps its parsed copy
                known = before.get(order_id)
                digest = hash(raw)
                if known is None or known[0] != digest:
                    known = (digest, AtPass.of_json(raw))
                kitchen.parsed[order_id] = known
            else:
                kitchen.parsed.pop(order_id, None)
        orders = sorted((o for _, o in kitchen.parsed.values()), key=lambda o: (o.created_at, o.number))  # as taken
        return orders, every or bool(ids)

    async def _kitchen(self, rid: str) -> _Kitchen | None:
        """What is kept of ``rid``, its stations' times as its settings say now (the store's cached copy, which a
        change of them drops at once): the late times, and the fallback pace before anything is learned."""
        restaurant = await self.store.restaurant(rid)
        if restaurant is None:
            return None
        kitchen = self.kitchens.get(rid)
        if kitchen is None:
            try:
                zone = ZoneInfo(restaurant.timezone)
            except (ValueError, KeyError):
                zone = ZoneInfo("UTC")
            prep = await self._load(rid)
            kitchen = self.kitchens[rid] = _Kitchen(prep, zone, saved_learned=prep.learned)
        if kitchen.settings_version != restaurant.version:
            kitchen.settings_version = restaurant.version
            kitchen.late_after_s = {s.id: s.late_after_s for s in restaurant.kitchen.stations}
            kitchen.prep.fallback = {s.id: s.warn_after_s * FALLBACK_SHARE for s in restaurant.kitchen.stations}
        return kitchen

    async def _naive(self, rid: str, kitchen: _Kitchen) -> None:
        """The items' mean fire-to-done times (the hub's prep statistics), re-read each minute: the naive guess."""
        now = time.monotonic()
        if now - kitchen.naive_at > 60:
            kitchen.naive_ms = {(s.station, s.menu_item_id): s.mean_ms for s in await self.store.prep_stats(rid)}
            kitchen.naive_at = now

    @staticmethod
    def _naive_guess(kitchen: _Kitchen, order: AtPass) -> dict[str, int]:
        """Per station, the fire time plus the slowest of the order's items there, at its mean fire-to-done time."""
        guess: dict[str, int] = {}
        for line in order.lines:
            if line.fired_at is None:
                continue
            fallback = int(kitchen.prep.fallback_s(line.station) * 1000)
            at = line.fired_at + kitchen.naive_ms.get((line.station, line.menu_item_id), fallback)
            guess[line.station] = max(guess.get(line.station, 0), at)
        return guess

    @staticmethod
    def _learn(kitchen: _Kitchen, orders: list[AtPass]) -> None:
        in_hand: dict[str, int] = {}
        for order in orders:
            for line in order.lines:
                if line.status is ItemStatus.PREPARING:
                    in_hand[line.station] = in_hand.get(line.station, 0) + 1
                elif line.status in _DONE and line.started_at is not None and line.done_at is not None:
                    seen = (order.id, line.id, line.done_at)
                    if seen not in kitchen.learned:
                        kitchen.learned.add(seen)
                        hour = datetime.fromtimestamp(line.started_at / 1000, kitchen.zone).hour
                        seconds = (line.done_at - line.started_at) / 1000
                        kitchen.prep.learn(line.station, line.menu_item_id, line.quantity, hour, seconds)
                        kitchen.done_lately.setdefault(line.station, []).append(
                            (line.started_at, line.done_at, line.menu_item_id, line.quantity, hour)
                        )
        for station in {line.station for order in orders for line in order.lines}:
            kitchen.prep.saw_in_hand(station, in_hand.get(station, 0))

    @staticmethod
    def _paces(
        kitchen: _Kitchen, orders: list[AtPass], now_ms: int, hour: int, expect: Callable[[str, str, int, int], float]
    ) -> dict[str, float]:
        """Per station, how much slower than learned its lines are going lately (``hub/domain/pace.py``): those
        started within ``PACE_WINDOW`` of its typical line times (at least the latest ``PACE_LINES``), done or
        still in hand. Stations at the model's pace are left out.

        The window is by start, for done and in-hand lines alike: the lines in hand at any moment are the
        long ones more often than not, so without the quick ones started with them any station reads slow."""
        prep = kitchen.prep
        spread = prep.spread()
        typical = prep.pace()
        lines: dict[str, list[Timed]] = {}
        for station, done in kitchen.done_lately.items():
            lines[station] = [
                Timed(expect(station, item, quantity, at_hour), (done_at - started) / 1000, True, started)
                for started, done_at, item, quantity, at_hour in done
            ]
        for order in orders:
            for line in order.lines:
                if line.status is ItemStatus.PREPARING and line.started_at is not None:
                    took = (now_ms - line.started_at) / 1000
                    expected_s = expect(line.station, line.menu_item_id, line.quantity, hour)
                    lines.setdefault(line.station, []).append(Timed(expected_s, took, False, line.started_at))
        for station, timed in lines.items():
            since = now_ms - int(PACE_WINDOW * typical.get(station, prep.fallback_s(station)) * 1000)
            lines[station] = timed = started_lately(timed, since, PACE_LINES)
            if timed and station in kitchen.done_lately:  # what is out of the window now stays out: kept no longer
                first = min(line.started_at for line in timed)
                kitchen.done_lately[station] = [d for d in kitchen.done_lately[station] if d[0] >= first]
        paces = {station: pace(timed, spread.get(station, DEFAULT_SPREAD)) for station, timed in lines.items()}
        return {station: factor for station, factor in paces.items() if abs(factor - 1.0) >= 0.01}

    async def _score(self, rid: str, kitchen: _Kitchen, by_id: dict[str, AtPass], now_ms: int) -> None:
        """Orders ready since the last look, scored per station against their first prediction."""
        scored: list[tuple[str, bytes]] = []
        for order_id in list(kitchen.first):
            order = by_id.get(order_id)
            if order is not None and order.status is OrderStatus.ACTIVE:
                continue
            first, naive = kitchen.first.pop(order_id)
            if order is None or order.status is not OrderStatus.READY:
                continue  # cancelled, or gone between two looks: nothing to score
            for station, predicted in first.stations.items():
                done = [line.done_at for line in order.lines if line.station == station and line.done_at is not None]
                if not done or station not in naive:
                    continue
                actual = max(done)
                fired = min(
                    (line.fired_at for line in order.lines if line.station == station and line.fired_at), default=0
                )
                off = [round((actual - predicted) / 1000, 1), round((actual - naive[station]) / 1000, 1), now_ms]
                if fired:  # the waits themselves, fire to ready: the dashboard's predicted against actual
                    off += [round((predicted - fired) / 1000, 1), round((actual - fired) / 1000, 1)]
                scored.append((station, orjson.dumps(off)))
        if not scored:
            return
        keys = Keys(rid)
        async with self.redis.pipeline(transaction=False) as pipe:
            for station, raw in scored:
                pipe.lpush(keys.prediction_errors(station), raw)
            for station in {station for station, _ in scored}:
                pipe.ltrim(keys.prediction_errors(station), 0, PREDICTION_ERRORS_KEPT - 1)
                pipe.expire(keys.prediction_errors(station), int(PREDICTION_ERRORS_TTL_S))
                pipe.sadd(keys.prediction_stations, station)
            pipe.expire(keys.prediction_stations, int(PREDICTION_ERRORS_TTL_S))
            await pipe.execute()

    async def _flag(
        self,
        rid: str,
        kitchen: _Kitchen,
        orders: list[AtPass],
        predictions: dict[str, Prediction],
        now_ms: int,
        paces: dict[str, float],
    ) -> None:
        """A station newly predicted to run late tickets gets one alert; it may get another once it has cleared."""
        prep = kitchen.prep
        found = bottlenecks(
            orders,
            predictions,
            now_ms,
            kitchen.late_after_s,
            prep.hands(),
            prep.pace(),
            spread=prep.spread(),
            slower=paces,
        )
        standing = {b.station for b in found}
        for bottleneck in found:
            if bottleneck.station in kitchen.flagged:
                continue
            command = FlagBottleneck(
                station=bottleneck.station, message=bottleneck.message, order_ids=list(bottleneck.order_ids[:50])
            )
            command_id = f"bottleneck-{now_ms}-{secrets.token_hex(6)}"
            await self.bus.execute_internal(rid, command_id, "kitchen.bottleneck", command)
            logger.info("bottleneck at %s of %s: %s", bottleneck.station, rid, bottleneck.message)
        kitchen.flagged = standing

    async def _tell(self, rid: str, changed: list[Prediction], now_ms: int) -> None:
        predictions = [
            ReadyPrediction(order_id=p.order_id, ready_at=p.ready_at, stations=dict(p.stations)) for p in changed
        ]
        for start in range(0, len(predictions), 500):
            command = PredictReady(predictions=predictions[start : start + 500])
            command_id = f"predict-{now_ms}-{secrets.token_hex(6)}"
            await self.bus.execute_internal(rid, command_id, "order.predict", command)
