"""What every scenario runs against: real Redis and Postgres, seeded restaurants, tokens, a scratch directory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from fireflow.clients.bench.report import say
from fireflow.hub.run.embedded import EmbeddedServers

__all__ = ["Env", "environment"]


@dataclass
class Env:
    """Real servers, seeded restaurants, the secret, and the directory for logs and generator files."""

    args: argparse.Namespace
    directory: Path
    redis_url: str
    database_url: str
    secret: str
    prefix: str
    extras: list[psutil.Process] = field(default_factory=list)  # embedded Redis and Postgres, for their CPU

    def rid(self, n: int) -> str:
        return f"{self.prefix}{n}"

    def token(self, rid: str, role: str, device: str, stations: tuple[str, ...] = ()) -> str:
        from fireflow.hub.transports.tokens import mint

        return mint(self.secret, rid, role, device=device, stations=stations, ttl=86_400)

    async def seed(self, count: int, tables: int = 12) -> None:
        from fireflow.hub.live.redis_client import redis_client
        from fireflow.hub.live.store import Store
        from fireflow.hub.run.demo import demo_kitchen, seed_restaurant

        # The generator's screens do not acknowledge tickets: give them longer than a run, so that
        # unacknowledged-ticket alerts do not join the load being measured.
        kitchen = demo_kitchen().model_copy(update={"ack_timeout_s": 86_400})
        redis = redis_client(self.redis_url)  # one Redis or a cluster (redis+cluster://)
        try:
            store = Store(redis)
            for start in range(0, count, 50):
                await asyncio.gather(
                    *(
                        seed_restaurant(
                            store, self.rid(n), f"Bench {n}", tables=tables, kitchen=kitchen, manager_pin=None
                        )
                        for n in range(start, min(count, start + 50))
                    )
                )
        finally:
            await redis.aclose()


@contextlib.contextmanager
def environment(args: argparse.Namespace) -> Iterator[Env]:
    """Embedded Redis and Postgres in a temporary directory, unless REDIS_URL / DATABASE_URL are set."""
    directory = Path(tempfile.mkdtemp(prefix="fireflow-bench-"))
    redis_url, database_url = os.environ.get("REDIS_URL") or "", os.environ.get("DATABASE_URL") or ""
    servers = None
    try:
        extras: list[psutil.Process] = []
        if not (redis_url and database_url):
            say("starting embedded Redis/Postgres")
            servers = EmbeddedServers(directory / "servers", redis=not redis_url, postgres=not database_url)
            servers.start()
            if servers.redis is not None:
                redis_url = servers.redis.url
            if servers.postgres is not None:
                database_url = servers.postgres.url
            extras = [psutil.Process(s.pid) for s in (servers.redis, servers.postgres) if s is not None and s.pid]
        secret = os.environ.get("FIREFLOW_SECRET") or secrets.token_urlsafe(24)
        prefix = f"bench{secrets.token_hex(3)}r"
        yield Env(args, directory, redis_url, database_url, secret, prefix, extras)
    finally:
        if servers is not None:
            with contextlib.suppress(Exception):
                servers.stop()
        shutil.rmtree(directory, ignore_errors=True)
