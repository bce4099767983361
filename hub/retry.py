"""Retrying, written once: commits that lost an optimistic race, and loops that lost a server.

Both back off exponentially with full jitter (a random delay between zero and
the current cap), so writers that collided, or nodes that lost the same Redis,
spread out instead of colliding again in step. A commit gives up after a few
attempts with BUSY (the client retries with the same id, which is safe); a
background loop never gives up, it only waits longer, up to its ceiling.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fireflow.hub.domain.errors import DomainError
from fireflow.schema.protocol import ErrorCode

__all__ = ["COMMIT_ATTEMPTS", "Backoff", "until_committed"]

T = TypeVar("T")

COMMIT_ATTEMPTS = 12
COMMIT_PAUSE_CEILING = 0.1  # s: a burst on one restaurant's counters spreads out without long waits


class Backoff:
    """Delays for one retrying loop: ``await backoff.wait()`` after a failure, ``reset()`` after a success."""

    def __init__(self, first: float = 0.1, ceiling: float = 2.0) -> None:
        self.first = first
        self.ceiling = ceiling
        self.failures = 0

    def delay(self) -> float:
        cap = min(self.ceiling, self.first * 2**self.failures)
        return random.uniform(cap / 2, cap)  # half jitter: a lost server is not hammered at once

    def next(self) -> float:
        """The delay to wait after one more failure (counted): for a caller that says how long before waiting."""
        delay = self.delay()
        self.failures += 1
        return delay

    async def wait(self) -> None:
        await asyncio.sleep(self.next())

    def reset(self) -> None:
        self.failures = 0


async def until_committed(
    attempt: Callable[[], Awaitable[T | None]],
    *,
    busy: Callable[[], str],
    attempts: int = COMMIT_ATTEMPTS,
    first: float = 0.002,
) -> T:
    """Run ``attempt`` until it returns a result; ``None`` means it lost a race and should look again.

    Past ``attempts`` it raises BUSY with ``busy()`` as the message: the state kept
    changing under it, and the caller's retry with the same id is safe.
    """
    for n in range(attempts):
        result = await attempt()
        if result is not None:
            return result
        await asyncio.sleep(random.uniform(0, min(first * 2**n, COMMIT_PAUSE_CEILING)))
    raise DomainError(ErrorCode.BUSY, busy())
