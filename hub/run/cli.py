"""``fireflow``: serve, demo, migrate, token, bench.

With REDIS_URL / DATABASE_URL unset, serve and demo start embedded real
servers under ``--data-dir`` and stop them on exit (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from hub.run.config import Settings

__all__ = ["main"]

logger = logging.getLogger("fireflow")


def _secret(settings: Settings) -> str:
    """FIREFLOW_SECRET, or one kept in the data dir so tokens survive restarts."""
    if settings.secret:
        return settings.secret
    path = settings.data_dir / "secret"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


@contextlib.contextmanager
def real_servers(settings: Settings) -> Iterator[Settings]:
    """Embedded Redis and/or Postgres for whichever URL is unset."""
    from hub.run.embedded import EmbeddedServers

    need_redis, need_pg = not settings.redis_url, not settings.database_url
    if not (need_redis or need_pg):
        yield settings
        return
    with EmbeddedServers(settings.data_dir.resolve(), redis=need_redis, postgres=need_pg) as servers:
        yield settings.with_(
            redis_url=servers.redis.url if servers.redis else None,
            database_url=servers.postgres.url if servers.postgres else None,
        )


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings().with_(
        host=getattr(args, "host", None), port=getattr(args, "port", None), data_dir=getattr(args, "data_dir", None)
    )
    return settings.with_(secret=_secret(settings))


def _serve(settings: Settings, demo: bool) -> None:
    import uvicorn

    from hub.books.db import migrate
    from hub.run.app import create_app, uvicorn_config

    with real_servers(settings) as settings:
        if settings.database_url:
            asyncio.run(migrate(settings.database_url))
        if demo:
            _seed_demo(settings)
        app = create_app(settings)
        config = uvicorn_config(app, settings, log_level=os.environ.get("FIREFLOW_LOG_LEVEL", "info").lower())
        # uvicorn re-raises the signal that stopped it; make that a normal exit so the
        # embedded servers above are stopped cleanly instead of dying with us.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_quietly)
        uvicorn.Server(config).run()


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _seed_demo(settings: Settings) -> None:
    from redis.asyncio import Redis

    from hub.live.store import Store
    from hub.run.demo import DEMO_PIN, demo_tokens, seed_restaurant

    async def seed() -> None:
        redis = Redis.from_url(settings.redis_url or "")
        await seed_restaurant(Store(redis))
        await redis.aclose()

    asyncio.run(seed())
    base = f"http://{settings.host}:{settings.port}"
    print(f"\nFireflow demo restaurant 'demo' on {base}  (WebSocket: ws://{settings.host}:{settings.port}/ws)\n")
    for role, token in demo_tokens(settings.secret).items():
        print(f"  {role:<14} {token}")
    print(f"\n  manager-1's approval PIN (discounts over 10%, voids, refunds): {DEMO_PIN}")
    print(f"  screens: {base}/kds?token=<kitchen token>  {base}/expo  {base}/board  {base}/cashier  (?token=...)")
    print(
        "\nTry:\n"
        f"  curl -s -X POST {base}/api/v1/orders -H 'Authorization: Bearer <waiter token>' "
        '-d \'{"type":"TAKEAWAY"}\'\n'
        '  (then POST .../orders/<id>/items {"menu_item_id":"burger"} and .../orders/<id>/fire)\n',
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fireflow", description="Fireflow Hub")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "demo"):
        p = sub.add_parser(name, help="run the hub" + (" with the demo restaurant" if name == "demo" else ""))
        p.add_argument("--host")
        p.add_argument("--port", type=int)
        p.add_argument("--data-dir", type=Path)
    p = sub.add_parser("migrate", help="apply the Postgres migrations")
    p.add_argument("--data-dir", type=Path)
    sub.add_parser("durable", help="run only the durable writer (stream -> Postgres)")
    p = sub.add_parser("token", help="mint a signed device token")
    p.add_argument("--restaurant", required=True)
    p.add_argument("--role", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--stations", default="", help="comma-separated, for kitchen devices; * for all")
    p.add_argument("--ttl", type=float, default=30 * 86_400, help="seconds")
    p.add_argument("--data-dir", type=Path)
    p = sub.add_parser("bench", help="measure the hub (kitchen, broadcast, idle, settle)")
    p.add_argument("scenario", choices=["kitchen", "broadcast", "idle", "settle"])
    p.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("FIREFLOW_LOG_LEVEL", "INFO").upper(), format="%(levelname)s %(name)s: %(message)s"
    )

    if args.command in ("serve", "demo"):
        _serve(_settings(args), demo=args.command == "demo")
    elif args.command == "migrate":
        from hub.books.db import migrate

        with real_servers(_settings(args).with_(redis_url="unused")) as settings:
            asyncio.run(migrate(settings.database_url or ""))
        print("migrations applied")
    elif args.command == "durable":
        from hub.workers.durable import run_forever

        settings = Settings()
        if not (settings.redis_url and settings.database_url):
            parser.error("durable needs REDIS_URL and DATABASE_URL")
        asyncio.run(run_forever(settings))
    elif args.command == "token":
        from hub.transports.tokens import mint

        stations = [s for s in args.stations.split(",") if s]
        print(
            mint(
                _settings(args).secret,
                args.restaurant,
                args.role.upper(),
                device=args.device,
                stations=stations,
                ttl=args.ttl,
            )
        )
    elif args.command == "bench":
        from clients.bench import run

        code: int = run(args.scenario, args.rest)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
