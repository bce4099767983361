"""``fireflow``: serve, demo, migrate, events, durable, token, restaurant, print-agent, bench.

With REDIS_URL / DATABASE_URL unset, serve and demo start embedded real
servers under ``--data-dir`` and stop them on exit (Ctrl-C or SIGTERM).

Whatever stops a command before it runs (bad settings, a busy port, an
unreachable server, an unknown restaurant) is one line on stderr, never a
traceback: exit code 2 for what the user must change in the command or its
environment, 1 for a server that cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from fireflow.hub.domain.actors import Role
from fireflow.hub.logs import configure as configure_logging
from fireflow.hub.run.config import Settings, SettingsError, address
from fireflow.hub.run.cpu_profile import profile_process
from fireflow.schema.setup import MENU_COLUMNS

if TYPE_CHECKING:
    from fireflow.hub.run.demo_printers import DemoPrinters

__all__ = ["build_parser", "main"]

logger = logging.getLogger("fireflow")

USAGE = 2  # the command or its environment must change
UNREACHABLE = 1  # a server is down or refuses us
CONNECT_TIMEOUT = 5.0
PRINT_TOKEN_ENV = "FIREFLOW_PRINT_TOKEN"
PRINTER_CONNECT_TIMEOUT, PRINTER_WRITE_TIMEOUT = 3.0, 5.0  # print-agent's; the agent's own defaults (tested)
PRINTER_STATUS_EVERY = 10.0  # print-agent's; the agent's own default (tested)
TOKEN_TTL = 30 * 86_400


class Stop(Exception):
    """Ends a command with one line on stderr and an exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not the usage block: what is wrong and where to read more."""
        self.exit(USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


# -- secret, servers, checks -------------------------------------------------


def _secret(settings: Settings, *, create: bool) -> str:
    """FIREFLOW_SECRET, else ``<data-dir>/secret`` (made by the first node to start, if ``create``)."""
    if settings.secret:
        return settings.secret
    path = settings.data_dir.absolute() / "secret"
    if create and not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Created with its final mode, and only once when several nodes start together.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        secret = ""
    if not secret:
        raise Stop(
            f"no secret: FIREFLOW_SECRET is unset and {path} does not exist or is empty; "
            "point --data-dir (or FIREFLOW_DATA_DIR) at the hub's data directory, or set FIREFLOW_SECRET"
        )
    return secret


@contextlib.contextmanager
def real_servers(settings: Settings, *, announce: bool = True) -> Iterator[Settings]:
    """Embedded Redis and/or Postgres for whichever URL is unset."""
    from fireflow.hub.run.embedded import EmbeddedServers
    from fireflow.hub.run.embedded.process import DataInUse

    need_redis, need_pg = not settings.redis_url, not settings.database_url
    if not (need_redis or need_pg):
        yield settings
        return
    data_dir = settings.data_dir.absolute()
    if announce:
        unset = [name for name, needed in (("REDIS_URL", need_redis), ("DATABASE_URL", need_pg)) if needed]
        servers = [name for name, needed in (("Redis", need_redis), ("PostgreSQL", need_pg)) if needed]
        dirs = [str(data_dir / sub) for sub, needed in (("redis", need_redis), ("postgres", need_pg)) if needed]
        print(
            f"fireflow: {' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set, so this node runs "
            f"embedded {' and '.join(servers)} (data in {', '.join(dirs)}); set {' and '.join(unset)} "
            "to use your own servers",
            file=sys.stderr,
            flush=True,
        )
    embedded = EmbeddedServers(data_dir, redis=need_redis, postgres=need_pg, redis_fsync=settings.redis_fsync)
    try:
        embedded.start()
    except DataInUse as exc:
        raise Stop(
            f"{exc}: a hub (or another fireflow command) is running on this data directory; stop it first, or "
            "give this one another FIREFLOW_DATA_DIR, or your own servers with REDIS_URL and DATABASE_URL"
        ) from None
    try:
        yield settings.with_(
            redis_url=embedded.redis.url if embedded.redis else None,
            database_url=embedded.postgres.url if embedded.postgres else None,
        )
    finally:
        embedded.stop()


def _reason(exc: BaseException) -> str:
    """The cause in a few words: the driver's message, without SQLAlchemy's wrapping."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return text[:200]


async def _cluster_enabled(url: str) -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
    try:
        return bool((await client.info("cluster")).get("cluster_enabled") == 1)
    finally:
        await client.aclose()


async def _check_redis(url: str) -> None:
    from fireflow.hub.live.redis_client import cluster_seeds, is_cluster_url, plain_url

    seeds = cluster_seeds(url) if is_cluster_url(url) else [plain_url(url)]
    for n, seed in enumerate(seeds, 1):  # a cluster URL's nodes in turn: the first that answers will do
        try:
            cluster = await _cluster_enabled(seed)
        except Exception as exc:
            if n < len(seeds):
                continue
            at = address(seed) if n == 1 else f"any of {', '.join(address(s) for s in seeds)}"
            raise Stop(f"cannot reach Redis at {at} (REDIS_URL): {_reason(exc)}", UNREACHABLE) from None
        if cluster and not is_cluster_url(url):
            raise Stop(
                f"Redis at {address(seed)} is a node of a Redis Cluster: write REDIS_URL=redis+cluster://host:port"
            )
        if is_cluster_url(url) and not cluster:
            raise Stop(f"Redis at {address(seed)} is not in cluster mode: write REDIS_URL=redis://host:port/db")
        return


async def _check_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT})
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise Stop(f"cannot reach PostgreSQL at {address(url)} (DATABASE_URL): {_reason(exc)}", UNREACHABLE) from None
    finally:
        await engine.dispose()


def check_reachable(settings: Settings, *, redis: bool = True, postgres: bool = True) -> None:
    """Fail with one line naming the variable and the address when a configured server does not answer."""

    async def check() -> None:
        if redis and settings.redis_url:
            await _check_redis(settings.redis_url)
        if postgres and settings.database_url:
            await _check_postgres(settings.database_url)

    asyncio.run(check())


def check_port_free(host: str, port: int) -> None:
    """Refuse a port we could not listen on, before anything is printed or started."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise Stop(f"cannot listen on {host}: {exc.strerror or exc} (--host / FIREFLOW_HOST)") from None
    family, kind, proto, _name, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a TIME_WAIT port is free
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            raise Stop(
                f"port {port} on {host} is not free ({exc.strerror or exc}); pick another with --port or PORT"
            ) from None


# -- commands --------------------------------------------------------------------


def _serve(
    settings: Settings,
    demo: bool,
    simulate: argparse.Namespace | None = None,
    *,
    cluster: bool = False,
    data_dir_given: bool = False,
) -> int:
    """``cluster``: ``fireflow demo --redis-cluster``, on a Redis Cluster of its own (``hub/run/demo_cluster.py``)."""
    check_port_free(settings.host, settings.port)
    with contextlib.ExitStack() as servers:
        if cluster:
            settings = servers.enter_context(_on_a_cluster(settings, data_dir_given))
        check_reachable(settings)  # the configured servers, before starting any embedded one
        settings = settings.with_(secret=_secret(settings, create=True))
        settings = servers.enter_context(real_servers(settings, announce=not cluster))
        return _serve_on(settings, demo, simulate)


@contextlib.contextmanager
def _on_a_cluster(settings: Settings, data_dir_given: bool) -> Iterator[Settings]:
    from fireflow.hub.run.demo_cluster import ClusterRefused, demo_cluster

    try:
        with demo_cluster(settings, data_dir_given=data_dir_given) as on_cluster:
            yield on_cluster
    except ClusterRefused as exc:
        raise Stop(str(exc)) from None


def _serve_on(settings: Settings, demo: bool, simulate: argparse.Namespace | None) -> int:
    import uvicorn

    from fireflow.hub.run.app import create_app, uvicorn_config

    with contextlib.ExitStack() as cleanup:
        profile = profile_process(settings.cpu_profile, "node")
        if profile is not None:
            cleanup.callback(profile.stop)
        if settings.database_url:
            _run_migrations(settings.database_url)
        printers = None
        erpnext = None
        if demo:
            printers = _seed_demo(settings)
            cleanup.callback(printers.release)  # their ports, if the server never starts them
            if not settings.erpnext_url:
                from fireflow.hub.run.demo_erpnext import DemoErpNext

                erpnext = DemoErpNext.reserve()
                settings = erpnext.configure(settings)
                print(
                    f"ERPNext: an emulator in this process at {erpnext.url} takes each settled invoice as a Sales "
                    f"Invoice.\n  See what it holds: {erpnext.url}/_emulator/docs  (ERPNEXT_URL points at yours)",
                    flush=True,
                )
        app = create_app(settings)
        config = uvicorn_config(app, settings, log_level=settings.log_level)
        # uvicorn re-raises the signal that stopped it; make that a normal exit so the
        # embedded servers above are stopped cleanly instead of dying with us.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_quietly)
        if printers is not None and (printers.printers or simulate is not None or erpnext is not None):
            from fireflow.hub.run.demo_printers import demo_server

            hub_url = f"http://{_browser_host(settings.host)}:{settings.port}"
            companion = _simulation(settings, hub_url, simulate) if simulate is not None else None
            emulated = printers if printers.printers else None
            server: uvicorn.Server = demo_server(
                app, config, emulated, hub_url, settings.secret, companion=companion, erpnext=erpnext
            )
        else:
            server = uvicorn.Server(config)
        server.run()
    return 0


def _simulation(settings: Settings, hub_url: str, options: argparse.Namespace) -> Callable[[], Awaitable[None]]:
    """``fireflow demo --simulate``: a day part of the demo restaurant played by simulated staff, once the hub is up."""
    from fireflow.clients.simulator import DAY_PARTS, DEMO_KITCHEN, Simulation, plan_service, staffed_for
    from fireflow.clients.simulator.service import menu_of
    from fireflow.hub.domain.actors import Role
    from fireflow.hub.run.demo import DEMO_ID
    from fireflow.hub.transports.tokens import mint

    def token(role: str, device: str, stations: tuple[str, ...]) -> str:
        return mint(settings.secret, DEMO_ID, Role(role), device=device, stations=stations)

    async def run() -> None:
        ws_url = hub_url.replace("http", "ws", 1) + "/ws"
        menu = await menu_of(ws_url, token("WAITER", "sim-host", ()))
        part = DAY_PARTS[options.day_part]
        plan = plan_service(menu, orders=options.orders, part=part, seed=options.seed)
        lasts = part.seconds / options.speed
        print(
            f"\nSimulating {part.name} ({options.orders} orders, {_clock(part.opens)} to {_clock(part.closes)}) at "
            f"{options.speed:g}x: about {lasts / 60:.0f} min {lasts % 60:.0f} s. Open the screens to watch it.",
            flush=True,
        )
        kitchen = staffed_for(DEMO_KITCHEN, plan, menu)
        report = await Simulation(ws_url, token, plan, kitchen, speed=options.speed).run()
        print("\n".join(report.summary()), flush=True)

    return run


def _clock(hour: float) -> str:
    return f"{int(hour):02d}:{round(hour % 1 * 60):02d}"


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _browser_host(host: str) -> str:
    """Where a browser on this machine reaches a hub listening on ``host``."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def demo_links(base: str, tokens: dict[str, str]) -> list[tuple[str, str]]:
    """(screen, URL) for every screen of the demo, each carrying its device's token."""
    links = [
        (f"kitchen {name.partition(':')[2]}", f"{base}/kds?token={token}")
        for name, token in tokens.items()
        if name.startswith("kitchen:")
    ]
    links += [
        ("expo", f"{base}/expo?token={tokens['expo']}"),
        ("board", f"{base}/board?token={tokens['board']}"),
        ("cashier", f"{base}/cashier?token={tokens['cashier']}"),
        ("waiter (pos)", f"{base}/pos?token={tokens['waiter']}"),
        ("counter (pos)", f"{base}/pos?token={tokens['cashier']}"),
        ("back office", f"{base}/manager?token={tokens['manager']}"),
        ("dispatch", f"{base}/dispatch?token={tokens['dispatcher']}"),
        ("rider", f"{base}/rider?token={tokens['rider']}"),
        ("Z-report", f"{base}/api/v1/reports/z.html?token={tokens['manager']}"),
    ]
    return links


def _seed_demo(settings: Settings) -> DemoPrinters:
    from fireflow.hub.commands.pins import Pins
    from fireflow.hub.live.redis_client import redis_client
    from fireflow.hub.live.store import Store
    from fireflow.hub.run.demo import DEMO_FILE, DEMO_PIN, demo_tokens
    from fireflow.hub.run.demo_printers import FIRST_PORT, DemoPrinters

    printers = DemoPrinters.reserve()

    async def seed() -> bool:
        """The demo's setup file with its printers, imported as any restaurant's is, the first time only: a
        restart keeps what the back office changed since (menu, staff, PINs) and the open orders, and
        only moves the emulated printers to this run's ports."""
        redis = redis_client(settings.redis_url or "")
        try:
            return await printers.set_up(Store(redis), Pins(redis, cost=settings.pin_hash))
        finally:
            await redis.aclose()

    try:
        created = asyncio.run(seed())
    except BaseException:
        printers.release()
        raise
    host = _browser_host(settings.host)
    base = f"http://{host}:{settings.port}"
    tokens = demo_tokens(settings.secret)
    lines = [f"\nFireflow demo restaurant 'demo' on {base}  (WebSocket: ws://{host}:{settings.port}/ws)"]
    if not created:
        lines.append(f"  (kept as it was left; to start it afresh: fireflow restaurant import {DEMO_FILE})")
    lines.append("")
    lines.append("Open the screens (each link carries its device's token):")
    lines += [f"  {screen:<14} {url}" for screen, url in demo_links(base, tokens)]
    if printers.printers:
        last = FIRST_PORT + len(printers.printers) - 1
        ports = (
            f"ports {FIRST_PORT}-{last}" if printers.fixed_ports else f"ports from {FIRST_PORT}, a free one where taken"
        )
        lines.append(
            f"\nPrinters: ESC/POS emulators in this process on {printers.host}, {ports}; a print agent here prints"
            f" on them.\n  See what they printed: {base}/printers"
        )
        lines += [f"  {p.id:<14} {f'{printers.host}:{p.port}':<16} {p.serves}" for p in printers.printers.values()]
    else:
        lines.append(
            "\nNo emulated printers: the restaurant's printers are not the demo's ones on this machine any more."
        )
    lines.append("\nDevice tokens, for the API and the SDK (Authorization: Bearer <token>):")
    lines += [f"  {role:<14} {token}" for role, token in tokens.items()]
    lines.append(
        f"\n  manager-1's approval PIN as the demo file sets it (discounts over 10%, voids, refunds): {DEMO_PIN}"
    )
    lines.append(
        "\nTry:\n"
        f"  curl -s -X POST {base}/api/v1/orders -H 'Authorization: Bearer <waiter token>' "
        '-d \'{"type":"TAKEAWAY"}\'\n'
        '  (then POST .../orders/<id>/items {"menu_item_id":"burger"} and .../orders/<id>/fire)\n'
        + (
            "  the grill's screen shows the burger, and its printer prints it: see /printers\n"
            if printers.printers
            else ""
        )
    )
    print("\n".join(lines), flush=True)
    return printers


def _run_migrations(database_url: str) -> None:
    from fireflow.hub.books.db import MigrationLocked, migrate

    try:
        asyncio.run(migrate(database_url))
    except MigrationLocked as exc:
        raise Stop(str(exc), UNREACHABLE) from None


def _migrate(settings: Settings) -> int:
    check_reachable(settings, redis=False)
    with real_servers(settings.with_(redis_url="redis://unused")) as ready:
        _run_migrations(ready.database_url or "")
    print("migrations applied")
    return 0


def _events(settings: Settings, args: argparse.Namespace) -> int:
    """``fireflow events prune --before YYYY-MM-DD``: drop the events table's months wholly before that day's."""
    from fireflow.hub.books import partitions
    from fireflow.hub.books.db import create_engine

    try:
        before = date.fromisoformat(args.before)
    except ValueError:
        raise Stop(f"--before must be a day as YYYY-MM-DD, not {args.before!r}") from None
    check_reachable(settings, redis=False)

    async def prune(url: str) -> list[str]:
        engine = create_engine(url)
        try:
            return await partitions.prune(engine, before)
        finally:
            await engine.dispose()

    with real_servers(settings.with_(redis_url="redis://unused")) as ready:
        dropped = asyncio.run(prune(ready.database_url or ""))
    print(f"dropped {len(dropped)} month(s) of events: {', '.join(dropped) or 'none'}")
    return 0


def _durable(settings: Settings, *, predictions: bool) -> int:
    if not (settings.redis_url and settings.database_url):
        raise Stop("durable needs REDIS_URL and DATABASE_URL: the servers of the nodes it writes for")
    return _background(settings, writing=True, predictions=predictions)


def _predictor(settings: Settings) -> int:
    if not settings.redis_url:
        raise Stop("predictor needs REDIS_URL: the server of the nodes it predicts for")
    if not settings.predictions:
        raise Stop("predictions are off (FIREFLOW_PREDICTIONS=false): the predictor has nothing to do")
    return _background(settings, writing=False, predictions=True)


def _background(settings: Settings, *, writing: bool, predictions: bool) -> int:
    """``fireflow durable`` and ``fireflow predictor``: a node's background work in a process of its own."""
    from fireflow.hub.workers.background import run_forever

    check_reachable(settings)
    profile = profile_process(settings.cpu_profile, "background")

    def running() -> Coroutine[Any, Any, None]:
        return run_forever(settings, writing=writing, predictions=predictions)

    try:
        # On uvloop where it is installed, as the node's own loop is (uvicorn's choice): its loop and transports
        # spent a fifth of the writer's CPU on asyncio's in ``bench kitchen``.
        try:
            import uvloop
        except ImportError:
            asyncio.run(running())
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(running())
    finally:
        if profile is not None:
            profile.stop()
    return 0


def _role(value: str) -> Role:
    try:
        return Role(value.strip().upper())
    except ValueError:
        raise Stop(f"unknown role {value!r}; roles: {_roles()}") from None


def _roles() -> str:
    return ", ".join(role.value.lower() for role in Role)


def _running_embedded_redis(data_dir: Path) -> str | None:
    """The URL of the embedded Redis a node is running on ``data_dir`` right now, if any."""
    from redis import Redis

    directory = data_dir.absolute() / "redis"
    try:
        conf = (directory / "redis.conf").read_text()
    except OSError:
        return None
    port = next((line.split()[1] for line in conf.splitlines() if line.startswith("port ")), None)
    if port is None:
        return None
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        served = client.config_get("dir").get("dir")
    except Exception:
        return None
    finally:
        client.close()
    return url if served and Path(served).resolve() == directory.resolve() else None


@contextlib.contextmanager
def _live_state(settings: Settings, *, create: bool = False) -> Iterator[str]:
    """A Redis URL to read restaurants from: REDIS_URL, else the data dir's embedded Redis (started for a moment).

    ``create``: a data dir with no embedded Redis yet gets one (the first restaurant is being set up).
    """
    if settings.redis_url:
        check_reachable(settings, postgres=False)
        yield settings.redis_url
        return
    running = _running_embedded_redis(settings.data_dir)
    if running is not None:
        yield running
        return
    if not create and not (settings.data_dir.absolute() / "redis").is_dir():
        raise Stop(
            f"no restaurants: REDIS_URL is unset and {settings.data_dir.absolute()} holds no embedded Redis; "
            "set REDIS_URL or point --data-dir at the hub's data directory"
        )
    with real_servers(settings.with_(database_url="postgresql://unused"), announce=False) as ready:
        yield ready.redis_url or ""


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from fireflow.hub.live.redis_client import redis_client
    from fireflow.hub.live.store import Store
    from fireflow.hub.transports.tokens import mint

    role = _role(args.role)
    secret = _secret(settings, create=False)

    async def known(url: str) -> list[str] | None:
        redis = redis_client(url)
        try:
            store = Store(redis)
            if await store.restaurant(args.restaurant, fresh=True) is not None:
                return None
            return await store.restaurant_ids()
        finally:
            await redis.aclose()

    with _live_state(settings) as url:
        others = asyncio.run(known(url))
    if others is not None:
        listed = ", ".join(others[:10]) + (", …" if len(others) > 10 else "") if others else "none yet"
        raise Stop(f"unknown restaurant {args.restaurant!r} (not set up in Redis; restaurants: {listed})")
    stations = [s for s in args.stations.split(",") if s]
    print(mint(secret, args.restaurant, role, device=args.device, stations=stations, ttl=args.ttl))
    return 0


def _restaurant(settings: Settings, args: argparse.Namespace) -> int:
    """``fireflow restaurant create|import|export``: a restaurant's setup as a file (hub/run/setup_files.py)."""
    from fireflow.hub.commands.pins import Pins
    from fireflow.hub.live.redis_client import redis_client
    from fireflow.hub.live.store import Store
    from fireflow.hub.run import setup_files as files
    from fireflow.hub.transports.tokens import mint
    from fireflow.schema.setup import Profile, RestaurantSetup

    try:
        if args.action == "create":
            profile = Profile(id=args.id, name=args.name, currency=args.currency, timezone=args.timezone)
            setup = files.check(RestaurantSetup(profile=profile))
        elif args.action == "import":
            setup = files.read_setup(args.file)
            if args.menu_csv is not None:
                text = _read_text(args.menu_csv)
                profile = setup.profile
                menu = files.read_menu_csv(text, profile.currency, profile.minor_digits, against=setup)
                setup = files.with_menu(setup, menu)
    except ValidationError as exc:
        raise Stop("; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors(include_url=False))) from None
    except files.SetupRefused as exc:
        raise Stop(_refusal(exc)) from None

    async def run(url: str) -> str | None:
        redis = redis_client(url)
        try:
            store = Store(redis)
            if args.action == "export":
                found = await files.export_setup(store, args.restaurant)
                return None if found is None else files.write_setup(found).decode()
            live = await files.import_setup(
                store, Pins(redis, cost=settings.pin_hash), setup, create=args.action == "create"
            )
            return live.restaurant.id
        finally:
            await redis.aclose()

    with _live_state(settings, create=args.action != "export") as url:
        try:
            done = asyncio.run(run(url))
        except files.SetupRefused as exc:
            raise Stop(_refusal(exc)) from None
    if args.action == "export":
        if done is None:
            raise Stop(f"unknown restaurant {args.restaurant!r}")
        if args.output is None:
            sys.stdout.write(done)
        else:
            args.output.write_text(done, encoding="utf-8")
            print(f"wrote {args.output}", file=sys.stderr)
        return 0
    verb = "created" if args.action == "create" else "imported"
    print(f"restaurant {done!r} {verb}")
    if args.action == "create":
        token = mint(_secret(settings, create=True), setup.profile.id, Role.MANAGER, device="manager-1", ttl=TOKEN_TTL)
        print(f"a manager's device token (manager-1, {TOKEN_TTL // 86_400} days): {token}")
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # a spreadsheet's CSV may start with a byte-order mark
    except OSError as exc:
        raise Stop(f"{path}: cannot read ({exc.strerror})") from None


def _refusal(exc: Exception) -> str:
    lines: list[str] = getattr(exc, "lines", [str(exc)])
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} problems, nothing written:\n  " + "\n  ".join(lines)


# -- the parser ------------------------------------------------------------------


def _setting(parser: argparse.ArgumentParser, flag: str, name: str, **kw: Any) -> None:
    """An option that overrides one setting; its help says the environment variable and default."""
    info = Settings.model_fields[name]
    env = " / ".join(Settings.env_names(name))
    parser.add_argument(flag, help=f"{info.description} (env {env}; default: {_shown(info.default)})", **kw)


def _shown(default: Any) -> str:
    if default is None or default == "":
        return "unset"
    if isinstance(default, bool):
        return str(int(default))
    return str(default)


def _environment() -> str:
    lines = ["environment (a value not allowed stops the node with one line naming it):"]
    for name, info in Settings.model_fields.items():
        variable = " / ".join(Settings.env_names(name))
        allowed = Settings.allowed(name)
        lines.append(f"  {variable} (default {_shown(info.default)}; {allowed}): {info.description}")
    return "\n".join(lines)


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not above 0")
    return number


def _simulate_options(p: argparse.ArgumentParser) -> None:
    from fireflow.clients.simulator.plan import DAY_PARTS

    p.add_argument(
        "--simulate",
        action="store_true",
        help="play a simulated service against the demo restaurant: guests, waiters, cooks, cashiers, riders "
        "(default: off)",
    )
    p.add_argument("--speed", type=_positive, default=20.0, help="simulated seconds per second (default: 20)")
    p.add_argument("--orders", type=_count, default=120, help="orders in the simulated service (default: 120)")
    p.add_argument("--day-part", choices=sorted(DAY_PARTS), default="dinner", help="which service (default: dinner)")
    p.add_argument("--seed", type=int, default=1, help="the same seed plays the same service (default: 1)")


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= number <= 100_000:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 100000")
    return number


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="fireflow", description="Fireflow Hub", formatter_class=formatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, what in (
        ("serve", "run a hub node"),
        ("demo", "run a hub node with the demo restaurant and its emulated printers, print links"),
    ):
        p = sub.add_parser(name, help=what, description=what, epilog=_environment(), formatter_class=formatter)
        _setting(p, "--host", "host")
        _setting(p, "--port", "port", type=int)
        _setting(p, "--data-dir", "data_dir", type=Path)
        if name == "demo":
            _simulate_options(p)
            p.add_argument(
                "--redis-cluster",
                action="store_true",
                help="run on a Redis Cluster started here (3 masters with a replica each, from the system's "
                "redis-server 7) and a fresh PostgreSQL, both in a temporary directory removed when the demo stops: "
                "to try a platform's setup and a master's failover (default: off, one embedded Redis)",
            )
    what = "apply the Postgres migrations (DATABASE_URL, else the embedded PostgreSQL)"
    p = sub.add_parser("migrate", help=what, description=what)
    _setting(p, "--data-dir", "data_dir", type=Path)
    what = "the durable event log in Postgres: prune drops whole months before a day (retention)"
    p = sub.add_parser("events", help=what, description=what)
    p.add_argument("action", choices=["prune"], help="prune: drop the months wholly before --before")
    p.add_argument("--before", required=True, help="YYYY-MM-DD: months ending on or before its month go (required)")
    _setting(p, "--data-dir", "data_dir", type=Path)
    what = "run only the durable writer (stream -> Postgres); needs REDIS_URL and DATABASE_URL"
    p = sub.add_parser("durable", help=what, description=what)
    p.add_argument(
        "--predictions",
        action="store_true",
        help="also predict ready times for a share of the restaurants, as a node's background process does "
        "(default: off; FIREFLOW_PREDICTIONS=false turns predictions off everywhere)",
    )
    what = (
        "run only a share of the ready-time predictions (what a node run with FIREFLOW_DURABLE=off starts as its "
        "background process); needs REDIS_URL"
    )
    sub.add_parser("predictor", help=what, description=what)
    what = "mint a signed device token for a restaurant set up in Redis"
    p = sub.add_parser("token", help=what, description=what + "; the secret is the one serve uses")
    p.add_argument("--restaurant", required=True, help="restaurant id, as set up in Redis (required)")
    p.add_argument("--role", required=True, help=f"one of: {_roles()} (required)")
    p.add_argument("--device", required=True, help="device id, e.g. kds-1 (required)")
    p.add_argument(
        "--stations", default="", help="comma-separated, for kitchen and expo devices; * for all (default: none)"
    )
    p.add_argument(
        "--ttl", type=_positive, default=TOKEN_TTL, help=f"seconds the token is valid (default: {TOKEN_TTL})"
    )
    _setting(p, "--data-dir", "data_dir", type=Path)
    p.epilog = "secret: FIREFLOW_SECRET, else <data-dir>/secret as written by `fireflow serve` on that data dir"
    _restaurant_parser(sub)
    _print_agent_parser(sub)
    what = (
        "measure the hub (kitchen, broadcast, idle, settle, riders, soak), 3 hubs on a Redis Cluster (cluster),"
        " the batch suggestions (batches) or the predictions over a simulated day (service)"
    )
    p = sub.add_parser("bench", help=what, description=what)
    scenarios = ["kitchen", "broadcast", "idle", "settle", "riders", "soak", "cluster", "batches", "service"]
    p.add_argument("scenario", choices=scenarios, help="what to measure")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the scenario's options (fireflow bench SCENARIO --help)")
    return parser


def _restaurant_parser(sub: Any) -> None:
    what = "a restaurant's setup as a file: create an empty one, import a file, export one"
    p = sub.add_parser("restaurant", help=what, description=what)
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    what = "set up a new, empty restaurant and print a manager's device token"
    c = actions.add_parser("create", help=what, description=what)
    c.add_argument("--id", required=True, help="restaurant id: lower-case letters, digits, - and _ (required)")
    c.add_argument("--name", required=True, help="the restaurant's name (required)")
    c.add_argument("--currency", default="INR", help="ISO 4217 code (default: INR)")
    c.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Asia/Kolkata (default: UTC)")
    what = "create or replace a restaurant's whole setup from a file; open orders are kept"
    i = actions.add_parser("import", help=what, description=what)
    i.add_argument("file", type=Path, help="the setup file (JSON, as export writes it)")
    i.add_argument(
        "--menu-csv", type=Path, help="replace the file's menu with this CSV (columns: " + ", ".join(MENU_COLUMNS) + ")"
    )
    what = "write a restaurant's whole setup as a file"
    e = actions.add_parser("export", help=what, description=what)
    e.add_argument("restaurant", help="restaurant id")
    e.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    for each in (c, i, e):
        _setting(each, "--data-dir", "data_dir", type=Path)


def _print_agent_parser(sub: Any) -> None:
    what = "print the hub's kitchen tickets, receipts and Z-reports on this restaurant's network printers"
    p = sub.add_parser(
        "print-agent",
        help=what,
        description=what
        + """.

Run it on a machine on the printers' LAN. It connects out to the hub (no port
to open), claims each job for its printers so two agents never print one twice,
sends it over raw TCP (port 9100) and tells the hub PRINTED only when the
printer answers online with paper after it; otherwise the hub is told why
(offline, paper out, cover open, no answer) and sends the job to the printer's
backup; with no printer left the ticket is flagged on its station's screen and put
on expo's and the manager's manual list (CRITICAL if nobody handles it in time).
A job it could not confirm (it died mid-job) is never printed again by itself:
it goes on that list for staff to check the printer. It also reads each printer's status
every --status-every seconds and after each job, so expo and the manager see a
printer offline, out of paper or with its cover open before a ticket fails.
Ctrl-C or SIGTERM stops it after the job in hand.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--hub", required=True, help="the hub's address, e.g. https://hub.example.com (required)")
    p.add_argument(
        "--token",
        default="",
        help=f"a printer device token, from `fireflow token --restaurant R --role printer --device print-agent-1` "
        f"(required, unless {PRINT_TOKEN_ENV} is set: better, as a command line shows in `ps`)",
    )
    p.add_argument(
        "--printers",
        default="",
        help="comma-separated printer ids (as in the restaurant's setup) this agent prints for; run one agent per LAN "
        "and name its printers when a restaurant has several (default: every printer of the restaurant)",
    )
    p.add_argument(
        "--connect-timeout",
        type=_positive,
        default=PRINTER_CONNECT_TIMEOUT,
        help=f"seconds to reach a printer before it counts as offline (default: {PRINTER_CONNECT_TIMEOUT:g})",
    )
    p.add_argument(
        "--write-timeout",
        type=_positive,
        default=PRINTER_WRITE_TIMEOUT,
        help=f"seconds for a printer to take a job and for each status answer (default: {PRINTER_WRITE_TIMEOUT:g}); "
        "connect + 3 x write must stay under the hub's 20 s claim lease",
    )
    p.add_argument(
        "--status-every",
        type=_positive,
        default=PRINTER_STATUS_EVERY,
        help="seconds between reads of each printer's real-time status; a change (online, offline, paper out, "
        f"cover open) is told to expo and the manager (default: {PRINTER_STATUS_EVERY:g})",
    )
    p.add_argument(
        "--font",
        type=Path,
        help="a TrueType font for item names the printer's code page lacks (e.g. Noto Sans Devanagari), "
        "printed as images (default: none, such a name prints as its menu id)",
    )
    p.epilog = (
        "example:\n"
        f"  {PRINT_TOKEN_ENV}=$(fireflow token --restaurant spice --role printer --device print-agent-1) \\\n"
        "    fireflow print-agent --hub https://hub.example.com --printers kitchen,pass\n"
        "logs: one line per job (printed, or NOT printed and why); FIREFLOW_LOG_LEVEL / FIREFLOW_LOG_FORMAT apply"
    )


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in ("host", "port", "data_dir")}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(**_flags(args))
    except SettingsError as exc:
        for line in exc.lines:
            print(f"fireflow: {line}", file=sys.stderr)
        return USAGE
    level = 5 if settings.log_level == "trace" else settings.log_level.upper()  # uvicorn's TRACE is 5
    configure_logging(settings.log_format, level)  # JSON lines, or text on a terminal (FIREFLOW_LOG_FORMAT)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin on every import
    commands: dict[str, Callable[[], int]] = {
        "serve": lambda: _serve(settings, demo=False),
        "demo": lambda: _serve(
            settings,
            demo=True,
            simulate=args if args.simulate else None,
            cluster=args.redis_cluster,
            data_dir_given=args.data_dir is not None or settings.data_dir != Settings.model_fields["data_dir"].default,
        ),
        "migrate": lambda: _migrate(settings),
        "durable": lambda: _durable(settings, predictions=args.predictions and settings.predictions),
        "predictor": lambda: _predictor(settings),
        "events": lambda: _events(settings, args),
        "token": lambda: _token(settings, args),
        "restaurant": lambda: _restaurant(settings, args),
        "print-agent": lambda: _print_agent(args),
        "bench": lambda: _bench(args),
    }
    try:
        return commands[args.command]()
    except Stop as exc:
        print(f"fireflow {args.command}: {exc}", file=sys.stderr)
        return exc.code


def _print_agent(args: argparse.Namespace) -> int:
    """``fireflow print-agent``: prints the hub's kitchen tickets on this LAN's printers (clients/printers/agent.py)."""
    from fireflow.clients.printers.agent import AgentError, PrintAgent, run_until_signalled

    token = args.token or os.environ.get(PRINT_TOKEN_ENV, "")
    if not token:
        raise Stop(f"no token: pass --token or set {PRINT_TOKEN_ENV} (fireflow token --role printer ...)")
    printers = [p.strip() for p in args.printers.split(",") if p.strip()] or None
    try:
        agent = PrintAgent(
            args.hub,
            token,
            printers=printers,
            connect_timeout=args.connect_timeout,
            write_timeout=args.write_timeout,
            font=args.font,
            status_every=args.status_every,
        )
    except ValueError as exc:
        raise Stop(str(exc)) from None
    except OSError as exc:
        raise Stop(f"--font {args.font}: cannot read it ({exc})") from None
    try:
        asyncio.run(run_until_signalled(agent))
    except AgentError as exc:
        raise Stop(str(exc), UNREACHABLE) from None
    return 0


def _bench(args: argparse.Namespace) -> int:
    from fireflow.clients.bench import run

    code: int = run(args.scenario, args.rest)
    return code


if __name__ == "__main__":
    sys.exit(main())
