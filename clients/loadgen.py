"""The load generator behind ``fireflow bench``: thousands of protocol-v1 clients in one process.

Python receiving thousands of sockets' frames is itself heavy, and on a small
machine the generator shares the CPU with the server it measures. So the
default client (``raw``) is a minimal RFC 6455 client on an asyncio Protocol:
it parses server frames in place, in the same callback that received the
bytes, with no task switch or queue per message, and looks only at the bytes
it needs (the op prefix, the offset, the order id). ``websockets`` uses the
websockets library's asyncio client instead, to cross-check the raw one.

A worker is driven by the bench over stdin/stdout, one JSON object per line:
it reads its config (a file named on the command line), connects its sockets
(screens that authenticate and subscribe, waiters that fire) and says
``ready``; then for each ``step`` it fires its share of the orders at their
scheduled times and reports what its screens received. Fire send times are
written to a file mapped by every worker (``CLOCK_MONOTONIC`` is one clock for
all processes on the machine), so a screen in one process measures the
latency of a fire sent from another.

``prepare_orders`` (used by the bench in its own process, before the timed
part) opens orders and adds their items through the real command path.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import math
import mmap
import os
import random
import secrets
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson

from fireflow.clients.python.pacer import Pacer

__all__ = [
    "Conn",
    "Histogram",
    "RawConn",
    "WsConn",
    "connect",
    "open_session",
    "prepare_orders",
]

SUBPROTOCOL = "fireflow.v1.json"
_T = TypeVar("_T")
PONG = b'{"op":"pong"}'
_EVENT = b'{"op":"event"'
_PING = b'{"op":"ping"'
_OFFSET_AT = len(b'{"op":"event","offset":')
_KITCHEN = b'"type":"NEW_KITCHEN_ORDER"'
_ORDER_ID = b'"order_id":"'
_TICKET_ID = b'"ticket":{"id":"'
_ACKED = b'"type":"TICKET_ACKED"'
_ACKED_TICKET = b'"ticket_id":"'
# As the KDS page (clients/web/kds.js, ACK_SPREAD_MS): a station screen acknowledges a ticket after a moment of its
# own, up to this long, unless another screen's TICKET_ACKED for it has come meanwhile.
ACK_SPREAD_S = 1.0
# Histogram buckets are e**(k/_SCALE) microseconds: 1% wide, a few hundred keys in practice.
_SCALE = 100.0

EventSink = Callable[["Conn", bytes, float], None]
ReplySink = Callable[["Conn", dict[str, Any], float], None]


class HandshakeError(ConnectionError):
    pass


# --------------------------------------------------------------------------- clients


class Conn:
    """What both client kinds share: frame routing, request/reply, close state.

    Event frames go to ``on_event`` synchronously with the receive time of the
    read that carried them; hub pings are answered here; every other frame is
    decoded and matched to a waiting request (by command id, else in order).
    """

    def __init__(self) -> None:
        self.on_event: EventSink | None = None
        self.on_reply: ReplySink | None = None
        self.last_offset = 0
        self.close_code: int | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._replies: deque[asyncio.Future[dict[str, Any]]] = deque()
        # A connection's own prefix: id(self) is reused once a closed connection is freed, and a command
        # id used again in the same restaurant for another command is refused (IDEMPOTENCY_KEY_REUSED).
        self._prefix = secrets.token_hex(6)
        self._ids = itertools.count(1)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks_waiting: dict[bytes, bytes] = {}  # a station screen's tickets to acknowledge: ticket id -> order id

    # transport-specific
    def send(self, text: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _frame(self, data: bytes, now: float) -> None:
        if data.startswith(_EVENT):
            if self.on_event is not None:
                self.on_event(self, data, now)
            return
        if data.startswith(_PING):
            self.send(PONG)
            return
        frame = orjson.loads(data)
        if not isinstance(frame, dict):
            return
        cid = frame.get("id")
        if cid is not None:
            fut = self._pending.pop(cid, None)
            if fut is not None:
                if not fut.done():
                    fut.set_result(frame)
                return
            if self.on_reply is not None:
                self.on_reply(self, frame, now)
            return
        if frame.get("op") in ("pong", "unsubscribed"):
            return
        while self._replies:
            waiter = self._replies.popleft()
            if not waiter.done():
                waiter.set_result(frame)
                return
        if self.on_reply is not None:
            self.on_reply(self, frame, now)

    def _lost(self, code: int | None) -> None:
        if self.close_code is None:
            self.close_code = code if code is not None else 1006
        error = ConnectionError(f"closed {self.close_code}")
        for fut in [*self._pending.values(), *self._replies]:
            if not fut.done():
                fut.set_exception(error)
        self._pending.clear()
        self._replies.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    async def request(self, frame: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Send a frame and wait for its answer: by command id for commands, else the next answer."""
        if self.close_code is not None:
            raise ConnectionError(f"closed {self.close_code}")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        cid = frame.get("id")
        if cid is not None:
            self._pending[cid] = fut
        else:
            self._replies.append(fut)
        self.send(orjson.dumps(frame))
        return await asyncio.wait_for(fut, timeout)

    async def command(self, command_type: str, data: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        cid = f"c{self._prefix}-{next(self._ids)}"
        answer = await self.request({"op": "cmd", "id": cid, "type": command_type, "data": data}, timeout)
        if answer.get("op") != "ack":
            raise RuntimeError(f"{command_type} failed: {answer.get('code')}: {answer.get('message')}")
        return answer


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final frame (clients must mask; the key need not be secret on loopback, only present)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    if not n:
        return head + key
    mask = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return head + key + masked


class RawConn(Conn, asyncio.Protocol):
    """A bare WebSocket client: no compression, no per-message task, parsing in ``data_received``."""

    def __init__(self, host: str, port: int, path: str) -> None:
        Conn.__init__(self)
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rest = b""
        self._fragments: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(HandshakeError(f"connection lost during handshake: {exc}"))
        self._lost(None)

    def send(self, text: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(0x1, text))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self._rest:
            data = self._rest + data
            self._rest = b""
        if not self.upgraded.done():
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._rest = data
                return
            status = data[: data.find(b"\r\n")]
            if not status.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(HandshakeError(status.decode(errors="replace")))
                self.abort()
                return
            self.upgraded.set_result(None)
            data = data[end + 4 :]
        n = len(data)
        pos = 0
        while n - pos >= 2:
            b0 = data[pos]
            length = data[pos + 1] & 0x7F  # server frames are never masked
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > n:
                break
            payload = data[pos + head : end]
            pos = end
            if b0 == 0x81 or b0 == 0x82:  # final text or binary: the hot path
                self._frame(payload, now)
            else:
                self._control(b0, payload, now)
        if pos < n:
            self._rest = data[pos:]

    def _control(self, b0: int, payload: bytes, now: float) -> None:
        opcode, fin = b0 & 0x0F, b0 & 0x80
        if opcode == 0x9:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(_client_frame(0xA, payload))
        elif opcode == 0x8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close()
        elif opcode in (0x1, 0x2):  # first fragment
            self._fragments = [payload]
        elif opcode == 0x0 and self._fragments is not None:
            self._fragments.append(payload)
            if fin:
                whole, self._fragments = b"".join(self._fragments), None
                self._frame(whole, now)


class WsConn(Conn):
    """The same client on the websockets library (one reader task per socket)."""

    def __init__(self, ws: Any) -> None:
        super().__init__()
        self.ws = ws
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._sends: set[asyncio.Task[None]] = set()

    async def _read(self) -> None:
        import websockets

        code: int | None = None
        try:
            while True:
                data = await self.ws.recv(decode=False)
                self._frame(data, time.monotonic())
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
        finally:
            self._lost(code)

    def send(self, text: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self._send(text))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, text: bytes) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send(text, text=True)

    def close(self) -> None:
        task = asyncio.get_running_loop().create_task(self.ws.close())
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)


async def connect(host: str, port: int, *, kind: str = "raw", path: str = "/ws", timeout: float = 30.0) -> Conn:
    if kind == "websockets":
        import websockets

        ws = await websockets.connect(
            f"ws://{host}:{port}{path}",
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            compression=None,
            max_size=None,
            open_timeout=timeout,
            ping_interval=None,
        )
        return WsConn(ws)
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(loop.create_connection(lambda: RawConn(host, port, path), host, port), timeout)
    await asyncio.wait_for(proto.upgraded, timeout)
    return proto


async def open_session(
    host: str,
    port: int,
    token: str,
    channels: Iterable[str] = (),
    *,
    kind: str = "raw",
    timeout: float = 30.0,
) -> Conn:
    """Connect, authenticate and subscribe: what every device does first."""
    conn = await connect(host, port, kind=kind, timeout=timeout)
    try:
        welcome = await conn.request({"op": "auth", "token": token}, timeout)
        if welcome.get("op") != "welcome":
            raise ConnectionError(f"auth refused: {welcome.get('code')}: {welcome.get('message')}")
        conn.last_offset = int(welcome.get("offset", 0))
        wanted = list(channels)
        if wanted:
            answer = await conn.request({"op": "subscribe", "channels": wanted}, timeout)
            if answer.get("op") != "subscribed":
                raise ConnectionError(f"subscribe refused: {answer.get('code')}: {answer.get('message')}")
            conn.last_offset = max(conn.last_offset, int(answer.get("offset", 0)))
    except BaseException:
        conn.close()
        raise
    return conn


# --------------------------------------------------------------------------- preparing orders


async def prepare_orders(
    host: str,
    port: int,
    jobs: list[tuple[str, int]],
    items: list[str],
    *,
    kind: str = "raw",
    frame_rate: float = 80.0,
    burst: float = 150.0,
    concurrency: int = 8,
    jobs_at_once: int = 16,
) -> list[list[str]]:
    """Open ``count`` TAKEAWAY orders with ``items`` for each (waiter token, count) job; their ids, per job.

    Each job uses its own socket, paced below the hub's frame rate limit, with a
    few orders in flight at once so the hub, not the round trips, sets the pace.
    Only ``jobs_at_once`` sockets work at a time: the hub runs one command per
    socket at a time, and more sockets only queue more work on its Redis pool.
    """
    sockets = asyncio.Semaphore(jobs_at_once)

    async def job(token: str, count: int) -> list[str]:
        async with sockets:
            return await work(token, count)

    async def work(token: str, count: int) -> list[str]:
        conn = await open_session(host, port, token, kind=kind)
        pacer = Pacer(frame_rate, burst)
        gate = asyncio.Semaphore(concurrency)

        async def one() -> str:
            async with gate:
                await pacer.take()
                ack = await conn.command("order.open", {"type": "TAKEAWAY"})
                order_id: str = ack["result"]["order"]["id"]
                adds = []
                for item in items:
                    await pacer.take()
                    adds.append(conn.command("order.add_item", {"order_id": order_id, "menu_item_id": item}))
                await asyncio.gather(*adds)
                return order_id

        try:
            return _all(await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True))
        finally:
            conn.close()

    return _all(await asyncio.gather(*(job(token, count) for token, count in jobs), return_exceptions=True))


def _all(results: list[_T | BaseException]) -> list[_T]:
    """Every result, or the first failure once all have finished (none is left running unobserved)."""
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if not isinstance(r, BaseException)]


# --------------------------------------------------------------------------- latency histogram


@dataclass
class Histogram:
    """Log-bucketed latencies (1% resolution) that merge across workers without shipping samples."""

    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    max_us: float = 0.0

    def add_us(self, us: float) -> None:
        key = int(math.log(us) * _SCALE) if us > 1.0 else 0
        self.buckets[key] = self.buckets.get(key, 0) + 1
        self.count += 1
        if us > self.max_us:
            self.max_us = us

    def merge(self, other: dict[str, Any]) -> None:
        for key, n in other["buckets"].items():
            k = int(key)
            self.buckets[k] = self.buckets.get(k, 0) + int(n)
        self.count += int(other["count"])
        self.max_us = max(self.max_us, float(other["max_us"]))

    def percentile_ms(self, q: float) -> float:
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                return min(math.exp((key + 0.5) / _SCALE), self.max_us) / 1000.0
        return self.max_us / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {"buckets": {str(k): v for k, v in self.buckets.items()}, "count": self.count, "max_us": self.max_us}


# --------------------------------------------------------------------------- the worker


@dataclass
class _Step:
    number: int
    expected: int = 0
    received: int = 0
    duplicates: int = 0
    bytes: int = 0
    sent: int = 0
    acked: int = 0
    errors: int = 0
    first_error: str = ""
    late_ms: float = 0.0
    max_at: float = 0.0  # send time of the slowest delivery: periodic stalls show up as round numbers
    hist: Histogram = field(default_factory=Histogram)
    ack_hist: Histogram = field(default_factory=Histogram)
    tickets_acked: int = 0  # ticket.ack commands sent by station screens (``acks``) ...
    ack_answers: int = 0  # ... and answered
    ack_errors: int = 0
    acks_covered: int = 0  # ... or left out, another screen's TICKET_ACKED having come first
    acks_waiting: int = 0  # acknowledgements still waiting their moment


class Worker:
    """One generator process: its screens, its waiters, and its share of each step's fires."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.index = int(config["index"])
        self.host: str = config["host"]
        self.port = int(config["port"])
        self.kind: str = config.get("client", "raw")
        self.screens: list[Conn] = []
        self.screens_by_group: dict[str, int] = {}
        self.waiters: dict[tuple[str, int], Conn] = {}
        self.failed: list[str] = []
        # order id -> (fire index, its step); fire send times live in the shared map at the index.
        self.fires: dict[bytes, tuple[int, _Step]] = {}
        self.other_events = 0
        # Station screens acknowledge each FIRE ticket they show, as the KDS page does (clients/web/tickets.js:
        # ``needAck``); expo does not.
        self.acks = bool(config.get("acks", False))
        self._acking: set[int] = set()  # id() of the station screens
        self._ack_ids = itertools.count(1)
        self._ack_prefix = secrets.token_hex(4).encode()  # ids unique in a restaurant across processes and runs
        self._current: _Step | None = None
        self._slots = int(config["slots"])
        fd = os.open(config["times"], os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, self._slots * 8)
        finally:
            os.close(fd)
        self.times = memoryview(self._map).cast("d")

    async def setup(self) -> dict[str, Any]:
        gate = asyncio.Semaphore(int(self.config.get("concurrency", 64)))

        async def screen(token: str, channels: list[str], group: str) -> None:
            async with gate:
                try:
                    conn = await open_session(self.host, self.port, token, channels, kind=self.kind)
                except Exception as exc:
                    self.failed.append(f"{type(exc).__name__}: {exc}")
                    return
            conn.on_event = self._event
            if self.acks and any(c.startswith("kitchen:") for c in channels):
                self._acking.add(id(conn))
                conn.on_reply = self._ack_reply
            self.screens.append(conn)
            self.screens_by_group[group] = self.screens_by_group.get(group, 0) + 1

        async def waiter(group: str, slot: int, token: str) -> None:
            async with gate:
                try:
                    conn = await open_session(self.host, self.port, token, kind=self.kind)
                except Exception as exc:
                    self.failed.append(f"waiter {type(exc).__name__}: {exc}")
                    return
            conn.on_reply = self._fire_reply
            self.waiters[(group, slot)] = conn

        started = time.monotonic()
        await asyncio.gather(
            *(screen(t, chs, g) for t, chs, g in self.config["screens"]),
            *(waiter(g, s, t) for g, s, t in self.config.get("waiters", ())),
        )
        return {
            "event": "ready",
            "worker": self.index,
            "screens": len(self.screens),
            "waiters": len(self.waiters),
            "failed": len(self.failed),
            "first_failure": self.failed[0] if self.failed else "",
            "seconds": round(time.monotonic() - started, 2),
        }

    def _event(self, conn: Conn, data: bytes, now: float) -> None:
        """The hot path: one NEW_KITCHEN_ORDER frame at one screen."""
        if data.find(_KITCHEN, _OFFSET_AT, 80) < 0:
            self.other_events += 1
            if conn.acks_waiting and data.find(_ACKED, _OFFSET_AT, 80) >= 0:
                i = data.find(_ACKED_TICKET) + len(_ACKED_TICKET)
                conn.acks_waiting.pop(data[i : data.find(b'"', i)], None)
            return
        i = data.find(_ORDER_ID)
        if i < 0:
            self.other_events += 1
            return
        i += len(_ORDER_ID)
        found = self.fires.get(data[i : data.find(b'"', i)])
        if found is None:
            self.other_events += 1
            return
        idx, step = found
        offset = int(data[_OFFSET_AT : data.find(b",", _OFFSET_AT)])
        if offset <= conn.last_offset:
            step.duplicates += 1
            return
        conn.last_offset = offset
        step.received += 1
        step.bytes += len(data)
        us = (now - self.times[idx]) * 1e6
        if us > step.hist.max_us:
            step.max_at = self.times[idx]
        step.hist.add_us(us)
        if id(conn) in self._acking:
            self._ack(conn, data, step)

    def _ack(self, conn: Conn, data: bytes, step: _Step) -> None:
        """``ticket.ack`` for the ticket this frame carried (the order's id where a server sends no ticket id), after
        a moment of this screen's own, as the KDS page does."""
        i = data.find(_TICKET_ID)
        if i < 0:
            ticket_id = order_id = data[data.find(_ORDER_ID) + len(_ORDER_ID) :].partition(b'"')[0]
        else:
            i += len(_TICKET_ID)
            ticket_id = data[i : data.find(b'"', i)]
            j = data.find(_ORDER_ID, i) + len(_ORDER_ID)
            order_id = data[j : data.find(b'"', j)]
        conn.acks_waiting[ticket_id] = order_id
        step.acks_waiting += 1
        asyncio.get_running_loop().call_later(random.random() * ACK_SPREAD_S, self._ack_due, conn, ticket_id, step)

    def _ack_due(self, conn: Conn, ticket_id: bytes, step: _Step) -> None:
        step.acks_waiting -= 1
        order_id = conn.acks_waiting.pop(ticket_id, None)
        if order_id is None:
            step.acks_covered += 1
            return
        conn.send(
            b'{"op":"cmd","id":"a%b%d","type":"ticket.ack","data":{"order_id":"%b","ticket_ids":["%b"]}}'
            % (self._ack_prefix, next(self._ack_ids), order_id, ticket_id)
        )
        step.tickets_acked += 1

    def _ack_reply(self, conn: Conn, frame: dict[str, Any], now: float) -> None:
        step = self._current
        if step is None:
            return
        step.ack_answers += 1
        if frame.get("op") == "error":
            step.ack_errors += 1
            if not step.first_error:
                step.first_error = f"ticket.ack {frame.get('code')}: {frame.get('message')}"

    def _fire_reply(self, conn: Conn, frame: dict[str, Any], now: float) -> None:
        step = self._current
        if step is None:
            return
        if frame.get("op") == "ack":
            step.acked += 1
            cid = frame.get("id")
            if isinstance(cid, str) and cid.startswith("f"):
                step.ack_hist.add_us((now - self.times[int(cid[1:])]) * 1e6)
        elif frame.get("op") == "error":
            step.errors += 1
            if not step.first_error:
                step.first_error = f"{frame.get('code')}: {frame.get('message')}"

    async def step(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Fire this worker's share of the plan on schedule, then wait for every expected delivery or the drain."""
        step = _Step(int(plan["step"]))
        self._current = step
        t0, rate, drain = float(plan["t0"]), float(plan["rate"]), float(plan["drain"])
        base = int(plan["base"])
        mine: list[tuple[int, str, str, int]] = []
        for idx, group, order_id, worker, slot in plan["fires"]:
            self.fires[order_id.encode()] = (idx, step)
            step.expected += self.screens_by_group.get(group, 0)
            if worker == self.index:
                mine.append((idx, group, order_id, slot))
        closed_before = sum(1 for c in self.screens if c.close_code is not None)
        others_before = self.other_events
        cpu0, wall0 = time.process_time(), time.monotonic()
        times = self.times
        for idx, group, order_id, slot in mine:
            due = t0 + (idx - base) / rate
            delay = due - time.monotonic()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            conn = self.waiters.get((group, slot))
            if conn is None or conn.close_code is not None:
                step.errors += 1
                step.first_error = step.first_error or f"waiter {group}/{slot} is not connected"
                continue
            now = time.monotonic()
            step.late_ms = max(step.late_ms, (now - due) * 1000)
            times[idx] = now
            conn.send(
                b'{"op":"cmd","id":"f%d","type":"order.fire","data":{"order_id":"%s"}}' % (idx, order_id.encode())
            )
            step.sent += 1
        end = t0 + len(plan["fires"]) / rate
        deadline = max(end, time.monotonic()) + drain
        while (
            step.received < step.expected or step.acks_waiting or step.ack_answers < step.tickets_acked
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        self._current = None
        return {
            "event": "step",
            "worker": self.index,
            "step": step.number,
            "expected": step.expected,
            "received": step.received,
            "duplicates": step.duplicates,
            "bytes": step.bytes,
            "sent": step.sent,
            "acked": step.acked,
            "tickets_acked": step.tickets_acked,
            "acks_covered": step.acks_covered,
            "ack_answers": step.ack_answers,
            "ack_errors": step.ack_errors,
            "errors": step.errors,
            "first_error": step.first_error,
            "late_ms": round(step.late_ms, 2),
            "max_at": step.max_at - t0 if step.max_at else 0.0,
            "closed": sum(1 for c in self.screens if c.close_code is not None) - closed_before,
            "other_events": self.other_events - others_before,
            "close_codes": sorted({c.close_code for c in self.screens if c.close_code is not None}),
            "cpu": cpu,
            "wall": wall,
            "hist": step.hist.to_json(),
            "ack_hist": step.ack_hist.to_json(),
        }

    def status(self) -> dict[str, Any]:
        return {
            "event": "status",
            "worker": self.index,
            "open": sum(1 for c in self.screens if c.close_code is None),
            "closed": sum(1 for c in self.screens if c.close_code is not None),
            "close_codes": sorted({c.close_code for c in self.screens if c.close_code is not None}),
            "cpu": time.process_time(),
        }

    async def close(self) -> None:
        conns = [*self.screens, *self.waiters.values()]
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.closed) for c in conns], timeout=5)
        for conn in conns:
            if isinstance(conn, RawConn):
                conn.abort()
        self.times.release()
        self._map.close()


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj) + b"\n")
    sys.stdout.buffer.flush()


async def _serve(config_path: Path) -> None:
    config = orjson.loads(config_path.read_bytes())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    worker = Worker(config)
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM from the bench means "interrupted": close the sockets properly and exit, even mid-step.
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        _emit(await worker.setup())
        while line := await reader.readline():
            message = orjson.loads(line)
            command = message.get("cmd")
            if command == "step":
                _emit(await worker.step(message))
            elif command == "status":
                _emit(worker.status())
            elif command == "quit":
                break
    finally:
        await worker.close()
    _emit({"event": "bye", "worker": worker.index})


def _quiet_cancel(coro: Coroutine[Any, Any, None]) -> Coroutine[Any, Any, None]:
    async def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await coro

    return run()


def run_loop(coro: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed: the load generator must not be the bottleneck it measures."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fireflow.clients.loadgen", description="fireflow bench load worker"
    )
    parser.add_argument("config", type=Path, help="worker config (JSON), written by fireflow bench")
    args = parser.parse_args(argv)
    # The bench owns this process's lifetime: Ctrl-C in the terminal reaches the bench, which tells us to quit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    run_loop(_quiet_cancel(_serve(args.config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
