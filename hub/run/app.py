"""The hub node: wires Redis, the command bus, fan-out, the durable writer and both transports.

Start-up and shutdown follow uvicorn's discipline: every background task is
kept and reaped; on shutdown sockets are closed with 1012 (reconnect and
resume elsewhere), then tasks are cancelled with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from hub.books.books import AuditNote, Books
from hub.books.db import create_engine
from hub.commands.bus import CommandBus
from hub.commands.pins import Pins
from hub.commands.settle import Settler
from hub.live.codec import CODECS
from hub.live.connection import Connection
from hub.live.fanout import FanOut
from hub.live.presence import Presence
from hub.live.store import Store, redis_client
from hub.run.config import Settings
from hub.run.embedded import die_with_parent
from hub.transports.http_api import routes
from hub.transports.ws import WebSocketEndpoint
from hub.workers.durable import DurableWriter
from hub.workers.timers import DueChecks
from schema.protocol import CloseCode

__all__ = ["Hub", "create_app", "uvicorn_config"]

logger = logging.getLogger(__name__)

HEARTBEAT_SLICES = 8


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
        self.store = Store(
            self.redis, history=settings.history, durable=bool(settings.database_url and settings.durable_mode != "off")
        )
        self.engine: AsyncEngine | None = create_engine(settings.database_url) if settings.database_url else None
        self.settler = Settler(self.store, Books(self.engine) if self.engine is not None else None)
        self.bus = CommandBus(self.store, settler=self.settler, pins=Pins(self.redis, self._audit_wrong_pin))
        self.fanout = FanOut(self.redis, self.store)
        self.presence = Presence(self.redis, secrets.token_hex(4), ttl=settings.presence_ttl)
        self.due_checks = DueChecks(self.store, self.bus, tick=settings.due_tick)
        self.connections: set[Connection] = set()
        self.writer: DurableWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _audit_wrong_pin(self, rid: str, device: str, details: dict[str, Any]) -> None:
        if self.settler.books is not None:
            await self.settler.books.audit(rid, device, "", AuditNote("WRONG_PIN", "device", device, details))

    async def start(self) -> None:
        await self.redis.ping()
        await self.fanout.start()
        if self.engine is not None and self.settings.durable_mode == "inline":
            # Its own connections: its reads must never wait behind the sockets' commands, nor hold them up.
            writer_redis = redis_client(self.settings.redis_url or "")
            self.writer = DurableWriter(
                writer_redis, Store(writer_redis), self.engine, batch=self.settings.durable_batch
            )
            self.writer.start()
        background = [self._heartbeat(), self.presence.run(), self.due_checks.run()]
        if self.engine is not None and self.settings.durable_mode == "process":
            background.append(self._durable_process())
        for coro in background:
            task = asyncio.get_running_loop().create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self.settings.freeze_gc:
            # Everything allocated so far lives as long as the process: keep the collector off it,
            # and collect the young generation less often (full collections are what stall sockets).
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)

    async def stop(self, timeout: float = 5.0) -> None:
        conns = list(self.connections)
        for conn in conns:
            conn.close(CloseCode.SERVICE_RESTART, "node shutting down; resume elsewhere")
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.finished()) for c in conns], timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.presence.stop()
        await self.fanout.stop()
        if self.writer is not None:
            await self.writer.stop()
            await self.writer.redis.aclose()
        if self.engine is not None:
            await self.engine.dispose()
        await self.redis.aclose(close_connection_pool=True)

    async def _durable_process(self) -> None:
        """Run the durable writer as a child process, restarted if it dies, stopped with us."""
        env = {
            **os.environ,
            "REDIS_URL": self.settings.redis_url or "",
            "DATABASE_URL": self.settings.database_url or "",
        }
        while True:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hub.run.cli", "durable", env=env, preexec_fn=_background_child()
            )
            try:
                code = await proc.wait()
            except asyncio.CancelledError:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
                raise
            logger.error("durable writer process exited with %s; restarting it", code)
            await asyncio.sleep(1)

    async def _heartbeat(self) -> None:
        """Ping each socket once per heartbeat and close the ones silent for two (dead peers).

        The work is spread over the interval in slices, so ten
        thousand sockets never get their pings in one burst that delays everyone's events.
        """
        interval = self.settings.heartbeat
        slices = HEARTBEAT_SLICES
        tick = 0
        while True:
            await asyncio.sleep(interval / slices)
            now = time.monotonic()
            pings = {c.binary: c.encode({"op": "ping", "t": int(time.time() * 1000)}) for c in CODECS.values()}
            for conn in list(self.connections):
                if (id(conn) >> 4) % slices != tick:  # a socket's slice never changes while it lives
                    continue
                if now - conn.last_seen > 2 * interval:
                    conn.close(CloseCode.HEARTBEAT_TIMEOUT, "no frames from peer")
                elif conn.actor is not None:
                    conn.push(pings[conn.codec.binary])
            tick = (tick + 1) % slices

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            checks["redis"] = bool(await self.redis.ping())
        except Exception:
            checks["redis"] = False
        if self.engine is not None:
            try:
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                checks["postgres"] = True
            except Exception:
                checks["postgres"] = False
        return checks


def create_app(settings: Settings) -> Starlette:
    hub = Hub(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    from hub.transports.pages import page_routes

    ws = WebSocketEndpoint(hub)
    app = Starlette(routes=[*routes(), WebSocketRoute("/ws", ws), *page_routes()], lifespan=lifespan)
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
    """How every hub node is served: sans-I/O websockets, our frame limit, compression as configured."""
    import uvicorn

    return uvicorn.Config(
        _DirectWebSocket(app),
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_max_size=ws_max_size or settings.max_frame,
        ws_per_message_deflate=settings.compression,
        ws_ping_interval=None,  # one heartbeat, the hub's own (browsers see it; see Hub._heartbeat)
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
