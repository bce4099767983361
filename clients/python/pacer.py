"""A token bucket for one socket's frames: a client stays under the hub's per-socket frame rate limit (100/s,
burst 200 by default; PROTOCOL.md "Limits") instead of finding it with refusals."""

from __future__ import annotations

import asyncio
import time

__all__ = ["Pacer"]


class Pacer:
    """``rate`` frames a second after a burst of ``burst``; none while held."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = time.monotonic()
        self.held_until = 0.0

    async def take(self) -> None:
        """Wait until one frame may go."""
        while True:
            now = time.monotonic()
            if now < self.held_until:
                await asyncio.sleep(self.held_until - now)
                continue
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)

    def hold(self, seconds: float) -> None:
        """No frame for ``seconds``, and no burst after: the hub refused one, its bucket is empty."""
        self.held_until = max(self.held_until, time.monotonic() + seconds)
        self.tokens, self.at = 0.0, self.held_until
