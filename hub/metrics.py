"""The node's Prometheus metrics, defined here and nowhere else, on a registry of the node's own.

Nothing is counted per delivered event: the fan-out path stays as it is. A
command costs one counter increment and one histogram observation; a socket
costs one increment when it ends (``Sockets``). What the node holds (sockets
by role, the Redis pool, its tasks) is read from its objects when scraped
(``NodeCollector``), and what Redis holds (how far the fan-out and the durable
writer are behind) is read by ``Hub.scrape`` just before rendering. Labels
are bounded: command types are the registry's (anything else is ``unknown``),
outcomes are ``ok`` or an error code, close codes and task names are fixed.
Each node has its own ``CollectorRegistry``, so several nodes in one process
(the tests) never share a count.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from fireflow.hub.commands.registry import spec
from fireflow.hub.domain.actors import Role
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.live.redis_client import is_cluster
from fireflow.schema.protocol import ErrorCode

if TYPE_CHECKING:
    from fireflow.hub.live.connection import Connection
    from fireflow.hub.run.app import Hub

__all__ = ["CONTENT_TYPE", "Metrics", "NodeCollector", "Sockets", "command_label", "outcome_of"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
LOOP_LAG_INTERVAL = 0.5  # seconds between two looks at the event loop's lag

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_PAUSE = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def command_label(command_type: str) -> str:
    """A command type as a label: the registry's names, and ``unknown`` for anything a client made up."""
    return command_type if spec(command_type) is not None else "unknown"


def outcome_of(exc: BaseException) -> str:
    """What a failed command answered, as the transports will translate it (``hub/transports/errors.py``)."""
    if isinstance(exc, DomainError):
        return exc.code.value
    if isinstance(exc, RedisError | OSError | SQLAlchemyError):
        return ErrorCode.UNAVAILABLE.value
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    return ErrorCode.INTERNAL.value


class Metrics:
    """Every metric of one node; ``render()`` is the text a scrape gets."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.commands = Counter(
            "fireflow_commands", "Commands run, by type and outcome (ok or the error code answered)",
            ["type", "outcome"], registry=registry,
        )  # fmt: skip
        self.command_seconds = Histogram(
            "fireflow_command_seconds", "Seconds from a command's arrival at the bus to its answer, by type",
            ["type"], buckets=_LATENCY, registry=registry,
        )  # fmt: skip
        self.settlements = Counter(
            "fireflow_settlements",
            "Payments and payment-lock checks by outcome: paid, partially_paid, an error code, or lock_<what the check did>",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.sockets_closed = Counter(
            "fireflow_sockets_closed",
            "Sockets ended, by the close code the hub sent (4008: slow consumer dropped; peer: the client left)",
            ["code"], registry=registry,
        )  # fmt: skip
        self.task_restarts = Counter(
            "fireflow_task_restarts", "Times a background task died and was restarted", ["task"], registry=registry
        )
        self.audit_dropped = Counter(
            "fireflow_audit_dropped", "Audit rows dropped because the audit queue was full", registry=registry
        )
        self.loop_lag = Histogram(
            "fireflow_event_loop_lag_seconds", "How late the event loop woke a timer (sleep overshoot)",
            buckets=_LAG, registry=registry,
        )  # fmt: skip
        self.gc_pause = Histogram(
            "fireflow_gc_pause_seconds", "Garbage collector pauses, by generation",
            ["generation"], buckets=_PAUSE, registry=registry,
        )  # fmt: skip
        self.fanout_lag = Gauge(
            "fireflow_fanout_lag_events",
            "Events committed but not yet dispatched to this node's sockets, at the feed furthest behind",
            registry=registry,
        )
        self.durable_unwritten = Gauge(
            "fireflow_durable_unwritten_events", "Events in the streams not yet stored in Postgres", registry=registry
        )
        self.durable_oldest = Gauge(
            "fireflow_durable_oldest_unwritten_seconds",
            "Age of the oldest event not yet stored in Postgres (0 when none)",
            registry=registry,
        )
        self.positions = Counter(
            "fireflow_positions",
            "Riders' fixes received, by outcome: accepted, throttled (sooner than the interval after the last "
            "taken), stale (taken before the last taken), failed (Redis)",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.position_frames = Counter(
            "fireflow_position_frames",
            "positions frames offered to dispatch sockets: sent, or dropped (that socket's outgoing queue was long)",
            ["outcome"], registry=registry,
        )  # fmt: skip
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self._gc_started = 0.0
        self._command_children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def command(self, command_type: str, outcome: str, seconds: float) -> None:
        # The labelled children, found once per (type, outcome): a lookup under the family's lock per command
        # was 1 % of the hub's CPU in ``bench kitchen``. Bounded: the registry's types and "unknown", by outcome.
        label = command_label(command_type)
        children = self._command_children.get((label, outcome))
        if children is None:
            children = self._command_children[(label, outcome)] = (
                self.commands.labels(label, outcome),
                self.command_seconds.labels(label),
            )
        count, seconds_of = children
        count.inc()
        seconds_of.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def watch_loop(self, interval: float = LOOP_LAG_INTERVAL) -> None:
        """Forever: sleep ``interval`` and record by how much the wake-up came late."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(interval)
            self.loop_lag.observe(max(loop.time() - asked - interval, 0.0))

    def time_gc(self) -> None:
        """Time every collection of this process from now on (until ``stop_timing_gc``)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def stop_timing_gc(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self.gc_pause.labels(str(info.get("generation", "?"))).observe(time.perf_counter() - self._gc_started)
            self._gc_started = 0.0


class Sockets(set["Connection"]):
    """The node's open sockets; each one leaving is counted by the close code it was given (4008: dropped as slow).

    The transport adds a socket when it opens and discards it when its session
    ends, so this is the one place every socket passes on its way out.

    Also kept in ``slices`` buckets, a socket's bucket fixed for its life: the heartbeat pings one bucket at a
    time. It picked a slice's sockets out of all of them, a scan of every socket 4.3 times a second (1.2 ms
    of a core each at 10,000 sockets, the loop held meanwhile).
    """

    def __init__(self, metrics: Metrics, slices: int = 1) -> None:
        super().__init__()
        self.metrics = metrics
        self._slices: list[set[Connection]] = [set() for _ in range(slices)]

    def add(self, conn: Connection) -> None:
        super().add(conn)
        self._slices[self._slice_of(conn)].add(conn)

    def discard(self, conn: object) -> None:
        if conn in self:
            self.remove(cast("Connection", conn))

    def remove(self, conn: Connection) -> None:
        super().remove(conn)
        self._slices[self._slice_of(conn)].discard(conn)
        self._count(conn)

    def in_slice(self, n: int) -> list[Connection]:
        """The sockets of slice ``n``, as a list: the caller may close them as it goes."""
        return list(self._slices[n])

    def _slice_of(self, conn: object) -> int:
        return (id(conn) >> 4) % len(self._slices)

    def _count(self, conn: Connection) -> None:
        code = conn.close_code
        self.metrics.sockets_closed.labels("peer" if code is None else str(code)).inc()


def _pool_state(redis: Any) -> tuple[int, int, int, int]:
    """Connections in use, idle, allowed, and commands waiting for one: one pool, or every cluster node's."""
    if is_cluster(redis):
        nodes = redis.get_nodes()
        opened = sum(len(n._connections) for n in nodes)
        idle = sum(len(n._free) for n in nodes)
        return opened - idle, idle, sum(n.max_connections for n in nodes), 0
    pool = redis.connection_pool
    waiters = getattr(getattr(pool, "_condition", None), "_waiters", None) or ()
    in_use = len(getattr(pool, "_in_use_connections", ()))
    idle = len(getattr(pool, "_available_connections", ()))
    return in_use, idle, getattr(pool, "max_connections", 0), len(waiters)


class NodeCollector(Collector):
    """What the node holds, read when scraped: sockets by role, the Redis pool, its feeds and tasks."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterable[Metric]:
        hub = self.hub
        yield _by_role(hub.connections)
        in_use, idle, most, waiting = _pool_state(hub.redis)
        connections = GaugeMetricFamily(
            "fireflow_redis_pool_connections", "This node's pooled Redis connections, by state", labels=["state"]
        )
        connections.add_metric(["in_use"], in_use)
        connections.add_metric(["idle"], idle)
        yield connections
        yield GaugeMetricFamily("fireflow_redis_pool_max", "Connections the pool may open", value=most)
        yield GaugeMetricFamily(
            "fireflow_redis_pool_waiting", "Commands waiting for a free pooled Redis connection", value=waiting
        )
        yield CounterMetricFamily(
            "fireflow_redis_unreplicated",
            "Commands acknowledged by a Redis Cluster master with fewer live replicas than FIREFLOW_REDIS_REPLICAS",
            value=hub.store.unreplicated,
        )
        yield GaugeMetricFamily(
            "fireflow_fanout_feeds", "Restaurant streams this node follows", value=len(hub.fanout.feeds)
        )
        if hub.books is not None:
            grouped = hub.books.settlements
            for name, what, value in (
                ("commits", "Calls that recorded settlements in Postgres (group_commit.py)", grouped.commits),
                (
                    "settlements",
                    "Settlements sent to Postgres; over commits: how many a call carried",
                    grouped.recorded,
                ),
                ("groups_split", "Groups one settlement's error rolled back, sent again one by one", grouped.split),
                (
                    "calls_stuck",
                    "Books' calls that outlasted 0.25 s (a day lock held elsewhere, most likely)",
                    grouped.stuck,
                ),
            ):
                yield CounterMetricFamily(f"fireflow_books_{name}", what, value=value)
        shards = GaugeMetricFamily(
            "fireflow_shards_held",
            "Shards of the restaurants whose background work this node does now, by work (hub/workers/shares.py)",
            labels=["work"],
        )
        # The predictor in this node's loop; None when predictions are off (0 here) or run in the node's background
        # process (which reports nothing here, as a writer of its own does not).
        predictor = hub.predictor
        if not hub.predicts_in_background:
            shards.add_metric(["predictions"], len(predictor.shares.held) if predictor is not None else 0)
        shards.add_metric(["sweeps"], len(hub.sweeper.shares.held))
        shards.add_metric(["due_checks"], len(hub.due_checks.shares.held))
        if hub.writer is not None:  # in this node's loop; a writer's own process reports nothing here
            shards.add_metric(["durable_writes"], len(hub.writer.shares.held))
        yield shards
        looks = CounterMetricFamily(
            "fireflow_predictor_looks",
            "The predictor's looks at a restaurant: whole, or unchanged (a commit woke it, no open order had changed)",
            labels=["kind"],
        )
        if not hub.predicts_in_background:
            for kind in ("whole", "unchanged"):
                looks.add_metric([kind], predictor.looks[kind] if predictor is not None else 0)
        yield looks
        up = GaugeMetricFamily(
            "fireflow_task_up", "1 while a background task runs, 0 while it waits to restart", labels=["task"]
        )
        for name, job in sorted(hub.supervisor.jobs.items()):
            up.add_metric([name], 1 if job.up else 0)
        yield up


def _by_role(connections: Iterable[Connection]) -> GaugeMetricFamily:
    counts = dict.fromkeys([*(role.value for role in Role), "unauthenticated"], 0)
    for conn in connections:
        role = conn.actor.role.value if conn.actor is not None else "unauthenticated"
        counts[role] += 1
    family = GaugeMetricFamily("fireflow_sockets", "Open sockets on this node, by role", labels=["role"])
    for role, count in counts.items():
        family.add_metric([role], count)
    return family
