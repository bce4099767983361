"""Reads asked for together, made once: the snapshots of a reconnecting crowd.

When a node restarts, or a restaurant's network comes back, every screen subscribes again within a second.
Each snapshot read returns the restaurant's whole open state (megabytes for a busy one), and two hundred
copies of it, read, built and encoded one by one, held every other command on the node for seconds (an
outside check: 200 sockets subscribing to `orders` over 1,250 open orders held a waiter's commands 20 s).

A read that starts must see everything its askers will not get as events: each asker joined its feed before
asking, so a read already under way may predate an asker's join, and must not be shared with it. So an
asker never joins a running read: it joins the next one, which starts when the running one ends and serves
every asker that came meanwhile. At most two reads of one key exist at a time, however many ask.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Together"]

T = TypeVar("T")


class Together(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[T]] = {}
        self._next: dict[Hashable, asyncio.Future[T]] = {}
        self.reads = 0  # made (a test counts them)

    async def read(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """``read()``'s result, shared with the others asking for ``key`` whose read has not started yet.

        The read runs in a task of its own: an asker that goes away (its socket closed) cancels only its wait."""
        task = self._next.get(key)
        if task is None:
            running = self._running.get(key)
            task = asyncio.ensure_future(self._after(key, running, read))
            task.add_done_callback(_retrieved)
            if running is None:
                self._running[key] = task
            else:
                self._next[key] = task
        return await asyncio.shield(task)

    async def _after(self, key: Hashable, running: asyncio.Future[T] | None, read: Callable[[], Awaitable[T]]) -> T:
        me = asyncio.current_task()
        assert me is not None  # a task of its own (``read``)
        if running is not None:
            await asyncio.wait({running})  # its outcome is its askers'
            if self._next.get(key) is me:
                del self._next[key]
            self._running[key] = me
        try:
            self.reads += 1
            return await read()
        finally:
            if self._running.get(key) is me:
                del self._running[key]


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A read whose askers all went away: its failure is theirs to hear, and nobody's to log."""
    if not task.cancelled():
        task.exception()
