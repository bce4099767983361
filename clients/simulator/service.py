"""A simulated service played against a real hub through protocol v1, as its devices would play it.

Waiters seat parties, order and fire; each station's screen acknowledges its tickets and its cooks
take the lines one at a time (``item.start``, the prep time, ``item.done``); expo hears
ORDER_READY; waiters serve, cashiers take the money, bussers clean tables, riders take deliveries out.
Time runs ``speed`` times faster than the clock: a dinner of four and a half hours plays in
thirteen and a half minutes at 20x. Every step is an ordinary command over a WebSocket; nothing
reaches around the protocol, so whatever the hub does with real screens it does here.

An order that a command refuses is recorded with the refusal and stops there; the service goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fireflow.clients.python import HubClient, HubError
from fireflow.clients.simulator.cooks import KitchenModel, Slowdown
from fireflow.clients.simulator.plan import Kind, PlannedOrder, ServicePlan

__all__ = ["LineRecord", "OrderRecord", "Report", "Simulation", "TokenSource", "menu_of"]

logger = logging.getLogger(__name__)

TokenSource = Callable[[str, str, tuple[str, ...]], str]  # (role, device, stations) -> a device token
ALERT_HORIZON = 15 * 60.0  # an alert is true when tickets at its station turn late within this much after it ...
ALERT_LATE = 2  # ... at least this many: what the alert said (hub/domain/ready_times.py BOTTLENECK_TICKETS)
TABLE_WAIT = 15 * 60.0  # service seconds a party waits for a table before it leaves
BUS_TIME = 3 * 60.0  # service seconds from a settled table to a clean one
COMMAND_TIMEOUT = 30.0  # real seconds


@dataclass
class LineRecord:
    """One line as a station made it; times are service seconds after opening."""

    order_id: str
    line_id: str
    station: str
    menu_item_id: str
    quantity: int
    queued: float
    started: float = -1.0
    done: float = -1.0


@dataclass
class OrderRecord:
    index: int
    kind: Kind
    order_id: str = ""
    opened: float = -1.0
    fired: float = -1.0
    ready: float = -1.0
    paid: float = -1.0
    closed: float = -1.0
    error: str = ""  # the refusal (code: message) that stopped it, or why it never started
    predicted: dict[str, float] = field(default_factory=dict)  # station -> done, as first predicted (ORDER_PREDICTED)


@dataclass
class Report:
    plan: ServicePlan
    speed: float
    orders: list[OrderRecord] = field(default_factory=list)
    lines: list[LineRecord] = field(default_factory=list)
    walked_out: int = 0  # parties that found no table in time
    alerts: list[tuple[float, str]] = field(default_factory=list)  # STATION_BOTTLENECK heard: (when, station)
    late_after: dict[str, float] = field(default_factory=dict)  # per station: seconds from fire to late
    slowdowns: tuple[Slowdown, ...] = ()

    def late_tickets(self) -> list[tuple[float, str]]:
        """When each station's part of an order turned late (fire plus the station's late time, done after it)."""
        fired = {o.order_id: o.fired for o in self.orders if o.fired >= 0}
        done: dict[tuple[str, str], float] = {}
        for line in self.lines:
            if line.done >= 0 and line.order_id in fired:
                key = (line.order_id, line.station)
                done[key] = max(done.get(key, 0.0), line.done)
        late = []
        for (order_id, station), at in done.items():
            limit = self.late_after.get(station)
            if limit is not None and at - fired[order_id] > limit:
                late.append((fired[order_id] + limit, station))
        return sorted(late)

    def alert_scores(self) -> dict[str, Any]:
        """Bottleneck alerts: true when ``ALERT_LATE`` or more tickets there turned late within ``ALERT_HORIZON``
        after it (what it said would happen), else false; per planted slowdown, its station's first alert (from
        ``ALERT_HORIZON`` before its start) and first late ticket (from its start): the lead is the one less the
        other."""
        late = self.late_tickets()
        true = [
            a
            for a in self.alerts
            if sum(1 for t, s in late if a[1] == s and a[0] <= t <= a[0] + ALERT_HORIZON) >= ALERT_LATE
        ]
        leads = []
        for slow in self.slowdowns:
            first_late = next((t for t, s in late if s == slow.station and t >= slow.start), None)
            first_alert = next(
                (t for t, s in self.alerts if s == slow.station and t >= slow.start - ALERT_HORIZON), None
            )
            leads.append((slow, first_alert, first_late))
        return {
            "alerts": len(self.alerts),
            "true": len(true),
            "false": len(self.alerts) - len(true),
            "late": len(late),
            "leads": leads,
        }

    @property
    def errors(self) -> list[OrderRecord]:
        return [order for order in self.orders if order.error]

    def completed(self) -> int:
        return sum(1 for order in self.orders if order.closed >= 0)

    def accuracy(self) -> dict[str, dict[str, float]]:
        """The hub's first prediction of each station's part of each order against when it was done, per station,
        next to the naive guess: the order's fire time plus its slowest item's mean fire-to-done time over the
        lines done before that fire (in service seconds; stations with no guess yet are left out)."""
        by_order: dict[str, list[LineRecord]] = {}
        for line in self.lines:
            if line.done >= 0:
                by_order.setdefault(line.order_id, []).append(line)
        history = sorted(
            (line.done, line.station, line.menu_item_id, line.done - line.queued)
            for line in self.lines
            if line.done >= 0
        )
        errors: dict[str, list[tuple[float, float]]] = {}
        for order in sorted((o for o in self.orders if o.predicted and o.fired >= 0), key=lambda o: o.fired):
            means: dict[tuple[str, str], list[float]] = {}
            for done, station, item, took in history:
                if done > order.fired:
                    break
                means.setdefault((station, item), []).append(took)
            for station, predicted in order.predicted.items():
                made = [line for line in by_order.get(order.order_id, []) if line.station == station]
                known = [
                    statistics.fmean(means[(station, line.menu_item_id)])
                    for line in made
                    if (station, line.menu_item_id) in means
                ]
                if not made or len(known) < len(made):
                    continue
                actual = max(line.done for line in made)
                errors.setdefault(station, []).append((actual - predicted, actual - (order.fired + max(known))))
        return {
            station: {
                "scored": len(pairs),
                "mae": statistics.fmean(abs(e) for e, _ in pairs),
                "p90": _p90([abs(e) for e, _ in pairs]),
                "naive_mae": statistics.fmean(abs(n) for _, n in pairs),
                "naive_p90": _p90([abs(n) for _, n in pairs]),
            }
            for station, pairs in sorted(errors.items())
        }

    def summary(self) -> list[str]:
        """The service in a few lines: what was done, how long the kitchen took per station, what went wrong."""
        kinds = self.plan.kinds()
        out = [
            f"simulated {self.plan.part.name}: {len(self.plan.orders)} orders planned "
            f"({', '.join(f'{k.value.lower()} {n}' for k, n in kinds.items())}), {self.completed()} completed, "
            f"{self.walked_out} walked out for want of a table, {len(self.errors)} refused; speed {self.speed:g}x"
        ]
        by_station: dict[str, list[LineRecord]] = {}
        for line in self.lines:
            if line.done >= 0:
                by_station.setdefault(line.station, []).append(line)
        for station, lines in sorted(by_station.items()):
            prep = [line.done - line.started for line in lines]
            wait = [line.started - line.queued for line in lines]
            out.append(
                f"  {station:<8} {len(lines):4d} lines  prep p50 {_minutes(statistics.median(prep))} "
                f"p90 {_minutes(_p90(prep))}  queue p50 {_minutes(statistics.median(wait))} "
                f"p90 {_minutes(_p90(wait))}"
            )
        ticket = [o.ready - o.fired for o in self.orders if o.ready >= 0 and o.fired >= 0]
        if ticket:
            out.append(f"  fire to ready: p50 {_minutes(statistics.median(ticket))} p90 {_minutes(_p90(ticket))}")
        accuracy = self.accuracy()
        if accuracy:
            out.append("  predicted ready (first prediction per station) against done, min: MAE p90 | naive MAE p90")
            for station, f in accuracy.items():
                out.append(
                    f"  {station:<8} {f['scored']:4.0f} scored  {f['mae'] / 60:5.1f} {f['p90'] / 60:5.1f} | "
                    f"{f['naive_mae'] / 60:5.1f} {f['naive_p90'] / 60:5.1f}"
                )
        elif self.orders:
            out.append("  no predictions heard (the hub's FIREFLOW_PREDICTIONS is off?)")
        scores = self.alert_scores()
        rate = f"{scores['false'] / scores['alerts']:.0%}" if scores["alerts"] else "-"
        out.append(
            f"  bottleneck alerts: {scores['alerts']} ({scores['true']} true, {scores['false']} false: "
            f"false-alert rate {rate}); {scores['late']} late tickets"
        )
        for slow, alert, late in scores["leads"]:
            if alert is None or late is None:
                when = "no alert, or no late ticket"
            else:  # when each came, from the slowdown's start: an alert up to ALERT_HORIZON before it counts
                when = (
                    f"lead time {(late - alert) / 60:+.1f} min (first alert at {(alert - slow.start) / 60:+.1f} min, "
                    f"first late ticket at {(late - slow.start) / 60:+.1f} min)"
                )
            out.append(f"  planted slowdown {slow.station} x{slow.factor:g} from {slow.start / 60:.0f} min: {when}")
        for order in self.errors[:5]:
            out.append(f"  order #{order.index} ({order.kind.value}): {order.error}")
        return out


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:4.1f} min"


class _Clock:
    """Service time: seconds after opening, running ``speed`` times faster than the loop's clock."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.start = asyncio.get_running_loop().time()
        self.wall_start = time.time()

    def at(self, wall_ms: int) -> float:
        """Service time of a moment the hub names (ms since the epoch)."""
        return (wall_ms / 1000 - self.wall_start) * self.speed

    def now(self) -> float:
        return (asyncio.get_running_loop().time() - self.start) * self.speed

    async def until(self, at: float) -> None:
        delay = (at - self.now()) / self.speed
        if delay > 0:
            await asyncio.sleep(delay)

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)


class _Tables:
    """The floor as the host sees it: free tables by size; a party takes the smallest that seats it."""

    def __init__(self, tables: list[dict[str, Any]]) -> None:
        self.seats: dict[str, int] = {str(t["id"]): int(t.get("seats", 4)) for t in tables}
        self.free = {str(t["id"]): self.seats[str(t["id"])] for t in tables if t.get("status", "FREE") == "FREE"}
        self.changed = asyncio.Condition()

    async def take(self, guests: int, clock: _Clock, patience: float) -> str | None:
        """A table for ``guests`` within ``patience`` service seconds; None when none came free."""
        if not any(seats >= guests for seats in self.seats.values()):
            return None
        deadline = clock.now() + patience
        async with self.changed:
            while True:
                fitting = [(seats, tid) for tid, seats in self.free.items() if seats >= guests]
                if fitting:
                    _, table_id = min(fitting)
                    del self.free[table_id]
                    return table_id
                remaining = (deadline - clock.now()) / clock.speed
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), remaining)

    async def give_back(self, table_id: str) -> None:
        async with self.changed:
            self.free[table_id] = self.seats[table_id]
            self.changed.notify_all()


class _Station:
    """One station: its screen acknowledges each new ticket, its cooks make the lines in the order they came."""

    def __init__(self, sim: Simulation, station: str, screen: HubClient) -> None:
        self.sim = sim
        self.station = station
        self.screen = screen
        self.queue: asyncio.Queue[LineRecord] = asyncio.Queue()
        self.rng = random.Random(f"{sim.plan.seed}:{station}")

    async def watch(self) -> None:
        while True:
            event = await self.screen.events.get()
            if event.get("type") != "NEW_KITCHEN_ORDER":
                continue
            ticket = event["data"]["ticket"]
            self.sim.spawn(self._ack(ticket))
            for line in ticket["lines"]:
                if line["change"] in ("NEW", "ADDED") and line["status"] in ("PENDING", "PREPARING"):
                    record = LineRecord(
                        ticket["order_id"],
                        line["line_id"],
                        self.station,
                        line["menu_item_id"],
                        int(line["quantity"]),
                        self.sim.clock.now(),
                    )
                    self.sim.report.lines.append(record)
                    self.queue.put_nowait(record)

    async def _ack(self, ticket: dict[str, Any]) -> None:
        await self.sim.command(
            self.screen, "ticket.ack", {"order_id": ticket["order_id"], "ticket_ids": [ticket["id"]]}
        )

    async def cook(self) -> None:
        while True:
            line = await self.queue.get()
            target = {"order_id": line.order_id, "line_id": line.line_id}
            try:
                await self.sim.command(self.screen, "item.start", target)
                line.started = self.sim.clock.now()
                seconds = self.sim.kitchen.prep_seconds(
                    self.station, line.menu_item_id, line.quantity, line.started, self.rng
                )
                await self.sim.clock.wait(seconds)
                await self.sim.command(self.screen, "item.done", target)
                line.done = self.sim.clock.now()
            except HubError as exc:  # voided meanwhile, or the order is gone: the cook moves on
                logger.info("station %s: %s", self.station, exc)


class Simulation:
    """One service of ``plan`` against the hub at ``url`` (``ws://host:port/ws``), ``speed`` times faster."""

    def __init__(
        self,
        url: str,
        tokens: TokenSource,
        plan: ServicePlan,
        kitchen: KitchenModel,
        *,
        speed: float = 20.0,
        waiters: int = 3,
        riders: int = 3,
        late_after: Mapping[str, int] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be above 0")
        self.url = url
        self.tokens = tokens
        self.plan = plan
        self.kitchen = kitchen
        self.speed = speed
        self.late_after = dict(late_after or {})  # per station, seconds: instead of the restaurant's own
        self.report = Report(plan, speed, slowdowns=kitchen.slowdowns)
        self.waiter_count = max(1, waiters)
        self.rider_count = max(1, riders)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready: dict[str, asyncio.Future[float]] = {}
        self._records: dict[str, OrderRecord] = {}

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def command(self, client: HubClient, command_type: str, data: dict[str, Any]) -> dict[str, Any]:
        answer = await client.command(command_type, data, timeout=COMMAND_TIMEOUT)
        result: dict[str, Any] = answer["result"]
        return result

    async def _connect(self, role: str, device: str, stations: tuple[str, ...] = ()) -> HubClient:
        client = await HubClient.connect(self.url, self.tokens(role, device, stations), resume=True)
        self._clients.append(client)
        return client

    async def run(self) -> Report:
        """Play the whole plan; returns once every order has finished (or stopped on a refusal)."""
        self._clients: list[HubClient] = []
        background: list[asyncio.Task[Any]] = []
        restored: list[dict[str, Any]] | None = None
        try:
            self.waiters = [await self._connect("WAITER", f"sim-waiter-{n + 1}") for n in range(self.waiter_count)]
            snapshot = (await self.waiters[0].subscribe("menu", "tables"))["snapshot"]
            stations = sorted({str(item["station"]) for item in snapshot["menu"]["items"] if item.get("requires_prep")})
            self.tables = _Tables(snapshot["tables"]["tables"])
            self.cashier = await self._connect("CASHIER", "sim-cashier-1")
            await self.cashier.subscribe("cashier")
            self.dispatcher = await self._connect("DISPATCHER", "sim-dispatch-1")
            self.riders = [await self._connect("RIDER", f"sim-rider-{n + 1}") for n in range(self.rider_count)]
            expo = await self._connect("EXPO", "sim-expo-1", ("*",))
            await expo.subscribe("expo")
            manager = await self._connect("MANAGER", "sim-manager-1")
            restored = await self._kitchen_at_speed(manager)
            self.clock = _Clock(self.speed)
            background.append(asyncio.create_task(self._hear_ready(expo)))
            background.append(asyncio.create_task(self._hear_predictions(self.cashier)))
            for station in stations:
                screen = await self._connect("KITCHEN", f"sim-kds-{station}", (station,))
                await screen.subscribe(f"kitchen:{station}")
                line = _Station(self, station, screen)
                background.append(asyncio.create_task(line.watch()))
                background += [asyncio.create_task(line.cook()) for _ in range(self.kitchen.cooks_at(station))]
            await asyncio.gather(*(self._order(planned) for planned in self.plan.orders))
            while self._tasks:  # acknowledgements still on their way
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            if restored is not None:  # the restaurant's own timings again
                with contextlib.suppress(HubError, TimeoutError, ConnectionError):
                    await self.command(manager, "kitchen.configure", {"stations": restored})
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for client in self._clients:
                await client.close()
        return self.report

    async def _kitchen_at_speed(self, manager: HubClient) -> list[dict[str, Any]]:
        """The stations' warn and late times (``late_after`` where given, warning at two thirds of it) divided by
        the speed, as the hub reads the clock; returns them as they were, to be put back. The report keeps the
        late times in service seconds."""
        snapshot = (await manager.subscribe("manager"))["snapshot"]["manager"]
        stations: list[dict[str, Any]] = snapshot["restaurant"]["kitchen"]["stations"]
        scaled = []
        for station in stations:
            late_s = float(self.late_after.get(station["id"], station["late_after_s"]))
            warn_s = late_s * 2 / 3 if station["id"] in self.late_after else float(station["warn_after_s"])
            self.report.late_after[station["id"]] = late_s
            warn = max(1, round(warn_s / self.speed))
            late = max(warn + 1, round(late_s / self.speed))
            scaled.append(station | {"warn_after_s": warn, "late_after_s": late})
        if scaled:
            await self.command(manager, "kitchen.configure", {"stations": scaled})
        return stations

    async def _hear_ready(self, expo: HubClient) -> None:
        while True:
            event = await expo.events.get()
            if event.get("type") == "KITCHEN_ALERT" and event["data"]["alert"]["kind"] == "STATION_BOTTLENECK":
                self.report.alerts.append((self.clock.now(), event["data"]["alert"]["station"]))
            elif event.get("type") == "ORDER_READY":
                waiting = self._ready.get(event["data"]["order_id"])
                if waiting is not None and not waiting.done():
                    waiting.set_result(self.clock.now())

    async def _hear_predictions(self, cashier: HubClient) -> None:
        while True:
            event = await cashier.events.get()
            if event.get("type") != "ORDER_PREDICTED":
                continue
            record = self._records.get(event["data"]["order_id"])
            if record is not None and not record.predicted:  # the first: what the customer would be promised
                record.predicted = {s: self.clock.at(ms) for s, ms in event["data"]["stations"].items()}

    async def _order(self, planned: PlannedOrder) -> None:
        record = OrderRecord(planned.index, planned.kind)
        self.report.orders.append(record)
        await self.clock.until(planned.at)
        try:
            await self._serve(planned, record)
        except HubError as exc:
            record.error = f"{exc.code}: {exc.frame.get('message')}"
        except (TimeoutError, ConnectionError) as exc:
            record.error = f"{type(exc).__name__}: {exc}"

    async def _serve(self, planned: PlannedOrder, record: OrderRecord) -> None:
        waiter = self.waiters[planned.index % len(self.waiters)]
        data: dict[str, Any] = {"type": planned.kind.value}
        table_id = None
        if planned.kind is Kind.DINE_IN:
            table_id = await self.tables.take(planned.guests, self.clock, TABLE_WAIT)
            if table_id is None:
                self.report.walked_out += 1
                return
            data |= {"table_id": table_id, "guests": planned.guests}
        elif planned.kind is Kind.DELIVERY:
            data |= {"phone": f"+9198{planned.index:08d}", "address": f"{planned.index % 90 + 1} Market Road"}
        opened = await self.command(waiter, "order.open", data)
        order_id = record.order_id = opened["order"]["id"]
        self._records[order_id] = record
        record.opened = self.clock.now()
        order: dict[str, Any] = opened["order"]
        for line in planned.lines:
            order = (await self.command(waiter, "order.add_item", line.command(order_id)))["order"]
        ready = self._ready[order_id] = asyncio.get_running_loop().create_future()
        try:
            await self.command(waiter, "order.fire", {"order_id": order_id})
            record.fired = self.clock.now()
            if planned.kind is not Kind.DINE_IN:  # counters and the web take the money when the order is placed
                await self._pay(order_id, planned.tender, record)
            record.ready = await ready
        finally:
            del self._ready[order_id]
        if planned.kind is Kind.DINE_IN:
            assert table_id is not None
            for item in order["items"]:
                await self.command(waiter, "item.serve", {"order_id": order_id, "line_id": item["id"]})
            await self.clock.wait(planned.stay)
            await self._pay(order_id, planned.tender, record)
            record.closed = self.clock.now()
            self.spawn(self._bus(table_id))
        elif planned.kind is Kind.TAKEAWAY:
            await self.clock.wait(planned.stay)
            await self.command(self.cashier, "order.pickup", {"order_id": order_id})
            record.closed = self.clock.now()
        else:
            rider = self.riders[planned.index % len(self.riders)]
            rider_id = f"sim-rider-{planned.index % len(self.riders) + 1}"
            await self.command(self.dispatcher, "delivery.assign", {"order_ids": [order_id], "rider": rider_id})
            await self.command(rider, "delivery.pickup", {"order_id": order_id})
            await self.clock.wait(planned.stay * 3)  # out on the road
            await self.command(rider, "delivery.deliver", {"order_id": order_id})
            record.closed = self.clock.now()

    async def _pay(self, order_id: str, method: str, record: OrderRecord) -> None:
        due = int((await self.command(self.cashier, "bill.preview", {"order_ids": [order_id]}))["due"])
        tender: dict[str, Any] = {"method": method, "amount": due}
        if method == "CASH":
            tender["received"] = -(-due // 10_000) * 10_000  # rounded up to a note
        else:
            tender["reference"] = f"sim-{order_id}"
        await self.command(self.cashier, "order.pay", {"order_ids": [order_id], "tenders": [tender]})
        record.paid = self.clock.now()

    async def _bus(self, table_id: str) -> None:
        await self.clock.wait(BUS_TIME)
        await self.command(self.waiters[0], "table.clean", {"table_id": table_id})
        await self.tables.give_back(table_id)


async def menu_of(url: str, token: str) -> list[dict[str, Any]]:
    """The restaurant's menu as a waiter's screen gets it (the ``menu`` snapshot): the items that can be sold now."""
    waiter = await HubClient.connect(url, token)
    try:
        snapshot = (await waiter.subscribe("menu"))["snapshot"]["menu"]
    finally:
        await waiter.close()
    return [item for item in snapshot["items"] if item.get("sellable", True)]
