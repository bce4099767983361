"""The embedded servers are real servers: they persist, restart, and survive crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from fireflow.hub.run.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServers

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path)
    yield server
    server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _sql(url: str, *statements: str) -> object:
    """Run statements on one connection and return the last one's first value."""

    async def run() -> object:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            result: object = None
            for statement in statements:
                result = await conn.fetchval(statement)
            return result
        finally:
            await conn.close()

    return asyncio.run(run())


def _dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_redis_set_get_and_aof_survives_restart(redis_server: EmbeddedRedis) -> None:
    """A key written before a graceful stop is read back after restarting on the same dir."""
    url = redis_server.start()
    # the hub's clients go over the unix socket in its directory; the TCP port stays for tools (redis-cli)
    assert url == f"unix://{redis_server.directory.absolute() / 'redis.sock'}?db=0"
    assert redis_server.start() == url  # idempotent while running
    client = redis.Redis.from_url(url)
    client.set("order:1", "ready")
    assert client.get("order:1") == b"ready"
    client.close()
    port = int(
        next(
            line
            for line in (redis_server.directory / "redis.conf").read_text().splitlines()
            if line.startswith("port ")
        )[5:]
    )
    over_tcp = redis.Redis(host="127.0.0.1", port=port)
    assert over_tcp.get("order:1") == b"ready"
    over_tcp.close()
    redis_server.stop()
    assert redis_server.pid is None
    assert (redis_server.directory / "appendonly.aof").exists()

    assert redis_server.start() == url  # same port again, so old URLs stay valid
    client = redis.Redis.from_url(url)
    assert client.get("order:1") == b"ready"
    client.close()


def test_redis_on_a_path_too_long_for_a_socket_is_served_over_tcp(tmp_path: Path) -> None:
    """A socket's path has at most 107 bytes: a deep data directory gets the TCP URL, and it works."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedRedis(deep)
    try:
        assert server.socket_path is None
        url = server.start()
        assert url.startswith("redis://127.0.0.1:") and url.endswith("/0")
        assert redis.Redis.from_url(url).ping()
        assert "unixsocket" not in (server.directory / "redis.conf").read_text()
    finally:
        server.stop()


def test_redis_kill_then_start_keeps_data(redis_server: EmbeddedRedis) -> None:
    """After SIGKILL the AOF (already written, fsync pending) still restores the key."""
    client = redis.Redis.from_url(redis_server.start())
    client.set("ticket", "42")
    client.close()
    pid = redis_server.pid
    assert pid is not None
    redis_server.kill()
    assert redis_server.pid is None and _dead(pid)

    client = redis.Redis.from_url(redis_server.start())
    assert client.get("ticket") == b"42"
    client.close()


def test_postgres_select_and_data_survives_restart(pg_server: EmbeddedPostgres) -> None:
    """SELECT 1 works as the fireflow role, and committed rows survive stop/start."""
    url = pg_server.start()
    assert url.startswith("postgresql+asyncpg://fireflow@127.0.0.1:")
    assert url.endswith("/fireflow")
    assert _sql(url, "SELECT 1") == 1
    assert _sql(url, "SHOW fsync") == "on"
    _sql(url, "CREATE TABLE dish (name text)", "INSERT INTO dish VALUES ('pho')")
    pg_server.stop()
    assert pg_server.pid is None

    assert pg_server.start() == url
    assert _sql(url, "SELECT name FROM dish") == "pho"


def test_postgres_stop_and_start_on_same_fixed_port(tmp_path: Path) -> None:
    """An outage: the server goes away, clients fail, then it returns at the same URL."""
    port = _free_port()
    server = EmbeddedPostgres(tmp_path, port=port)
    try:
        url = server.start()
        assert f":{port}/" in url
        server.stop()
        with pytest.raises(OSError):
            _sql(url, "SELECT 1")
        assert server.start() == url
        assert _sql(url, "SELECT 1") == 1
    finally:
        server.stop()


def test_postgres_kill_then_start_recovers(pg_server: EmbeddedPostgres) -> None:
    """SIGKILL leaves a stale postmaster.pid; start() still works and keeps committed data."""
    url = pg_server.start()
    _sql(url, "CREATE TABLE paid (id int)", "INSERT INTO paid VALUES (7)")
    pid = pg_server.pid
    assert pid is not None
    pg_server.kill()
    assert _dead(pid)
    assert (pg_server.pgdata / "postmaster.pid").exists()

    assert pg_server.start() == url
    assert pg_server.pid != pid
    assert _sql(url, "SELECT id FROM paid") == 7


def test_embedded_servers_context_manager(tmp_path: Path) -> None:
    """Both servers run inside the block under one data dir and are stopped after it."""
    with EmbeddedServers(tmp_path / "data") as servers:
        assert servers.redis is not None and servers.postgres is not None
        assert redis.Redis.from_url(servers.redis.url).ping()
        assert _sql(servers.postgres.url, "SELECT 1") == 1
        assert servers.redis.directory.parent == servers.postgres.directory.parent
    assert servers.redis.pid is None and servers.postgres.pid is None


def _servers_of_a_killed_parent(tmp_path: Path, *, from_main_thread: bool) -> list[int]:
    """Start both servers in a child Python process, kill -9 it, and return the servers' pids."""
    start = "servers.start()" if from_main_thread else "t = threading.Thread(target=servers.start); t.start(); t.join()"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, threading
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from fireflow.hub.run.embedded import EmbeddedServers
        servers = EmbeddedServers(Path({str(tmp_path)!r}))
        {start}
        print(servers.redis.pid, servers.postgres.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2
    return pids


def _kill_survivors(pids: list[int]) -> list[int]:
    """SIGKILL what is still alive, so no server leaks into the rest of the run; returns those pids."""
    survivors = [p for p in pids if not _dead(p)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    return survivors


def test_servers_die_with_a_killed_parent(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a kill -9 of the hub process takes its servers down too."""
    pids = _servers_of_a_killed_parent(tmp_path, from_main_thread=True)
    deadline = time.monotonic() + 10
    while not all(_dead(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _kill_survivors(pids)


def test_next_start_stops_servers_orphaned_by_a_killed_parent(tmp_path: Path) -> None:
    """Started off the main thread (no death signal), servers outlive a kill -9; the next start stops them first."""
    orphans = _servers_of_a_killed_parent(tmp_path, from_main_thread=False)
    try:
        assert not any(_dead(p) for p in orphans)
        with EmbeddedServers(tmp_path) as servers:
            assert servers.redis is not None and servers.postgres is not None
            assert all(_dead(p) for p in orphans)
            assert redis.Redis.from_url(servers.redis.url).ping()
            assert _sql(servers.postgres.url, "SELECT 1") == 1
    finally:
        _kill_survivors(orphans)
