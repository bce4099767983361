"""The WebSocket transport: authenticate, decode, dispatch, answer. No business rules here.

Subscribing (checks, replay or snapshot, ordering, screens) is the fan-out side's
(``fireflow.hub.live.subscriptions``); this module only turns frames into calls.

Written against raw ASGI rather than Starlette's WebSocket wrapper so that an
event's prepared ASGI message is handed to the server as is, for every
recipient: encode once, send many.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from redis.exceptions import RedisError
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from fireflow.hub.commands.bus import validation_details
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.domain.privacy import sees_customers
from fireflow.hub.live.codec import CODECS, DecodeError, Message
from fireflow.hub.live.connection import Connection
from fireflow.hub.logs import bind_actor
from fireflow.hub.transports.errors import to_wire
from fireflow.hub.transports.tokens import read
from fireflow.schema.protocol import (
    CLIENT_FRAME,
    CLIENT_OPS,
    PROTOCOL_VERSION,
    SUBPROTOCOL_JSON,
    Auth,
    CloseCode,
    Cmd,
    ErrorCode,
    Outcome,
    Ping,
    Pong,
    Position,
    Subscribe,
    Unsubscribe,
)

if TYPE_CHECKING:
    from fireflow.hub.run.app import Hub

__all__ = ["WebSocketEndpoint"]

logger = logging.getLogger(__name__)


class _Closed(Exception):
    """The peer is gone or was closed by us; stop reading."""


def _abort_of(send: Any) -> Callable[[], None] | None:
    """The server's way to drop this socket's TCP connection at once, if it has one.

    ASGI has no message for it, but uvicorn's WebSocket protocols (whose bound ``send``
    we are handed, see ``fireflow.hub.run.app._DirectWebSocket``) keep their asyncio transport.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if transport is None or not callable(abort):
        return None
    extra = transport.get_extra_info

    def reset() -> None:
        # asyncio's abort closes the descriptor, but the kernel would still hold what it had queued (megabytes for a
        # peer that stopped reading) and send it, then a FIN: with SO_LINGER 0 the close resets the connection.
        # It runs for every socket closed, a moment after: one whose connection ended meanwhile has no descriptor
        # left (uvloop's socket object then raises ValueError), and nothing to reset.
        sock = extra("socket")
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        abort()

    return reset


class _SansIOWriter:
    """uvicorn's sans-I/O websockets protocol, written to directly (``fireflow.hub.live.connection.RawWriter``).

    Its own send builds a frame per call; a prepared frame is the same bytes. Only while it would
    send one at once: the handshake done, nothing negotiated that changes frames (compression), the
    transport not paused for a slow reader (then the queued path takes over, and order is kept
    because nothing is written here while a send waits) and not closing.
    """

    __slots__ = ("_conn", "_protocol", "_transport", "_writable")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._conn = protocol.conn
        self._transport = protocol.transport
        self._writable = protocol.writable

    def ready(self) -> bool:
        return (
            self._writable.is_set()
            and self._conn.state is State.OPEN  # not once either side has begun to close
            and not self._protocol.close_sent
            and not self._transport.is_closing()
        )

    def write(self, frame: bytes) -> None:
        self._transport.write(frame)


def _raw_writer_of(send: Any) -> _SansIOWriter | None:
    """A direct writer for this socket when the server is uvicorn's sans-I/O websockets with plain frames."""
    protocol = getattr(send, "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    conn = getattr(protocol, "conn", None)
    if conn is None or getattr(conn, "extensions", None) or not getattr(protocol, "handshake_complete", False):
        return None
    return _SansIOWriter(protocol)


class WebSocketEndpoint:
    """ASGI app for ``/ws``: one instance, one task per socket (uvicorn's)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        offered = scope.get("subprotocols") or []
        chosen = next((p for p in offered if p in CODECS), None)
        if offered and chosen is None:
            await send({"type": "websocket.close", "code": 1002, "reason": "unsupported subprotocol"})
            return
        await send({"type": "websocket.accept", "subprotocol": chosen})
        hub = self.hub
        conn = Connection(
            send,
            CODECS[chosen or SUBPROTOCOL_JSON],
            limit=hub.settings.queue_limit,
            now=time.monotonic(),
            abort=_abort_of(send),
            close_timeout=hub.settings.close_timeout,
            raw=_raw_writer_of(send),
        )
        session = _Session(hub, conn, receive)
        hub.connections.add(conn)
        try:
            await session.run()
        except _Closed:
            pass
        except Exception:
            logger.exception("websocket session failed")
            conn.close(CloseCode.INTERNAL_ERROR)
        finally:
            hub.connections.discard(conn)
            hub.subscriptions.leave(conn)
            if conn.actor is not None:
                hub.device_seen(conn.actor, live=False)
            if conn.open:
                conn.close(CloseCode.NORMAL)
            await conn.finished()


class _Session:
    __slots__ = ("conn", "hub", "receive", "refilled", "tokens")

    def __init__(self, hub: Hub, conn: Connection, receive: Any) -> None:
        self.hub = hub
        self.conn = conn
        self.receive = receive
        self.tokens = hub.settings.burst
        self.refilled = time.monotonic()

    async def _next(self) -> Any:
        """The next decoded frame, enforcing size and rate; raises _Closed when the socket ends."""
        conn, settings = self.conn, self.hub.settings
        while True:
            message: Message = await self.receive()
            if message["type"] == "websocket.disconnect":
                conn.lost()
                raise _Closed
            now = time.monotonic()
            conn.last_seen = now
            self.tokens = min(settings.burst, self.tokens + (now - self.refilled) * settings.rate)
            self.refilled = now
            self.tokens -= 1
            # Past the burst a frame is refused with a retryable RATE_LIMITED (the warning); another
            # burst of frames sent while refused closes the socket.
            if self.tokens < -settings.burst:
                await self._fail(ErrorCode.RATE_LIMITED, "too many frames", CloseCode.POLICY_VIOLATION)
            raw = message.get("text") or message.get("bytes") or b""
            size = len(raw)
            if isinstance(raw, str) and 4 * size > settings.max_frame:  # max_frame is bytes; a character is 1-4
                size = len(raw.encode("utf-8", "surrogatepass"))
            if size > settings.max_frame:
                await self._fail(ErrorCode.PAYLOAD_TOO_LARGE, "frame too large", CloseCode.MESSAGE_TOO_BIG)
            try:
                frame = conn.codec.decode(message)
            except DecodeError as exc:
                self.error(ErrorCode.BAD_FRAME, str(exc))
                continue
            if not isinstance(frame, dict):
                self.error(ErrorCode.BAD_FRAME, "a frame is an object")
                continue
            op = frame.get("op")
            if op == "pong":  # the answer to our heartbeat: counted as alive above, nothing else to do
                if conn.pinged:  # the answer to a ping we sent is our traffic, not the peer's: its token back
                    conn.pinged = False
                    self.tokens += 1
                elif self.tokens < 0:  # one we did not ask for is refused past the rate like any frame
                    self._refuse(frame)
                continue
            if self.tokens < 0:
                self._refuse(frame)
                continue
            if not isinstance(op, str) or op not in CLIENT_OPS:  # an unhashable op (a list, a map) must not raise
                self.error(
                    ErrorCode.UNKNOWN_OP, "a frame needs an op" if op is None else f"unknown op {str(op)[:40]!r}"
                )
                continue
            try:
                return CLIENT_FRAME.validate_python(frame)
            except ValidationError as exc:
                cid = frame.get("id") if isinstance(frame.get("id"), str) else None
                self.error(ErrorCode.INVALID_FRAME, f"invalid {frame['op']} frame", validation_details(exc), cid)

    def error(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        command_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        frame: dict[str, Any] = {"op": "error", "id": command_id, "code": code.value, "message": message}
        frame["retryable"] = retryable
        if details:
            frame["details"] = details
        self.conn.send_frame(frame)

    def _refuse(self, frame: dict[str, Any]) -> None:
        """A frame over the rate: not run, answered RATE_LIMITED with when a frame will be taken again."""
        wait = math.ceil(1000 * (1 - self.tokens) / self.hub.settings.rate) / 1000  # until a token is back
        cid = frame.get("id") if frame.get("op") in ("cmd", "outcome") and isinstance(frame.get("id"), str) else None
        self.error(ErrorCode.RATE_LIMITED, "too many frames; slow down", {"retry_after_s": wait}, cid, True)

    async def _fail(self, code: ErrorCode, message: str, close: CloseCode, command_id: str | None = None) -> None:
        self.error(code, message, command_id=command_id)
        await self.conn.flush_and_close(close, message)
        raise _Closed

    async def run(self) -> None:
        try:
            frame = await asyncio.wait_for(self._next(), self.hub.settings.auth_timeout)
        except TimeoutError:
            await self._fail(ErrorCode.UNAUTHENTICATED, "no auth frame in time", CloseCode.AUTH_FAILED)
        if not isinstance(frame, Auth):
            cid = frame.id if isinstance(frame, Cmd | Outcome) else None  # its answer names it, as every answer does
            await self._fail(ErrorCode.UNAUTHENTICATED, "authenticate first", CloseCode.AUTH_FAILED, cid)
        await self._authenticate(frame)
        while True:
            frame = await self._next()
            if isinstance(frame, Cmd | Outcome):
                await self._command(frame)
            elif isinstance(frame, Position):
                self._position(frame)
            elif isinstance(frame, Subscribe):
                await self._subscribe(frame)
            elif isinstance(frame, Unsubscribe):
                self.hub.subscriptions.unsubscribe(self.conn, frame.channels)
            elif isinstance(frame, Ping):
                self.conn.send_frame({"op": "pong", "t": frame.t})
            elif isinstance(frame, Pong):
                pass
            else:
                self.error(ErrorCode.ALREADY_AUTHENTICATED, "already authenticated")

    async def _authenticate(self, frame: Auth) -> None:
        hub = self.hub
        try:
            claims = read(hub.secrets, frame.token)
        except DomainError as exc:
            close = CloseCode.TOKEN_EXPIRED if exc.code is ErrorCode.TOKEN_EXPIRED else CloseCode.AUTH_FAILED
            await self._fail(exc.code, exc.message, close)
            raise  # unreachable: _fail raises
        actor = claims.actor
        try:
            await hub.devices.check(actor, claims.generation)
            offset, epoch = await hub.store.position(actor.restaurant_id)
        except DomainError as exc:
            await self._fail(exc.code, exc.message, CloseCode.TOKEN_REVOKED)
            raise  # unreachable: _fail raises
        except (RedisError, OSError) as exc:
            logger.warning("auth failed on Redis: %s", exc)
            self.error(ErrorCode.UNAVAILABLE, "live state is unavailable; reconnect", retryable=True)
            await self.conn.flush_and_close(CloseCode.SERVICE_RESTART, "live state unavailable")
            raise _Closed from None
        self.conn.generation = claims.generation
        hub.device_seen(actor, live=True)
        self.conn.actor = actor
        self.conn.sees_customers = sees_customers(actor.role)
        bind_actor(actor)  # every later line of this socket names its restaurant and device
        self.conn.send_frame(
            {
                "op": "welcome",
                "protocol": PROTOCOL_VERSION,
                "restaurant": actor.restaurant_id,
                "role": actor.role.value,
                "device": actor.device_id,
                "stations": list(actor.stations),
                "offset": offset,
                "epoch": epoch,
                "heartbeat": hub.settings.heartbeat,
                "max_frame": hub.settings.max_frame,
            }
        )

    async def _command(self, frame: Cmd | Outcome) -> None:
        """A command, or a question about one's outcome: both are answered with that command's ack or an error."""
        conn = self.conn
        assert conn.actor is not None
        what = frame.type if isinstance(frame, Cmd) else "outcome"
        try:
            if isinstance(frame, Cmd):
                stored = await self.hub.bus.execute(conn.actor, frame.id, frame.type, frame.data)
            else:
                stored = await self.hub.bus.outcome(conn.actor, frame.id)
        except Exception as exc:  # one translation for every failure (hub/transports/errors.py)
            error = to_wire(exc, what)
            self.error(error.code, error.message, error.details, frame.id, error.retryable)
            return
        conn.send_frame({"op": "ack", "id": frame.id, "offset": stored.offset, "result": stored.answer_to(conn.actor)})

    def _position(self, frame: Position) -> None:
        """A rider's fix: no answer when taken or dropped (fire and forget), an error when refused."""
        assert self.conn.actor is not None
        try:
            self.hub.positions.take(self.conn.actor, frame)
        except DomainError as exc:
            self.error(exc.code, exc.message)

    async def _subscribe(self, frame: Subscribe) -> None:
        try:
            await self.hub.subscriptions.subscribe(self.conn, frame.channels, frame.since, frame.epoch)
        except DomainError as exc:
            self.error(exc.code, exc.message, exc.details, retryable=exc.retryable)
