"""uvicorn's sans-I/O WebSocket protocol, with less kept per idle socket.

An idle kitchen screen is most of a hub's sockets, and each costs memory for as long as a service lasts.
Measured with tracemalloc over 3000 idle sockets (`fireflow bench idle`), uvicorn's protocol kept per
socket: an ``asyncio.Queue`` for what the peer sent (four deques, about 3 KiB, for a queue that holds
one message at a time: uvicorn stops reading until the app takes it), an ``asyncio.Event`` for "the
transport can take more" (a deque, 760 B, though nothing waits on it unless a peer stops reading),
and the handshake's request and response with their headers (about 3.5 KiB) long after the handshake.

:class:`LeanWebSocketProtocol` keeps uvicorn's behaviour and replaces those three: a one-reader
:class:`ReceiveQueue` and a :class:`Writable` flag that make their waiters only when someone waits,
and the handshake dropped once the socket is accepted (the app has its scope; nothing reads them after).
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request, Response

__all__ = ["LeanWebSocketProtocol", "ReceiveQueue", "Writable"]

T = TypeVar("T")


class ReceiveQueue(Generic[T]):
    """What the peer sent, for the socket's one reader (the ASGI app's ``receive``), in order.

    The part of ``asyncio.Queue`` uvicorn's protocol uses: unbounded (uvicorn pauses reading after each
    message, so it holds one or two), one waiter at a time. A ``get`` cancelled after it was woken
    loses nothing: the message is taken from the list only when ``get`` returns it.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> T:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a WebSocket's messages have one reader; another is already waiting")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class Writable:
    """Whether the transport takes more bytes now (``asyncio.Event``'s ``is_set/set/clear/wait``).

    Cleared only while a peer does not read (the transport's buffer over its high-water mark), so
    its waiters are made then, not for every socket from the start.
    """

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's protocol with a :class:`ReceiveQueue`, a :class:`Writable` and no handshake kept."""

    # Not the base's types: what uvicorn's code calls on them is all they have (tests/test_ws_protocol.py).
    queue: ReceiveQueue[Any]  # type: ignore[assignment]
    writable: Writable  # type: ignore[assignment]
    request: Request | None  # type: ignore[assignment]
    response: Response | None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = ReceiveQueue()
        self.writable = Writable()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Read by uvicorn only to write the 101 answer, which is now sent.
            self.request = None
            self.response = None
