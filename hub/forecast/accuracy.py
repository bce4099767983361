"""How good the predicted ready times have been, per station, next to the naive guess (``hub/workers/predictions.py``).

Each scored prediction is kept as ``[error, naive error, at]`` (seconds, signed: actual less
predicted), then the predicted and the actual wait from fire to ready (seconds; scored since the
dashboard, ``hub/forecast/dashboard.py``, drew them); these figures are what the manager reads. The mean absolute error and the 90th
percentile of the absolute error say how far off a waiter's promise would be; the bias says which way.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from fireflow.hub.live.keys import Keys

__all__ = ["prediction_accuracy", "scored", "summary"]


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def summary(station: str, entries: list[list[float]]) -> dict[str, Any]:
    """One station's scored predictions summed up (None for figures of no predictions)."""
    errors = [abs(e[0]) for e in entries]
    naive = [abs(e[1]) for e in entries]
    found: dict[str, Any] = {"station": station, "scored": len(entries)}
    if not entries:
        return found | dict.fromkeys(("mae_s", "p90_s", "bias_s", "naive_mae_s", "naive_p90_s", "since"))
    return found | {
        "mae_s": round(statistics.fmean(errors), 1),
        "p90_s": round(_p90(errors), 1),
        "bias_s": round(statistics.fmean(e[0] for e in entries), 1),
        "naive_mae_s": round(statistics.fmean(naive), 1),
        "naive_p90_s": round(_p90(naive), 1),
        "since": datetime.fromtimestamp(min(e[2] for e in entries) / 1000, UTC).isoformat(),
    }


async def scored(redis: Redis, rid: str) -> dict[str, list[list[float]]]:
    """Every station's latest scored predictions (newest first), by station id in order: one round trip."""
    keys = Keys(rid)
    stations = sorted(
        s.decode() if isinstance(s, bytes) else str(s) for s in await redis.smembers(keys.prediction_stations)
    )
    if not stations:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for station in stations:
            pipe.lrange(keys.prediction_errors(station), 0, -1)
        lists: list[list[bytes]] = await pipe.execute()
    return {station: [orjson.loads(raw) for raw in raw_list] for station, raw_list in zip(stations, lists, strict=True)}


async def prediction_accuracy(redis: Redis, rid: str) -> list[dict[str, Any]]:
    """Every station's figures over its latest scored predictions, by station id."""
    return [summary(station, entries) for station, entries in (await scored(redis, rid)).items()]
