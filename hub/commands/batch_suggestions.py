"""Suggested delivery batches for a restaurant's dispatchers, solved off the event loop.

The solver (``fireflow.hub.domain.batching``) spends up to its time limit of CPU on each call, so it
runs in a worker thread (OR-Tools releases the GIL while it searches), one call at a time per
restaurant, and its answer is kept while the waiting orders stay as they were: five dispatch screens
asking after the same change cost one solve.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fireflow.hub.domain import batching
from fireflow.hub.domain.errors import DomainError
from fireflow.hub.live.store import Store
from fireflow.schema.protocol import ErrorCode

__all__ = ["Suggestions"]

KEEP_S = 20.0  # an answer for unchanged waiting orders is reused this long (ETAs move with the clock)


class Suggestions:
    def __init__(self, *, time_limit_ms: int = 200, max_stops: int = 3) -> None:
        self.time_limit_ms = time_limit_ms
        self.max_stops = max_stops
        self._answers: dict[str, tuple[tuple[tuple[str, int], ...], float, dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def of(self, store: Store, rid: str) -> dict[str, Any]:
        """The suggestions for the ready delivery orders waiting for a rider, and those with no place."""
        restaurant = await store.restaurant(rid)
        if restaurant is None or restaurant.location is None:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                "the restaurant has no location: set it (setup.profile) to get suggested batches",
            )
        async with self._locks.setdefault(rid, asyncio.Lock()):
            now = int(time.time() * 1000)
            orders = await store.open_orders(rid)
            drops, unplaced = batching.drops_waiting(orders, now)
            by_id = {o.id: o for o in orders}
            versions = {o.id: o.version for o in orders}
            key = tuple((o.id, versions[o.id]) for o in [*(by_id[d.order_id] for d in drops), *unplaced])
            found = self._answers.get(rid)
            if found is not None and found[0] == key and time.monotonic() - found[1] < KEEP_S:
                return found[2]
            trips = await asyncio.to_thread(
                batching.suggest,
                restaurant.location,
                drops,
                now=now,
                max_stops=self.max_stops,
                time_limit_ms=self.time_limit_ms,
                tz=restaurant.timezone,
            )
            answer = {
                "at": now,
                "suggestions": [
                    {
                        "order_ids": list(t.order_ids),
                        "numbers": list(t.numbers),
                        "etas": list(t.etas),
                        "leaves_at": t.leaves_at,
                        "back_at": t.back_at,
                        "distance_m": t.distance_m,
                        "late": t.late,
                        "reason": t.reason,
                    }
                    for t in trips
                ],
                "unplaced": [o.id for o in unplaced],
            }
            self._answers[rid] = (key, time.monotonic(), answer)
            return answer
