"""The lean WebSocket protocol: its receive queue and writable flag alone (no servers), then a hub served by it.

Peers that stop reading (the writable flag cleared and waited on) are in tests/test_ws.py and tests/test_core.py.
"""

from __future__ import annotations

import asyncio

import pytest

from fireflow.hub.domain.actors import Role
from fireflow.hub.transports.ws import _SansIOWriter
from fireflow.hub.transports.ws_protocol import LeanWebSocketProtocol, ReceiveQueue, Writable
from tests.conftest import WAIT, RunningHub


async def test_the_queue_gives_messages_in_order_and_wakes_its_reader() -> None:
    queue: ReceiveQueue[int] = ReceiveQueue()
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert (queue.qsize(), queue.empty()) == (2, False)
    assert [await queue.get(), await queue.get()] == [1, 2] and queue.empty()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # the reader is waiting
    assert not reader.done()
    queue.put_nowait(3)
    assert await asyncio.wait_for(reader, WAIT) == 3 and queue.empty()


async def test_a_read_cancelled_after_it_was_woken_loses_nothing() -> None:
    """uvicorn's disconnect message put as the app's read is cancelled: the next read still has it."""
    queue: ReceiveQueue[str] = ReceiveQueue()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("disconnect")
    reader.cancel()  # woken, not yet run
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert await asyncio.wait_for(queue.get(), WAIT) == "disconnect"


async def test_a_second_reader_is_refused_and_the_first_still_reads() -> None:
    queue: ReceiveQueue[str] = ReceiveQueue()
    first = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await queue.get()
    queue.put_nowait("frame")
    assert await asyncio.wait_for(first, WAIT) == "frame"


async def test_writable_blocks_only_while_cleared_and_set_wakes_every_waiter() -> None:
    writable = Writable()
    assert writable.is_set() and await asyncio.wait_for(writable.wait(), WAIT)
    writable.clear()
    waiters = [asyncio.create_task(writable.wait()) for _ in range(3)]
    gives_up = asyncio.create_task(writable.wait())
    await asyncio.sleep(0)
    assert not any(w.done() for w in [*waiters, gives_up]) and not writable.is_set()
    gives_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gives_up
    writable.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), WAIT) == [True, True, True]
    writable.clear()
    writable.set()  # nobody waited: nothing to wake
    assert writable.is_set()


async def test_the_hub_serves_with_it_and_keeps_no_handshake(hub: RunningHub) -> None:
    """A socket accepted: its protocol is the lean one, the handshake is dropped, and it still carries frames."""
    waiter = await hub.client(Role.WAITER)
    (conn,) = list(hub.hub.connections)
    assert isinstance(conn.raw, _SansIOWriter)
    protocol = conn.raw._protocol
    assert isinstance(protocol, LeanWebSocketProtocol)
    assert (protocol.request, protocol.response) == (None, None)
    assert isinstance(protocol.queue, ReceiveQueue) and isinstance(protocol.writable, Writable)
    answer = await waiter.command("order.open", {"type": "TAKEAWAY"})
    assert answer["op"] == "ack" and answer["result"]["order"]["type"] == "TAKEAWAY"
