"""One socket's outgoing side: a bounded queue drained by its own writer task.

Fan-out only appends to the queue, so a slow socket never slows the others;
when the queue overflows the socket is dropped with 4008 and its memory freed,
and the client resumes from its last offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from hub.codec import Codec, EncodedEvent, Message
from hub.domain.actors import Actor
from schema.protocol import CloseCode

__all__ = ["Connection"]

logger = logging.getLogger(__name__)

Send = Callable[[Message], Awaitable[None]]


class Connection:
    __slots__ = (
        "_closing",
        "_send",
        "_waiter",
        "_writer",
        "actor",
        "channels",
        "close_code",
        "codec",
        "last_seen",
        "limit",
        "outbox",
        "pending",
        "syncing_channels",
    )

    def __init__(self, send: Send, codec: Codec, *, limit: int, now: float) -> None:
        self._send = send
        self.codec = codec
        self.limit = limit
        self.outbox: deque[Message] = deque()
        self.actor: Actor | None = None
        self.channels: set[str] = set()
        # While a subscribe is being answered, live events wait here (see FanOut.subscribe).
        self.pending: list[EncodedEvent] | None = None
        self.syncing_channels: frozenset[str] = frozenset()
        self.last_seen = now
        self.close_code: int | None = None
        self._closing = False
        self._waiter: asyncio.Future[None] | None = None
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    @property
    def open(self) -> bool:
        return not self._closing

    def push(self, message: Message) -> None:
        if self._closing:
            return
        if len(self.outbox) >= self.limit:
            self.close(CloseCode.SLOW_CONSUMER, "outgoing queue full; resume with since")
            return
        self.outbox.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def send_frame(self, frame: dict[str, Any]) -> None:
        self.push(self.codec.encode(frame))

    def deliver(self, event: EncodedEvent) -> None:
        if self.pending is not None:
            self.pending.append(event)
        else:
            self.push(event.message(self.codec.binary))

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        outbox = self.outbox
        send = self._send
        try:
            while True:
                if not outbox:
                    self._waiter = loop.create_future()
                    await self._waiter
                    self._waiter = None
                    continue
                await send(outbox.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-send: the reader side sees the disconnect
            self._closing = True
            outbox.clear()

    def close(self, code: int, reason: str = "") -> None:
        """Stop sending events now and close the socket with ``code`` when the transport allows."""
        if self._closing:
            return
        self._closing = True
        self.close_code = code
        self.outbox.clear()
        self._writer.cancel()
        self._writer = asyncio.get_running_loop().create_task(self._send_close(code, reason))

    async def _send_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._send({"type": "websocket.close", "code": code, "reason": reason}), 5)

    async def flush_and_close(self, code: int, reason: str = "", timeout: float = 2.0) -> None:
        """Send what is queued (an error frame, say), then close."""
        if not self._closing:
            deadline = asyncio.get_running_loop().time() + timeout
            while self.outbox and asyncio.get_running_loop().time() < deadline and not self._writer.done():
                await asyncio.sleep(0.005)
        self.close(code, reason)
        await self.finished()

    async def finished(self) -> None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer

    async def shutdown(self) -> None:
        self._closing = True
        self._writer.cancel()
        await self.finished()
