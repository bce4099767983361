"""Fixtures: real Redis and Postgres (embedded unless REDIS_URL / DATABASE_URL), hubs in-process and as processes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coverage
import httpx
import pytest
import uvicorn
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fireflow.clients.python import HubClient
from fireflow.hub.books.db import create_engine, migrate
from fireflow.hub.commands.pins import Pins
from fireflow.hub.domain.actors import ALL_STATIONS, Role
from fireflow.hub.live.redis_client import redis_client
from fireflow.hub.live.store import Store
from fireflow.hub.run.app import create_app, uvicorn_config
from fireflow.hub.run.config import Settings
from fireflow.hub.run.demo import DEMO_PIN, seed_restaurant
from fireflow.hub.run.embedded import EmbeddedRedis, EmbeddedRedisCluster, EmbeddedServers
from fireflow.hub.transports.tokens import mint

# Every wait in the suite is a multiple of this; raise FIREFLOW_TEST_SCALE on slow machines.
SCALE = float(os.environ.get("FIREFLOW_TEST_SCALE", "1"))
WAIT = 5.0 * SCALE
SECRET = "test-secret-" + secrets.token_hex(8)
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    """Coverage ([tool.coverage] in pyproject.toml) measures the rules where they run without servers.

    Tests on the real servers run untraced: Python 3.11's tracer slows every line, measured or not,
    which would add a fifth to the suite's time.
    """
    cov = coverage.Coverage.current() if "servers" in getattr(item, "fixturenames", ()) else None
    if cov is None:
        return (yield)
    cov.stop()
    try:
        return (yield)
    finally:
        cov.start()


@dataclass
class Servers:
    redis_url: str
    database_url: str
    embedded: EmbeddedServers | None


# The modules whose tests run twice: on one Redis and on a Redis Cluster (3 masters, a replica each).
# They are the ones that drive the hub's Redis side: commits, fan-out, history, the durable writer,
# timers, presence, idempotency and refusals.
CLUSTER_MODULES = frozenset(
    os.environ.get("FIREFLOW_TEST_CLUSTER_MODULES", "").split()
    or (
        "test_core",
        "test_kitchen",
        "test_ws",
        "test_durable",
        "test_scale_out",
        "test_timers",
        "test_settle_twins",
        "test_tenancy",
        "test_bad_input",
        "test_positions",
        "test_pins",
        "test_devices",
        "test_print_jobs",
        "test_setup_commands",
        "test_readiness",
        "test_archive",
        "test_fanout",
        "test_commit_riders",
        "test_encode_once",
        "test_shares",
    )
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported by now lives for the whole run: keep it out of the collector's full passes.

    The suite shares one process and one loop with the hubs it serves in-process. A full collection over the
    modules alone (240,000 objects) held that loop 150-235 ms here, long enough for a hub on a 0.2-s heartbeat
    to close a test's socket as silent (CI failed so twice). The hub's processes freeze their start too
    (``hub/run/heap.py``); the suite keeps the collector's default pace, as its garbage is whole hubs, test by test.
    """
    gc.collect()
    gc.freeze()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "servers" in metafunc.fixturenames and metafunc.module.__name__.rpartition(".")[2] in CLUSTER_MODULES:
        metafunc.parametrize("redis_kind", ["redis", "cluster"], indirect=True, scope="session")


@pytest.fixture(scope="session")
def redis_kind(request: pytest.FixtureRequest) -> str:
    """ "redis" (one server) or "cluster": which Redis ``servers`` gives (parametrized in CLUSTER_MODULES)."""
    return str(getattr(request, "param", "redis"))


@contextlib.contextmanager
def embedded_cluster(prefix: str) -> Iterator[EmbeddedRedisCluster]:
    """A Redis Cluster of Debian's redis-server 7 (3 masters, a replica each) in a directory of its own."""
    if shutil.which("redis-server", path="/usr/bin") is None:
        pytest.skip("the Redis Cluster runs need Debian's redis-server 7: apt-get install redis-server")
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = EmbeddedRedisCluster(data_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedRedisCluster]:
    """The suite's Redis Cluster, for the CLUSTER_MODULES' second run."""
    with embedded_cluster("fireflow-cluster-") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def servers(base_servers: Servers, redis_kind: str, request: pytest.FixtureRequest) -> Servers:
    """The suite's servers, with a Redis Cluster in place of the one Redis where ``redis_kind`` says so."""
    if redis_kind == "redis":
        return base_servers
    cluster: EmbeddedRedisCluster = request.getfixturevalue("redis_cluster")
    return Servers(cluster.hub_url, base_servers.database_url, base_servers.embedded)


@pytest.fixture(scope="session")
def base_servers() -> Iterator[Servers]:
    redis_url, database_url = os.environ.get("REDIS_URL"), os.environ.get("DATABASE_URL")
    embedded = None
    # Not under pytest's tmp dir: another pytest run resets its permissions, which the
    # unprivileged postgres user (when we are root) needs to traverse.
    data_dir = Path(tempfile.mkdtemp(prefix="fireflow-test-"))
    if not (redis_url and database_url):
        embedded = EmbeddedServers(data_dir, redis=not redis_url, postgres=not database_url)
        embedded.start()
        redis_url = redis_url or (embedded.redis.url if embedded.redis else "")
        database_url = database_url or (embedded.postgres.url if embedded.postgres else "")
    asyncio.run(migrate(database_url))
    try:
        yield Servers(redis_url, database_url, embedded)
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def redis(servers: Servers) -> AsyncIterator[Redis]:
    client = redis_client(servers.redis_url)
    await client.flushall()
    yield client
    await client.aclose()


def settings_for(servers: Servers, **changes: Any) -> Settings:
    return Settings().with_(
        redis_url=servers.redis_url,
        database_url=servers.database_url,
        secret=SECRET,
        freeze_gc=False,
        durable="inline",
        # cheap PIN hashes (test_pins proves the default is production's); HTTP and frame limits out of the
        # way of tests that drive a day of trade through one token or socket, which a fast machine answers
        # quicker than 100 frames a second (test_devices, test_ws and test_bad_input prove the limits)
        **{
            "pin_hash": "test",
            "http_rate": 10_000.0,
            "http_burst": 10_000.0,
            "rate": 10_000.0,
            "burst": 10_000.0,
            # ORDER_PREDICTED would come between the events a test awaits on the order's channels, a second
            # after each fire: the predictor's own tests turn it on (test_predictions)
            "predictions": False,
            # the sweeps act on every restaurant in the shared Redis, other tests' too: their tests turn them on
            "sweeps": False,
            # the outbox's drain takes every restaurant's rows in the shared Postgres: its tests run their own
            "outbox": False,
            # likewise the webhooks' worker delivers every restaurant's subscriptions: its tests run their own
            "webhooks": False,
            "webhook_private": True,  # the tests' receivers listen on 127.0.0.1
            # a node a test killed holds its share of the due checks this long: short, so the next test's are not
            # held up (test_shares proves the leases whatever their length)
            "due_lease": 2.0,
            "durable_lease": 2.0,  # likewise a killed node's share of the durable writes
            **changes,
        },
    )


@dataclass
class RunningHub:
    """A hub node serving on loopback, with helpers to reach it as any device of one restaurant."""

    url: str
    settings: Settings
    rid: str
    app: Any = None
    clients: list[HubClient] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"

    @property
    def hub(self) -> Any:
        return self.app.state.hub

    def token(
        self, role: Role | str, *, device: str | None = None, stations: tuple[str, ...] = (), rid: str | None = None
    ) -> str:
        role = Role(role)
        if role is Role.EXPO and not stations:
            stations = (ALL_STATIONS,)
        return mint(SECRET, rid or self.rid, role, device=device or f"{role.value.lower()}-1", stations=stations)

    async def client(
        self, role: Role | str = Role.WAITER, *, encoding: str = "json", url: str | None = None, **kw: Any
    ) -> HubClient:
        client = await HubClient.connect(url or self.ws_url, self.token(role, **kw), encoding=encoding)
        self.clients.append(client)
        return client

    async def kitchen(self, station: str, **kw: Any) -> HubClient:
        return await self.client(Role.KITCHEN, stations=(station,), device=f"kds-{station}", **kw)

    def http(self, role: Role | str = Role.WAITER, **kw: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token(role, **kw)}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=WAIT)


async def seed(servers: Servers, rid: str) -> None:
    """The demo restaurant as ``rid``, manager-1's PIN hashed at test cost (it verifies as any argon2 hash)."""
    redis = redis_client(servers.redis_url)
    await seed_restaurant(Store(redis), rid, manager_pin=None)
    await Pins(redis, cost="test").set(rid, "manager-1", DEMO_PIN)
    await redis.aclose()


@contextlib.asynccontextmanager
async def serve_in_process(
    settings: Settings, rid: str, *, ws_max_size: int | None = None
) -> AsyncIterator[RunningHub]:
    """A hub node on a free loopback port in this event loop (``ws_max_size``: the server's own frame limit)."""
    settings = settings.with_(host="127.0.0.1", port=free_port())
    app = create_app(settings)
    config = uvicorn_config(app, settings, log_level="warning", ws_max_size=ws_max_size)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    running = RunningHub(f"http://127.0.0.1:{settings.port}", settings, rid, app)
    try:
        yield running
    finally:
        for client in running.clients:
            await client.close()
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def own_redis() -> AsyncIterator[EmbeddedRedis]:
    """A Redis server of this test's own, which it may kill and restart."""
    data = Path(tempfile.mkdtemp(prefix="fireflow-redis-"))
    server = EmbeddedRedis(data)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def rid() -> str:
    return "r" + secrets.token_hex(4)


@pytest.fixture
async def hub(servers: Servers, redis: Redis, rid: str) -> AsyncIterator[RunningHub]:
    """One hub node in this test's event loop, with a seeded restaurant ``rid``."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers), rid) as running:
        yield running


@pytest.fixture
async def predicting(servers: Servers, redis: Redis, rid: str) -> AsyncIterator[RunningHub]:
    """A hub node that makes predictions (``hub`` does not), looking a twentieth of a second after each change."""
    await seed(servers, rid)
    async with serve_in_process(settings_for(servers, predictions=True, predict_tick=0.05), rid) as running:
        yield running


class NodeProcess:
    """A ``fireflow serve`` process on external (shared) Redis and Postgres."""

    def __init__(self, servers: Servers, port: int, log: Path, **env: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        environment = {
            **os.environ,
            "REDIS_URL": servers.redis_url,
            "DATABASE_URL": servers.database_url,
            "FIREFLOW_SECRET": SECRET,
            "FIREFLOW_LOG_LEVEL": "WARNING",
            "FIREFLOW_PIN_HASH": "test",
            # as settings_for: these nodes take a test's whole traffic through one token
            "FIREFLOW_HTTP_RATE": "10000",
            "FIREFLOW_HTTP_BURST": "10000",
            "FIREFLOW_PREDICTIONS": "off",  # as settings_for: no ORDER_PREDICTED between the events a test awaits
            "FIREFLOW_SWEEPS": "off",
            "FIREFLOW_OUTBOX": "off",  # as settings_for: the outbox's tests run their own drain
            # a node of the outbox's tests drains at once: a busy CI's CPU pressure must not hold it (test_pressure)
            "FIREFLOW_OUTBOX_YIELD_AT": "1",
            "FIREFLOW_WEBHOOKS": "off",  # as settings_for: the webhooks' tests run their own worker
            "FIREFLOW_WEBHOOK_PRIVATE": "1",  # as settings_for: the tests' receivers listen on 127.0.0.1
            "FIREFLOW_DUE_LEASE": "2",  # as settings_for: a killed node's due checks are taken over soon
            "FIREFLOW_DURABLE_LEASE": "2",  # and its durable writes
            "ARCHIVE_URL": f"file://{log.parent / 'archive'}",  # a node draining the outbox archives beside its log
            **env,
        }
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fireflow.hub.run.cli", "serve", "--port", str(port)],
            env=environment,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(int(200 * SCALE)):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"node exited {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError("node not ready")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
async def nodes(servers: Servers, redis: Redis, tmp_path: Path) -> AsyncIterator[Any]:
    """Factory of hub processes sharing this suite's Redis and Postgres."""
    started: list[NodeProcess] = []

    async def start(**env: str) -> NodeProcess:
        node = NodeProcess(servers, free_port(), tmp_path / "nodes.log", **env)
        started.append(node)
        await node.ready()
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
async def engine(servers: Servers) -> AsyncIterator[AsyncEngine]:
    """An engine on the suite's Postgres (the books), for reading what a test's hub wrote there."""
    engine = create_engine(servers.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def fresh_database(servers: Servers) -> AsyncIterator[str]:
    """The URL of a new, empty database on the suite's Postgres, dropped afterwards."""
    name = "fresh_" + secrets.token_hex(4)
    admin = create_async_engine(servers.database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(servers.database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
