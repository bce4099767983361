"""A socket's outgoing side against a server send that, like uvicorn's, waits while the transport is paused."""

from __future__ import annotations

import asyncio
from typing import Any

from fireflow.hub.live.codec import JsonCodec
from fireflow.hub.live.connection import Connection
from tests.conftest import WAIT


class PausableSend:
    """An ASGI send that completes at once while writable and waits otherwise (uvicorn's sansio behaviour)."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.sent: list[Any] = []
        self.progress = asyncio.Event()

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        self.sent.append(message.get("text", message.get("code")))
        self.progress.set()

    async def until(self, count: int) -> None:
        while len(self.sent) < count:
            self.progress.clear()
            await asyncio.wait_for(self.progress.wait(), WAIT)


def _msg(n: int) -> dict[str, Any]:
    return {"type": "websocket.send", "text": str(n)}


async def test_writes_happen_inline_while_the_transport_takes_them() -> None:
    """With nothing queued, a push is written before push returns: no task switch per recipient."""
    send = PausableSend()
    conn = Connection(send, JsonCodec(), limit=8, now=0)
    for n in range(3):
        conn.push(_msg(n))
    assert send.sent == ["0", "1", "2"]
    await conn.shutdown()


async def test_a_paused_transport_queues_in_order_and_resumes() -> None:
    """A send that must wait is finished by the writer; later frames queue behind it and go out in order."""
    send = PausableSend()
    conn = Connection(send, JsonCodec(), limit=8, now=0)
    conn.push(_msg(0))
    send.writable.clear()
    for n in range(1, 5):
        conn.push(_msg(n))
    await asyncio.sleep(0)
    assert send.sent == ["0"]
    send.writable.set()
    await send.until(5)
    assert send.sent == ["0", "1", "2", "3", "4"]
    await conn.finished()  # the writer ends once drained
    conn.push(_msg(5))  # back on the inline path
    assert send.sent[-1] == "5"
    await conn.shutdown()


async def test_overflow_while_paused_drops_the_socket_with_4008() -> None:
    """More frames than the limit behind a paused transport: the queue is freed and the socket closed 4008."""
    send = PausableSend()
    conn = Connection(send, JsonCodec(), limit=4, now=0)
    send.writable.clear()
    for n in range(10):
        conn.push(_msg(n))
    assert conn.close_code == 4008 and not conn.outbox and not conn.open
    send.writable.set()
    await send.until(1)
    await conn.finished()
    assert send.sent == [4008]  # the in-flight frame was abandoned, the close went out


async def test_a_close_stuck_behind_a_paused_transport_is_aborted_after_the_close_timeout() -> None:
    """A peer that never reads lets no close frame out: close_timeout after the close began the transport is aborted."""
    send = PausableSend()
    aborted = asyncio.Event()
    conn = Connection(send, JsonCodec(), limit=4, now=0, abort=aborted.set, close_timeout=0.05)
    send.writable.clear()
    for n in range(10):
        conn.push(_msg(n))
    assert conn.close_code == 4008
    await asyncio.wait_for(aborted.wait(), WAIT)
    await asyncio.wait_for(conn.finished(), WAIT)  # the close frame's send gave up as well
    assert send.sent == []


async def test_a_lost_peer_gets_no_close_frame_and_its_transport_is_aborted_if_it_lingers() -> None:
    """When the peer is gone first nothing more is sent, and the transport is aborted after close_timeout all the same."""
    send = PausableSend()
    aborted = asyncio.Event()
    conn = Connection(send, JsonCodec(), limit=4, now=0, abort=aborted.set, close_timeout=0.05)
    conn.lost()
    conn.push(_msg(1))
    assert not conn.open and conn.close_code is None
    await asyncio.wait_for(aborted.wait(), WAIT)
    await conn.finished()
    assert send.sent == []
