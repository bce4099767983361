"""Settings, from environment variables (``FIREFLOW_*``, ``REDIS_URL``, ``DATABASE_URL``) and flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings"]


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = field(default_factory=lambda: os.environ.get("REDIS_URL") or None)
    database_url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL") or None)
    data_dir: Path = field(default_factory=lambda: Path(_env("FIREFLOW_DATA_DIR", ".fireflow")))
    secret: str = field(default_factory=lambda: _env("FIREFLOW_SECRET", ""))
    host: str = field(default_factory=lambda: _env("FIREFLOW_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", _env("FIREFLOW_PORT", "8000"))))
    history: int = field(default_factory=lambda: int(_env("FIREFLOW_HISTORY", "10000")))
    queue_limit: int = field(default_factory=lambda: int(_env("FIREFLOW_QUEUE_LIMIT", "1024")))
    max_frame: int = field(default_factory=lambda: int(_env("FIREFLOW_MAX_FRAME", "65536")))
    auth_timeout: float = field(default_factory=lambda: float(_env("FIREFLOW_AUTH_TIMEOUT", "5")))
    heartbeat: float = field(default_factory=lambda: float(_env("FIREFLOW_HEARTBEAT", "15")))
    rate: float = field(default_factory=lambda: float(_env("FIREFLOW_RATE", "100")))
    burst: float = field(default_factory=lambda: float(_env("FIREFLOW_BURST", "200")))
    replay_limit: int = field(default_factory=lambda: int(_env("FIREFLOW_REPLAY_LIMIT", "5000")))
    compression: bool = field(default_factory=lambda: _env("FIREFLOW_WS_COMPRESSION", "0") == "1")
    # Where the durable writer runs: "process" (a child of this node, so its batches never stall
    # the sockets), "inline" (in this node's event loop), or "off" (another node or `fireflow durable`).
    durable: str = field(default_factory=lambda: _env("FIREFLOW_DURABLE", "process"))
    freeze_gc: bool = True  # after start-up; tests running many hubs in one process turn it off
    redis_pool: int = field(default_factory=lambda: int(_env("FIREFLOW_REDIS_POOL", "64")))
    durable_batch: int = field(default_factory=lambda: int(_env("FIREFLOW_DURABLE_BATCH", "500")))
    # A station's screens count as live this long after their node last said so (it says so every third).
    presence_ttl: float = field(default_factory=lambda: float(_env("FIREFLOW_PRESENCE_TTL", "15")))
    due_tick: float = field(default_factory=lambda: float(_env("FIREFLOW_DUE_TICK", "0.5")))

    @property
    def durable_mode(self) -> str:
        mode = self.durable.strip().lower()
        return {"0": "off", "false": "off", "no": "off", "1": "process", "true": "process"}.get(mode, mode)

    def with_(self, **changes: Any) -> Settings:
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in changes.items() if k in known and v is not None})
