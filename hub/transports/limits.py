"""Per-device request limits for the HTTP API: a token bucket per device token, kept by each node.

An integration that loops too fast gets ``429`` with ``Retry-After`` instead of
slowing the hub for the screens. Buckets live in the node's memory (one dict
lookup per request, no Redis round trip), so a client spread over N nodes may
make N times the rate; the limit is there to stop runaway loops, not to bill.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

__all__ = ["Buckets"]


class Buckets:
    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic, keep: int = 10_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.keep = keep  # buckets remembered; full ones are forgotten first when there are more
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, when counted)

    def take(self, key: Hashable) -> float | None:
        """Take one request's token for ``key``: None when allowed, else the seconds until one is back."""
        now = self.clock()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > self.keep:
            self._forget_full(now)
        return None

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled: forgetting them changes nothing for their keys."""
        refill = self.burst / self.rate
        for key, (_, then) in list(self._buckets.items()):
            if now - then >= refill:
                del self._buckets[key]

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` in whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))
