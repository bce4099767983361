"""The hub node: wires Redis, the command bus, fan-out, the durable writer and both transports.

Start-up and shutdown follow uvicorn's discipline: every background task is
kept and reaped; on shutdown sockets are closed with 1012 (reconnect and
resume elsewhere), then tasks are cancelled with a timeout. Every long-running
task of the node runs under one ``Supervisor``: a task that dies is logged and
restarted, and one that is down or keeps dying makes the node not ready
(``readiness``), as does a durable writer too far behind or a backing server
that does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from fireflow.hub.books.audit import AuditTrail
from fireflow.hub.books.books import AuditNote, Books
from fireflow.hub.books.customers import Customers
from fireflow.hub.books.db import create_engine
from fireflow.hub.books.groups import Groups
from fireflow.hub.books.recommendations import Recommendations
from fireflow.hub.commands.bus import CommandBus
from fireflow.hub.commands.pins import Pins
from fireflow.hub.commands.settle import Settler
from fireflow.hub.domain.actors import Actor
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.integrations.object_store import open_store
from fireflow.hub.live import control
from fireflow.hub.live.codec import CODECS, wire_of
from fireflow.hub.live.control import REVOKED_CHANNEL, SETUP_CHANNEL
from fireflow.hub.live.devices import Devices
from fireflow.hub.live.fanout import FanOut
from fireflow.hub.live.positions import Positions
from fireflow.hub.live.presence import Presence, print_agents
from fireflow.hub.live.redis_client import is_cluster, redis_client, seed_nodes, with_seeds
from fireflow.hub.live.store import Store
from fireflow.hub.live.subscriptions import Subscriptions
from fireflow.hub.metrics import Metrics, NodeCollector, Sockets
from fireflow.hub.run.config import Settings
from fireflow.hub.run.embedded import die_with_parent
from fireflow.hub.run.heap import freeze_the_start
from fireflow.hub.supervise import Supervisor, TaskEnded, stop_child
from fireflow.hub.transports.http_api import routes
from fireflow.hub.transports.limits import Buckets
from fireflow.hub.transports.ws import WebSocketEndpoint
from fireflow.hub.workers.background import node_store
from fireflow.hub.workers.durable import Backlog, DurableWriter, backlog
from fireflow.hub.workers.predictions import Predictor
from fireflow.hub.workers.senders import Senders, invoice_links
from fireflow.hub.workers.sweeps import Sweeper
from fireflow.hub.workers.timers import DueChecks
from fireflow.schema.commands import PrintAgentGone
from fireflow.schema.protocol import CloseCode

__all__ = ["DURABLE_TASK", "FANOUT_TASKS", "Hub", "Readiness", "create_app", "next_slice", "uvicorn_config"]

logger = logging.getLogger(__name__)

HEARTBEAT_SLICES = 64  # a socket's ping goes out in one of these, spread over the interval: at 8, a slice of 275
# of 2,200 sockets held the loop 4-10 ms (each ping is a write to the kernel), the kitchen bench's worst stalls
DURABLE_TASK = "durable-writer"  # in this node's loop, or watching its child process
PREDICTOR_TASK = "predictor-process"  # watching the child that predicts when the writer runs elsewhere
FANOUT_TASKS = ("fanout-listen", "fanout-poll")  # the wake-up pattern subscription, and the offsets' tick
# How a background process ends when it was told to stop: 0 (it handles SIGTERM and SIGINT once started), or the
# signal itself (one that came while it was starting).
STOPPED_FROM_OUTSIDE = frozenset({0, -signal.SIGTERM, -signal.SIGINT})
STOPPED_GRACE_S = 5.0  # the node's own stop comes well within this (0.5 s in the README's check)


def next_slice(due: float, now: float, period: float, interval: float) -> tuple[float, float]:
    """When the heartbeat's next slice is due, and how long to sleep until then.

    Each slice has its moment on a fixed schedule, not a fixed sleep after the last one: on a loaded loop
    every sleep ends late, and 64 late sleeps in a row would stretch a round past the two intervals a quiet
    socket is given (a cluster run closed screens so). Behind schedule the slices come back to back; a
    schedule a whole interval behind (a suspended machine) starts afresh from now.
    """
    due = now if now - due > interval else due
    due += period
    return due, max(0.0, due - now)


@dataclass
class Readiness:
    """Each check (redis, postgres, fanout, durable, tasks) and, when one fails, why, in a line each."""

    checks: dict[str, bool] = field(default_factory=dict)
    why: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(self.checks.values())

    def check(self, name: str, problems: list[str]) -> None:
        self.checks[name] = not problems
        self.why += problems

    def body(self) -> dict[str, Any]:
        return {**self.checks, "why": self.why}


class Hub:
    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("REDIS_URL is required (the CLI starts an embedded Redis when it is unset)")
        self.settings = settings
        # A bounded pool that waits for a free connection instead of failing under a burst of commands,
        # and retries a command on a fresh connection when its pooled one died with a Redis restart.
        self.redis = redis_client(
            settings.redis_url, pool_size=settings.redis_pool, pool_timeout=settings.redis_pool_timeout
        )
        self.engine: AsyncEngine | None = create_engine(settings.database_url) if settings.database_url else None
        self.store = node_store(settings, self.redis, self.engine)
        self.metrics = Metrics()
        self.books = books = Books(self.engine) if self.engine is not None else None
        self.recommendations = Recommendations(self.engine) if self.engine is not None else None
        self.settler = Settler(self.store, books, recommendations=self.recommendations)
        self.audit = AuditTrail(books, on_drop=self.metrics.audit_dropped.inc)
        self.devices = Devices(self.redis)
        self.http_limits = Buckets(settings.http_rate, settings.http_burst)
        self.bus = CommandBus(
            self.store,
            settler=self.settler,
            pins=Pins(self.redis, self._audit_wrong_pin, cost=settings.pin_hash),
            audit=self.audit,
            metrics=self.metrics,
            devices=self.devices,
            customers=Customers(self.engine) if self.engine is not None else None,
            groups=Groups(self.engine) if self.engine is not None else None,
        )
        self.fanout = FanOut(self.redis, self.store)
        self.store.on_commit = self.fanout.committing
        self.store.on_visible = self.fanout.committed  # this node's own commits need no read back
        self.presence = Presence(self.redis, secrets.token_hex(4), ttl=settings.presence_ttl)
        self.print_agents = Presence(
            self.redis,
            self.presence.node_id,
            ttl=settings.presence_ttl,
            key=print_agents,
            on_gone=self._print_agents_gone,
        )
        self._leaving = asyncio.Event()  # set by stop(): sockets closed by our shutdown resume elsewhere
        # The key new tokens are signed with first, then former ones still accepted (key rotation).
        self.secrets = settings.secrets
        self.positions = Positions(
            self.redis,
            self.fanout,
            self.metrics,
            interval=settings.position_interval,
            window=settings.position_window,
            trail=settings.position_trail,
            ttl=settings.position_ttl,
            max_queued=settings.position_queue,
        )
        self.subscriptions = Subscriptions(
            self.store,
            self.fanout,
            self.presence,
            self.audit,
            replay_limit=settings.replay_limit,
            catch_up_timeout=settings.auth_timeout,
            print_agents=self.print_agents,
            positions=self.positions,
        )
        self.due_checks = DueChecks(self.store, self.bus, tick=settings.due_tick, lease=settings.due_lease)
        self.fanout.on_wake.append(self.due_checks.woken)
        self.fanout.on_missed.append(self.due_checks.missed)
        # The predictor runs in the node's background process (``hub/workers/background.py``): beside the durable
        # writer, or alone when the writer runs elsewhere; in the node's loop only with the writer there too.
        self.predicts_in_background = bool(
            settings.predictions
            and ((self.engine is not None and settings.durable_mode == "process") or settings.durable_mode == "off")
        )
        self.predictor: Predictor | None = None
        if settings.predictions and not self.predicts_in_background:
            self.predictor = Predictor(
                self.redis, self.store, self.bus, tick=settings.predict_tick, secret=settings.secret
            )
            self.fanout.on_wake.append(self.predictor.woken)
            self.fanout.on_missed.append(self.predictor.missed)
        self.sweeper = Sweeper(
            self.redis,
            self.store,
            self.bus,
            self.settler,
            self.audit,
            every=settings.sweep_every,
            recommendations=self.recommendations,
        )
        # The invoice archive as the customers' links read it (/invoice/…), and the links receipts print.
        self.archive_store = open_store(settings.archive_url, settings.data_dir, settings.s3_endpoint_url)
        self.invoice_links = invoice_links(settings)
        self.bus.links = self.invoice_links
        # What leaves the hub runs where the durable writer does (hub/workers/senders.py): here when inline.
        self.senders: Senders | None = None
        if self.engine is not None and settings.durable_mode == "inline":
            self.senders = Senders.of(settings, self.engine, self.redis, self.store)
        self.connections = Sockets(self.metrics, HEARTBEAT_SLICES)
        self._seen_tasks: set[asyncio.Task[None]] = set()
        self.writer: DurableWriter | None = None
        self.background_child: asyncio.subprocess.Process | None = None
        self.supervisor = Supervisor(on_death=lambda name: self.metrics.task_restarts.labels(name).inc())
        self.metrics.registry.register(NodeCollector(self))

    async def _audit_wrong_pin(self, rid: str, device: str, details: dict[str, Any]) -> None:
        if self.settler.books is not None:
            await self.settler.books.audit(rid, device, "", AuditNote("WRONG_PIN", "device", device, details))

    async def start(self) -> None:
        await self.redis.ping()
        spawn = self.supervisor.spawn
        # The fan-out's two loops, supervised here rather than left to FanOut.start's unsupervised tasks.
        spawn(FANOUT_TASKS[0], self.fanout.listen)
        spawn(FANOUT_TASKS[1], self.fanout.poll)
        if self.engine is not None and self.settings.durable_mode == "inline":
            # Its own connections: its reads must never wait behind the sockets' commands, nor hold them up.
            writer_redis = redis_client(self.settings.redis_url or "")
            self.writer = DurableWriter(
                writer_redis,
                Store(writer_redis),
                self.engine,
                batch=self.settings.durable_batch,
                closed_keep=self.settings.closed_keep,
                lease=self.settings.durable_lease,
            )
            self.fanout.on_wake.append(self.writer.woken)  # the node's wake-ups: no subscription of its own
            self.fanout.on_missed.append(self.writer.missed)
            spawn(DURABLE_TASK, self.writer.run)
        elif self.engine is not None and self.settings.durable_mode == "process":
            predicting = ["--predictions"] if self.predicts_in_background else []
            spawn(DURABLE_TASK, lambda: self._background_process("durable", *predicting))
        elif self.settings.durable_mode == "off" and self.predicts_in_background:
            spawn(PREDICTOR_TASK, lambda: self._background_process("predictor"))
        spawn("heartbeat", self._heartbeat)
        spawn("presence", self.presence.run)
        spawn("print-agents", self.print_agents.run)
        handlers: dict[str, Callable[[str], None]] = {REVOKED_CHANNEL: self._revoked, SETUP_CHANNEL: self.store.forget}
        spawn("control", lambda: control.listen(self.redis, handlers, self._resync))
        spawn("due-checks", self.due_checks.run)
        if self.predictor is not None:
            spawn("predictions", self.predictor.run)
        if self.settings.sweeps:
            spawn("sweeps", self.sweeper.run)
        if self.senders is not None:
            for name, run in self.senders.tasks().items():
                spawn(name, run)
        spawn("positions", self.positions.listen)
        spawn("positions-writer", self.positions.write)
        spawn("audit", self.audit.run)
        spawn("loop-lag", self.metrics.watch_loop)
        self.metrics.time_gc()
        if self.settings.freeze_gc:
            freeze_the_start()

    async def stop(self, timeout: float = 5.0) -> None:
        self._leaving.set()
        conns = list(self.connections)
        for conn in conns:
            conn.close(CloseCode.SERVICE_RESTART, "node shutting down; resume elsewhere")
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.finished()) for c in conns], timeout=timeout)
        await self.supervisor.stop(timeout)
        if self.predictor is not None:
            await self.predictor.stop()  # the other nodes take its shards at once, not when its leases run out
        await self.sweeper.stop()
        await self.due_checks.stop()
        if self.senders is not None:
            await self.senders.close()
        await self.archive_store.close()
        self.metrics.stop_timing_gc()
        await self.presence.stop()
        await self.print_agents.stop()
        await self.fanout.stop()
        if self.writer is not None:
            await self.writer.close()
            await self.writer.redis.aclose()
        if self.books is not None:
            await self.books.close()
        if self.engine is not None:
            await self.engine.dispose()
        await self.redis.aclose()  # it owns its pool (or its cluster's)

    async def _background_process(self, command: str, *options: str) -> None:
        """One life of the node's child process (``fireflow durable``, or ``fireflow predictor`` when the writer runs
        elsewhere), stopped with us; its exit is a death the supervisor restarts."""
        env = {**os.environ, **self.settings.as_env()}  # the same settings, the secret and the port among them
        if is_cluster(self.redis):
            # the cluster's nodes as this node knows them now, then REDIS_URL's own, as the child's seeds: a
            # child restarted while REDIS_URL's node was down (a master failed over) could not start through it
            known = [(node.host, int(node.port)) for node in cast(RedisCluster, self.redis).get_nodes()]
            env["REDIS_URL"] = with_seeds(env["REDIS_URL"], dict.fromkeys(known + seed_nodes(env["REDIS_URL"])))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fireflow.hub.run.cli",
            command,
            *options,
            env=env,
            preexec_fn=_background_child(),
            # Out of the node's process group, as the embedded servers are: a terminal's Ctrl-C (SIGINT to the whole
            # group) reached the child too, which died of it mid-round while the node logged its death and restarted
            # it. Stopped by the node now, in turn (``stop_child``), whatever signal stops the node.
            start_new_session=True,
        )
        self.background_child = proc
        try:
            code = await proc.wait()
        except asyncio.CancelledError:
            await stop_child(proc)
            raise
        if code in STOPPED_FROM_OUTSIDE:
            # A service manager stops every process of the service at once (systemd's control group, a platform's
            # dyno): the node's own stop is on its way, and cancels this wait. Only a child stopped alone is a death.
            await asyncio.sleep(STOPPED_GRACE_S)
        raise TaskEnded(f"fireflow {command} process {proc.pid} exited with {code}")

    async def _print_agents_gone(self, rid: str, agents: list[str]) -> None:
        """A print agent's last socket here closed: after ``print_agent_grace`` (an agent reconnecting, here or
        to another node, is back by then), the hub's own ``print.agent_gone`` (printer health)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.print_agent_grace):
                await self._leaving.wait()
        if self._leaving.is_set():
            return  # this node is stopping: its sockets resume on another
        for agent in agents:
            command_id = f"agent-gone-{agent}-{time.time_ns()}"
            try:
                await self.bus.execute_internal(rid, command_id, "print.agent_gone", PrintAgentGone(agent=agent))
            except (DomainError, RedisError, OSError) as exc:
                logger.warning("print agent %s of %s left; its printers' state stays as told: %s", agent, rid, exc)
            except Exception:
                logger.exception("print agent %s of %s left; its printers' state stays as told", agent, rid)

    def close_device(self, rid: str, device_id: str) -> int:
        """Close this node's sockets of a revoked device; how many there were."""
        found = [
            c
            for c in self.connections
            if c.actor is not None and c.actor.restaurant_id == rid and c.actor.device_id == device_id
        ]
        for conn in found:
            conn.send_frame(
                {
                    "op": "error",
                    "id": None,
                    "code": "TOKEN_REVOKED",
                    "message": "this device was revoked",
                    "retryable": False,
                }
            )
            conn.close(CloseCode.TOKEN_REVOKED, "device revoked")
        return len(found)

    def _revoked(self, message: str) -> None:
        rid, _, device_id = message.partition(" ")
        closed = self.close_device(rid, device_id)
        logger.info("device %s of %s revoked: %d socket(s) closed here", device_id, rid, closed)

    async def _resync(self) -> None:
        """After the control channel was down: settings may have changed, devices may have been revoked."""
        self.store.forget()
        await self.recheck_devices()

    async def recheck_devices(self) -> None:
        """Check every open socket's token against its device again (revocations missed while not listening)."""
        for conn in list(self.connections):
            if conn.actor is None or not conn.open:
                continue
            try:
                await self.devices.check(conn.actor, conn.generation)
            except DomainError:
                self.close_device(conn.actor.restaurant_id, conn.actor.device_id)

    def device_seen(self, actor: Actor, *, live: bool) -> None:
        """Note when a device was last seen, off the socket's path (a lost note is redone by the next heartbeat)."""
        task = asyncio.get_running_loop().create_task(self._note_seen({actor.restaurant_id: [actor.device_id]}, live))
        self._seen_tasks.add(task)
        task.add_done_callback(self._seen_tasks.discard)

    async def _note_seen(self, by_restaurant: dict[str, list[str]], live: bool) -> None:
        """Advisory (the back office's "last seen"): a failure is logged, never raised into the heartbeat."""
        try:
            await self.devices.seen(by_restaurant, live=live)
        except (RedisError, OSError) as exc:
            logger.debug("could not note devices seen: %s", exc)
        except Exception as exc:  # redis-py's cluster client can fail oddly while its topology changes
            logger.warning("could not note devices seen: %r", exc)

    async def _heartbeat(self) -> None:
        """Ping each socket once per heartbeat and close the ones that left a ping unanswered for two (dead peers).

        The work is spread over the interval in slices, so ten thousand sockets never get their pings in one
        burst that delays everyone's events. Nothing in a slice waits on Redis: the devices seen are noted by a
        task of their own, one at a time, and a slow Redis only makes that note later. A slice that waited on it
        kept the pings back, and on a loaded cluster (commands answered seconds late) the rounds stretched past
        two intervals, after which every socket in them was closed 4010 though it had answered its last ping.
        Only a socket with a ping outstanding is closed for silence, so a late round can no longer do that.
        """
        interval = self.settings.heartbeat
        slices = HEARTBEAT_SLICES
        tick = 0
        seen: dict[str, set[str]] = {}
        noting: asyncio.Task[None] | None = None
        due = time.monotonic()
        try:
            while True:
                due, wait = next_slice(due, time.monotonic(), interval / slices, interval)
                await asyncio.sleep(wait)
                now = time.monotonic()
                # encoded once a slice, and each socket's copy written as it stands (a server's frames are not
                # masked): through the server's own send a slice of 275 sockets took 6-9 ms, every other socket
                # waiting
                pings = {}
                for codec in CODECS.values():
                    message = codec.encode({"op": "ping", "t": int(time.time() * 1000)})
                    pings[codec.binary] = (message, wire_of(message, codec.binary))
                for conn in self.connections.in_slice(tick):
                    if now - conn.last_seen > 2 * interval and (conn.pinged or conn.actor is None):
                        conn.close(CloseCode.HEARTBEAT_TIMEOUT, "no frames from peer")
                    elif conn.actor is not None:
                        conn.send_encoded(*pings[conn.codec.binary])
                        conn.pinged = True
                        seen.setdefault(conn.actor.restaurant_id, set()).add(conn.actor.device_id)
                if seen and (noting is None or noting.done()):  # else they gather until the last note is done
                    noting = asyncio.create_task(
                        self._note_seen({rid: sorted(devices) for rid, devices in seen.items()}, True)
                    )
                    seen = {}
                tick = (tick + 1) % slices
        finally:
            if noting is not None:
                noting.cancel()

    async def readiness(self) -> Readiness:
        """Whether this node should get traffic: its servers answer, its loops run, its events reach Postgres."""
        found = Readiness()
        try:
            await self.redis.ping()
            found.check("redis", [])
        except Exception as exc:
            found.check("redis", [f"redis: {exc}"])
        if self.engine is not None:
            try:
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                found.check("postgres", [])
            except Exception as exc:
                found.check("postgres", [f"postgres: {str(exc).strip().splitlines()[0][:200]}"])
        stopped = [f"feed {rid}: stopped" for rid, feed in self.fanout.feeds.items() if feed.task.done()]
        found.check("fanout", self.supervisor.problems(lambda name: name in FANOUT_TASKS) + stopped)
        if self.engine is not None:
            durable = self.supervisor.problems(lambda name: name == DURABLE_TASK)
            if found.checks["redis"]:
                limit = self.settings.durable_max_lag
                try:
                    age = (await self.durable_backlog()).age(int(time.time() * 1000))
                except (RedisError, OSError) as exc:
                    durable.append(f"durable: cannot read what is not in Postgres yet: {exc}")
                else:
                    if age > limit:
                        durable.append(
                            f"durable: the oldest event not in Postgres has waited {age:.1f} s (limit {limit:g} s)"
                        )
            found.check("durable", durable)
        found.check("tasks", self.supervisor.problems(lambda name: name != DURABLE_TASK and name not in FANOUT_TASKS))
        return found

    async def durable_backlog(self) -> Backlog:
        """What no durable writer has stored yet, over every restaurant (``fireflow.hub.workers.durable.backlog``)."""
        return await backlog(self.redis, await self.store.restaurant_ids())

    async def scrape(self) -> bytes:
        """The metrics text: what Redis says of the fan-out and the durable writer, read now, then every metric."""
        metrics = self.metrics
        try:
            feeds = list(self.fanout.feeds.values())
            heads = await self.store.heads([f.rid for f in feeds])
            behind = [head - feed.last for feed, head in zip(feeds, heads, strict=True)]
            metrics.fanout_lag.set(max(behind, default=0))
            if self.engine is not None:
                found = await self.durable_backlog()
                metrics.durable_unwritten.set(found.unwritten)
                metrics.durable_oldest.set(found.age(int(time.time() * 1000)))
        except (RedisError, OSError) as exc:  # the gauges say "unknown" rather than a stale number
            logger.warning("metrics: cannot read Redis: %s", exc)
            for gauge in (metrics.fanout_lag, metrics.durable_unwritten, metrics.durable_oldest):
                gauge.set(math.nan)
        return metrics.render()


def create_app(settings: Settings) -> Starlette:
    hub = Hub(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    from fireflow.hub.transports.invoice_links import invoice_routes
    from fireflow.hub.transports.pages import page_routes

    ws = WebSocketEndpoint(hub)
    app = Starlette(routes=[*routes(), WebSocketRoute("/ws", ws), *invoice_routes(), *page_routes()], lifespan=lifespan)
    app.state.hub = hub
    app.state.ws = ws
    return app


def _background_child() -> Callable[[], None]:
    """The durable writer yields the CPU to the sockets (it is behind by design; they must not be) and dies with us."""
    arm = die_with_parent(signal.SIGTERM)  # made here: it captures this process as the parent

    def preexec() -> None:
        os.nice(10)
        if arm is not None:
            arm()

    return preexec


class _DirectWebSocket:
    """Hands ``/ws`` straight to its endpoint, past Starlette's middleware.

    Starlette wraps ``send`` in a coroutine per layer; on the fan-out path that is
    one more coroutine per recipient per event, for nothing the endpoint needs.
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.ws: WebSocketEndpoint = app.state.ws

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await self.ws(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def uvicorn_config(
    app: Starlette, settings: Settings, *, log_level: str = "info", ws_max_size: int | None = None
) -> Any:
    """How every hub node is served: sans-I/O websockets (kept lean per idle socket), our frame limit,
    compression as configured."""
    import uvicorn

    from fireflow.hub.transports.ws_protocol import LeanWebSocketProtocol

    return uvicorn.Config(
        _DirectWebSocket(app),
        host=settings.host,
        port=settings.port,
        ws=LeanWebSocketProtocol,
        log_config=None,  # uvicorn's lines go through the root logger: JSON or text, as ours (fireflow.hub.logs)
        ws_max_size=ws_max_size or settings.max_frame,
        ws_per_message_deflate=settings.compression,
        ws_ping_interval=None,  # one heartbeat, the hub's own (browsers see it; see Hub._heartbeat)
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
