"""One socket's outgoing side: a bounded queue drained by its own writer task.

Fan-out only appends to the queue, so a slow socket never slows the others;
when the queue overflows the socket is dropped with 4008 and its memory freed,
and the client resumes from its last offset.

Every way a socket ends frees it, including a peer that never reads again: its
close frame would wait behind a full send buffer forever (and the server's
graceful close waits for that buffer to drain), so ``close_timeout`` seconds
after the socket starts closing the TCP connection is aborted. The server then
reports the disconnect, which ends the session and releases its subscriptions.

Events skip even the server's send where it can: an event's whole WebSocket frame is made once
(``EncodedEvent.wire``) and written to each idle socket's transport as it is (``RawWriter``), so a
delivery costs a transport write, not a frame built per recipient.

The hot path skips the queue: when nothing is queued or in flight, ``push``
runs the server's send right away, and it almost always completes without
suspending (the transport takes the bytes). Only when it would wait (the
transport is paused because the peer is slow) is a writer task started to
finish it and drain what queues behind it; the task ends once the queue is
empty. So one event to five thousand sockets costs five thousand writes, not
five thousand task switches, and an idle socket holds no task at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from fireflow.hub.domain.actors import Actor
from fireflow.hub.live.codec import Codec, EncodedEvent, Message, wire_of
from fireflow.schema.protocol import CloseCode

__all__ = ["Connection", "RawWriter"]

logger = logging.getLogger(__name__)

Send = Callable[[Message], Coroutine[Any, Any, None]]
Abort = Callable[[], None]


class RawWriter(Protocol):
    """The socket's transport, for frames made once for every recipient (``EncodedEvent.wire``)."""

    def ready(self) -> bool:
        """Whether a frame written now goes out in order: the socket is open, not paused, with no extension."""
        ...

    def write(self, frame: bytes) -> None: ...


class Connection:
    __slots__ = (
        "_abort",
        "_closing",
        "_inflight",
        "_send",
        "_writer",
        "actor",
        "channels",
        "close_code",
        "close_timeout",
        "codec",
        "generation",
        "last_seen",
        "limit",
        "outbox",
        "pending",
        "pinged",
        "raw",
        "sees_customers",
    )

    def __init__(
        self,
        send: Send,
        codec: Codec,
        *,
        limit: int,
        now: float,
        abort: Abort | None = None,
        close_timeout: float = 5.0,
        raw: RawWriter | None = None,
    ) -> None:
        self._send = send
        self.raw = raw  # writes an event's prepared frame itself (None: the server offers no way to)
        self._abort = abort  # drops the TCP connection at once (None: the server offers no way to)
        self.close_timeout = close_timeout
        self.codec = codec
        self.limit = limit
        self.outbox: deque[Message] | None = None  # made on first backpressure (760 bytes per socket)
        self.actor: Actor | None = None
        self.sees_customers = False  # delivery customers' details (hub/domain/privacy.py): set with the actor
        self.generation = 0  # the token's generation: a revoked device's older tokens stop working
        self.channels: set[str] = set()
        # While a subscribe is being answered, live events wait here (see subscriptions.Subscriptions.subscribe).
        self.pending: list[EncodedEvent] | None = None
        self.last_seen = now
        self.pinged = False  # a heartbeat ping not answered yet: its pong is not charged to the peer's rate
        self.close_code: int | None = None
        self._closing = False
        self._inflight: tuple[Coroutine[Any, Any, None], Any] | None = None
        # Only while a send is waiting on the transport: an idle socket costs no task at all.
        self._writer: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        return not self._closing

    def push(self, message: Message) -> None:
        if self._closing:
            return
        if self._writer is None:
            self._send_now(message)
            return
        if self.outbox is None:
            self.outbox = deque()
        elif len(self.outbox) >= self.limit:
            self.close(CloseCode.SLOW_CONSUMER, "outgoing queue full; resume with since")
            return
        self.outbox.append(message)

    def _send_now(self, message: Message) -> None:
        coro = self._send(message)
        try:
            awaited = coro.send(None)
        except StopIteration:
            return  # written: the common case
        except Exception:  # the peer went away: the reader side sees the disconnect
            self._closing = True
            return
        self._inflight = (coro, awaited)
        self._writer = asyncio.get_running_loop().create_task(self._drain())

    def send_frame(self, frame: dict[str, Any]) -> None:
        """A reply or a snapshot: straight to the socket as one frame when nothing waits before it."""
        message = self.codec.encode(frame)
        self.send_encoded(message, wire_of(message, self.codec.binary))

    def send_encoded(self, message: Message, wire: bytes) -> None:
        """A frame already encoded (the heartbeat's ping, once for many sockets): ``wire``, its whole WebSocket
        frame, straight to the socket when nothing waits before it; else queued as ``message``."""
        raw = self._raw_now()
        if raw is not None:
            raw.write(wire)
        else:
            self.push(message)

    def deliver(self, event: EncodedEvent) -> None:
        if self.pending is not None:
            self.pending.append(event)
            return
        event = event.for_reader(self.sees_customers)
        raw = self._raw_now()
        if raw is not None:
            raw.write(event.wire(self.codec.binary))  # the event's one frame, straight to the socket
        else:
            self.push(event.message(self.codec.binary))

    def _raw_now(self) -> RawWriter | None:
        """The transport, when a frame written to it now goes out in order (nothing queued or in flight)."""
        raw = self.raw
        if raw is not None and self._writer is None and not self._closing and raw.ready():
            return raw
        return None

    async def _drain(self) -> None:
        """Finish the send that had to wait, then everything queued behind it, then go away."""
        try:
            if self._inflight is not None:
                coro, awaited = self._inflight
                self._inflight = None
                await _finish(coro, awaited)
            while self.outbox:
                await self._send(self.outbox.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-send: the reader side sees the disconnect
            self._closing = True
            self.outbox = None
        finally:
            if not self._closing:
                self._writer = None

    def close(self, code: int, reason: str = "") -> None:
        """Stop sending events now and close the socket with ``code``; abort it if that takes past ``close_timeout``."""
        if self._closing:
            return
        self._stop()
        self.close_code = code
        self._writer = asyncio.get_running_loop().create_task(self._send_close(code, reason))

    def lost(self) -> None:
        """The peer is gone (or closed first): send nothing more, and make sure the TCP connection ends too."""
        if not self._closing:
            self._stop()

    def _stop(self) -> None:
        self._closing = True
        self.outbox = None
        if self._inflight is not None:
            self._inflight[0].close()
            self._inflight = None
        if self._writer is not None:
            self._writer.cancel()
        if self._abort is not None:
            # Harmless once the connection is gone; the one way out for a peer that stopped reading.
            asyncio.get_running_loop().call_later(self.close_timeout, self._abort)

    async def _send_close(self, code: int, reason: str) -> None:
        message = {"type": "websocket.close", "code": code, "reason": reason}
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._send(message), self.close_timeout)

    async def flush_and_close(self, code: int, reason: str = "") -> None:
        """Send what is queued (an error frame, say) within ``close_timeout``, then close."""
        writer = self._writer
        if writer is not None and not self._closing:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(writer), self.close_timeout)
        self.close(code, reason)
        await self.finished()

    async def finished(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer

    async def shutdown(self) -> None:
        self._closing = True
        if self._writer is not None:
            self._writer.cancel()
        await self.finished()


async def _finish(coro: Coroutine[Any, Any, None], awaited: Any) -> None:
    """Drive a send coroutine that suspended outside any task, as its task would have.

    A coroutine suspends on an asyncio future (or on None, for a bare yield); once that
    future is done, resuming it with ``send(None)`` is exactly what a Task does.
    """
    try:
        while True:
            if awaited is not None:
                awaited._asyncio_future_blocking = False  # as Task.__step does before waiting on it
                with contextlib.suppress(Exception):  # its outcome is delivered to coro below
                    await awaited
            else:
                await asyncio.sleep(0)
            try:
                awaited = coro.send(None)
            except StopIteration:
                return
    finally:
        coro.close()
