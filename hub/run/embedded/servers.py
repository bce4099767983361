"""Both embedded servers under one data directory, as ``fireflow serve`` and the tests use them."""

from __future__ import annotations

import contextlib
from pathlib import Path

from fireflow.hub.run.embedded.postgres import EmbeddedPostgres
from fireflow.hub.run.embedded.redis import EmbeddedRedis

__all__ = ["EmbeddedServers"]


class EmbeddedServers:
    """Start Redis and PostgreSQL under one data directory, stop them on exit."""

    def __init__(
        self, data_dir: Path, *, redis: bool = True, postgres: bool = True, redis_fsync: str = "everysec"
    ) -> None:
        self.data_dir = Path(data_dir)
        self.redis: EmbeddedRedis | None = EmbeddedRedis(self.data_dir, appendfsync=redis_fsync) if redis else None
        self.postgres: EmbeddedPostgres | None = EmbeddedPostgres(self.data_dir) if postgres else None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.redis is not None:
                self.redis.start()
            if self.postgres is not None:
                self.postgres.start()
        except BaseException:
            with contextlib.suppress(Exception):  # keep the original error visible
                self.stop()
            raise

    def stop(self) -> None:
        """Stop both even if one fails; the first error is raised afterwards."""
        errors: list[BaseException] = []
        for server in (self.postgres, self.redis):
            if server is not None:
                try:
                    server.stop()
                except Exception as exc:
                    errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> EmbeddedServers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
